/*
 * linear-x86.h - the evaluation forward of a Linear layer with an
 * AVX-512F or AVX2 + FMA kernel that reads the weights where they are,
 * behind mm_enc_dense_forward() when it does not train.  Internal to the
 * library.
 *
 *   out (N, Dout) = inp (N, Din) w^T + b      w (Dout, Din), b (Dout)
 *
 * Why: an encoder's evaluation multiplies a batch of some hundred rows
 * by weights of up to 12288 x 4096.  A BLAS packs the weights into its
 * panel layout on every call and each packed weight then serves only N
 * rows; here the (small) input is packed instead, transposed, and the
 * weights are broadcast straight from their rows: 12 rows of w by 32
 * rows of inp per tile.
 *
 * Numerics: each out element is one fp32 sum, started at b[o] (0 when b
 * is NULL) and then, for k = 0, 1, .., Din - 1 in order,
 *     s = fmaf(inp[n][k], w[o][k], s)
 * (one rounding per step): the plain loop of the test's reference, bit
 * for bit, whatever the blocking, N, the number of threads or the level.
 */
#ifndef MM_LINEAR_X86_H
#define MM_LINEAR_X86_H

#include <stddef.h>

struct mm_pool;

/* What mm_linear_eval() makes of each sum s of out[n][o] before it stores
 * it (NULL: nothing): with scale, v = s * scale[o] + shift[o], a product
 * then a sum, each rounded (mm_bn_apply()'s arithmetic, so that a Linear
 * followed by an evaluation BatchNorm folds into the store); then with
 * relu, v > 0 ? v : 0. */
struct mm_linear_epi {
	const float *scale, *shift;     /* (Dout), or both NULL */
	int relu;
};

/* Whether the kernel runs: level 1 or 2 of mm_nn_simd() (AVX2 + FMA,
 * AVX-512F). */
int mm_linear_eval_ok(void);
/* Floats of scratch mm_linear_eval() needs (64-byte aligned). */
size_t mm_linear_eval_scratch(int N, int Din, int Dout);
/* The product above over the pool's threads (pool may be NULL), then
 * epi (may be NULL). */
void mm_linear_eval(struct mm_pool *pool, float *out, const float *inp,
    const float *w, const float *b, int N, int Din, int Dout,
    const struct mm_linear_epi *epi, float *scratch);
/* The same sum in a plain loop (any CPU): the oracle of the tests. */
void mm_linear_eval_ref(float *out, const float *inp, const float *w,
    const float *b, int N, int Din, int Dout);

#endif
