/*
 * nn.h - neural-network layers as forward/backward pairs over flat float
 * arrays (row-major, outermost dimension first).
 *
 * Conventions:
 *  - every size is passed in; shapes are written beside each argument;
 *  - backward functions ADD into every gradient they produce (parameter
 *    gradients and input gradients alike), so callers zero them first
 *    and residual branches simply accumulate;
 *  - no function allocates: scratch space is passed in by the caller
 *    (sizes given by the *_scratch() helpers);
 *  - matrix products go through cblas_sgemm; the ResNet's convolutions
 *    use direct AVX-512 kernels instead where the CPU has them (see
 *    mm_nn_simd()).
 *
 * Images inside the network are channel-last, (N, H, W, C) "NHWC", so that
 * a 3x3 convolution is one matrix product with M = N*H*W rows and a batch
 * normalisation is a per-column reduction over those rows.  PyTorch's
 * (N, C, H, W) input is converted once by mm_nchw_to_nhwc().  Parameter
 * layouts are PyTorch's: Linear weight (Dout, Din), Conv2d weight
 * (Cout, Cin, 3, 3).
 */
#ifndef MM_NN_H
#define MM_NN_H

#include <stddef.h>

/* ---- Linear: out = inp W^T + b ---- */
void mm_linear_forward(float *out,        /* (N, Dout) */
    const float *inp,                    /* (N, Din) */
    const float *w,                      /* (Dout, Din) */
    const float *b,                      /* (Dout) or NULL */
    int N, int Din, int Dout);
void mm_linear_backward(float *dinp,      /* (N, Din) or NULL: not wanted */
    float *dw,                           /* (Dout, Din) */
    float *db,                           /* (Dout) or NULL */
    const float *dout,                   /* (N, Dout) */
    const float *inp,                    /* (N, Din) */
    const float *w,                      /* (Dout, Din) */
    int N, int Din, int Dout);

/* ---- ReLU ---- */
void mm_relu_forward(float *out, const float *inp, size_t n);  /* (n) */
/* dinp += dout where out > 0 */
void mm_relu_backward(float *dinp, const float *dout, const float *out,
    size_t n);
/* In place: g = 0 where out <= 0 (the backward of a ReLU whose gradient
 * buffer may be overwritten). */
void mm_relu_mask(float *g, const float *out, size_t n);

/* ---- Batch normalisation over the rows of (M, C) ----
 * BatchNorm1d on (N, D) is M = N, C = D; BatchNorm2d on NHWC data is
 * M = N*H*W.  Train mode normalises with the batch mean and biased
 * variance, saves mean and rstd = 1/sqrt(var + eps) for backward, and
 * updates the running averages with the unbiased variance:
 *   running = (1 - momentum) * running + momentum * batch.
 * Eval mode normalises with the running statistics (and still writes
 * mean and rstd).  relu = 1 fuses a ReLU on the output. */
#define MM_BN_EPS 1e-5f
#define MM_BN_MOMENTUM 0.1f
void mm_batchnorm_forward(float *out,     /* (M, C) */
    float *mean, float *rstd,            /* (C), (C): saved for backward */
    const float *inp,                    /* (M, C) */
    const float *gamma, const float *beta, /* (C), (C) */
    float *running_mean, float *running_var, /* (C), (C) */
    size_t M, int C, int train, int relu);
/* Backward of a train-mode forward.  When out is not NULL the forward had
 * a fused ReLU and dout is masked by out > 0. */
void mm_batchnorm_backward(float *dinp,   /* (M, C) */
    float *dgamma, float *dbeta,         /* (C), (C) */
    const float *dout,                   /* (M, C) */
    const float *out,                    /* (M, C) or NULL */
    const float *inp,                    /* (M, C) */
    const float *mean, const float *rstd, const float *gamma, /* (C) x3 */
    size_t M, int C);

/* ---- The same BatchNorm in pieces, for callers that split the M rows
 * into slices (threads): per-slice sums are added up in a fixed order by
 * the caller, so results do not depend on timing.  The whole-batch
 * functions above are these pieces over one slice.
 * Forward: mm_bn_sum(mu = NULL) per slice -> add -> mm_bn_mean;
 * mm_bn_sum(mu = mean) per slice -> add -> mm_bn_var; mm_bn_apply per
 * slice.  Backward: mm_bn_grad_sum per slice -> add -> mm_bn_grad_coef;
 * mm_bn_grad_apply per slice. */
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

/* ---- 3x3 convolution, padding 1, stride 1 or 2, no bias, NHWC ----
 * Output size Ho = (H - 1) / stride + 1 (likewise Wo).  Computed as
 * im2col + sgemm in chunks of output pixels so the column buffer stays in
 * cache.  scratch must hold mm_conv3x3_scratch(H, W, Cin, Cout) floats. */
size_t mm_conv3x3_scratch(int H, int W, int Cin, int Cout);
/* Convolutions with 16, 32 or 64 output channels (forward, stride 1 or
 * 2), their weight gradients, and the input gradients of stride-1 ones
 * with 16, 32 or 64 input channels use direct kernels when the CPU has
 * AVX-512F (level 2) or AVX2 + FMA (level 1), else the portable im2col +
 * sgemm path (level 0).  mm_nn_simd(level) sets the level (capped at what
 * the CPU has; MMIB_SIMD=0 or 1 in the environment lowers the default),
 * mm_nn_simd(-1) only queries.  Returns the level in effect.  Not
 * thread-safe: set it before starting threads. */
int mm_nn_simd(int level);
void mm_conv3x3_forward(float *out,       /* (N, Ho, Wo, Cout) */
    const float *inp,                    /* (N, H, W, Cin) */
    const float *w,                      /* (Cout, Cin, 3, 3) */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch);
void mm_conv3x3_backward(float *dinp,     /* (N, H, W, Cin) or NULL */
    float *dw,                           /* (Cout, Cin, 3, 3) */
    const float *dout,                   /* (N, Ho, Wo, Cout) */
    const float *inp,                    /* (N, H, W, Cin) */
    const float *w,                      /* (Cout, Cin, 3, 3) */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch);

/* The convolution followed by the statistics its train-mode BatchNorm
 * needs, computed sample by sample (Cout <= 256) and merged into
 * stats (2, Cout) (mean, sum of squared deviations) over *count rows so
 * far: start from zeros and *count = 0; finish with the mean and
 * mm_bn_var() on the squared deviations. */
void mm_conv3x3_forward_stats(float *out, double *stats, double *count,
    const float *inp, const float *w, const float *wt, int N, int H, int W,
    int Cin, int Cout, int stride, float *scratch);
/* wt (Cout Cin 9): w rearranged for the direct kernels, forward (flip 0)
 * or input gradient (flip 1), for callers that run the two functions
 * around here on many slices of a batch (wt argument; NULL there makes
 * it in scratch at every call). */
void mm_conv3x3_weights(float *wt, const float *w, int Cin, int Cout,
    int flip);
/* Merge part (2, C) (mean, squared deviations) of n rows into acc (2, C)
 * of *nacc rows (Chan et al.'s pairwise update); *nacc += n. */
void mm_bn_stats_add(double *acc, double *nacc, const double *part,
    double n, int C);

/* The backward of conv -> BatchNorm (train) -> ReLU (when out is not
 * NULL) given dy, the gradient of the BatchNorm (ReLU) output, and coef
 * from mm_bn_grad_coef(): the BatchNorm input gradient is formed sample
 * by sample where the direct kernels apply and never stored; otherwise it
 * goes through tmp (N, Ho, Wo, Cout).  dinp is overwritten (add 0) or
 * added to (add 1); dw is added to.  Same scratch as above. */
void mm_conv3x3_backward_bn(float *dinp, int add,
    float *dw,                           /* (Cout, Cin, 3, 3) */
    const float *dy,                     /* (N, Ho, Wo, Cout) */
    const float *out,                    /* (N, Ho, Wo, Cout) or NULL */
    const float *pre,                    /* (N, Ho, Wo, Cout) BN input */
    const float *coef,                   /* (3 Cout) */
    const float *inp,                    /* (N, H, W, Cin) */
    const float *w,                      /* (Cout, Cin, 3, 3) */
    const float *wt,                     /* w with flip 1, or NULL */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch,
    float *tmp);

/* ---- Option-A shortcut of a CIFAR ResNet (He et al. 2016) ----
 * out += x[:, ::2, ::2, :] with the Cin channels placed at offset
 * (Cout - Cin) / 2 and zeros around them (PyTorch: F.pad(x[:, :, ::2,
 * ::2], (0, 0, 0, 0, p, p)) with p = Cout / 4 when Cout = 2 Cin).
 * Stride 1 with Cin == Cout is the identity. */
void mm_shortcut_forward(float *out,      /* (N, Ho, Wo, Cout) += */
    const float *inp,                    /* (N, H, W, Cin) */
    int N, int H, int W, int Cin, int Cout, int stride);
void mm_shortcut_backward(float *dinp,    /* (N, H, W, Cin) += */
    const float *dout,                   /* (N, Ho, Wo, Cout) */
    int N, int H, int W, int Cin, int Cout, int stride);

/* ---- Global average pooling over H*W (NHWC) ---- */
void mm_avgpool_forward(float *out,       /* (N, C) */
    const float *inp,                    /* (N, HW, C) */
    int N, int HW, int C);
void mm_avgpool_backward(float *dinp,     /* (N, HW, C) += */
    const float *dout,                   /* (N, C) */
    int N, int HW, int C);

/* ---- Layout conversion (flatten needs none: (N, C, H, W) is already
 * (N, C*H*W) in memory) ---- */
void mm_nchw_to_nhwc(float *out,          /* (N, H, W, C) */
    const float *inp,                    /* (N, C, H, W) */
    int N, int C, int HW);

/* ---- L2 normalisation of rows: out = inp / max(|inp|, 1e-12) ----
 * (torch.nn.functional.normalize).  norm (N) is saved for backward,
 * clamped at 1e-12. */
void mm_l2norm_forward(float *out,        /* (N, D) */
    float *norm,                         /* (N) */
    const float *inp,                    /* (N, D) */
    int N, int D);
/* The same over the first D columns of rows ld apart (ld >= D), for
 * codes that share a row with other outputs; norm may be NULL. */
void mm_l2norm_rows(float *out,           /* (N, D) */
    float *norm,                         /* (N) or NULL */
    const float *inp,                    /* (N, ld) */
    int N, int D, int ld);
/* dinp += (dout - out (out . dout)) / norm */
void mm_l2norm_backward(float *dinp,      /* (N, D) */
    const float *dout,                   /* (N, D) */
    const float *out, const float *norm, /* (N, D), (N) */
    int N, int D);

#endif
