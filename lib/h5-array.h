/*
 * h5-array.h - whole HDF5 files seen as named arrays, for the generic
 * dataset source (lib/src-generic.c): which datasets exist, their element
 * class and shape, consecutive rows converted by HDF5 to a native type,
 * and 1-d string datasets.  lib/h5.c stays the u8 row reader of
 * 3dshapes.h5.  Without HDF5 (MM_HAVE_HDF5 undefined) every call returns
 * MM_EUNSUP "built without HDF5".
 */
#ifndef MM_H5_ARRAY_H
#define MM_H5_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"

struct mm_h5f;

/* Open the file at path read-only. */
int mm_h5f_open(const char *path, struct mm_h5f **out);
void mm_h5f_close(struct mm_h5f *f);
/* 1 when a dataset called name exists, 0 when not, or an error (the
 * file's reader died: h5-array.c). */
int mm_h5f_has(struct mm_h5f *f, const char *name);
/* The dataset's element class: 'u' unsigned or 'i' signed integer, 'b'
 * boolean (an HDF5 enum of one byte, as h5py stores bool), 'f' float,
 * 's' string, '?' anything else; its bytes (isz), its dimensions
 * shape[0..*ndim), at most 8.  MM_EMISSING when absent. */
int mm_h5f_info(struct mm_h5f *f, const char *name, char *kind, int *isz,
    int *ndim, int64_t *shape);
/* Rows first .. first + n of dataset name (every dimension after the
 * first whole), converted by HDF5 to as (MM_U8, MM_I64 or MM_F64, native
 * byte order), into out, which holds cap bytes (rows that need more are
 * refused). */
int mm_h5f_rows(struct mm_h5f *f, const char *name, int64_t first,
    int64_t n, enum mm_dtype as, void *out, size_t cap);
/* The n strings of a 1-d string dataset (fixed or variable length), each
 * NUL-terminated into out + i * cap (longer ones are refused). */
int mm_h5f_strings(struct mm_h5f *f, const char *name, int64_t n,
    char *out, size_t cap);

#endif
