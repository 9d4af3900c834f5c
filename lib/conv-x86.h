/*
 * conv-x86.h - the direct 3x3 convolution kernels for x86 (AVX-512F,
 * AVX2 + FMA) behind the convolutions of conv.c, at the level that
 * mm_nn_simd() sets.  Internal to the library.
 *
 * Images are NHWC, stride S is 1 or 2, padding 1, Ho = (H - 1) / S + 1
 * (likewise Wo).  Weights are in the direct layout wt (9, Cx, Co)
 * (mm_conv3x3_weights() with flip 0).  pad is scratch of (H + 2) (W + 2)
 * Cx floats.  Without x86 kernels (another processor, or level 0) the
 * two tests below are 0 and the kernels must not be called.
 */
#ifndef MM_CONV_X86_H
#define MM_CONV_X86_H

/* Whether the direct kernels do a convolution to Co channels at this
 * stride (Co = 16, 32 or 64, stride <= 2, level >= 1). */
int mm_direct_ok(int Co, int stride);
/* Whether they also do its weight gradient from Cx input channels (Cx a
 * multiple of the level's channel block, or 1 to 3 with AVX-512). */
int mm_direct_dw_ok(int Cx, int Co, int stride);

/* out (N, Ho, Wo, Co) (+= when add) the convolution of x (N, H, W, Cx) */
void mm_direct_forward(float *out, const float *x, const float *wt,
    float *pad, int N, int H, int W, int Cx, int Co, int S, int add);
/* The same, of the ReLU-BatchNorm output max(x sc + sh (+ res), 0) formed
 * while each sample is padded, by mm_bn_apply()'s operations and so with
 * its bits (sc, sh (Cx) from mm_bn_affine(); res and out (N, H, W, Cx) or
 * NULL: a shortcut added before the ReLU, and where to store the output
 * as well); Cx a multiple of 16.  b NULL: mm_direct_forward(). */
struct mm_pad_bn {
	const float *sc, *sh, *res;
	float *out;
};
void mm_direct_forward_bn(float *out, const float *x,
    const struct mm_pad_bn *b, const float *wt, float *pad, int N, int H,
    int W, int Cx, int Co, int S, int add);
/* dx (N, H, W, Cx) (+= when add) the input gradient of the convolution
 * of stride S to Co channels from dy (N, Ho, Wo, Co) and the flipped
 * weights wt (9, Co, Cx) (mm_conv3x3_weights() with flip 1); Cx = 16, 32
 * or 64 (mm_direct_ok(Cx, S)); pad holds (Ho + 2) (Wo + 2) Co floats
 * (S = 2) or (H + 2) (W + 2) Co (S = 1). */
void mm_direct_dinput(float *dx, const float *dy, const float *wt,
    float *pad, int N, int H, int W, int Cx, int Co, int S, int add);
/* dwt (9, Cx, Co) += the weight gradient of x (N, H, W, Cx) and
 * dy (N, Ho, Wo, Co) */
void mm_direct_dweight(float *dwt, const float *x, const float *dy,
    float *pad, int N, int H, int W, int Cx, int Co, int S);

#endif
