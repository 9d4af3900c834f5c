/*
 * npy.h - whole 2-d numeric arrays from numpy files: a .npy file, or one
 * member of a .npz archive (stored or deflated, through zip.h), for the
 * analysers that take embeddings and labels made elsewhere.
 */
#ifndef MM_NPY_H
#define MM_NPY_H

#include <stdint.h>

/* What a caller wants from an array. */
enum mm_npy_want {
	MM_NPY_FLOAT,   /* <f4 or <f8, 2-d (N, D), finite: read as float32 */
	MM_NPY_INT      /* <i4, <i8 or |u1, (N,) or (N, F): read as int32 */
};

/* An array read whole: rows x cols values, one of f / i set. */
struct mm_npy {
	int64_t rows;
	int cols;
	float *f;       /* MM_NPY_FLOAT: (rows, cols) */
	int32_t *i;     /* MM_NPY_INT: (rows, cols) */
};
void mm_npy_free(struct mm_npy *a);

/* Read the .npy file at path (member NULL) or the member "name" (without
 * ".npy") of the .npz at path.  Errors name the problem, not the path
 * (the caller prefixes it): wrong dtype, Fortran order, wrong number of
 * dimensions, a non-finite value (with its row), an integer outside
 * int32, a truncated file. */
int mm_npy_read(const char *path, const char *member, enum mm_npy_want want,
    struct mm_npy *out);

/* The array names of the .npz at path, in archive order, without ".npy"
 * (at most max, each < 256 bytes): their count, or < 0. */
int mm_npz_names(const char *path, char (*names)[256], int max);
/* The roles of an .npz's members (names: max of them, as above): *img
 * z_img, *fac z_fac, *lab the labels ('labels' or 'classes'), each NULL
 * when absent; with neither embedding named, its one other array is *img
 * (more or fewer: MM_EMISSING).  Returns the member count or an error. */
int mm_npz_roles(const char *path, char (*names)[256], int max,
    const char **img, const char **fac, const char **lab);

/* 1 when path names a numpy file by its extension: 'y' for .npy, 'z' for
 * .npz, 0 otherwise. */
int mm_npy_kind(const char *path);

struct mm_emb;
/* The two sides of an alignment from numpy files into e (z_img, z_fac;
 * no metadata, no classes): the .npy files a and b, or (b NULL) the .npz
 * a holding 'z_img' and 'z_fac', or exactly two arrays (taken in archive
 * order).  Widths may differ; row counts must agree.  On error *bad is
 * the file at fault (NULL when the fault is between the two). */
int mm_npy_emb(struct mm_emb *e, const char *a, const char *b,
    const char **bad);

/* A labelled table for the probes from numpy files into e: embeddings
 * from the .npy emb (as z_img) or the .npz emb (its 'z_img' and/or
 * 'z_fac', or its one array other than the labels, as z_img); labels
 * (integers >= 0, (N,) or (N, F)) from the .npy labels, or (labels NULL)
 * the .npz's 'labels' or 'classes'.  Sets N, the embeddings, classes and
 * F; no metadata, no factors (the caller names them).  On error *bad is
 * the file at fault. */
int mm_npy_labelled(struct mm_emb *e, const char *emb, const char *labels,
    const char **bad);

#endif
