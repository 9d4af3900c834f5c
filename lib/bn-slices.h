/*
 * bn-slices.h - batch normalisation in pieces, for callers that split the
 * M rows of a batch into slices (the ResNet's threads): per-slice sums are
 * added up in a fixed order by the caller, so results do not depend on
 * timing.  The whole-batch functions of nn.h (mm_batchnorm_forward,
 * mm_batchnorm_backward) are these pieces over one slice; the math, the
 * train and eval modes and MM_BN_EPS, MM_BN_MOMENTUM are given there.
 * Shapes as in nn.h: x (M, C) row-major, per-channel vectors (C).
 *
 * Forward: mm_bn_sum(mu = NULL) per slice -> add -> mm_bn_mean;
 * mm_bn_sum(mu = mean) per slice -> add -> mm_bn_var; mm_bn_apply per
 * slice.  Backward: mm_bn_grad_sum per slice -> add -> mm_bn_grad_coef;
 * mm_bn_grad_apply per slice.
 */
#ifndef MM_BN_SLICES_H
#define MM_BN_SLICES_H

#include <stddef.h>
#include <stdint.h>

/* sum (C) = sum over rows of x, or of (x - mean)^2 when mean */
void mm_bn_sum(double *sum, const float *x, const float *mean, size_t M,
    int C);
void mm_bn_mean(float *mean, const double *sum, size_t M, int C);
/* rstd from the summed squared deviations; running averages updated */
void mm_bn_var(float *rstd, float *running_mean, float *running_var,
    const float *mean, const double *sqdev, size_t M, int C);
/* eval mode: mean and rstd from the running statistics */
void mm_bn_eval_stats(float *mean, float *rstd, const float *running_mean,
    const float *running_var, int C);
/* out = bn(inp) (+ res when res), then a ReLU when relu; out may be inp
 * or res. */
void mm_bn_apply(float *out,              /* (M, C) */
    const float *inp,                    /* (M, C) */
    const float *res,                    /* (M, C) or NULL */
    const float *mean, const float *rstd, /* (C), (C) */
    const float *gamma, const float *beta, /* (C), (C) */
    size_t M, int C, int relu);
/* sc, sh (C): the per-channel scale rstd gamma and shift beta - mean sc
 * with which mm_bn_apply() forms out = inp sc + sh (+ res), so that a
 * kernel doing the same operations gets its bits */
void mm_bn_affine(float *sc, float *sh, const float *mean, const float *rstd,
    const float *gamma, const float *beta, int C);
/* sdy, sdyx (C) = sums of dy and dy * xhat, dy masked by out > 0 when out */
void mm_bn_grad_sum(double *sdy, double *sdyx, const float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C);
/* The same sums of a BatchNorm followed by a ReLU (outside, e.g. after a
 * residual add), with dout masked in place by out > 0 first. */
void mm_bn_grad_sum_mask(double *sdy, double *sdyx, float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C);
/* coef (3 C) from the sums over all M rows; dgamma, dbeta (C) += */
void mm_bn_grad_coef(float *coef, float *dgamma, float *dbeta,
    const double *sdy, const double *sdyx, const float *mean,
    const float *rstd, const float *gamma, size_t M, int C);
/* dinp = (or += when add) the input gradient of these M rows; dinp may be
 * dout when add is 0. */
void mm_bn_grad_apply(float *dinp, const float *dout, const float *out,
    const float *inp, const float *coef, size_t M, int C, int add);
/* mm_bn_sum, mm_bn_grad_sum and mm_bn_grad_apply over the first C
 * columns of rows ld apart (ld >= C), for a caller that walks a wider
 * matrix in blocks of columns; with ld = C they are the functions
 * above. */
void mm_bn_sum_ld(double *sum, const float *x, const float *mean,
    size_t M, int C, int ld);
void mm_bn_grad_sum_ld(double *sdy, double *sdyx, const float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C, int ld);
void mm_bn_grad_apply_ld(float *dinp, const float *dout, const float *out,
    const float *inp, const float *coef, size_t M, int C, int ld, int add);

/* The sums of mm_bn_grad_sum (mask 0) or mm_bn_grad_sum_mask (mask 1:
 * dout masked in place) over rows that come in pieces (a caller that
 * finishes dout sample by sample and sums each while it is in cache):
 * start (0 when C is not a width this streams: C must divide
 * MM_BN_LANES; then use those functions), add the pieces in row order
 * (n floats each), end.  The sums are bit-identical to one call over the
 * concatenated rows. */
#define MM_BN_LANES 1024
struct mm_bn_gsum {
	double acc[MM_BN_LANES], acc2[MM_BN_LANES];
	float part[MM_BN_LANES], part2[MM_BN_LANES];
	float mu[MM_BN_LANES], rs[MM_BN_LANES];
	size_t pos, flushed;
	int f, C, mask, two;
};
int mm_bn_gsum_start(struct mm_bn_gsum *s, const float *mean,
    const float *rstd, int C, int mask);
void mm_bn_gsum_add(struct mm_bn_gsum *s, float *dout,
    const float *out, const float *inp, size_t n);
/* mm_bn_gsum_add() with inp in bf16 (the same sums as on its fp32
 * values, without widening a copy) */
void mm_bn_gsum_add16(struct mm_bn_gsum *s, float *dout, const float *out,
    const uint16_t *inp, size_t n);
void mm_bn_gsum_end(struct mm_bn_gsum *s, double *sdy, double *sdyx);

/* part (2, C) = mean and squared deviations of the M rows x (M, C)
 * (C <= 256): the squares about the mean rounded to float, then moved to
 * the exact mean; what a convolution sample adds with mm_bn_stats_add. */
void mm_bn_moments(double *part, const float *x, size_t M, int C);
/* Merge part (2, C) (mean, squared deviations) of n rows into acc (2, C)
 * of *nacc rows (Chan et al.'s pairwise update); *nacc += n. */
void mm_bn_stats_add(double *acc, double *nacc, const double *part,
    double n, int C);

#endif
