/*
 * conv-x86.c - the direct 3x3 convolution kernels for x86 (see
 * conv-x86.h) and the SIMD level of the library (mm_nn_simd, conv.h).
 *
 * The kernels of both levels come from one template, conv-x86-kern.h,
 * instantiated below for AVX-512F (16 floats a vector, 32 registers) and
 * for AVX2 + FMA (8 floats, 16 registers) with each level's register
 * blocking.  Beside the template each level has what only its register
 * file allows: a kernel for 16 output channels that shares each input
 * broadcast between the taps (2 rows x 8 pixels with AVX-512, 1 row x 10
 * or 4 pixels with AVX2), and, with AVX-512 only, the weight gradient of the
 * first layer's 1 to 3 input channels and that of 16 or 32 output
 * channels at stride 1 (the three taps of a row share each input
 * broadcast) and the stride-2 input gradient into 16 channels (its four
 * parity phases at once), each with the template's sums, bit for bit
 * (t-chains).  The input gradient of a stride-1
 * convolution is the forward kernel on flipped weights; that of a
 * stride-2 one has a kernel of its own (four parity phases).  Blocking
 * fixes the order of each sum, so the levels round differently; t-nn
 * compares each with the naive convolution.
 */
#include <stdlib.h>
#include <string.h>

#include "autovec.h"
#include "conv.h"
#include "conv-x86.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MM_X86 1
#endif

/* ---- SIMD level ----
 * The kernels come in AVX-512F (level 2) and AVX2 + FMA (level 1)
 * versions, chosen at run time; without either (or when switched off,
 * for tests and comparisons) every convolution takes the portable
 * im2col + sgemm path (level 0), and the probes dgemm. */
static int simd_level = -1, simd_max = -1;

int
mm_nn_simd(int level)
{
	const char *s;

	if (simd_max < 0) {
		simd_max = 0;
#ifdef MM_X86
		if (__builtin_cpu_supports("avx512f"))
			simd_max = 2;
		else if (__builtin_cpu_supports("avx2") &&
		    __builtin_cpu_supports("fma"))
			simd_max = 1;
#endif
		simd_level = simd_max;
		if ((s = getenv("MMIB_SIMD")) && *s >= '0' && *s <= '2' &&
		    *s - '0' < simd_max)
			simd_level = *s - '0';
	}
	if (level >= 0)
		simd_level = level < simd_max ? level : simd_max;
	return simd_level;
}

#ifdef MM_X86
struct kernels;
static const struct kernels *kernels(void);
static void bn_row(float *d, const float *s, const float *r, float *o,
    const struct mm_pad_bn *b, int W, int C);

/* pad (H + 2, W + 2, C) = one sample x (H, W, C) inside a zero border;
 * with b, of its ReLU-BatchNorm output instead (mm_direct_forward_bn) */
static void
pad_sample(float *pad, const float *x, const struct mm_pad_bn *b, int H,
    int W, int C)
{
	size_t row = (size_t)(W + 2) * C, k;
	int y;

	memset(pad, 0, row * sizeof *pad);
	for (y = 0; y < H; y++) {
		float *d = pad + (y + 1) * row;
		k = (size_t)y * W * C;
		memset(d, 0, C * sizeof *d);
		if (b)
			bn_row(d + C, x + k, b->res ? b->res + k : NULL,
			    b->out ? b->out + k : NULL, b, W, C);
		else
			memcpy(d + C, x + k, (size_t)W * C * sizeof *d);
		memset(d + (size_t)(W + 1) * C, 0, C * sizeof *d);
	}
	memset(pad + (H + 1) * row, 0, row * sizeof *pad);
}

/* The last of a blocking triple "KO, CB, CT" (see conv-x86-kern.h). */
static inline int
third(int a, int b, int c)
{
	(void)a;
	(void)b;
	return c;
}

/* The template's vector operations, from each level's intrinsics
 * _mm512_*_ps or _mm256_*_ps (VP). */
#define VLOAD VP(loadu)
#define VSTORE VP(storeu)
#define VSTREAM VP(stream)
#define VSET1 VP(set1)
#define VFMA VP(fmadd)
#define VZERO VP(setzero)
#define VADD VP(add)
#define VMUL VP(mul)
#define VMAX VP(max)

/* ---- AVX-512F ---- */
#define K(name) name##_512
#define TGT "avx512f"
#define VL 16
#define VF __m512
#define VP(op) _mm512_##op##_ps
/* 64 channels: 16 input channels at a time, so that their weights
 * (36 KiB) stay in the L1 cache; fewer channels all at once */
#define CHUNK(Co, Cx) ((Co) == 64 ? 16 : (Cx))
#define FWD16 1, 8, 8
#define FWD32 2, 8, 8
#define FWD64 4, 4, 4
#define FWD32S2 FWD32
#define DW16 1, 16, 16
#define DW32 2, 8, 8
#define DW64 4, 4, 4
#define DW_BAND 16384
#define D16_WMOD 8
#define D32_WMOD 8
#define D64_WMOD 4
#define DW3_CB(Co) ((Co) == 16 ? 8 : 4)
#define DI2Q_WMOD 8
#include "conv-x86-kern.h"

/*
 * The direct convolution into 32 or 64 output channels (KO = 2 or 4
 * vectors), stride 1, W a multiple of XB (8 or 4), in blocks of 1 row x
 * XB pixels: per tap row and input channel the weights of the row's three
 * taps (3 KO vectors) are loaded once, and each of the XB + 2 input
 * values of the row's window is broadcast once for every tap that
 * reaches an output of the block (3 XB KO FMAs per XB + 2 broadcasts and
 * 3 KO loads, against XB KO per XB and KO in direct_body).  Each sum runs
 * over the tap rows, then the input channels, then the taps of the row.
 */
static inline __attribute__((always_inline, target("avx512f"))) void
direct3_512_body(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add, const int KO, const int XB)
{
	const int Co = 16 * KO;
	size_t rs = (size_t)(W + 2) * Cx;
	int y, x0, ky, kx, c, i, j, k;

	for (y = 0; y < H; y++)
		for (x0 = 0; x0 < W; x0 += XB) {
			__m512 acc[8][4], w[3][4], b;
			float *o = out + ((size_t)y * W + x0) * Co;
#pragma GCC unroll 8
			for (j = 0; j < XB; j++)
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[j][k] = add ? _mm512_loadu_ps(o + Co *
					    j + 16 * k) : _mm512_setzero_ps();
			for (ky = 0; ky < 3; ky++) {
				const float *ip = pad + (y + ky) * rs +
				    (size_t)x0 * Cx;
				const float *wp = wt + (size_t)ky * 3 * Cx * Co;
				for (c = 0; c < cn; c++) {
#pragma GCC unroll 3
					for (kx = 0; kx < 3; kx++)
#pragma GCC unroll 4
						for (k = 0; k < KO; k++)
							w[kx][k] = _mm512_loadu_ps(wp +
							    ((size_t)kx * Cx + c) *
							    Co + 16 * k);
#pragma GCC unroll 10
					for (i = 0; i < XB + 2; i++) {
						b = _mm512_set1_ps(ip[(size_t)i * Cx +
						    c]);
#pragma GCC unroll 3
						for (kx = 0; kx < 3; kx++) {
							j = i - kx;
							if (j < 0 || j >= XB)
								continue;
#pragma GCC unroll 4
							for (k = 0; k < KO; k++)
								acc[j][k] = _mm512_fmadd_ps(b,
								    w[kx][k], acc[j][k]);
						}
					}
				}
			}
#pragma GCC unroll 8
			for (j = 0; j < XB; j++)
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					_mm512_storeu_ps(o + Co * j + 16 * k,
					    acc[j][k]);
		}
}

__attribute__((target("avx512f"))) static void
direct32_512(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add)
{
	direct3_512_body(out, pad, wt, H, W, Cx, cn, add, 2, 8);
}

__attribute__((target("avx512f"))) static void
direct64_512(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add)
{
	direct3_512_body(out, pad, wt, H, W, Cx, cn, add, 4, 4);
}

/*
 * The direct convolution into 16 output channels, stride 1, W a multiple
 * of 8, in blocks of 2 rows x 8 pixels: each input value of the block's
 * 4 x 10 window is broadcast once and multiplies every tap weight that
 * reaches an output of the block (144 FMAs per 40 broadcasts and 9
 * weight loads per input channel, against one broadcast per FMA in
 * direct_body).  An odd last row goes through direct_body_512().
 */
__attribute__((target("avx512f"))) static void
direct16_512(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add)
{
	size_t rs = (size_t)(W + 2) * Cx;
	int y0, x0, c, t, ir, ic, r, j;

	for (y0 = 0; y0 + 2 <= H; y0 += 2)
		for (x0 = 0; x0 < W; x0 += 8) {
			__m512 acc[2][8], w[9], b;
			float *o = out + ((size_t)y0 * W + x0) * 16;
#pragma GCC unroll 2
			for (r = 0; r < 2; r++)
#pragma GCC unroll 8
				for (j = 0; j < 8; j++)
					acc[r][j] = add ? _mm512_loadu_ps(o +
					    ((size_t)r * W + j) * 16) :
					    _mm512_setzero_ps();
			for (c = 0; c < cn; c++) {
				const float *ip = pad + y0 * rs +
				    (size_t)x0 * Cx + c;
#pragma GCC unroll 9
				for (t = 0; t < 9; t++)
					w[t] = _mm512_loadu_ps(wt +
					    ((size_t)t * Cx + c) * 16);
#pragma GCC unroll 4
				for (ir = 0; ir < 4; ir++)
#pragma GCC unroll 10
					for (ic = 0; ic < 10; ic++) {
						b = _mm512_set1_ps(ip[ir * rs +
						    (size_t)ic * Cx]);
#pragma GCC unroll 2
						for (r = 0; r < 2; r++) {
							if (ir - r < 0 || ir - r > 2)
								continue;
#pragma GCC unroll 8
							for (j = 0; j < 8; j++) {
								if (ic - j < 0 || ic - j > 2)
									continue;
								acc[r][j] = _mm512_fmadd_ps(b,
								    w[(ir - r) * 3 + ic - j],
								    acc[r][j]);
							}
						}
					}
			}
#pragma GCC unroll 2
			for (r = 0; r < 2; r++)
#pragma GCC unroll 8
				for (j = 0; j < 8; j++)
					_mm512_storeu_ps(o + ((size_t)r * W + j) *
					    16, acc[r][j]);
		}
	if (H % 2)
		direct_body_512(out + (size_t)(H - 1) * W * 16, pad + (H - 1) * rs,
		    wt, 1, W, W + 2, Cx, cn, add, 1, 8, 8, 1, 16);
}

/*
 * The weight gradient for few input channels (the first layer: Cx = CX of
 * 1 to 3), 16 output channels, stride 1, from a zero-padded sample: all
 * 9 CX weight rows stay in registers while each output-gradient pixel is
 * loaded once.  dwt (9, CX, 16), pad (Ho + 2, Wo + 2, CX), dy (Ho, Wo, 16).
 */
static inline __attribute__((always_inline, target("avx512f"))) void
dweight_few_512_body(float *dwt, const float *pad, const float *dy, int Ho,
    int Wo, const int CX)
{
	size_t rs = (size_t)(Wo + 2) * CX;
	__m512 acc[9][CX], d;
	int t, c, y, x;

#pragma GCC unroll 9
	for (t = 0; t < 9; t++)
#pragma GCC unroll 3
		for (c = 0; c < CX; c++)
			acc[t][c] = _mm512_loadu_ps(dwt + (t * CX + c) * 16);
	for (y = 0; y < Ho; y++)
		for (x = 0; x < Wo; x++) {
			const float *ip = pad + y * rs + (size_t)x * CX;
			d = _mm512_loadu_ps(dy + ((size_t)y * Wo + x) * 16);
#pragma GCC unroll 9
			for (t = 0; t < 9; t++)
#pragma GCC unroll 3
				for (c = 0; c < CX; c++)
					acc[t][c] = _mm512_fmadd_ps(
					    _mm512_set1_ps(ip[(t / 3) * rs +
					    (t % 3) * CX + c]), d, acc[t][c]);
		}
#pragma GCC unroll 9
	for (t = 0; t < 9; t++)
#pragma GCC unroll 3
		for (c = 0; c < CX; c++)
			_mm512_storeu_ps(dwt + (t * CX + c) * 16, acc[t][c]);
}

__attribute__((target("avx512f"))) static void
dweight_few_512(float *dwt, const float *pad, const float *dy, int Ho,
    int Wo, int Cx)
{
	if (Cx == 1)
		dweight_few_512_body(dwt, pad, dy, Ho, Wo, 1);
	else if (Cx == 2)
		dweight_few_512_body(dwt, pad, dy, Ho, Wo, 2);
	else
		dweight_few_512_body(dwt, pad, dy, Ho, Wo, 3);
}

/*
 * The weight gradient of a stride-1 convolution with 16 or 32 output
 * channels (KO = 1 or 2 vectors), one tap row ky at a time: the three
 * taps (ky, 0..2) of CB input channels share each input broadcast.  Input
 * pixel px meets output pixel px + 1 - kx through tap kx, so a window of
 * three output-gradient pixels slides along the row, one load a pixel:
 * per pixel CB broadcasts and one window step feed 3 CB KO FMAs (the
 * template's K(dweight) needs a broadcast for every KO of them).  Each
 * accumulator (tap, channel) takes the same terms in the same order as
 * there (rows y, then output pixels in increasing order, over the same
 * ranges), so the bits are the template's.  dwt (9, Cx, 16 KO), x (H, W,
 * Cx), dy (H, W, 16 KO); Cx a multiple of CB; 3 CB KO + 3 KO + 1 <= 32.
 */
/* one input pixel's step: its CB broadcasts times the window (dn: output
 * px + 1 through tap 0 when h0, dc: px through tap 1, dp: px - 1
 * through tap 2 when h2) */
static inline __attribute__((always_inline, target("avx512f"))) void
dweight3_step(__m512 acc[3][8][2], const float *ip, const __m512 *dp,
    const __m512 *dc, const __m512 *dn, const int KO, const int CB,
    const int h0, const int h2)
{
	__m512 b;
	int c, k;

#pragma GCC unroll 8
	for (c = 0; c < CB; c++) {
		b = _mm512_set1_ps(ip[c]);
#pragma GCC unroll 2
		for (k = 0; k < KO; k++) {
			if (h0)
				acc[0][c][k] = _mm512_fmadd_ps(b, dn[k],
				    acc[0][c][k]);
			acc[1][c][k] = _mm512_fmadd_ps(b, dc[k], acc[1][c][k]);
			if (h2)
				acc[2][c][k] = _mm512_fmadd_ps(b, dp[k],
				    acc[2][c][k]);
		}
	}
}

static inline __attribute__((always_inline, target("avx512f"))) void
dweight3_512_body(float *dwt, const float *x, const float *dy, int H, int W,
    int Cx, const int KO, const int CB)
{
	const int Co = 16 * KO;
	int ky, kx, y0, y1, c0, c, k, y, px;

	for (ky = 0; ky < 3; ky++) {
		/* 0 <= y + ky - 1 < H */
		y0 = ky == 0;
		y1 = ky == 2 ? H - 1 : H;
		for (c0 = 0; c0 < Cx; c0 += CB) {
			__m512 acc[3][8][2], d0[2], d1[2], d2[2];
			float *o = dwt + ((size_t)ky * 3 * Cx + c0) * Co;
#pragma GCC unroll 3
			for (kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
				for (c = 0; c < CB; c++)
#pragma GCC unroll 2
					for (k = 0; k < KO; k++)
						acc[kx][c][k] = _mm512_loadu_ps(o +
						    ((size_t)kx * Cx + c) * Co +
						    16 * k);
			for (y = y0; y < y1; y++) {
				const float *ip = x + (size_t)(y + ky - 1) * W *
				    Cx + c0;
				const float *g = dy + (size_t)y * W * Co;
#define DLOAD(d, p) do { \
	for (k = 0; k < KO; k++) \
		d[k] = _mm512_loadu_ps(g + (size_t)(p) * Co + 16 * k); \
} while (0)
				if (W == 1) {
					DLOAD(d1, 0);
					dweight3_step(acc, ip, d1, d1, d1, KO, CB,
					    0, 0);
					continue;
				}
				/* px 0: taps 0 and 1 */
				DLOAD(d1, 0);
				DLOAD(d2, 1);
				dweight3_step(acc, ip, d1, d1, d2, KO, CB, 1, 0);
				/* three pixels a round, the window's
				 * registers taking turns */
				for (px = 1; px + 3 < W; px += 3) {
					DLOAD(d0, px + 1);
					dweight3_step(acc, ip + (size_t)px * Cx,
					    d1, d2, d0, KO, CB, 1, 1);
					DLOAD(d1, px + 2);
					dweight3_step(acc, ip + (size_t)(px + 1) *
					    Cx, d2, d0, d1, KO, CB, 1, 1);
					DLOAD(d2, px + 3);
					dweight3_step(acc, ip + (size_t)(px + 2) *
					    Cx, d0, d1, d2, KO, CB, 1, 1);
				}
				/* the rest before the last pixel: the
				 * window is d1, d2 (px - 1, px) */
				for (; px + 1 < W; px++) {
					DLOAD(d0, px + 1);
					dweight3_step(acc, ip + (size_t)px * Cx,
					    d1, d2, d0, KO, CB, 1, 1);
					for (k = 0; k < KO; k++) {
						d1[k] = d2[k];
						d2[k] = d0[k];
					}
				}
				/* the last pixel: taps 1 and 2 */
				dweight3_step(acc, ip + (size_t)px * Cx, d1, d2,
				    d2, KO, CB, 0, 1);
#undef DLOAD
			}
#pragma GCC unroll 3
			for (kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
				for (c = 0; c < CB; c++)
#pragma GCC unroll 2
					for (k = 0; k < KO; k++)
						_mm512_storeu_ps(o + ((size_t)kx *
						    Cx + c) * Co + 16 * k,
						    acc[kx][c][k]);
		}
	}
}

/*
 * The input gradient of a stride-2 convolution into Cd = 16 input
 * channels (one vector), H and W even, W / 2 a multiple of 4: the four
 * parity phases of K(dinput2_body) at once, for blocks of 4 pixels of a
 * phase row.  Their 9 taps read 4 positions of the padded output
 * gradient, (m + 2, n + 2), (m + 2, n + 1), (m + 1, n + 2) and
 * (m + 1, n + 1), which serve 1, 2, 2 and 4 taps; each position is one
 * pass over the Co channels, in that order, so that each phase still
 * takes its taps in order and each tap over the channels in order: the
 * bits of K(dinput2_body).  Per channel 16 broadcasts and 9 weight loads
 * feed 36 FMAs (there: 4 phases x (4 + 1) loads a tap for 4 FMAs).
 */
/* The four positions of dinput2q_512() in the order the phases need
 * them: pad row m + 1 + r, column n + 1 + c; the n taps each serves, by
 * their flipped weights wt[8 - t], and the phase 2 py + px each feeds. */
static const struct {
	int r, c, n, w[4], ph[4];
} dinput2q_pos[4] = {
	{ 1, 1, 1, { 8 }, { 3 } },                      /* (1, 1) tap 0 */
	{ 1, 0, 2, { 6, 7 }, { 3, 2 } },                /* (1, 1) 2, (1, 0) 1 */
	{ 0, 1, 2, { 2, 5 }, { 3, 1 } },                /* (1, 1) 6, (0, 1) 3 */
	{ 0, 0, 4, { 0, 1, 3, 4 }, { 3, 2, 1, 0 } },    /* 8, 7, 5, 4 */
};

__attribute__((target("avx512f"))) static void
dinput2q_512(float *dx, const float *pad, const float *wt, int H, int W,
    int Wo, int Co, int add)
{
	size_t rs = (size_t)(Wo + 2) * Co, ts = (size_t)Co * 16;
	int m, n0, j, o, q, t, ph, Hq = H / 2, Wq = W / 2;

	for (m = 0; m < Hq; m++)
		for (n0 = 0; n0 < Wq; n0 += 4) {
			/* a[2 py + px][j]: output pixel (2 m + py,
			 * 2 (n0 + j) + px) */
			__m512 a[4][4], w[4], b;
			float *o0 = dx + ((size_t)2 * m * W + 2 * n0) * 16;

#pragma GCC unroll 4
			for (ph = 0; ph < 4; ph++)
#pragma GCC unroll 4
				for (j = 0; j < 4; j++)
					a[ph][j] = add ? _mm512_loadu_ps(o0 +
					    ((size_t)(ph / 2) * W + 2 * j +
					    ph % 2) * 16) : _mm512_setzero_ps();
#pragma GCC unroll 4
			for (q = 0; q < 4; q++) {
				const float *p = pad + (size_t)(m + 1 +
				    dinput2q_pos[q].r) * rs + (size_t)(n0 + 1 +
				    dinput2q_pos[q].c) * Co;

				for (o = 0; o < Co; o++) {
#pragma GCC unroll 4
					for (t = 0; t < dinput2q_pos[q].n; t++)
						w[t] = _mm512_loadu_ps(wt +
						    dinput2q_pos[q].w[t] * ts +
						    16 * o);
#pragma GCC unroll 4
					for (j = 0; j < 4; j++) {
						b = _mm512_set1_ps(p[(size_t)j * Co +
						    o]);
#pragma GCC unroll 4
						for (t = 0; t < dinput2q_pos[q].n;
						    t++) {
							ph = dinput2q_pos[q].ph[t];
							a[ph][j] = _mm512_fmadd_ps(b,
							    w[t], a[ph][j]);
						}
					}
				}
			}
#pragma GCC unroll 4
			for (ph = 0; ph < 4; ph++)
#pragma GCC unroll 4
				for (j = 0; j < 4; j++)
					_mm512_storeu_ps(o0 + ((size_t)(ph / 2) *
					    W + 2 * j + ph % 2) * 16, a[ph][j]);
		}
}

/* dweight3_512_body() for Co 16 (8 input channels a block) or 32 (4) */
__attribute__((target("avx512f"))) static void
dweight3_512(float *dwt, const float *x, const float *dy, int H, int W,
    int Cx, int Co)
{
	if (Co == 16)
		dweight3_512_body(dwt, x, dy, H, W, Cx, 1, DW3_CB(16));
	else
		dweight3_512_body(dwt, x, dy, H, W, Cx, 2, DW3_CB(32));
}

#undef K
#undef TGT
#undef VL
#undef VF
#undef VP
#undef CHUNK
#undef FWD16
#undef FWD32
#undef FWD64
#undef FWD32S2
#undef DW16
#undef DW_BAND
#undef DW32
#undef DW64
#undef D16_WMOD
#undef D32_WMOD
#undef D64_WMOD
#undef DW3_CB
#undef DI2Q_WMOD

/* ---- AVX2 + FMA ----
 * Input channels 16 at a time, so that their weights stay in the L1
 * cache.  The forward and input-gradient products take groups of 16
 * output channels in blocks of 6 pixels (12 accumulators: FMA latency 4
 * on 2 ports needs at least 8 in flight; 2 weight loads and 6 broadcasts
 * feed 12 FMAs), except the stride-2 forward into 32 channels, which
 * keeps 2 pixels x 32 channels; the weight gradient of 16 channels takes
 * blocks of 6 input channels, in bands of 8 KiB of dy.  On a Zen 3 (one
 * thread, batch 32, best of 21 to 41 runs alternating with the blocking
 * before: 4 vectors x 2 pixels, 2 x 4 for 16 channels) the 64 -> 64
 * forward and input gradient ran at 68-80 GFLOP/s against 61-69, 32 ->
 * 32 at 71-74 against 66-70.  Each sum keeps its order (t-nn, and
 * bench/identity.sh: the bits are those of the blocking before). */
#define K(name) name##_256
#define TGT "avx2,fma"
#define VL 8
#define VF __m256
#define VP(op) _mm256_##op##_ps
#define CHUNK(Co, Cx) 16
#define FWD16 2, 6, 4
#define FWD32 2, 6, 4
#define FWD64 2, 6, 4
#define FWD32S2 4, 2, 2
#define DW16 2, 6, 4
#define DW32 4, 2, 2
#define DW64 4, 2, 2
#define DW_BAND 8192
#define D16_WMOD 4
#include "conv-x86-kern.h"

/*
 * 16 output channels, stride 1, AVX2, W a multiple of 4: for each kernel
 * row, each input of the block's 1 x (XB + 2) window is broadcast once
 * for every tap reaching the block, and the three taps' weights stay in
 * registers.  Blocks of 10 pixels take each half of the channels (one
 * register a pixel: 10 accumulators, 3 weights, the broadcast) in turn,
 * an even number of them a row so that blocks of 4 pixels with both
 * halves (8 accumulators, 6 weights) end it.  (12 pixels would fill all
 * 16 registers, and GCC then spills: 50 against 88 GFLOP/s in the L1
 * cache on a Zen 3.)  Each sum runs over the kernel rows, then the input
 * channels, then the taps of the row, whatever the block.
 */
static inline __attribute__((always_inline, target("avx2,fma"))) void
direct16_256_block(float *o, const float *ip, const float *wt, size_t rs,
    int Cx, int cn, int add, const int KO, const int XB)
{
	__m256 acc[10][2], w[3][2], b;
	int ky, c, i, j, k;

#pragma GCC unroll 10
	for (j = 0; j < XB; j++)
#pragma GCC unroll 2
		for (k = 0; k < KO; k++)
			acc[j][k] = add ? _mm256_loadu_ps(o + 16 * j + 8 * k) :
			    _mm256_setzero_ps();
	for (ky = 0; ky < 3; ky++) {
		const float *p = ip + ky * rs;
		const float *wp = wt + (size_t)3 * ky * Cx * 16;
		for (c = 0; c < cn; c++) {
#pragma GCC unroll 3
			for (j = 0; j < 3; j++)
#pragma GCC unroll 2
				for (k = 0; k < KO; k++)
					w[j][k] = _mm256_loadu_ps(wp +
					    ((size_t)j * Cx + c) * 16 + 8 * k);
#pragma GCC unroll 12
			for (i = 0; i < XB + 2; i++) {
				b = _mm256_set1_ps(p[(size_t)i * Cx + c]);
#pragma GCC unroll 10
				for (j = 0; j < XB; j++) {
					if (i - j < 0 || i - j > 2)
						continue;
#pragma GCC unroll 2
					for (k = 0; k < KO; k++)
						acc[j][k] = _mm256_fmadd_ps(b,
						    w[i - j][k], acc[j][k]);
				}
			}
		}
	}
#pragma GCC unroll 10
	for (j = 0; j < XB; j++)
#pragma GCC unroll 2
		for (k = 0; k < KO; k++)
			_mm256_storeu_ps(o + 16 * j + 8 * k, acc[j][k]);
}

__attribute__((target("avx2,fma"))) static void
direct16_256(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int cn, int add)
{
	size_t rs = (size_t)(W + 2) * Cx;
	int y, x0, x10 = W / 20 * 20;

	for (y = 0; y < H; y++) {
		const float *ip = pad + y * rs;
		float *o = out + (size_t)y * W * 16;

		for (x0 = 0; x0 < x10; x0 += 10) {
			direct16_256_block(o + (size_t)x0 * 16, ip +
			    (size_t)x0 * Cx, wt, rs, Cx, cn, add, 1, 10);
			direct16_256_block(o + (size_t)x0 * 16 + 8, ip +
			    (size_t)x0 * Cx, wt + 8, rs, Cx, cn, add, 1, 10);
		}
		for (; x0 < W; x0 += 4)
			direct16_256_block(o + (size_t)x0 * 16, ip +
			    (size_t)x0 * Cx, wt, rs, Cx, cn, add, 2, 4);
	}
}

/* The kernels of one level. */
struct kernels {
	void (*direct)(float *, const float *, const float *, int, int, int,
	    int, int, int, int);
	void (*dweight)(float *, const float *, const float *, int, int, int,
	    int, int, int, int);
	int (*dweight_block)(int);
	void (*dinput2)(float *, const float *, const float *, int, int, int,
	    int, int, int);
	void (*bn_row)(float *, const float *, const float *, float *,
	    const float *, const float *, int, int);
};
static const struct kernels k512 = { direct_512, dweight_512,
    dweight_block_512, dinput2_512, bn_row_512 };
static const struct kernels k256 = { direct_256, dweight_256,
    dweight_block_256, dinput2_256, bn_row_256 };

static const struct kernels *
kernels(void)
{
	return simd_level == 2 ? &k512 : &k256;
}

static void
bn_row(float *d, const float *s, const float *r, float *o,
    const struct mm_pad_bn *b, int W, int C)
{
	kernels()->bn_row(d, s, r, o, b->sc, b->sh, W, C);
}
#endif

int
mm_direct_ok(int Co, int stride)
{
#ifdef MM_X86
	return (Co == 16 || Co == 32 || Co == 64) && stride <= 2 &&
	    mm_nn_simd(-1) > 0;
#else
	(void)Co;
	(void)stride;
	return 0;
#endif
}

int
mm_direct_dw_ok(int Cx, int Co, int stride)
{
	if (!mm_direct_ok(Co, stride))
		return 0;
#ifdef MM_X86
	if (Cx <= 3)
		return Co == 16 && stride == 1 && simd_level == 2;
	return Cx % kernels()->dweight_block(Co) == 0;
#else
	(void)Cx;
	return 0;
#endif
}

void
mm_direct_forward(float *out, const float *x, const float *wt, float *pad,
    int N, int H, int W, int Cx, int Co, int S, int add)
{
	mm_direct_forward_bn(out, x, NULL, wt, pad, N, H, W, Cx, Co, S, add);
}

void
mm_direct_forward_bn(float *out, const float *x, const struct mm_pad_bn *b,
    const float *wt, float *pad, int N, int H, int W, int Cx, int Co, int S,
    int add)
{
#ifdef MM_X86
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1, n;
	size_t in = (size_t)H * W * Cx, on = (size_t)Ho * Wo * Co;
	const struct kernels *k = kernels();
	struct mm_pad_bn bn;

	if (b)
		bn = *b;

	for (n = 0; n < N; n++) {
		if (b) {
			bn.res = b->res ? b->res + n * in : NULL;
			bn.out = b->out ? b->out + n * in : NULL;
		}
		pad_sample(pad, x + n * in, b ? &bn : NULL, H, W, Cx);
		k->direct(out + n * on, pad, wt, Ho, Wo, W + 2, Cx, Co, S, add);
	}
#else
	(void)out, (void)x, (void)b, (void)wt, (void)pad, (void)N, (void)H;
	(void)W, (void)Cx, (void)Co, (void)S, (void)add;
#endif
}

void
mm_direct_dinput(float *dx, const float *dy, const float *wt, float *pad,
    int N, int H, int W, int Cx, int Co, int S, int add)
{
#ifdef MM_X86
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1, n;
	size_t in = (size_t)H * W * Cx, on = (size_t)Ho * Wo * Co;

	/* stride 1: the convolution of dy with the flipped weights */
	if (S == 1) {
		mm_direct_forward(dx, dy, wt, pad, N, H, W, Co, Cx, 1, add);
		return;
	}
	for (n = 0; n < N; n++) {
		pad_sample(pad, dy + n * on, NULL, Ho, Wo, Co);
		kernels()->dinput2(dx + n * in, pad, wt, H, W, Wo, Co, Cx, add);
	}
#else
	(void)dx, (void)dy, (void)wt, (void)pad, (void)N, (void)H, (void)W;
	(void)Cx, (void)Co, (void)S, (void)add;
#endif
}

void
mm_direct_dweight(float *dwt, const float *x, const float *dy, float *pad,
    int N, int H, int W, int Cx, int Co, int S)
{
#ifdef MM_X86
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1, n;
	size_t in = (size_t)H * W * Cx, on = (size_t)Ho * Wo * Co;
	const struct kernels *k = kernels();

	for (n = 0; n < N; n++) {
		if (Cx <= 3) {
			pad_sample(pad, x + n * in, NULL, H, W, Cx);
			dweight_few_512(dwt, pad, dy + n * on, Ho, Wo, Cx);
			continue;
		}
		k->dweight(dwt, x + n * in, dy + n * on, Ho, Wo, H, W, Cx, Co,
		    S);
	}
#else
	(void)dwt, (void)x, (void)dy, (void)pad, (void)N, (void)H, (void)W;
	(void)Cx, (void)Co, (void)S;
#endif
}
