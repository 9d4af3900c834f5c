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
 *    (see mm_nn_simd() in conv.h).  The *_pool variants cut a product
 *    into slices fixed by its shape and share them over a pool of
 *    threads (mm_gemm_pool()).
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

struct mm_pool;

/* ---- The BLAS on one thread ----
 * mm_blas_one() sets OpenBLAS to one thread and returns the count it had,
 * for mm_blas_restore().  OpenBLAS's threaded driver cuts a product into
 * pieces by its thread count and its kernels round a row or column
 * differently by where it falls in a piece, so a product on its threads
 * gives other last bits on another count: the products of mmib run on a
 * one-thread BLAS (inside threads of mmib's own when they are large). */
int mm_blas_one(void);
void mm_blas_restore(int saved);

/* ---- Large blocks on huge pages ----
 * mm_huge_pages() asks the kernel (Linux: madvise MADV_HUGEPAGE) to back
 * the 2 MiB-aligned part of the block p of n bytes with transparent huge
 * pages, for the blocks a step streams through (weights, gradients,
 * activations, optimiser state): one TLB entry for 2 MiB instead of
 * 4 KiB.  Only a hint: nothing changes where the system does not take
 * it, and MMIB_THP=0 in the environment turns it off (mmib(7)). */
void mm_huge_pages(void *p, size_t n);

/* ---- A matrix product in slices fixed by its shape ----
 *   C (M, N) = alpha op(A) op(B) + beta C     op(A) (M, K), op(B) (K, N)
 * ta = 0: A stored (M, K), row stride lda; ta = 1: A stored (K, M).
 * tb = 0: B stored (K, N), row stride ldb; tb = 1: B stored (N, K).
 * C is cut along the larger of M and N (N on a tie) into
 * mm_gemm_slices(M, N, K) slices of equal width (a multiple of 16 but for
 * the last), each one cblas_sgemm over the whole of K on a one-thread
 * BLAS, taken in turn by the threads of pool (pool.h; NULL: all on the
 * caller's thread).  Each element of C is summed whole by one call whose
 * arguments depend on the shape alone, so C is bit-identical for any pool
 * and timing.  The slices repack the uncut operand each, so they are at
 * least MM_GEMM_WIDTH wide and MM_GEMM_GRAIN multiply-adds large: a small
 * product is one slice, the very call cblas_sgemm(M, N, K) would be. */
#define MM_GEMM_WIDTH 128
#define MM_GEMM_GRAIN (1 << 21)
#define MM_GEMM_SLICES_MAX 16   /* more threads than this find no slice */
int mm_gemm_slices(int M, int N, int K);
/* The same count, and in *width the slices' width (along M when M > N,
 * else along N): the cut that mm_gemm_bf16_pool() (gemm-bf16.h) shares. */
int mm_gemm_cut(int M, int N, int K, int *width);
/* One product's operands, as mm_gemm_pool() takes them. */
struct mm_gemm_args {
	int ta, tb, M, N, K, lda, ldb, ldc;
	const float *A, *B;
	float *C;
};
/* *a, the whole product, narrowed to its slice s of the given width:
 * rows or columns s width .. of C (along M when M > N, as mm_gemm_cut()),
 * with the parts of A or B they read. */
void mm_gemm_narrow(struct mm_gemm_args *a, int s, int width);
void mm_gemm_pool(struct mm_pool *pool, int ta, int tb, int M, int N, int K,
    float alpha, const float *A, int lda, const float *B, int ldb,
    float beta, float *C, int ldc);

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
/* The same with the products of mm_gemm_pool() over pool (NULL: on the
 * caller's thread): out in slices of its columns (or of its rows when
 * N > Dout), dinp likewise, dw in slices of its columns (or rows), never
 * of the sum over the N rows of the batch; db on the caller's thread.
 * Bit-identical for any pool; with products of one slice each (small
 * ones), bit-identical to mm_linear_forward() and mm_linear_backward(). */
void mm_linear_forward_pool(struct mm_pool *pool, float *out,
    const float *inp, const float *w, const float *b, int N, int Din,
    int Dout);
void mm_linear_backward_pool(struct mm_pool *pool, float *dinp, float *dw,
    float *db, const float *dout, const float *inp, const float *w, int N,
    int Din, int Dout);

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
