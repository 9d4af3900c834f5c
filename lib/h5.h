/*
 * h5.h - read rows of one u8 dataset of an HDF5 file (3dshapes.h5's
 * `images`, (N, 64, 64, 3)) through the HDF5 C API, a batch of rows at a
 * time.  Without HDF5 (MM_HAVE_HDF5 undefined) every call returns
 * MM_EUNSUP "built without HDF5".
 */
#ifndef MM_H5_H
#define MM_H5_H

#include <stdint.h>

struct mm_h5;

/* Open dataset dset of the file at path; shape[0..*ndim) receives its
 * dimensions.  Refuses anything but an unsigned 8-bit integer dataset. */
int mm_h5_open(const char *path, const char *dset, struct mm_h5 **out,
    int64_t *shape, int *ndim);
/* Read rows[0..k) (ascending, distinct) into out, k rows back to back. */
int mm_h5_read(struct mm_h5 *h, const int64_t *rows, int64_t k,
    uint8_t *out);
void mm_h5_close(struct mm_h5 *h);
/* 1 when built with HDF5. */
int mm_h5_available(void);

#endif
