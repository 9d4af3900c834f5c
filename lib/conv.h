/*
 * conv.h - 3x3 convolution, padding 1, stride 1 or 2, no bias, on NHWC
 * images, with PyTorch's weight layout (Cout, Cin, 3, 3); conventions as
 * in nn.h (backward adds, scratch from the caller).  conv.c computes it
 * as im2col + sgemm, or with the direct kernels of conv-x86.c, and fuses
 * it with the train-mode BatchNorm that follows it in a ResNet.
 */
#ifndef MM_CONV_H
#define MM_CONV_H

#include <stddef.h>
#include <stdint.h>

struct mm_bn_gsum;

/* ---- 3x3 convolution, padding 1, stride 1 or 2, no bias, NHWC ----
 * Output size Ho = (H - 1) / stride + 1 (likewise Wo).  Computed as
 * im2col + sgemm in chunks of output pixels so the column buffer stays in
 * cache.  scratch must hold mm_conv3x3_scratch(H, W, Cin, Cout) floats. */
size_t mm_conv3x3_scratch(int H, int W, int Cin, int Cout);
/* Convolutions with 16, 32 or 64 output channels (forward, stride 1 or
 * 2), their weight gradients, and their input gradients when they have
 * 16, 32 or 64 input channels use direct kernels when the CPU has
 * AVX-512F (level 2) or AVX2 + FMA (level 1), else the portable im2col +
 * sgemm path (level 0).  mm_nn_simd(level) sets the level (capped at what
 * the CPU has; MMIB_SIMD=0 or 1 in the environment lowers the default),
 * mm_nn_simd(-1) only queries.  Returns the level in effect.  Not
 * thread-safe: set it before starting threads. */
int mm_nn_simd(int level);
/* The target attribute of a function's AVX-512 copy: 512-bit vectors
 * (GCC's default for such a target is 256); clang, used only to build the
 * fuzzers, has no such attribute and is given the plain target. */
#if defined(__clang__)
#define MM_TARGET_512 "avx512f"
#else
#define MM_TARGET_512 "avx512f,prefer-vector-width=512"
#endif
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
/* mm_conv3x3_forward_stats() (stats not NULL) or mm_conv3x3_forward()
 * (stats NULL) of the ReLU-BatchNorm output that ibn forms from inp
 * (struct mm_bn_relu below; the output is stored to ibn->out too, which
 * may be NULL only where the direct kernels apply): where the direct
 * kernels apply (Cin 16, 32 or 64), formed while each sample is padded,
 * sparing the pass of mm_bn_apply() and the read back of its output; the
 * same bits as mm_bn_apply() into ibn->out followed by the convolution.
 * wt as below, or NULL. */
struct mm_bn_relu;
void mm_conv3x3_forward_bn(float *out, double *stats, double *count,
    const float *inp, const struct mm_bn_relu *ibn, const float *w,
    const float *wt, int N, int H, int W, int Cin, int Cout, int stride,
    float *scratch);
/* wt (Cout Cin 9): w rearranged for the direct kernels, forward (flip 0)
 * or input gradient (flip 1), for callers that run the two functions
 * around here on many slices of a batch (wt argument; NULL there makes
 * it in scratch at every call). */
void mm_conv3x3_weights(float *wt, const float *w, int Cin, int Cout,
    int flip);
/* The backward of conv -> BatchNorm (train) -> ReLU (when out or obn is
 * not NULL) given dy, the gradient of the BatchNorm (ReLU) output, and
 * coef from mm_bn_grad_coef(): the BatchNorm input gradient is formed
 * sample by sample where the direct kernels apply and never stored;
 * otherwise it goes through tmp (N, Ho, Wo, Cout).  dinp is overwritten
 * (add 0) or added to (add 1); dw is added to.  Same scratch as above.
 * With obn, the ReLU output is formed from pre sample by sample (out
 * unused); with ibn, inp holds the input's BatchNorm input and the input
 * is formed from it (struct mm_bn_relu, its out unused): the bits of a
 * stored tensor, for a caller that does not store it.  obn and ibn only
 * where mm_conv3x3_bn_direct(Cin, Cout, stride). */
void mm_conv3x3_backward_bn(float *dinp, int add,
    float *dw,                           /* (Cout, Cin, 3, 3) */
    const float *dy,                     /* (N, Ho, Wo, Cout) */
    const float *out,                    /* (N, Ho, Wo, Cout) or NULL */
    const struct mm_bn_relu *obn,        /* or NULL */
    const float *pre,                    /* (N, Ho, Wo, Cout) BN input */
    const float *coef,                   /* (3 Cout) */
    const float *inp,                    /* (N, H, W, Cin) */
    const struct mm_bn_relu *ibn,        /* or NULL */
    const float *w,                      /* (Cout, Cin, 3, 3) */
    const float *wt,                     /* w with flip 1, or NULL */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch,
    float *tmp);
/* The same, then the BatchNorm gradient sums of the layer below (whose
 * output the input is) fed to gs (mm_bn_gsum_start() done) sample by
 * sample while dinp is in cache: dout = dinp, out = gout (ReLU mask, or
 * NULL; with ibn, the input it forms, the gout given unused), inp = gpre
 * (N, H, W, Cin). */
void mm_conv3x3_backward_bn_gsum(float *dinp, int add, float *dw,
    const float *dy, const float *out, const struct mm_bn_relu *obn,
    const float *pre, const float *coef, const float *inp,
    const struct mm_bn_relu *ibn, const float *w, const float *wt, int N,
    int H, int W, int Cin, int Cout, int stride, float *scratch, float *tmp,
    struct mm_bn_gsum *gs, const float *gout, const float *gpre);
/* Whether mm_conv3x3_backward_bn() of this shape (with an input gradient)
 * runs the direct kernels sample by sample (and so takes obn and ibn). */
int mm_conv3x3_bn_direct(int Cin, int Cout, int stride);
/* t (M, C) = the ReLU-BatchNorm output bn forms from the M rows of its
 * input pre + off (with bn->res + off when not NULL): mm_bn_apply()'s
 * bits, those of the stored copy a caller does without.  Returns t. */
const float *mm_bn_relu_form(float *t, const float *pre,
    const struct mm_bn_relu *bn, size_t off, size_t M, int C);

/* ---- the same with bf16 products (conv-bf16.c) ----
 * The opt-in bf16 precision (gemm-bf16.h): every product of the
 * convolution, its weight gradient and its input gradient takes bf16
 * inputs (rounded to nearest even) and accumulates in fp32 with the
 * AVX512-BF16 instruction vdpbf16ps (or with fp32 FMA on the bf16
 * values, the same bits: mm_bf16_kernel()); the outputs are rounded to
 * bf16 (below); gradients, BatchNorm statistics and coefficients stay
 * fp32.  Only where
 * mm_conv3x3_bf16_ok(): the CPU has AVX512-BF16 (mm_bf16_level() > 0),
 * Cout is 16, 32 or 64, Cin at most 64 (odd counts padded with a zero
 * channel), and for an input gradient Cin is 16, 32 or 64 too; the
 * functions below must not be called otherwise.  Error against the fp32
 * convolution: about 2^-7 sum |w x| per output (t-conv-bf16).
 *
 * wt holds mm_conv3x3_bf16_wsize() words of mm_conv3x3_bf16_weights():
 * w (Cout, Cin, 3, 3) as bf16 pairs for the forward (back 0) or for the
 * input gradient (back 1), laid out for the kind of kernel in effect when
 * made (mm_bf16_kernel()); scratch holds mm_conv3x3_bf16_scratch(H, W,
 * Cin, Cout) floats (for strides 1 and 2). */
int mm_conv3x3_bf16_ok(int Cin, int Cout, int dinp);
size_t mm_conv3x3_bf16_scratch(int H, int W, int Cin, int Cout);
size_t mm_conv3x3_bf16_wsize(int Cin, int Cout);
void mm_conv3x3_bf16_weights(uint32_t *wt, const float *w, int Cin, int Cout,
    int back);
/*
 * A tensor not stored but given by its BatchNorm input: t = max(pre sc +
 * sh, 0), formed sample by sample by mm_bn_apply(t, pre, NULL, mean,
 * rstd, gamma, beta, M, C, 1), so with the bits a stored copy would have.
 * The bf16 functions below take such a ReLU-BatchNorm output this way and
 * spare the memory traffic of storing it and reading it back (a unit
 * without a shortcut), or of reading it back (out: stored on the way).
 */
struct mm_bn_relu {
	const float *mean, *rstd, *gamma, *beta;    /* (C) */
	const float *res;   /* or NULL: a shortcut added before the ReLU
	                     * (mm_bn_apply()'s res), same shape as pre */
	float *out;         /* or NULL: the forward also stores the formed
	                     * input there (the unit's apply pass done in
	                     * the convolution's), same shape as pre */
};

/*
 * The convolution outputs (a unit's BatchNorm input, pre) are stored in
 * bf16, as autocast stores them: half the bytes of fp32 for the passes
 * that read them back (the next unit's packing, the BatchNorm sums and
 * gradient).  A pre argument, and inp with ibn, are such tensors; every
 * other tensor is fp32.  mm_bf16_widen() gives their fp32 values.
 */
void mm_bf16_widen(float *t, const uint16_t *h, size_t n);

/* out = conv(inp), rounded to bf16; with stats (not NULL) also merges the
 * BatchNorm statistics of the rounded output sample by sample as
 * mm_conv3x3_forward_stats() does.  inp is fp32, or with ibn the input's
 * BatchNorm input in bf16 (a pre of these functions, struct mm_bn_relu). */
void mm_conv3x3_forward_bf16(uint16_t *out, /* (N, Ho, Wo, Cout) bf16 */
    double *stats, double *count,        /* (2, Cout), or NULL */
    const void *inp,                     /* (N, H, W, Cin) */
    const struct mm_bn_relu *ibn,        /* or NULL */
    const uint32_t *wt,                  /* forward words (back 0) */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch);
/* mm_conv3x3_backward_bn() with bf16 products (wt: back 1, used only with
 * dinp) and pre in bf16; with coef NULL, dy is the convolution's own
 * output gradient (no BatchNorm, out and pre unused).  With obn, the
 * ReLU's output out is formed from pre (out unused); inp is fp32, or with
 * ibn the input's BatchNorm input in bf16. */
void mm_conv3x3_backward_bn_bf16(float *dinp, int add,
    float *dw,                           /* (Cout, Cin, 3, 3) */
    const float *dy,                     /* (N, Ho, Wo, Cout) */
    const float *out,                    /* (N, Ho, Wo, Cout) or NULL */
    const struct mm_bn_relu *obn,        /* or NULL */
    const uint16_t *pre,                 /* (N, Ho, Wo, Cout) BN input */
    const float *coef,                   /* (3 Cout) or NULL */
    const void *inp,                     /* (N, H, W, Cin) */
    const struct mm_bn_relu *ibn,        /* or NULL */
    const uint32_t *wt,                  /* input-gradient words */
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch);
/* The same (dinp not NULL), then the next sums sample by sample as
 * mm_conv3x3_backward_bn_gsum() does, gpre in bf16; with ibn, gout is the
 * input that ibn forms (the gout given is unused). */
void mm_conv3x3_backward_bn_gsum_bf16(float *dinp, int add, float *dw,
    const float *dy, const float *out, const struct mm_bn_relu *obn,
    const uint16_t *pre, const float *coef, const void *inp,
    const struct mm_bn_relu *ibn, const uint32_t *wt, int N, int H, int W,
    int Cin, int Cout, int stride, float *scratch, struct mm_bn_gsum *gs,
    const float *gout, const uint16_t *gpre);
#endif
