/*
 * vit-layers.c - the layers of the Vision Transformer (vit.h): LayerNorm,
 * GELU, multi-head self-attention, patch embedding and tokens.
 *
 * Row sums (LayerNorm statistics, softmax denominators) are formed in 16
 * float lanes added pairwise at the end: a fixed order, so results do not
 * depend on anything but the data, and a loop the compiler vectorises
 * without being allowed to reassociate.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cblas.h>

#include "conv.h"
#include "vit.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define VIT_X86 1
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", \
    "no-trapping-math")
#endif

#define LANES 16

#define INL static inline __attribute__((always_inline))

INL float
lanes_total(float *acc)
{
	int j, k;

	for (j = LANES / 2; j; j >>= 1)
		for (k = 0; k < j; k++)
			acc[k] += acc[k + j];
	return acc[0];
}

/* sum x[i] */
INL float
row_sum(const float *x, int n)
{
	float acc[LANES] = { 0 };
	int i, j;

	for (i = 0; i + LANES <= n; i += LANES)
		for (j = 0; j < LANES; j++)
			acc[j] += x[i + j];
	for (j = 0; i < n; i++, j++)
		acc[j] += x[i];
	return lanes_total(acc);
}

/* sum (x[i] - m)^2 */
INL float
row_sqdev(const float *x, float m, int n)
{
	float acc[LANES] = { 0 }, d;
	int i, j;

	for (i = 0; i + LANES <= n; i += LANES)
		for (j = 0; j < LANES; j++) {
			d = x[i + j] - m;
			acc[j] += d * d;
		}
	for (j = 0; i < n; i++, j++) {
		d = x[i] - m;
		acc[j] += d * d;
	}
	return lanes_total(acc);
}

/* ---- LayerNorm ---- */

/*
 * The row loops of LayerNorm and GELU are compiled once per SIMD level of
 * mm_nn_simd() (portable, AVX2, AVX-512F): each public function calls its
 * level's copy of an always-inlined body.  Every copy does the same
 * operations on every element in the same order, lane sums in the same 16
 * lanes, only the vector width differs; -std=c99 keeps them from being
 * contracted into fused multiply-adds, so the levels give the same bits.
 */
#ifdef VIT_X86
#define LEVELS(name, params, args) \
	static void name##_0 params { name args; } \
	__attribute__((target("avx2"))) static void name##_256 params \
	{ name args; } \
	__attribute__((target(MM_TARGET_512))) \
	static void name##_512 params { name args; }
#define AT_LEVEL(name, args) do { \
	int level_ = mm_nn_simd(-1); \
	if (level_ == 2) \
		name##_512 args; \
	else if (level_ == 1) \
		name##_256 args; \
	else \
		name##_0 args; \
} while (0)
#else
#define LEVELS(name, params, args) \
	static void name##_0 params { name args; }
#define AT_LEVEL(name, args) do { name##_0 args; } while (0)
#endif

INL void
ln_fwd(float *out, float *mean, float *rstd, const float *inp,
    const float *w, const float *b, size_t M, int D, float eps)
{
	size_t r;
	float m, s;
	int d;

	for (r = 0; r < M; r++) {
		const float *x = inp + r * D;
		float *y = out + r * D;

		m = row_sum(x, D) / D;
		s = 1.0f / sqrtf(row_sqdev(x, m, D) / D + eps);
		for (d = 0; d < D; d++)
			y[d] = (x[d] - m) * s * w[d] + b[d];
		mean[r] = m;
		rstd[r] = s;
	}
}

/* With xh = (x - mean) rstd and g = dout w:
 *   dinp += rstd (g - mean(g) - xh mean(g xh)),
 *   dw += dout xh, db += dout (summed over rows in row order). */
LEVELS(ln_fwd, (float *out, float *mean, float *rstd,
    const float *inp, const float *w, const float *b, size_t M, int D,
    float eps), (out, mean, rstd, inp, w, b, M, D, eps))

void
mm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
    const float *w, const float *b, size_t M, int D, float eps)
{
	AT_LEVEL(ln_fwd, (out, mean, rstd, inp, w, b, M, D, eps));
}

INL void
ln_bwd(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *mean, const float *rstd, const float *w,
    size_t M, int D)
{
	float a1[LANES], a2[LANES], xh, g, s1, s2, m, s;
	size_t r;
	int d, j;

	for (r = 0; r < M; r++) {
		const float *x = inp + r * D, *dy = dout + r * D;
		float *dx = dinp + r * D;

		m = mean[r];
		s = rstd[r];
		memset(a1, 0, sizeof a1);
		memset(a2, 0, sizeof a2);
		for (d = 0; d + LANES <= D; d += LANES)
			for (j = 0; j < LANES; j++) {
				xh = (x[d + j] - m) * s;
				g = dy[d + j] * w[d + j];
				a1[j] += g;
				a2[j] += g * xh;
			}
		for (j = 0; d < D; d++, j++) {
			xh = (x[d] - m) * s;
			g = dy[d] * w[d];
			a1[j] += g;
			a2[j] += g * xh;
		}
		s1 = lanes_total(a1) / D;
		s2 = lanes_total(a2) / D;
		for (d = 0; d < D; d++) {
			xh = (x[d] - m) * s;
			dw[d] += dy[d] * xh;
			db[d] += dy[d];
			dx[d] += s * (dy[d] * w[d] - s1 - xh * s2);
		}
	}
}

LEVELS(ln_bwd, (float *dinp, float *dw, float *db,
    const float *dout, const float *inp, const float *mean,
    const float *rstd, const float *w, size_t M, int D),
    (dinp, dw, db, dout, inp, mean, rstd, w, M, D))

void
mm_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *mean, const float *rstd, const float *w,
    size_t M, int D)
{
	AT_LEVEL(ln_bwd, (dinp, dw, db, dout, inp, mean, rstd, w, M, D));
}

/* ---- GELU ---- */

/*
 * exp and the normal CDF as straight-line float arithmetic (no libm call),
 * so that the element loops of GELU and softmax vectorise; libm's erff and
 * expf, one call an element, were a fifth of a ViT training step.
 *
 * vexp(x), x <= 0: x = k ln 2 + r with k an integer (rounded by adding and
 * subtracting 1.5 * 2^23) and |r| <= ln 2 / 2, ln 2 split in two so that
 * k ln 2 is exact; e^r by its Taylor series to r^7 (truncation below
 * 3e-9 relative); 2^k put straight into the exponent bits.  x is clamped
 * at -87 (e^-87 = 1.6e-38, the least normal float is 1.2e-38).
 *
 * vphi(x) = P(X <= x), X standard normal: with z = |x| / sqrt 2,
 * erfc(z) = t (a1 + t (a2 + ... + t a5)) e^(-z^2), t = 1 / (1 + p z)
 * (Abramowitz and Stegun 7.1.26: absolute error under 1.5e-7), and
 * Phi(x) = erfc(z) / 2 for x < 0, 1 - erfc(z) / 2 otherwise; computing
 * the small tail directly keeps GELU of a large negative x near 0 in
 * relative terms too.  e^(-z^2) = e^(-x^2 / 2) is also the normal density
 * up to 1 / sqrt(2 pi), which the backward pass needs.
 */
INL float
vexp(float x)
{
	const float rnd = 12582912.0f;          /* 1.5 * 2^23 */
	float k, r, p, s;
	int32_t e;

	x = x < -87.0f ? -87.0f : x;
	k = (x * 1.44269504088896341f + rnd) - rnd;
	r = x - k * 0.693145751953125f;         /* ln 2, high bits */
	r = r - k * 1.42860682030941723e-06f;   /* ln 2, the rest */
	p = 1.0f / 5040;
	p = p * r + 1.0f / 720;
	p = p * r + 1.0f / 120;
	p = p * r + 1.0f / 24;
	p = p * r + 1.0f / 6;
	p = p * r + 0.5f;
	p = p * r + 1.0f;
	p = p * r + 1.0f;
	/* the shift unsigned: for a NaN x, k converts to INT32_MIN on x86
	 * (as the vector conversion does) and a signed shift of that
	 * would be undefined; the result is NaN whatever e is */
	e = (int32_t)((uint32_t)((int32_t)k + 127) << 23);
	memcpy(&s, &e, sizeof s);
	return p * s;
}

/* Phi(x), with e^(-x^2 / 2) in *g */
INL float
vphi(float x, float *g)
{
	float z = (x < 0 ? -x : x) * 0.707106781186547524f;
	float t = 1.0f / (1.0f + 0.3275911f * z), q, c;

	*g = vexp(-z * z);
	q = 1.061405429f;
	q = q * t - 1.453152027f;
	q = q * t + 1.421413741f;
	q = q * t - 0.284496736f;
	q = q * t + 0.254829592f;
	c = 0.5f * t * q * *g;                  /* erfc(z) / 2 */
	return x < 0 ? c : 1.0f - c;
}

/* out = x Phi(x) */
INL void
gelu_fwd(float *out, const float *inp, size_t n)
{
	float g;
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = inp[i] * vphi(inp[i], &g);
}

/* dinp += dout (Phi(x) + x phi(x)) */
INL void
gelu_bwd(float *dinp, const float *dout, const float *inp, size_t n)
{
	const float c = 0.398942280401432678f;  /* 1 / sqrt(2 pi) */
	float x, cdf, g;
	size_t i;

	for (i = 0; i < n; i++) {
		x = inp[i];
		cdf = vphi(x, &g);
		dinp[i] += dout[i] * (cdf + x * c * g);
	}
}

LEVELS(gelu_fwd, (float *out, const float *inp, size_t n),
    (out, inp, n))
LEVELS(gelu_bwd, (float *dinp, const float *dout, const float *inp,
    size_t n), (dinp, dout, inp, n))

void
mm_gelu_forward(float *out, const float *inp, size_t n)
{
	AT_LEVEL(gelu_fwd, (out, inp, n));
}

void
mm_gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
	AT_LEVEL(gelu_bwd, (dinp, dout, inp, n));
}

/* ---- Attention ---- */

/* Rows of p (T, T) in place: p = softmax(p) */
static void
softmax_rows(float *p, int T)
{
	float mx, acc[LANES], inv;
	int r, i, j;

	for (r = 0; r < T; r++, p += T) {
		mx = p[0];
		for (i = 1; i < T; i++)
			mx = p[i] > mx ? p[i] : mx;
		for (i = 0; i < T; i++)
			p[i] = vexp(p[i] - mx);
		memset(acc, 0, sizeof acc);
		for (i = 0; i + LANES <= T; i += LANES)
			for (j = 0; j < LANES; j++)
				acc[j] += p[i + j];
		for (j = 0; i < T; i++, j++)
			acc[j] += p[i];
		inv = 1.0f / lanes_total(acc);
		for (i = 0; i < T; i++)
			p[i] *= inv;
	}
}

void
mm_attention_forward_one(float *out, float *att, const float *qkv, int n,
    int h, int T, int D, int heads)
{
	int dh = D / heads;
	float scale = 1.0f / sqrtf((float)dh);
	const float *q = qkv + (size_t)n * T * 3 * D + h * dh;
	const float *k = q + D, *v = q + 2 * D;
	float *p = att + ((size_t)n * heads + h) * T * T;

	/* p (T, T) = scale q k^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, scale,
	    q, 3 * D, k, 3 * D, 0.0f, p, T);
	softmax_rows(p, T);
	/* out (T, dh) = p v */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, 1.0f,
	    p, T, v, 3 * D, 0.0f, out + (size_t)n * T * D + h * dh, D);
}

void
mm_attention_forward(float *out, float *att, const float *qkv, int N, int T,
    int D, int heads)
{
	int n, h;

	for (n = 0; n < N; n++)
		for (h = 0; h < heads; h++)
			mm_attention_forward_one(out, att, qkv, n, h, T, D,
			    heads);
}

void
mm_attention_backward_one(float *dqkv, const float *dout, const float *qkv,
    const float *att, int n, int h, int T, int D, int heads, float *ds)
{
	int dh = D / heads, r, i, j;
	float scale = 1.0f / sqrtf((float)dh), acc[LANES], dot;
	size_t off = (size_t)n * T * 3 * D + h * dh;
	const float *q = qkv + off, *k = q + D, *v = q + 2 * D;
	const float *p = att + ((size_t)n * heads + h) * T * T;
	const float *dO = dout + (size_t)n * T * D + h * dh;
	float *dq = dqkv + off, *dk = dq + D, *dv = dq + 2 * D;

	/* ds (T, T) = dO v^T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f,
	    dO, D, v, 3 * D, 0.0f, ds, T);
	for (r = 0; r < T; r++) {
		const float *pr = p + (size_t)r * T;
		float *sr = ds + (size_t)r * T;

		memset(acc, 0, sizeof acc);
		for (i = 0; i + LANES <= T; i += LANES)
			for (j = 0; j < LANES; j++)
				acc[j] += sr[i + j] * pr[i + j];
		for (j = 0; i < T; i++, j++)
			acc[j] += sr[i] * pr[i];
		dot = lanes_total(acc);
		for (i = 0; i < T; i++)
			sr[i] = pr[i] * (sr[i] - dot);
	}
	/* dq (T, dh) += scale ds k; dk += scale ds^T q */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, scale,
	    ds, T, k, 3 * D, 1.0f, dq, 3 * D);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, scale,
	    ds, T, q, 3 * D, 1.0f, dk, 3 * D);
	/* dv (T, dh) += p^T dO */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f,
	    p, T, dO, D, 1.0f, dv, 3 * D);
}

/* With dP = dO v^T and dS = P (dP - rowsum(dP P)) scale:
 *   dq += dS k, dk += dS^T q, dv += P^T dO. */
void
mm_attention_backward(float *dqkv, const float *dout, const float *qkv,
    const float *att, int N, int T, int D, int heads, float *ds)
{
	int n, h;

	for (n = 0; n < N; n++)
		for (h = 0; h < heads; h++)
			mm_attention_backward_one(dqkv, dout, qkv, att, n, h,
			    T, D, heads, ds);
}

/* ---- Patches ---- */

void
mm_patch_im2col(float *cols, const float *img, int N, int C, int H, int W,
    int P, int lead)
{
	int nh = H / P, nw = W / P, L = lead + nh * nw, K = C * P * P;
	int n, py, px, c, i, j;

	for (n = 0; n < N; n++) {
		float *cn = cols + (size_t)n * L * K;

		memset(cn, 0, (size_t)lead * K * sizeof *cn);
		for (py = 0; py < nh; py++)
			for (px = 0; px < nw; px++) {
				float *row = cn + (size_t)(lead + py * nw +
				    px) * K;
				for (c = 0; c < C; c++)
					for (i = 0; i < P; i++) {
						const float *src = img +
						    (((size_t)n * C + c) * H +
						    py * P + i) * W + px * P;
						for (j = 0; j < P; j++)
							row[(c * P + i) * P +
							    j] = src[j];
					}
			}
	}
}

void
mm_patch_col2im(float *dimg, const float *dcols, int N, int C, int H, int W,
    int P, int lead)
{
	int nh = H / P, nw = W / P, L = lead + nh * nw, K = C * P * P;
	int n, py, px, c, i, j;

	for (n = 0; n < N; n++)
		for (py = 0; py < nh; py++)
			for (px = 0; px < nw; px++) {
				const float *row = dcols + ((size_t)n * L +
				    lead + py * nw + px) * K;
				for (c = 0; c < C; c++)
					for (i = 0; i < P; i++) {
						float *dst = dimg +
						    (((size_t)n * C + c) * H +
						    py * P + i) * W + px * P;
						for (j = 0; j < P; j++)
							dst[j] += row[(c * P +
							    i) * P + j];
					}
			}
}

/* ---- Tokens ---- */

void
mm_tokens_forward(float *x, const float *cls, const float *b,
    const float *pos, int N, int T, int D)
{
	int n, t, d;

	for (n = 0; n < N; n++) {
		float *xn = x + (size_t)n * T * D;

		for (d = 0; d < D; d++)
			xn[d] = cls[d] + pos[d];
		for (t = 1; t < T; t++)
			for (d = 0; d < D; d++)
				xn[t * D + d] = (xn[t * D + d] + b[d]) +
				    pos[t * D + d];
	}
}

void
mm_tokens_backward(float *dcls, float *db, float *dpos, const float *dx,
    int N, int T, int D)
{
	int n, t, d;

	for (n = 0; n < N; n++) {
		const float *g = dx + (size_t)n * T * D;

		for (d = 0; d < D; d++) {
			dcls[d] += g[d];
			dpos[d] += g[d];
		}
		for (t = 1; t < T; t++)
			for (d = 0; d < D; d++) {
				db[d] += g[t * D + d];
				dpos[t * D + d] += g[t * D + d];
			}
	}
}
