/*
 * conv-bf16.c - the 3x3 convolution of conv.h with bf16 products and fp32
 * accumulation (the opt-in bf16 precision, gemm-bf16.h): direct kernels
 * on the AVX512-BF16 instruction vdpbf16ps, which adds to each fp32 lane
 * the two products of a pair of bf16 in that lane's 32-bit word.
 *
 * Words.  Every operand is packed once per sample (never per tap) into
 * 32-bit words, each a pair of bf16 (rounded to nearest even; low half
 * first) along the dimension the product sums over:
 *   - forward and input gradient: pairs of channels.  A sample x (H, W, C)
 *     becomes xp (H + 2, W + 2, ceil(C / 2)) inside a zero border (odd C:
 *     a zero last half, so the stem's 1 or 3 channels take 1 or 2 words);
 *     the weights wt (9, ceil(Cin / 2), Cout) (forward) or
 *     (9, Cout / 2, Cin) (input gradient, taps not flipped).  The kernel
 *     broadcasts one input word and multiplies it with 16 output channels'
 *     weight words: XB pixels x KO vectors of 16 output channels stay in
 *     registers.  For 16 output channels at stride 1 (the first stage
 *     and its input gradient, the stems) fwd16 keeps the 9 taps' weights
 *     in registers instead and uses each broadcast for up to 6 products.
 *   - weight gradient: pairs of output pixels (2q, 2q + 1) of a row.  The
 *     output gradient becomes dq (Ho, Q, Co) words, Q = ceil(Wo / 2) (a zero
 *     half past Wo); the input, for each kernel column kx, becomes
 *     xq[kx] (H + 2, Q, Cin) words whose pixels are the padded columns
 *     S 2q + kx and S (2q + 1) + kx that those output pixels read (at
 *     stride 1 two copies serve the three kernel columns: pack_xeo).  The
 *     kernel broadcasts an input word and multiplies it with 16 output
 *     channels' gradient words: CB input channels x KO vectors in
 *     registers over all pixels of a tap (the stems: all 9 taps at once).
 * The input gradient of a stride-1 convolution is the forward kernel on
 * the padded output gradient with the taps flipped; at stride 2 each
 * parity class of input pixels (row and column even or odd) gathers its
 * 1, 2 or 4 taps from the padded output gradient.
 *
 * BatchNorm folded into the packing (the bits of the separate passes,
 * whose operations they repeat in order): the forward can take its input
 * as a BatchNorm input and form max(x sc + sh (+ shortcut), 0) while
 * packing it (pack_pad; struct mm_bn_relu), storing it on the way or
 * not at all; the backward forms the BatchNorm gradient of a sample
 * straight into the words of both its products (grad_pack), with the ReLU
 * mask read or formed from the BatchNorm input.
 *
 * Outputs in bf16: the forward rounds each sample's output to bf16 (the
 * statistics are those of the rounded values) and stores it so; the
 * BatchNorm inputs that the packing and the backward read (pre, and inp
 * with ibn) are such outputs.  A stage-1 tensor of a batch of 128 is 32
 * MB in fp32, past the caches, and these passes ran at the memory's
 * speed: they now read half the bytes.
 *
 * Order of the sums (fixed by the blocking, whatever the threads): the
 * forward and input gradient pass over input-channel chunks (CHUNKP
 * pairs), taps, then pairs (fwd16: pairs, then taps); the weight gradient
 * over samples, rows, pixel pairs.  Each vdpbf16ps adds the word's high product and then the
 * low one on AMD Zen 5 (gemm-bf16.h), so results are reproducible, but not
 * the bits of any other order: t-conv-bf16 holds them to a tolerance.
 *
 * The FMA kind (mm_bf16_kernel(), for CPUs whose vdpbf16ps is the
 * slower): every copy above holds the fp32 values of its words' halves
 * instead, the low half first, so each word offset doubles, and a row of
 * weight or gradient words becomes two rows (low, then high halves).  The
 * kernels keep their blocking and order and add each word's high product
 * and then its low one with two FMAs, under flush-to-zero and
 * denormals-are-zero (bf16-fma.h), which is vdpbf16ps's arithmetic: the
 * same bits (t-conv-bf16).  Exceptions to "same blocking", each
 * accumulator's order unchanged: fwd16 takes blocks of one row of 16
 * pixels with one kernel row's taps at a time (fwd16f: the two halves of
 * all 9 taps would fill 18 registers); the weight gradient at stride 1
 * reads one padded copy of the input (its columns from kx on) instead of
 * xe and xo, and into 16 channels takes the 3 taps of a kernel row at once
 * (dw3_16).
 *
 * No AMX kernel yet (no machine to test one on); AVX512-BF16 only.
 */
#include <stdint.h>
#include <string.h>

#include "conv.h"
#include "gemm-bf16.h"
#include "nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "bf16-fma.h"
#define MM_X86 1
#endif

#define TGT "avx512bf16,avx512f,avx512bw,avx512vl"

static int
cdiv(int a, int b)
{
	return (a + b - 1) / b;
}

static int
width_ok(int C)
{
	return C == 16 || C == 32 || C == 64;
}

int
mm_conv3x3_bf16_ok(int Cin, int Cout, int dinp)
{
	return width_ok(Cout) && (dinp ? width_ok(Cin) : Cin <= 64) &&
	    mm_bf16_level(-1) > 0;
}

/* 4-byte units of each part of the scratch (see mm_conv3x3_bf16_scratch) */
static size_t
part_xp(int H, int W, int Cin)
{
	return (size_t)(H + 2) * (W + 2) * cdiv(Cin, 2);
}

static size_t
part_xq(int H, int Wo, int Cin)
{
	return (size_t)(H + 2) * cdiv(Wo, 2) * Cin;
}

/* the weight gradient's input copies: 3 xq (stride 2) or xe and xo
 * (stride 1: pack_xeo) */
static size_t
part_x3(int H, int W, int Cin)
{
	size_t a = 3 * part_xq(H, W, Cin);
	size_t b = 2 * (size_t)(H + 2) * (cdiv(W, 2) + 1) * Cin;

	return a > b ? a : b;
}

size_t
mm_conv3x3_bf16_scratch(int H, int W, int Cin, int Cout)
{
	int Ho = H, Wo = W;     /* stride 1 is the largest */

	/* 64 bytes of alignment; xp; 3 xq (or xe, xo); dq; the padded output
	 * gradient (each twice its words: the FMA kind's widened copies);
	 * the output gradient of a sample (fp32), or in the forward its
	 * output; the weight gradient; a sample's input or output formed
	 * from its BatchNorm input (struct mm_bn_relu); a sample's input
	 * gradient; a sample of a bf16 tensor widened to fp32; each part
	 * rounded up to 64 bytes */
	return 16 + 16 * 11 + 2 * (part_xp(H, W, Cin) + part_x3(H, Wo, Cin) +
	    (size_t)Ho * cdiv(Wo, 2) * Cout + part_xp(Ho, Wo, Cout)) +
	    (size_t)Ho * Wo * Cout + 9 * (size_t)Cin * Cout +
	    2 * (size_t)H * W * (Cin > Cout ? Cin : Cout) + (size_t)H * W * Cin;
}

size_t
mm_conv3x3_bf16_wsize(int Cin, int Cout)
{
	size_t a = (size_t)cdiv(Cin, 2) * Cout, b = (size_t)cdiv(Cout, 2) * Cin;

	/* words, or twice as many floats for the FMA kind */
	return 18 * (a > b ? a : b);
}

/* the word of bf16 a (low half) and b (high half) */
static uint32_t
word(float a, float b)
{
	return mm_bf16_round(a) | (uint32_t)mm_bf16_round(b) << 16;
}

/* the fp32 value of the bf16 of a (the FMA kind's half of a word) */
static float
wide(float a)
{
	return mm_bf16_float(mm_bf16_round(a));
}

void
mm_conv3x3_bf16_weights(uint32_t *wt, const float *w, int Cin, int Cout,
    int back)
{
	int t, o, c, p, P;

	if (mm_bf16_kernel(-1) == MM_BF16_FMA) {
		/* each row of words as two rows of the values of its low
		 * and high halves: (9, 2P, Cout) or (9, 2P, Cin) floats,
		 * zero rows past the channels */
		float *f = (float *)wt;
		int X = back ? Cin : Cout, Y = back ? Cout : Cin;
		P = cdiv(Y, 2);
		for (t = 0; t < 9; t++)
			for (p = 0; p < 2 * P; p++)
				for (o = 0; o < X; o++)
					f[((size_t)t * 2 * P + p) * X + o] = p >= Y ?
					    0 : wide(back ? w[((size_t)p * Cin + o) *
					    9 + t] : w[((size_t)o * Cin + p) * 9 +
					    t]);
		return;
	}
	if (!back) {
		/* (9, P, Cout): channels 2p, 2p + 1 of output channel o */
		P = cdiv(Cin, 2);
		for (t = 0; t < 9; t++)
			for (p = 0; p < P; p++)
				for (o = 0; o < Cout; o++) {
					const float *r = w + (size_t)o * Cin * 9;
					wt[((size_t)t * P + p) * Cout + o] =
					    word(r[2 * p * 9 + t], 2 * p + 1 < Cin ?
					    r[(2 * p + 1) * 9 + t] : 0);
				}
		return;
	}
	/* (9, P, Cin): output channels 2p, 2p + 1 of input channel c */
	P = cdiv(Cout, 2);
	for (t = 0; t < 9; t++)
		for (p = 0; p < P; p++)
			for (c = 0; c < Cin; c++)
				wt[((size_t)t * P + p) * Cin + c] = word(
				    w[((size_t)2 * p * Cin + c) * 9 + t],
				    2 * p + 1 < Cout ? w[((size_t)(2 * p + 1) *
				    Cin + c) * 9 + t] : 0);
}

#ifdef MM_X86

/* 16 floats as bf16, round to nearest even */
static inline __attribute__((always_inline, target(TGT))) __m256i
cvt16(const float *x)
{
	return (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(x));
}

/* 16 words: bf16 of a (low halves) and b (high halves) */
static inline __attribute__((always_inline, target(TGT))) __m512i
pair16(const float *a, const float *b)
{
	__m512i lo = _mm512_cvtepu16_epi32(cvt16(a));
	__m512i hi = _mm512_cvtepu16_epi32(cvt16(b));

	return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

/* 16 bf16 widened to fp32 (the FMA kind's copies of 16 words' halves) */
static inline __attribute__((always_inline, target(TGT))) __m512
widen16(__m256i h)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h),
	    16));
}

/* max(x sc + sh (+ 16 floats of r when r), 0) of 16 bf16 x: a
 * ReLU-BatchNorm output by mm_bn_apply()'s operations, the one formula of
 * the forward's packing (pack_pad) and the backward's forming (form16),
 * which must give the same bits */
static inline __attribute__((always_inline, target(TGT))) __m512
bn_relu16(const uint16_t *x, __m512 sc, __m512 sh, const float *r)
{
	__m512 v = _mm512_add_ps(_mm512_mul_ps(widen16(_mm256_loadu_si256(
	    (const __m256i *)x)), sc), sh);

	if (r)
		v = _mm512_add_ps(v, _mm512_loadu_ps(r));
	return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(),
	    _CMP_GT_OQ), v);
}

/* t[i] = the bf16 of x[i], i < n (round to nearest even) */
static inline __attribute__((always_inline, target(TGT))) void
cvt_row(uint16_t *t, const float *x, int n)
{
	int i;

	for (i = 0; i + 16 <= n; i += 16)
		_mm256_storeu_si256((__m256i *)(t + i), cvt16(x + i));
	if (i < n) {
		__mmask16 m = (__mmask16)((1u << (n - i)) - 1);
		_mm256_mask_storeu_epi16(t + i, m, (__m256i)_mm512_cvtneps_pbh(
		    _mm512_maskz_loadu_ps(m, x + i)));
	}
}

/* Pixels per pass of the small-channel packing (its bf16 buffer). */
#define PACKPX 256

/*
 * xp (H + 2, W + 2, P) words of channel pairs = x (H, W, C) in a zero
 * border, P = ceil(C / 2).  With sc (C a multiple of 16 at most 64), of
 * the ReLU-BatchNorm output max(xb sc + sh (+ r), 0) instead (xb in bf16,
 * x unused; bn_relu16()) (sc, sh per channel; r, o (H, W, C) when not
 * NULL: the shortcut added, the output also stored to o), without reading
 * that output back.  f 2 (the FMA kind): the same in (H + 2, W + 2, 2P)
 * floats, the values of the words' halves (channel 2p + 1 the high one).
 */
static __attribute__((target(TGT))) void
pack_pad(uint32_t *xp, const float *x, const uint16_t *xb, const float *r,
    float *o, const float *sc, const float *sh, int H, int W, int C, int f)
{
	int P = cdiv(C, 2), y, i, c, i0, n, b, nb = sc ? C / 16 : 0;
	int nt = o && !((uintptr_t)o & 63);     /* o bypasses the caches */
	size_t rs = (size_t)(W + 2) * P * f, k;
	uint16_t t[PACKPX * 4];
	__m512 scv[4], shv[4], v;

	for (b = 0; b < nb; b++) {
		scv[b] = _mm512_loadu_ps(sc + 16 * b);
		shv[b] = _mm512_loadu_ps(sh + 16 * b);
	}

	memset(xp, 0, rs * sizeof *xp);
	memset(xp + (H + 1) * rs, 0, rs * sizeof *xp);
	for (y = 0; y < H; y++) {
		uint32_t *d = xp + (y + 1) * rs;
		float *e = (float *)d + 2 * P;
		const float *s = sc ? NULL : x + (size_t)y * W * C;
		const uint16_t *sb = sc ? xb + (size_t)y * W * C : NULL;
		memset(d, 0, P * f * sizeof *d);
		memset(d + (size_t)(W + 1) * P * f, 0, P * f * sizeof *d);
		d += P;
		if (f == 2 && !sc && C % 16 == 0) {
			for (i = 0; i < W * C; i += 16)
				_mm512_storeu_ps(e + i, widen16(cvt16(s + i)));
			continue;
		}
		if (f == 2 && !sc) {
			/* pixels of t a pass: PACKPX for the stems */
			int m = PACKPX * 4 / C;
			for (i0 = 0; i0 < W; i0 += n) {
				n = W - i0 < m ? W - i0 : m;
				cvt_row(t, s + (size_t)i0 * C, n * C);
				for (i = 0; i < n; i++)
					for (c = 0; c < 2 * P; c++)
						e[(size_t)(i0 + i) * 2 * P + c] = c < C ?
						    mm_bf16_float(t[i * C + c]) : 0;
			}
			continue;
		}
		if (sc) {
			for (i = 0; i < W * C; i += C)
				for (b = 0; b < nb; b++) {
					k = (size_t)y * W * C + i + 16 * b;
					v = bn_relu16(sb + i + 16 * b, scv[b], shv[b],
					    r ? r + k : NULL);
					if (nt)
						_mm512_stream_ps(o + k, v);
					else if (o)
						_mm512_storeu_ps(o + k, v);
					if (f == 2)
						_mm512_storeu_ps(e + i + 16 * b,
						    widen16((__m256i)
						    _mm512_cvtneps_pbh(v)));
					else
						_mm256_storeu_si256((__m256i *)(d +
						    (i + 16 * b) / 2), (__m256i)
						    _mm512_cvtneps_pbh(v));
				}
			continue;
		}
		if (C % 16 == 0) {
			for (i = 0; i < W * C; i += 16)
				_mm256_storeu_si256((__m256i *)(d + i / 2),
				    cvt16(s + i));
			continue;
		}
		if (C > 4) {
			for (i = 0; i < W; i++)
				for (c = 0; c < P; c++)
					d[i * P + c] = word(s[i * C + 2 * c],
					    2 * c + 1 < C ? s[i * C + 2 * c + 1] : 0);
			continue;
		}
		/* the stems: a row of bf16 at a time, then the words */
		for (i0 = 0; i0 < W; i0 += n) {
			n = W - i0 < PACKPX ? W - i0 : PACKPX;
			cvt_row(t, s + (size_t)i0 * C, n * C);
			for (i = 0; i < n; i++)
				for (c = 0; c < P; c++)
					d[(i0 + i) * P + c] = t[i * C + 2 * c] |
					    (2 * c + 1 < C ? (uint32_t)t[i * C + 2 * c +
					    1] << 16 : 0);
		}
	}
	if (nt)
		_mm_sfence();
}

/* dq (Ho, Q, C) words of pixel pairs (2q, 2q + 1) of g (Ho, Wo, C),
 * C a multiple of 16, a zero high half past Wo; f 2 (the FMA kind): the
 * values of their halves, (Ho, 2Q, C) floats */
static __attribute__((target(TGT))) void
pack_dq(uint32_t *dq, const float *g, int Ho, int Wo, int C, int f)
{
	static const float zero[16];
	int Q = cdiv(Wo, 2), y, q, c, x;

	if (f == 2) {
		float *e = (float *)dq;
		for (y = 0; y < Ho; y++)
			for (x = 0; x < 2 * Q; x++)
				for (c = 0; c < C; c += 16)
					_mm512_storeu_ps(e + ((size_t)y * 2 * Q +
					    x) * C + c, x < Wo ? widen16(cvt16(g +
					    ((size_t)y * Wo + x) * C + c)) :
					    _mm512_setzero_ps());
		return;
	}
	for (y = 0; y < Ho; y++)
		for (q = 0; q < Q; q++) {
			const float *a = g + ((size_t)y * Wo + 2 * q) * C;
			for (c = 0; c < C; c += 16)
				_mm512_storeu_si512(dq + ((size_t)y * Q + q) * C +
				    c, pair16(a + c, 2 * q + 1 < Wo ? a + C + c :
				    zero));
		}
}

/* xq (H + 2, Q, C): the words of padded columns S 2q + kx and
 * S (2q + 1) + kx of x (H, W, C), the pixels that output pixels 2q and
 * 2q + 1 of a row read through kernel column kx; f 2 (the FMA kind): the
 * values of their halves, (H + 2, 2Q, C) floats */
static __attribute__((target(TGT))) void
pack_xq(uint32_t *xq, const float *x, int H, int W, int C, int Wo, int S,
    int kx, int f)
{
	static const float zero[16];
	int Q = cdiv(Wo, 2), r, q, c, ca, cb;

	if (f == 2) {
		float *e = (float *)xq;
		for (r = 0; r < H + 2; r++)
			for (q = 0; q < 2 * Q; q++) {
				float *d = e + ((size_t)r * 2 * Q + q) * C;
				const float *row = x + (size_t)(r - 1) * W * C;
				ca = S * q + kx - 1;    /* unpadded column */
				if (r < 1 || r > H || q >= Wo || ca < 0 ||
				    ca >= W) {
					memset(d, 0, C * sizeof *d);
					continue;
				}
				if (C % 16 == 0) {
					for (c = 0; c < C; c += 16)
						_mm512_storeu_ps(d + c, widen16(cvt16(
						    row + (size_t)ca * C + c)));
					continue;
				}
				for (c = 0; c < C; c++)
					d[c] = wide(row[(size_t)ca * C + c]);
			}
		return;
	}

	for (r = 0; r < H + 2; r++)
		for (q = 0; q < Q; q++) {
			uint32_t *d = xq + ((size_t)r * Q + q) * C;
			/* unpadded columns, -1 or >= W outside */
			ca = S * 2 * q + kx - 1;
			cb = S * (2 * q + 1) + kx - 1;
			if (r < 1 || r > H || 2 * q + 1 >= Wo)
				cb = -1;
			if (r < 1 || r > H)
				ca = -1;
			const float *row = x + (size_t)(r - 1) * W * C;
			int ina = ca >= 0 && ca < W, inb = cb >= 0 && cb < W;
			if (C % 16 == 0) {
				for (c = 0; c < C; c += 16)
					_mm512_storeu_si512(d + c, pair16(ina ?
					    row + (size_t)ca * C + c : zero, inb ?
					    row + (size_t)cb * C + c : zero));
				continue;
			}
			for (c = 0; c < C; c++)
				d[c] = word(ina ? row[(size_t)ca * C + c] : 0,
				    inb ? row[(size_t)cb * C + c] : 0);
		}
}

/*
 * The BatchNorm backward of one sample straight into the words of its
 * products: g = k dy m + a pre + b (pre in bf16; coef = k, a, b per
 * channel), the ReLU mask m = (out > 0) with out, (pre sc + sh > 0) with
 * sc (the output not stored), 1 with neither, by mm_bn_grad_apply()'s
 * operations; then dq as pack_dq() and, with gp, gp as pack_pad() make
 * them of g.  C a multiple of 16 at most 64.  g itself is never stored.
 */
static __attribute__((target(TGT))) void
grad_pack(uint32_t *dq, uint32_t *gp, const float *dy, const float *out,
    const float *sc, const float *sh, const uint16_t *pre, const float *coef,
    int Ho, int Wo, int C, int f)
{
	int Q = cdiv(Wo, 2), P = C / 2 * f, nb = C / 16, y, q, k, b, x;
	size_t rs = (size_t)(Wo + 2) * P, off;
	float *dqf = (float *)dq, *gpf = (float *)gp;
	__m512 kv[4], av[4], bv[4], scv[4], shv[4], t, z = _mm512_setzero_ps();
	__m512 one = _mm512_set1_ps(1);
	__m512i h[2][4];
	__mmask16 m;

	for (b = 0; b < nb; b++) {
		kv[b] = _mm512_loadu_ps(coef + 16 * b);
		av[b] = _mm512_loadu_ps(coef + C + 16 * b);
		bv[b] = _mm512_loadu_ps(coef + 2 * C + 16 * b);
		if (sc) {
			scv[b] = _mm512_loadu_ps(sc + 16 * b);
			shv[b] = _mm512_loadu_ps(sh + 16 * b);
		}
	}
	if (gp) {
		memset(gp, 0, rs * sizeof *gp);
		memset(gp + (Ho + 1) * rs, 0, rs * sizeof *gp);
	}
	for (y = 0; y < Ho; y++) {
		if (gp) {
			memset(gp + (y + 1) * rs, 0, P * sizeof *gp);
			memset(gp + (y + 1) * rs + (size_t)(Wo + 1) * P, 0,
			    P * sizeof *gp);
		}
		for (q = 0; q < Q; q++) {
			for (k = 0; k < 2; k++) {
				x = 2 * q + k;
				for (b = 0; b < nb; b++) {
					if (x >= Wo) {
						h[k][b] = _mm512_setzero_si512();
						if (f == 2)
							_mm512_storeu_si512(dqf +
							    ((size_t)y * 2 * Q + x) *
							    C + 16 * b, h[k][b]);
						continue;
					}
					off = ((size_t)y * Wo + x) * C + 16 * b;
					__m512 p = widen16(_mm256_loadu_si256(
					    (const __m256i *)(pre + off)));
					t = _mm512_mul_ps(kv[b],
					    _mm512_loadu_ps(dy + off));
					if (out || sc) {
						m = out ? _mm512_cmp_ps_mask(
						    _mm512_loadu_ps(out + off), z,
						    _CMP_GT_OQ) : _mm512_cmp_ps_mask(
						    _mm512_add_ps(_mm512_mul_ps(p,
						    scv[b]), shv[b]), z, _CMP_GT_OQ);
						t = _mm512_mul_ps(t,
						    _mm512_maskz_mov_ps(m, one));
					}
					t = _mm512_add_ps(_mm512_add_ps(t,
					    _mm512_mul_ps(av[b], p)), bv[b]);
					__m256i hb = (__m256i)_mm512_cvtneps_pbh(t);
					if (f == 2) {
						__m512 v = widen16(hb);
						_mm512_storeu_ps(dqf + ((size_t)y * 2 *
						    Q + x) * C + 16 * b, v);
						if (gp)
							_mm512_storeu_ps(gpf + (y + 1) *
							    rs + (size_t)(x + 1) * C +
							    16 * b, v);
						continue;
					}
					h[k][b] = _mm512_cvtepu16_epi32(hb);
					if (gp)
						_mm256_storeu_si256((__m256i *)(gp +
						    (y + 1) * rs + (size_t)(x + 1) * P +
						    8 * b), hb);
				}
			}
			for (b = 0; b < nb && f == 1; b++)
				_mm512_storeu_si512(dq + ((size_t)y * Q + q) * C +
				    16 * b, _mm512_or_si512(h[0][b],
				    _mm512_slli_epi32(h[1][b], 16)));
		}
	}
}

/*
 * The weight gradient's input at stride 1 in two copies instead of three:
 * xe (H + 2, Q + 1, C) the words of padded columns (2m, 2m + 1) (kernel
 * columns 0 and 2 read words q and q + 1 for output pixels 2q, 2q + 1),
 * xo (H + 2, Q + 1, C) those of columns (2q + 1, 2q + 2) (kernel column
 * 1; word Q unused), made from xe by moving halves.  Columns past the
 * padding are zero.  f 2 (the FMA kind): xe alone, the values of its
 * words' halves, (H + 2, 2Q + 2, C) floats: the padded sample (and xo
 * would be its columns from 1 on).
 */
static __attribute__((target(TGT))) void
pack_xeo(uint32_t *xe, uint32_t *xo, const float *x, int H, int W, int C,
    int f)
{
	static const float zero[16];
	int Q = cdiv(W, 2), r, m, c, ca, cb, i0, n, i;
	size_t es = (size_t)(Q + 1) * C;
	uint16_t t[PACKPX * 4];

	if (f == 2) {
		float *e = (float *)xe;
		size_t fs = 2 * es;
		memset(e, 0, fs * sizeof *e);
		memset(e + (H + 1) * fs, 0, fs * sizeof *e);
		for (r = 1; r <= H; r++) {
			const float *row = x + (size_t)(r - 1) * W * C;
			float *d = e + r * fs;
			/* padded column j: unpadded j - 1, zero outside */
			memset(d, 0, C * sizeof *d);
			memset(d + (size_t)(W + 1) * C, 0, (2 * Q + 1 - W) * C *
			    sizeof *d);
			d += C;
			if (C % 16 == 0) {
				for (i = 0; i < W * C; i += 16)
					_mm512_storeu_ps(d + i, widen16(cvt16(row +
					    i)));
				continue;
			}
			for (i0 = 0; i0 < W * C; i0 += n) {
				n = W * C - i0 < PACKPX * 4 ? W * C - i0 :
				    PACKPX * 4;
				cvt_row(t, row + i0, n);
				for (i = 0; i < n; i++)
					d[i0 + i] = mm_bf16_float(t[i]);
			}
		}
		return;
	}

	memset(xe, 0, es * sizeof *xe);
	memset(xe + (H + 1) * es, 0, es * sizeof *xe);
	for (r = 1; r <= H; r++) {
		const float *row = x + (size_t)(r - 1) * W * C;
		uint32_t *d = xe + r * es;
		if (C % 16 == 0) {
			for (m = 0; m <= Q; m++) {
				/* unpadded columns 2m - 1 and 2m */
				ca = 2 * m - 1;
				cb = 2 * m;
				for (c = 0; c < C; c += 16)
					_mm512_storeu_si512(d + (size_t)m * C + c,
					    pair16(ca >= 0 && ca < W ? row +
					    (size_t)ca * C + c : zero, cb < W ?
					    row + (size_t)cb * C + c : zero));
			}
			continue;
		}
		memset(d, 0, es * sizeof *d);
		for (i0 = 0; i0 < W; i0 += n) {
			n = W - i0 < PACKPX ? W - i0 : PACKPX;
			cvt_row(t, row + (size_t)i0 * C, n * C);
			/* unpadded column i0 + i is half (i0 + i + 1) % 2 of
			 * word (i0 + i + 1) / 2 */
			for (i = 0; i < n; i++)
				for (c = 0; c < C; c++)
					d[(size_t)(i0 + i + 1) / 2 * C + c] |=
					    (uint32_t)t[i * C + c] << 16 *
					    ((i0 + i + 1) % 2);
		}
	}
	for (r = 0; r < H + 2; r++) {
		const uint32_t *e = xe + r * es;
		uint32_t *o = xo + r * es;
		if (C % 16 == 0) {
			for (c = 0; c < Q * C; c += 16)
				_mm512_storeu_si512(o + c, _mm512_or_si512(
				    _mm512_srli_epi32(_mm512_loadu_si512(e + c),
				    16), _mm512_slli_epi32(_mm512_loadu_si512(e +
				    c + C), 16)));
			continue;
		}
		for (c = 0; c < Q * C; c++)
			o[c] = e[c] >> 16 | e[c + C] << 16;
	}
}

/*
 * One block of XB output pixels x KO vectors of 16 output channels:
 *   o[j ostep + g] (+)= sum over taps i < nt, pairs p < cn of
 *                       ip[toff[i] + j istep + p] . tw[i][p Co + g]
 * (each term one vdpbf16ps lane: two bf16 products).  E (the FMA kind):
 * ip and tw[i] are floats, every word offset doubled: the halves of word
 * w of ip at 2w (low) and 2w + 1 (high), row p of tw[i] as rows 2p and
 * 2p + 1; each term two FMAs, the high halves' product first.
 */
static inline __attribute__((always_inline, target(TGT))) void
block(float *o, int ostep, const void *ip, int istep, const int *toff,
    const void *const *tw, int nt, int cn, int Co, int add,
    const int KO, const int XB, const int E)
{
	/* (arrays sized by the constants of the caller, declared here:
	 * inside the loops they would be allocated on each pass) */
	__m512 acc[XB][KO], wh[KO], wl[KO], bh, bl;
	__m512i w[KO], b;
	int i, p, j, k;

#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			acc[j][k] = add ? _mm512_loadu_ps(o + (size_t)j * ostep +
			    16 * k) : _mm512_setzero_ps();
	for (i = 0; i < nt && E; i++) {
		const float *s = (const float *)ip + 2 * (size_t)toff[i];
		const float *q = tw[i];
		for (p = 0; p < cn; p++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++) {
				wh[k] = _mm512_loadu_ps(q + (size_t)(2 * p + 1) * Co +
				    16 * k);
				wl[k] = _mm512_loadu_ps(q + (size_t)2 * p * Co +
				    16 * k);
			}
#pragma GCC unroll 16
			for (j = 0; j < XB; j++) {
				const float *e = s + 2 * ((size_t)j * istep + p);
				bh = _mm512_set1_ps(e[1]);
				bl = _mm512_set1_ps(e[0]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[j][k] = mm_dpf(acc[j][k], bh, wh[k],
					    bl, wl[k]);
			}
		}
	}
	for (i = 0; i < nt && !E; i++) {
		const uint32_t *s = (const uint32_t *)ip + toff[i];
		const uint32_t *q = tw[i];
		for (p = 0; p < cn; p++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++)
				w[k] = _mm512_loadu_si512(q + (size_t)p * Co +
				    16 * k);
#pragma GCC unroll 16
			for (j = 0; j < XB; j++) {
				b = _mm512_set1_epi32((int)s[(size_t)j * istep +
				    p]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[j][k] = _mm512_dpbf16_ps(acc[j][k],
					    (__m512bh)b, (__m512bh)w[k]);
			}
		}
	}
#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			_mm512_storeu_ps(o + (size_t)j * ostep + 16 * k,
			    acc[j][k]);
}

/* word offset off of p: a word, or for E two floats */
#define AT(p, off, E) ((E) ? (const void *)((const float *)(p) + 2 * \
	(size_t)(off)) : (const void *)((const uint32_t *)(p) + (off)))

/* A row of n output pixels in blocks of XB (the rest one by one). */
static inline __attribute__((always_inline, target(TGT))) void
row(float *o, int ostep, const void *ip, int istep, const int *toff,
    const void *const *tw, int nt, int cn, int Co, int add, int n,
    const int KO, const int XB, const int E)
{
	int x;

	for (x = 0; x + XB <= n; x += XB)
		block(o + (size_t)x * ostep, ostep, AT(ip, (size_t)x * istep, E),
		    istep, toff, tw, nt, cn, Co, add, KO, XB, E);
	for (; x < n; x++)
		block(o + (size_t)x * ostep, ostep, AT(ip, (size_t)x * istep, E),
		    istep, toff, tw, nt, cn, Co, add, KO, 1, E);
}

/* Pairs of input channels per pass, so that their weights (9 cn Co
 * words) stay in the L1 cache. */
#define CHUNKP(Co, P) ((Co) == 64 ? 8 : (P))

/*
 * out (H, W, 16) (+)= the stride-1 convolution of pairs [0, cn) of the
 * padded sample xp (H + 2, W + 2, P) with the 16-channel weights wt
 * (9, P, 16) (tap t at tw[t]), W a multiple of 8: blocks of 2 rows x 8
 * pixels with the 9 taps' weight words of one pair in registers, so that
 * each of the block's 4 x 10 input words is broadcast once for its (up to
 * 6) products instead of once per product.  Sums over pairs, then taps.
 */
static __attribute__((target(TGT))) void
fwd16(float *out, const uint32_t *xp, const void *const *twv, int H,
    int W, int P, int cn, int add, const int *toff)
{
	const uint32_t *const *tw = (const uint32_t *const *)twv;
	size_t rs = (size_t)(W + 2) * P;
	int y0, x0, p, t, ir, ic, r, j;

	for (y0 = 0; y0 + 2 <= H; y0 += 2)
		for (x0 = 0; x0 < W; x0 += 8) {
			__m512 acc[2][8];
			__m512i w[9], b;
			float *o = out + ((size_t)y0 * W + x0) * 16;
#pragma GCC unroll 2
			for (r = 0; r < 2; r++)
#pragma GCC unroll 8
				for (j = 0; j < 8; j++)
					acc[r][j] = add ? _mm512_loadu_ps(o +
					    ((size_t)r * W + j) * 16) :
					    _mm512_setzero_ps();
			for (p = 0; p < cn; p++) {
				const uint32_t *ip = xp + y0 * rs +
				    (size_t)x0 * P + p;
#pragma GCC unroll 9
				for (t = 0; t < 9; t++)
					w[t] = _mm512_loadu_si512(tw[t] +
					    (size_t)p * 16);
#pragma GCC unroll 4
				for (ir = 0; ir < 4; ir++)
#pragma GCC unroll 10
					for (ic = 0; ic < 10; ic++) {
						b = _mm512_set1_epi32((int)ip[ir * rs +
						    (size_t)ic * P]);
#pragma GCC unroll 2
						for (r = 0; r < 2; r++) {
							if (ir - r < 0 || ir - r > 2)
								continue;
#pragma GCC unroll 8
							for (j = 0; j < 8; j++) {
								if (ic - j < 0 || ic - j > 2)
									continue;
								acc[r][j] = _mm512_dpbf16_ps(
								    acc[r][j], (__m512bh)b,
								    (__m512bh)w[(ir - r) * 3 +
								    ic - j]);
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
		row(out + (size_t)(H - 1) * W * 16, 16, xp + (H - 1) * rs, P,
		    toff, twv, 9, cn, 16, add, W, 1, 8, 0);
}

/*
 * fwd16 for the FMA kind (xp and tw[t] floats, word offsets doubled as in
 * block()): one row of XB pixels (16, or 8 at the end of a row) with the
 * two halves of one kernel row's 3 taps in registers at a time (all 9
 * taps' would take 18), each accumulator adding its terms in fwd16's
 * order: pairs, then taps (the high halves' product first).
 */
static inline __attribute__((always_inline, target(TGT))) void
fwd16f_block(float *o, const float *ip, const float *const *tw, size_t rs,
    int P, int cn, int add, const int XB)
{
	__m512 acc[XB], wh[3], wl[3], bh, bl;
	int p, ky, kx, ic, j;

#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
		acc[j] = add ? _mm512_loadu_ps(o + j * 16) : _mm512_setzero_ps();
	for (p = 0; p < cn; p++)
#pragma GCC unroll 3
		for (ky = 0; ky < 3; ky++) {
			const float *e = ip + ky * rs + 2 * p;
#pragma GCC unroll 3
			for (kx = 0; kx < 3; kx++) {
				wh[kx] = _mm512_loadu_ps(tw[ky * 3 + kx] +
				    (size_t)(2 * p + 1) * 16);
				wl[kx] = _mm512_loadu_ps(tw[ky * 3 + kx] +
				    (size_t)2 * p * 16);
			}
#pragma GCC unroll 18
			for (ic = 0; ic < XB + 2; ic++) {
				bh = _mm512_set1_ps(e[(size_t)ic * 2 * P + 1]);
				bl = _mm512_set1_ps(e[(size_t)ic * 2 * P]);
				/* the high products of the (up to) 3 pixels,
				 * then the low ones: independent neighbours */
#pragma GCC unroll 16
				for (j = 0; j < XB; j++)
					if (ic - j >= 0 && ic - j <= 2)
						acc[j] = _mm512_fmadd_ps(bh,
						    wh[ic - j], acc[j]);
#pragma GCC unroll 16
				for (j = 0; j < XB; j++)
					if (ic - j >= 0 && ic - j <= 2)
						acc[j] = _mm512_fmadd_ps(bl,
						    wl[ic - j], acc[j]);
			}
		}
#pragma GCC unroll 16
	for (j = 0; j < XB; j++)
		_mm512_storeu_ps(o + j * 16, acc[j]);
}

static __attribute__((target(TGT))) void
fwd16f(float *out, const float *xp, const void *const *twv, int H, int W,
    int P, int cn, int add, const int *toff)
{
	const float *const *tw = (const float *const *)twv;
	size_t rs = (size_t)(W + 2) * 2 * P;    /* floats of a padded row */
	int y, x0;

	for (y = 0; y < H - H % 2; y++) {
		float *o = out + (size_t)y * W * 16;
		const float *ip = xp + y * rs;
		for (x0 = 0; x0 + 16 <= W; x0 += 16)
			fwd16f_block(o + (size_t)x0 * 16, ip + (size_t)x0 * 2 *
			    P, tw, rs, P, cn, add, 16);
		if (x0 < W)
			fwd16f_block(o + (size_t)x0 * 16, ip + (size_t)x0 * 2 *
			    P, tw, rs, P, cn, add, 8);
	}
	if (H % 2)
		row(out + (size_t)(H - 1) * W * 16, 16, xp + (H - 1) * rs, P,
		    toff, twv, 9, cn, 16, add, W, 1, 8, 1);
}

/*
 * out (Ho, Wo, Co) (+)= the convolution of one padded sample xp
 * (Ho S.., Wp, P) with wt (9, P, Co), stride S; flip: tap t reads the
 * weights of tap 8 - t (the input gradient at stride 1).  E: the FMA
 * kind's floats (block()).
 */
static inline __attribute__((always_inline, target(TGT))) void
fwd_sample_k(float *out, const void *xp, const void *wt, int Ho, int Wo,
    int Wp, int P, int Co, int S, int add, int flip, const int E)
{
	size_t rs = (size_t)Wp * P;
	int toff[9], c0, cn, t, y, a;
	const void *tw[9];

	for (t = 0; t < 9; t++)
		toff[t] = (int)((t / 3) * rs + (t % 3) * P);
	for (c0 = 0; c0 < P; c0 += cn) {
		cn = P - c0 < CHUNKP(Co, P) ? P - c0 : CHUNKP(Co, P);
		a = add || c0;
		for (t = 0; t < 9; t++)
			tw[t] = AT(wt, ((size_t)(flip ? 8 - t : t) * P + c0) *
			    Co, E);
		if (Co == 16 && S == 1 && Wo % 8 == 0 && Wp == Wo + 2) {
			if (E)
				fwd16f(out, AT(xp, c0, E), tw, Ho, Wo, P, cn, a,
				    toff);
			else
				fwd16(out, AT(xp, c0, E), tw, Ho, Wo, P, cn, a,
				    toff);
			continue;
		}
		for (y = 0; y < Ho; y++) {
			float *o = out + (size_t)y * Wo * Co;
			const void *ip = AT(xp, (size_t)S * y * rs + c0, E);
			if (Co == 16)
				row(o, Co, ip, S * P, toff, tw, 9, cn, Co, a, Wo, 1,
				    16, E);
			else if (Co == 32)
				row(o, Co, ip, S * P, toff, tw, 9, cn, Co, a, Wo, 2,
				    8, E);
			else
				row(o, Co, ip, S * P, toff, tw, 9, cn, Co, a, Wo, 4,
				    4, E);
		}
	}
}

static __attribute__((target(TGT))) void
fwd_dp(float *out, const void *xp, const void *wt, int Ho, int Wo, int Wp,
    int P, int Co, int S, int add, int flip)
{
	fwd_sample_k(out, xp, wt, Ho, Wo, Wp, P, Co, S, add, flip, 0);
}

static __attribute__((target(TGT))) void
fwd_fma(float *out, const void *xp, const void *wt, int Ho, int Wo,
    int Wp, int P, int Co, int S, int add, int flip)
{
	fwd_sample_k(out, xp, wt, Ho, Wo, Wp, P, Co, S, add, flip, 1);
}

/* fwd_sample_k() of the kind f (1 vdpbf16ps, 2 FMA) */
static void
fwd_sample(float *out, const void *xp, const void *wt, int Ho, int Wo,
    int Wp, int P, int Co, int S, int add, int flip, int f)
{
	unsigned m;

	if (f == 1) {
		fwd_dp(out, xp, wt, Ho, Wo, Wp, P, Co, S, add, flip);
		return;
	}
	m = mm_ftz_daz();
	fwd_fma(out, xp, wt, Ho, Wo, Wp, P, Co, S, add, flip);
	_mm_setcsr(m);
}

/*
 * dx (H, W, Ci) (+)= the input gradient of a stride-2 convolution from the
 * padded output gradient gp (Ho + 2, Wo + 2, P) and wt (9, P, Ci) (taps
 * not flipped).  Input pixel (iy, ix) gets tap (ky, kx) from output pixel
 * ((iy + 1 - ky) / 2, (ix + 1 - kx) / 2) when both divide: rows iy even
 * take ky = 1, odd ones ky = 0 and 2; likewise columns.  Each row and
 * column parity is a row of pixels 2 apart with its own taps.
 */
static inline __attribute__((always_inline, target(TGT))) void
dx2_sample_k(float *dx, const void *gp, const void *wt, int H, int W,
    int Wo, int P, int Ci, int add, const int E)
{
	size_t rs = (size_t)(Wo + 2) * P;
	int toff[4], c0, cn, iy, b, nky, nkx, ky[2], kx[2], i, j, nt, a, n, pr;
	const void *tw[4];

	for (c0 = 0; c0 < P; c0 += cn) {
		cn = P - c0 < CHUNKP(Ci, P) ? P - c0 : CHUNKP(Ci, P);
		a = add || c0;
		for (iy = 0; iy < H; iy++)
			for (b = 0; b < 2; b++) {
				nky = iy % 2 ? 2 : 1;
				ky[0] = iy % 2 ? 0 : 1;
				ky[1] = 2;
				nkx = b ? 2 : 1;
				kx[0] = b ? 0 : 1;
				kx[1] = 2;
				nt = 0;
				for (i = 0; i < nky; i++)
					for (j = 0; j < nkx; j++) {
						/* padded output row, and column
						 * less m for pixel ix = 2m + b */
						pr = (iy + 1 - ky[i]) / 2 + 1;
						toff[nt] = (int)(pr * rs + (size_t)((b +
						    1 - kx[j]) / 2 + 1) * P);
						tw[nt++] = AT(wt, ((size_t)(ky[i] *
						    3 + kx[j]) * P + c0) * Ci, E);
					}
				n = (W - b + 1) / 2;
				float *o = dx + ((size_t)iy * W + b) * Ci;
				const void *ip = AT(gp, c0, E);
				if (Ci == 16)
					row(o, 2 * Ci, ip, P, toff, tw, nt, cn, Ci,
					    a, n, 1, 16, E);
				else if (Ci == 32)
					row(o, 2 * Ci, ip, P, toff, tw, nt, cn, Ci,
					    a, n, 2, 8, E);
				else
					row(o, 2 * Ci, ip, P, toff, tw, nt, cn, Ci,
					    a, n, 4, 4, E);
			}
	}
}

static __attribute__((target(TGT))) void
dx2_dp(float *dx, const void *gp, const void *wt, int H, int W, int Wo,
    int P, int Ci, int add)
{
	dx2_sample_k(dx, gp, wt, H, W, Wo, P, Ci, add, 0);
}

static __attribute__((target(TGT))) void
dx2_fma(float *dx, const void *gp, const void *wt, int H, int W, int Wo,
    int P, int Ci, int add)
{
	dx2_sample_k(dx, gp, wt, H, W, Wo, P, Ci, add, 1);
}

/* dx2_sample_k() of the kind f */
static void
dx2_sample(float *dx, const void *gp, const void *wt, int H, int W, int Wo,
    int P, int Ci, int add, int f)
{
	unsigned m;

	if (f == 1) {
		dx2_dp(dx, gp, wt, H, W, Wo, P, Ci, add);
		return;
	}
	m = mm_ftz_daz();
	dx2_fma(dx, gp, wt, H, W, Wo, P, Ci, add);
	_mm_setcsr(m);
}

/*
 * dwt (9, Cx, Co) += over the output pixels of one sample: for tap
 * (ky, kx) the input words xq[kx] (rows S y + ky) dotted with dq (Ho, Q,
 * Co) pair by pair; CB input channels x KO vectors in registers.  E (the
 * FMA kind): xq and dq are floats, the halves of words q of a row at
 * pixels 2q (low) and 2q + 1 (high), xs in floats; each pair two FMAs,
 * the high halves' product first.
 */
static inline __attribute__((always_inline, target(TGT))) void
dw_block(float *o, const void *xq, const void *dq, int Ho, int Q,
    size_t xs, int Cx, int Co, const int KO, const int CB, const int E)
{
	__m512 acc[CB][KO], dh[KO], dl[KO], bh, bl;
	__m512i d[KO], b;
	int c, k, y, q;

#pragma GCC unroll 16
	for (c = 0; c < CB; c++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			acc[c][k] = _mm512_loadu_ps(o + (size_t)c * Co + 16 * k);
	for (y = 0; y < Ho && E; y++) {
		const float *xr = (const float *)xq + y * xs;
		const float *dr = (const float *)dq + (size_t)y * 2 * Q * Co;
		for (q = 0; q < Q; q++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++) {
				dh[k] = _mm512_loadu_ps(dr + (size_t)(2 * q + 1) *
				    Co + 16 * k);
				dl[k] = _mm512_loadu_ps(dr + (size_t)2 * q * Co +
				    16 * k);
			}
#pragma GCC unroll 16
			for (c = 0; c < CB; c++) {
				bh = _mm512_set1_ps(xr[(size_t)(2 * q + 1) * Cx +
				    c]);
				bl = _mm512_set1_ps(xr[(size_t)2 * q * Cx + c]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[c][k] = mm_dpf(acc[c][k], bh, dh[k],
					    bl, dl[k]);
			}
		}
	}
	for (y = 0; y < Ho && !E; y++) {
		const uint32_t *xr = (const uint32_t *)xq + y * xs;
		const uint32_t *dr = (const uint32_t *)dq + (size_t)y * Q * Co;
		for (q = 0; q < Q; q++) {
#pragma GCC unroll 4
			for (k = 0; k < KO; k++)
				d[k] = _mm512_loadu_si512(dr + (size_t)q * Co +
				    16 * k);
#pragma GCC unroll 16
			for (c = 0; c < CB; c++) {
				b = _mm512_set1_epi32((int)xr[(size_t)q * Cx +
				    c]);
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[c][k] = _mm512_dpbf16_ps(acc[c][k],
					    (__m512bh)b, (__m512bh)d[k]);
			}
		}
	}
#pragma GCC unroll 16
	for (c = 0; c < CB; c++)
#pragma GCC unroll 4
		for (k = 0; k < KO; k++)
			_mm512_storeu_ps(o + (size_t)c * Co + 16 * k, acc[c][k]);
}

/* channel c of xq: a word's or (E) a float's step */
#define CH(p, c, E) ((E) ? (const void *)((const float *)(p) + (c)) : \
	(const void *)((const uint32_t *)(p) + (c)))

static inline __attribute__((always_inline, target(TGT))) void
dw_tap(float *o, const void *xq, const void *dq, int Ho, int Q, size_t xs,
    int Cx, int Co, const int KO, const int CB, const int E)
{
	int c = 0;

	for (; c + CB <= Cx; c += CB)
		dw_block(o + (size_t)c * Co, CH(xq, c, E), dq, Ho, Q, xs, Cx,
		    Co, KO, CB, E);
	for (; c < Cx; c++)
		dw_block(o + (size_t)c * Co, CH(xq, c, E), dq, Ho, Q, xs, Cx,
		    Co, KO, 1, E);
}

/*
 * The stems' weight gradient (16 output channels, CX = Cx of 1 to 3
 * input channels): all 9 taps at once, 9 CX accumulators over all pixel
 * pairs, each output-gradient word loaded once for 9 CX products (one
 * tap at a time would leave a single chain of dependent vdpbf16ps).
 * Tap t reads xt[t] with rows xs words apart.
 */
static inline __attribute__((always_inline, target(TGT))) void
dw_stem(float *dwt, const void *const xtv[9], size_t xs, const void *dqv,
    int Ho, int Q, const int CX, const int E)
{
	const uint32_t *const *xt = (const uint32_t *const *)xtv;
	const float *const *xf = (const float *const *)xtv;
	const uint32_t *dq = dqv;
	const float *df = dqv;
	__m512 acc[9][CX];
	__m512i d;
	int t, c, y, q;

#pragma GCC unroll 9
	for (t = 0; t < 9; t++)
#pragma GCC unroll 3
		for (c = 0; c < CX; c++)
			acc[t][c] = _mm512_loadu_ps(dwt + ((size_t)t * CX + c) *
			    16);
	for (y = 0; y < Ho && E; y++)
		for (q = 0; q < Q; q++) {
			const float *r = df + ((size_t)y * 2 * Q + 2 * q) * 16;
			__m512 dl = _mm512_loadu_ps(r);
			__m512 dh = _mm512_loadu_ps(r + 16);
#pragma GCC unroll 9
			for (t = 0; t < 9; t++)
#pragma GCC unroll 3
				for (c = 0; c < CX; c++) {
					const float *e = xf[t] + y * xs +
					    (size_t)2 * q * CX + c;
					acc[t][c] = mm_dpf(acc[t][c],
					    _mm512_set1_ps(e[CX]), dh,
					    _mm512_set1_ps(e[0]), dl);
				}
		}
	for (y = 0; y < Ho && !E; y++)
		for (q = 0; q < Q; q++) {
			d = _mm512_loadu_si512(dq + ((size_t)y * Q + q) * 16);
#pragma GCC unroll 9
			for (t = 0; t < 9; t++)
#pragma GCC unroll 3
				for (c = 0; c < CX; c++)
					acc[t][c] = _mm512_dpbf16_ps(acc[t][c],
					    (__m512bh)_mm512_set1_epi32((int)xt[t][
					    y * xs + (size_t)q * CX + c]),
					    (__m512bh)d);
		}
#pragma GCC unroll 9
	for (t = 0; t < 9; t++)
#pragma GCC unroll 3
		for (c = 0; c < CX; c++)
			_mm512_storeu_ps(dwt + ((size_t)t * CX + c) * 16,
			    acc[t][c]);
}

/*
 * dwt (9, Cx, Co) += the weight gradient of one sample; tap (ky, kx)
 * reads xt[t] (rows xs words apart, pixel pairs Cx words apart), the
 * words of the input rows S y + ky for the output pixel pairs of row y.
 */
/*
 * The FMA kind's weight gradient at stride 1 into 16 output channels, the
 * 3 taps of a kernel row at once for 8 input channels (24 accumulators):
 * x (rows xs floats apart, pixels Cx apart) holds the padded input rows
 * from the tap row on, and pixels 2q .. 2q + 3 of a row serve the 6
 * products of output pair q, tap kx taking pixels 2q + 1 + kx (high) and
 * 2q + kx (low).  32 broadcasts and 2 loads feed 48 FMAs (dw_block(): 34
 * for 32).  Each accumulator adds its terms in dw_block()'s order.  o: the
 * weight gradient of tap (ky, 0) at the first of the 8 channels.
 */
static inline __attribute__((always_inline, target(TGT))) void
dw3_16(float *o, const float *x, const float *dq, int Ho, int Q, size_t xs,
    int Cx)
{
	__m512 acc[3][8], dh, dl, b[4];
	int kx, c, y, q, i;

#pragma GCC unroll 3
	for (kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
		for (c = 0; c < 8; c++)
			acc[kx][c] = _mm512_loadu_ps(o + ((size_t)kx * Cx + c) *
			    16);
	for (y = 0; y < Ho; y++) {
		const float *xr = x + y * xs;
		const float *dr = dq + (size_t)y * 2 * Q * 16;
		for (q = 0; q < Q; q++) {
			const float *e = xr + (size_t)2 * q * Cx;
			dh = _mm512_loadu_ps(dr + (size_t)(2 * q + 1) * 16);
			dl = _mm512_loadu_ps(dr + (size_t)2 * q * 16);
#pragma GCC unroll 8
			for (c = 0; c < 8; c++) {
#pragma GCC unroll 4
				for (i = 0; i < 4; i++)
					b[i] = _mm512_set1_ps(e[(size_t)i * Cx + c]);
#pragma GCC unroll 3
				for (kx = 0; kx < 3; kx++)
					acc[kx][c] = _mm512_fmadd_ps(b[kx + 1], dh,
					    acc[kx][c]);
#pragma GCC unroll 3
				for (kx = 0; kx < 3; kx++)
					acc[kx][c] = _mm512_fmadd_ps(b[kx], dl,
					    acc[kx][c]);
			}
		}
	}
#pragma GCC unroll 3
	for (kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
		for (c = 0; c < 8; c++)
			_mm512_storeu_ps(o + ((size_t)kx * Cx + c) * 16,
			    acc[kx][c]);
}

static inline __attribute__((always_inline, target(TGT))) void
dw_sample_k(float *dwt, const void *const xt[9], size_t xs, const void *dq,
    int Ho, int Wo, int Cx, int Co, int S, const int E)
{
	int Q = cdiv(Wo, 2), t, c;

	if (E && S == 1 && Co == 16 && Cx % 8 == 0) {
		/* xt[3 ky + kx] is xt[3 ky] + kx Cx (pack_xeo) */
		for (t = 0; t < 9; t += 3)
			for (c = 0; c < Cx; c += 8)
				dw3_16(dwt + ((size_t)t * Cx + c) * 16,
				    (const float *)xt[t] + c, dq, Ho, Q, xs, Cx);
		return;
	}
	if (Co == 16 && Cx <= 3) {
		if (Cx == 1)
			dw_stem(dwt, xt, xs, dq, Ho, Q, 1, E);
		else if (Cx == 2)
			dw_stem(dwt, xt, xs, dq, Ho, Q, 2, E);
		else
			dw_stem(dwt, xt, xs, dq, Ho, Q, 3, E);
		return;
	}
	for (t = 0; t < 9; t++) {
		float *o = dwt + (size_t)t * Cx * Co;
		if (Co == 16)
			dw_tap(o, xt[t], dq, Ho, Q, xs, Cx, Co, 1, 16, E);
		else if (Co == 32)
			dw_tap(o, xt[t], dq, Ho, Q, xs, Cx, Co, 2, 8, E);
		else
			dw_tap(o, xt[t], dq, Ho, Q, xs, Cx, Co, 4, 4, E);
	}
}

static __attribute__((target(TGT))) void
dw_dp(float *dwt, const void *const xt[9], size_t xs, const void *dq,
    int Ho, int Wo, int Cx, int Co, int S)
{
	dw_sample_k(dwt, xt, xs, dq, Ho, Wo, Cx, Co, S, 0);
}

static __attribute__((target(TGT))) void
dw_fma(float *dwt, const void *const xt[9], size_t xs, const void *dq,
    int Ho, int Wo, int Cx, int Co, int S)
{
	dw_sample_k(dwt, xt, xs, dq, Ho, Wo, Cx, Co, S, 1);
}

/*
 * dw_sample_k() of the kind f: tap (ky, kx) reads xt[t] (rows xs words,
 * or for f 2 floats, apart), the input rows S y + ky for the output
 * pixels of row y.
 */
static void
dw_sample(float *dwt, const void *const xt[9], size_t xs, const void *dq,
    int Ho, int Wo, int Cx, int Co, int S, int f)
{
	unsigned m;

	if (f == 1) {
		dw_dp(dwt, xt, xs, dq, Ho, Wo, Cx, Co, S);
		return;
	}
	m = mm_ftz_daz();
	dw_fma(dwt, xt, xs, dq, Ho, Wo, Cx, Co, S);
	_mm_setcsr(m);
}

/* the scratch's parts, each 64-byte aligned */
struct parts {
	uint32_t *xp, *xq[3], *xo, *dq, *gp;
	float *g, *dwt, *t, *dx, *u;
};

/* n 4-byte units rounded up to 64 bytes */
static size_t
up16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

/* f: 4-byte units per word of the copies (1 vdpbf16ps, 2 FMA) */
static void
carve(struct parts *p, float *scratch, int H, int W, int Cin, int Cout,
    int f)
{
	uint32_t *s = (uint32_t *)(((uintptr_t)scratch + 63) &
	    ~(uintptr_t)63);
	int k;

	p->xp = s;
	s += up16(f * part_xp(H, W, Cin));
	for (k = 0; k < 3; k++)
		p->xq[k] = s + k * f * part_xq(H, W, Cin);
	p->xo = s + (size_t)(H + 2) * (cdiv(W, 2) + 1) * Cin;
	s += up16(f * part_x3(H, W, Cin));
	p->dq = s;
	s += up16(f * (size_t)H * cdiv(W, 2) * Cout);
	p->gp = s;
	s += up16(f * part_xp(H, W, Cout));
	p->g = (float *)s;
	p->dwt = p->g + up16((size_t)H * W * Cout);
	p->t = p->dwt + up16(9 * (size_t)Cin * Cout);
	p->dx = p->t + up16((size_t)H * W * (Cin > Cout ? Cin : Cout));
	p->u = p->dx + up16((size_t)H * W * Cin);
}

/*
 * d = s, n floats, with stores that bypass the caches: a sample's output
 * or input gradient is made in the scratch (in cache) and next read by
 * another layer, long after the cache has lost it; a plain store would
 * first read the memory it overwrites.  Falls back to memcpy when d is
 * not 64-byte aligned or n not a multiple of 16.
 */
static __attribute__((target(TGT))) void
stream_copy(float *d, const float *s, size_t n)
{
	size_t i;

	if (((uintptr_t)d & 63) || n % 16) {
		memcpy(d, s, n * sizeof *d);
		return;
	}
	for (i = 0; i < n; i += 16)
		_mm512_stream_ps(d + i, _mm512_load_ps(s + i));
	_mm_sfence();
}

/* t = the fp32 values of the bf16 of h, 16 at a time while n lasts;
 * returns how many */
static __attribute__((target(TGT))) size_t
widen_x86(float *t, const uint16_t *h, size_t n)
{
	size_t i;

	for (i = 0; i + 16 <= n; i += 16)
		_mm512_storeu_ps(t + i, widen16(_mm256_loadu_si256(
		    (const __m256i *)(h + i))));
	return i;
}

/*
 * d = the n values of g rounded to bf16 (a sample's output), with stores
 * that bypass the caches as in stream_copy() when d is 64-byte aligned and
 * n a multiple of 32; with back, g also becomes the values d holds (for
 * the statistics).
 */
static __attribute__((target(TGT))) void
store16(uint16_t *d, float *g, size_t n, int back)
{
	size_t i = 0;
	__m512i h;
	__m256i q;

	if (!((uintptr_t)d & 63) && n % 32 == 0) {
		for (; i < n; i += 32) {
			h = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(g + i +
			    16), _mm512_loadu_ps(g + i));
			_mm512_stream_si512((__m512i *)(d + i), h);
			if (!back)
				continue;
			_mm512_storeu_ps(g + i, widen16(
			    _mm512_castsi512_si256(h)));
			_mm512_storeu_ps(g + i + 16, widen16(
			    _mm512_extracti64x4_epi64(h, 1)));
		}
		_mm_sfence();
		return;
	}
	for (; i + 16 <= n; i += 16) {
		q = cvt16(g + i);
		_mm256_storeu_si256((__m256i *)(d + i), q);
		if (back)
			_mm512_storeu_ps(g + i, widen16(q));
	}
	cvt_row(d + i, g + i, (int)(n - i));
	for (; back && i < n; i++)
		g[i] = mm_bf16_float(d[i]);
}

/*
 * t (M, C) = max(pre sc + sh (+ r), 0) of pre in bf16, pack_pad()'s
 * values of a ReLU-BatchNorm output (bn_relu16(), or the same operations
 * one by one for C not a multiple of 16); the backward forms its input
 * so, with the bits the forward packed.  Returns t.
 */
static __attribute__((target(TGT))) const float *
form16(float *t, const uint16_t *pre, const float *r, const float *sc,
    const float *sh, size_t M, int C)
{
	size_t n = M * C, i;
	float a;
	int c;

	if (C % 16 == 0) {
		for (i = 0; i < n; i += C)
			for (c = 0; c < C; c += 16)
				_mm512_storeu_ps(t + i + c, bn_relu16(pre + i + c,
				    _mm512_loadu_ps(sc + c), _mm512_loadu_ps(sh +
				    c), r ? r + i + c : NULL));
		return t;
	}
	for (i = 0; i < n; i++) {
		a = mm_bf16_float(pre[i]) * sc[i % C] + sh[i % C];
		if (r)
			a += r[i];
		t[i] = a > 0 ? a : 0;
	}
	return t;
}
#endif

void
mm_bf16_widen(float *t, const uint16_t *h, size_t n)
{
	size_t i = 0;

#ifdef MM_X86
	if (mm_bf16_level(-1) > 0)
		i = widen_x86(t, h, n);
#endif
	for (; i < n; i++)
		t[i] = mm_bf16_float(h[i]);
}

void
mm_conv3x3_forward_bf16(uint16_t *out, double *stats, double *count,
    const void *inp, const struct mm_bn_relu *ibn, const uint32_t *wt,
    int N, int H, int W, int Cin, int Cout, int stride, float *scratch)
{
#ifdef MM_X86
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n;
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin;
	double part[2 * 256];
	float isc[64], ish[64];
	struct parts p;
	int f = mm_bf16_kernel(-1) == MM_BF16_FMA ? 2 : 1;

	carve(&p, scratch, H, W, Cin, Cout, f);
	if (ibn)
		mm_bn_affine(isc, ish, ibn->mean, ibn->rstd, ibn->gamma,
		    ibn->beta, Cin);
	for (n = 0; n < N; n++) {
		const float *x = ibn ? NULL : (const float *)inp + n * in;
		const uint16_t *xb = ibn ? (const uint16_t *)inp + n * in :
		    NULL;
		const float *r = ibn && ibn->res ? ibn->res + n * in : NULL;
		float *y = ibn && ibn->out ? ibn->out + n * in : NULL;
		/* a folded input formed while packing (C a multiple of
		 * 16), else first */
		if (ibn && Cin % 16)
			x = form16(y ? y : p.t, xb, r, isc, ish, (size_t)H * W,
			    Cin);
		if (ibn && Cin % 16 == 0)
			pack_pad(p.xp, NULL, xb, r, y, isc, ish, H, W, Cin, f);
		else
			pack_pad(p.xp, x, NULL, NULL, NULL, NULL, NULL, H, W,
			    Cin, f);
		fwd_sample(p.g, p.xp, wt, Ho, Wo, W + 2, cdiv(Cin, 2), Cout,
		    stride, 0, 0, f);
		/* stored in bf16; the statistics of the values stored */
		store16(out + n * on, p.g, on, stats != NULL);
		if (stats) {
			mm_bn_moments(part, p.g, (size_t)Ho * Wo, Cout);
			mm_bn_stats_add(stats, count, part, (double)Ho * Wo,
			    Cout);
		}
	}
#else
	(void)out, (void)stats, (void)count, (void)inp, (void)ibn, (void)wt;
	(void)N;
	(void)H, (void)W, (void)Cin, (void)Cout, (void)stride, (void)scratch;
#endif
}

static void
backward_bn(float *dinp, int add, float *dw, const float *dy,
    const float *out, const struct mm_bn_relu *obn, const uint16_t *pre,
    const float *coef, const void *inp, const struct mm_bn_relu *ibn,
    const uint32_t *wt, int N, int H, int W, int Cin, int Cout, int stride,
    float *scratch, struct mm_bn_gsum *gs, const float *gout,
    const uint16_t *gpre)
{
#ifdef MM_X86
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n, o, c, t;
	int Q = cdiv(Wo, 2);
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin, xs;
	const void *xt[9];
	struct parts p;
	const float *g, *x;
	float osc[64], osh[64], isc[64], ish[64], *dx;
	int fuse = coef && Cout % 16 == 0 && !(obn && obn->res);
	int f = mm_bf16_kernel(-1) == MM_BF16_FMA ? 2 : 1;

	carve(&p, scratch, H, W, Cin, Cout, f);
	memset(p.dwt, 0, 9 * (size_t)Cin * Cout * sizeof *p.dwt);
	if (obn)
		mm_bn_affine(osc, osh, obn->mean, obn->rstd, obn->gamma,
		    obn->beta, Cout);
	if (ibn)
		mm_bn_affine(isc, ish, ibn->mean, ibn->rstd, ibn->gamma,
		    ibn->beta, Cin);
	for (n = 0; n < N; n++) {
		g = dy + n * on;
		if (fuse) {
			/* g straight into its words */
			grad_pack(p.dq, dinp ? p.gp : NULL, g, obn ? NULL : out ?
			    out + n * on : NULL, obn ? osc : NULL, osh,
			    pre + n * on, coef, Ho, Wo, Cout, f);
		} else {
			if (coef) {
				mm_bf16_widen(p.u, pre + n * on, on);
				mm_bn_grad_apply(p.g, g, obn ? form16(p.t, pre +
				    n * on, obn->res ? obn->res + n * on : NULL,
				    osc, osh, (size_t)Ho * Wo, Cout) : out ? out +
				    n * on : NULL, p.u, coef, (size_t)Ho * Wo,
				    Cout, 0);
				g = p.g;
			}
			pack_dq(p.dq, g, Ho, Wo, Cout, f);
		}
		/* the input gradient first, then the input's words and the
		 * sums below: the input, read twice when it is also the ReLU
		 * output of the sums (gout), is then read from cache.  The
		 * input gradient is made in the scratch and copied out after
		 * the sums, unless it adds to dinp */
		dx = !dinp ? NULL : add ? dinp + n * in : p.dx;
		if (dinp) {
			if (!fuse)
				pack_pad(p.gp, g, NULL, NULL, NULL, NULL, NULL,
				    Ho, Wo, Cout, f);
			if (stride == 1)
				fwd_sample(dx, p.gp, wt, H, W, W + 2, Cout / 2, Cin,
				    1, add, 1, f);
			else
				dx2_sample(dx, p.gp, wt, H, W, Wo, Cout / 2, Cin,
				    add, f);
		}
		x = ibn ? form16(p.t, (const uint16_t *)inp + n * in,
		    ibn->res ? ibn->res + n * in : NULL, isc, ish,
		    (size_t)H * W, Cin) : (const float *)inp + n * in;
		if (stride == 1 && f == 2) {
			/* the padded sample: tap (ky, kx) from row ky and
			 * column kx on */
			pack_xeo(p.xq[0], NULL, x, H, W, Cin, f);
			xs = (size_t)2 * (Q + 1) * Cin;
			for (t = 0; t < 9; t++)
				xt[t] = (const float *)p.xq[0] + t / 3 * xs +
				    t % 3 * Cin;
		} else if (stride == 1) {
			pack_xeo(p.xq[0], p.xo, x, H, W, Cin, f);
			xs = (size_t)(Q + 1) * Cin;
			for (t = 0; t < 9; t++)
				xt[t] = (t % 3 == 1 ? p.xo : p.xq[0]) + t / 3 *
				    xs + t % 3 / 2 * Cin;
		} else {
			for (t = 0; t < 3; t++)
				pack_xq(p.xq[t], x, H, W, Cin, Wo, stride, t, f);
			xs = (size_t)2 * Q * Cin * f;
			for (t = 0; t < 9; t++)
				xt[t] = p.xq[t % 3] + (size_t)(t / 3) * Q * Cin *
				    f;
		}
		if (gs)
			mm_bn_gsum_add16(gs, dx, ibn ? x : gout ? gout + n * in :
			    NULL, gpre + n * in, in);
		if (dx == p.dx)
			stream_copy(dinp + n * in, dx, in);
		dw_sample(p.dwt, xt, xs, p.dq, Ho, Wo, Cin, Cout, stride, f);
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				dw[((size_t)o * Cin + c) * 9 + t] +=
				    p.dwt[((size_t)t * Cin + c) * Cout + o];
#else
	(void)dinp, (void)add, (void)dw, (void)dy, (void)out, (void)obn;
	(void)pre, (void)coef, (void)inp, (void)ibn, (void)wt, (void)N;
	(void)H, (void)W, (void)Cin;
	(void)Cout, (void)stride, (void)scratch, (void)gs, (void)gout;
	(void)gpre;
#endif
}

void
mm_conv3x3_backward_bn_bf16(float *dinp, int add, float *dw, const float *dy,
    const float *out, const struct mm_bn_relu *obn, const uint16_t *pre,
    const float *coef, const void *inp, const struct mm_bn_relu *ibn,
    const uint32_t *wt, int N, int H, int W, int Cin, int Cout, int stride,
    float *scratch)
{
	backward_bn(dinp, add, dw, dy, out, obn, pre, coef, inp, ibn, wt, N,
	    H, W, Cin, Cout, stride, scratch, NULL, NULL, NULL);
}

void
mm_conv3x3_backward_bn_gsum_bf16(float *dinp, int add, float *dw,
    const float *dy, const float *out, const struct mm_bn_relu *obn,
    const uint16_t *pre, const float *coef, const void *inp,
    const struct mm_bn_relu *ibn, const uint32_t *wt, int N, int H, int W,
    int Cin, int Cout, int stride, float *scratch, struct mm_bn_gsum *gs,
    const float *gout, const uint16_t *gpre)
{
	backward_bn(dinp, add, dw, dy, out, obn, pre, coef, inp, ibn, wt, N,
	    H, W, Cin, Cout, stride, scratch, gs, gout, gpre);
}
