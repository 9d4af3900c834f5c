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
 *    use direct AVX-512 or AVX2 kernels instead where the CPU has them
 *    (see mm_nn_simd() in conv.h).
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

/* The BatchNorm in pieces (for a batch split into slices) and the 3x3
 * convolution have headers of their own; nn.h gives every layer. */
#include "bn-slices.h"
#include "conv.h"

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
 * mean and rstd).  relu = 1 fuses a ReLU on the output.  These are the
 * pieces of bn-slices.h over one slice. */
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
