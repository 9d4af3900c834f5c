/* util-ref.h - golden-value fixtures of the reference scripts under
 * tests/ref/: text files with one tensor a line, "name count v1 v2 ...". */
#ifndef MM_UTIL_REF_H
#define MM_UTIL_REF_H

/* Load tests/ref/<file> (under $MMIB_TOP if set); 0 or -1. */
int ref_load(const char *file);
/* The values of name (count in *n, may be NULL), or NULL. */
const double *ref_get(const char *name, int *n);
/* Copy name into a float array of exactly n values; 0 or -1. */
int ref_floats(const char *name, float *out, int n);
void ref_free(void);

#endif
