/*
 * probe-kern.h - the probes' kernels (mm_probe_kern_*): the float64
 * objective of several multinomial logistic regressions over one data
 * matrix, fused: for each block of rows the logits, the softmax and the
 * gradient contribution are computed while the block is in cache, with
 * AVX-512F or AVX2 + FMA kernels.
 *
 * Layout.  The np probes sit side by side in Kt columns: probe j owns
 * columns [seg[j].off, seg[j].off + K8) where K8 is seg[j].K rounded up
 * to 8 and off is a multiple of 8.  Wt (Dp, Kt) holds the weights
 * transposed (row d, column k), b (Kt) the intercepts; Dp is D rounded up
 * to 4 and rows D..Dp-1 are not read.  A padding column must have zero
 * weights and an intercept of MM_LRK_PAD: its probability is then exactly
 * 0 and it takes no part in any sum.
 *
 * Arithmetic.  Every logit is the fused multiply-add chain
 * b_k + x_0 w_0k + x_1 w_1k + ... in this order, every gradient entry the
 * chain over the rows in order; exp is a degree-12 polynomial after
 * Cody-Waite reduction (within a few ulp of libm's), and exp(t) for
 * t < -600 is taken as 0.  The AVX-512 and AVX2 kernels give bit-identical
 * results; they differ from a dgemm by rounding only (about 1e-15
 * relative).
 */
#ifndef MM_PROBE_KERN_H
#define MM_PROBE_KERN_H

#include <stdint.h>

#define MM_LRK_PAD (-1e300)

struct mm_probe_kern_seg {
	int off;                /* first column, a multiple of 8 */
	int K;                  /* classes */
	const int32_t *y;       /* (N) class indices in [0, K) */
};

/* The kernel level available: 2 (AVX-512F), 1 (AVX2 + FMA) or 0 (none:
 * callers use dgemm), lowered like the convolutions' by mm_nn_simd(). */
int mm_probe_kern_level(void);

/* Doubles of work space mm_probe_kern_eval needs. */
size_t mm_probe_kern_scratch(int D, int Kt);

/*
 * At level 1 or 2, with X (N, D) float32 and the weights as above:
 *   f[j]  = sum_i ( logsumexp_j(z_i) - z_i[y_j,i] )   over probe j's columns
 *   Gt (Dp, Kt) = X^T (P - Y), gb (Kt) = sum_i (P - Y)_i
 * with P the per-probe softmax of Z = X W + b and Y the one-hot labels;
 * padding columns of Gt and gb, and rows D..Dp-1 of Gt, come out 0.
 * scratch holds mm_probe_kern_scratch(D, Kt) doubles.
 */
void mm_probe_kern_eval(int level, const float *X, int64_t N, int D, int Kt,
    const double *Wt, const double *b, int np,
    const struct mm_probe_kern_seg *seg, double *f, double *Gt, double *gb,
    double *scratch);

#endif
