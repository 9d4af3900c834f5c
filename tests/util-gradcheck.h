/*
 * util-gradcheck.h - helpers shared by the C tests: a central-difference
 * gradient checker and small fill/compare utilities.
 */
#ifndef MM_UTIL_GRADCHECK_H
#define MM_UTIL_GRADCHECK_H

#include <stddef.h>

#include "rng.h"

/* Check an analytic gradient grad (n) of the scalar loss(ctx) with respect
 * to x (n floats) by central differences of step h, on up to `checks`
 * coordinates spread evenly over x (all of them when n <= checks).  A
 * coordinate passes when |g - fd| <= atol + rtol * max(|g|, |fd|).
 * A coordinate whose forward and backward one-sided differences disagree
 * by more than that tolerance straddles a kink (a ReLU switching inside
 * [x - h, x + h]); it is not judged but counted in *kinks (if not NULL),
 * and callers bound that count.
 * Returns the number of failing coordinates; *worst (if not NULL) gets the
 * largest |g - fd| / (atol + rtol * max(|g|, |fd|)) seen (< 1 passes). */
int gc_check(double (*loss)(void *ctx), void *ctx, float *x,
    const float *grad, size_t n, size_t checks, float h, double atol,
    double rtol, double *worst, int *kinks);

/* sum a[i] b[i], accumulated in double. */
double gc_dot(const float *a, const float *b, size_t n);
/* x[i] uniform in [-a, a). */
void gc_fill(float *x, size_t n, float a, struct mm_rng *rng);
/* max |a[i] - b[i]| / max(1, max |b|): the error relative to b's scale. */
double gc_maxrel(const float *a, const float *b, size_t n);
/* max |a[i] - b[i]|. */
double gc_maxabs(const float *a, const float *b, size_t n);
/* calloc that aborts the test program on failure. */
float *gc_alloc(size_t n);

#endif
