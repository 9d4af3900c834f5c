/*
 * bn-slices.c - batch normalisation in pieces (see bn-slices.h); the
 * whole-batch layer of nn.c is built from them.
 *
 * Reductions over many rows sum blocks of rows in float, which the
 * compiler vectorises across channels, and the block sums in double, so
 * a 500k-row reduction keeps float accuracy.  Rows of (M, ld) matrices
 * are ld floats apart; the lane functions, which walk the data flat,
 * need ld = C.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "autovec.h"
#include "conv.h"
#include "nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define BN_X86 1
#endif

#define CBLK 64         /* channels per reduction block */
#define RBLK 256        /* rows summed in float before going to double */

/* acc[c] = sum over rows of x[r, c0 + c] (c < cb), or of
 * (x[r, c0 + c] - mu[c])^2 when mu, for x (M, ld). */
static void
colsum(double *acc, const float *x, const float *mu, size_t M, int ld,
    int c0, int cb)
{
	float part[CBLK], d;
	size_t r0, r, end;
	int c;

	for (c = 0; c < cb; c++)
		acc[c] = 0;
	for (r0 = 0; r0 < M; r0 += RBLK) {
		end = r0 + RBLK < M ? r0 + RBLK : M;
		for (c = 0; c < cb; c++)
			part[c] = 0;
		for (r = r0; r < end; r++) {
			const float *xr = x + r * ld + c0;
			if (mu)
				for (c = 0; c < cb; c++) {
					d = xr[c] - mu[c];
					part[c] += d * d;
				}
			else
				for (c = 0; c < cb; c++)
					part[c] += xr[c];
		}
		for (c = 0; c < cb; c++)
			acc[c] += part[c];
	}
}

/*
 * Few channels (C a power of two up to 256, the ResNet's 16/32/64): rows
 * are too short for the per-row loops above to pay their start-up cost, so
 * the data is walked as one flat array in chunks of LANES values, with the
 * per-channel quantities replicated LANES / C times (value j belongs to
 * channel j % C in every chunk, including a short last one).  The element
 * loops come from bn-kern.h at the SIMD level of mm_nn_simd().
 */
#define LANES MM_BN_LANES
#define FOLD 64         /* chunks summed in float before going to double */

struct bn_kern {
	void (*lsum)(float *, const float *, size_t);
	void (*lsq)(float *, const float *, const float *, size_t);
	void (*lgrad)(float *, float *, const float *, const float *, float *,
	    const float *, const float *, const float *, size_t);
	void (*lgrad16)(float *, float *, const uint16_t *, const float *,
	    float *, const float *, const float *, const float *, size_t);
	void (*lapply)(float *, const float *, const float *, const float *,
	    const float *, size_t, int);
	void (*lgapply)(float *, const float *, const float *, const float *,
	    const float *, const float *, const float *, size_t, int);
	void (*cgrad)(float *, float *, const float *, const float *,
	    const float *, const float *, const float *, size_t);
	void (*cgapply)(float *, const float *, const float *, const float *,
	    const float *, const float *, const float *, size_t, int);
};

/* the fp32 value of a bf16 (exact) */
static inline float
bf16_value(uint16_t h)
{
	union {
		uint32_t u;
		float f;
	} v;

	v.u = (uint32_t)h << 16;
	return v.f;
}

#define K(name) name##_0
#define KATTR
#include "bn-kern.h"
#undef K
#undef KATTR
#ifdef BN_X86
#define K(name) name##_256
#define KATTR __attribute__((target("avx2")))
#include "bn-kern.h"
#undef K
#undef KATTR
#define K(name) name##_512
#define KATTR __attribute__((target(MM_TARGET_512)))
#include "bn-kern.h"
#undef K
#undef KATTR
#endif

static const struct bn_kern *
kern(void)
{
#ifdef BN_X86
	switch (mm_nn_simd(-1)) {
	case 2:
		return &kern_512;
	case 1:
		return &kern_256;
	}
#endif
	return &kern_0;
}

static int
use_lanes(int C)
{
	return C <= 256 && LANES % C == 0;
}

/* C divides LANES, a power of two: j % C is j & (C - 1) (no division,
 * and these run once per sample) */
static void
lane_spread(float *lane, const float *v, int C)
{
	int j;

	for (j = 0; j < LANES; j++)
		lane[j] = v[j & (C - 1)];
}

/* Streamed lane sums: values at flat positions pos, pos + 1, ... go to
 * lanes pos % LANES; every FOLD whole chunks, and at the end, the float
 * parts go to the double accumulators.  Feeding n values at once or in
 * consecutive pieces gives the same sums. */
static void
lane_start(struct mm_bn_gsum *s, const float *mean, const float *rstd,
    int C)
{
	int j;

	s->C = C;
	s->pos = s->flushed = 0;
	s->f = 0;
	s->two = rstd != NULL;  /* the gradient's two sums, else one */
	for (j = 0; j < LANES; j++) {
		s->acc[j] = 0;
		s->part[j] = 0;
	}
	for (j = 0; j < LANES && s->two; j++) {
		s->acc2[j] = 0;
		s->part2[j] = 0;
	}
	if (mean)
		lane_spread(s->mu, mean, C);
	if (rstd)
		lane_spread(s->rs, rstd, C);
}

static void
lane_flush(struct mm_bn_gsum *s)
{
	int j;

	for (j = 0; j < LANES; j++) {
		s->acc[j] += s->part[j];
		s->part[j] = 0;
	}
	for (j = 0; j < LANES && s->two; j++) {
		s->acc2[j] += s->part2[j];
		s->part2[j] = 0;
	}
	s->flushed = s->pos;
}

/* kind 0: sum x; 1: sum (x - mu)^2; 2: sum g and g xhat (kern lgrad,
 * g = dy or gw); 3: kind 2 with x in bf16 (x16; kern lgrad16) */
static void
lane_feed_k(struct mm_bn_gsum *s, const float *x, const uint16_t *x16,
    const float *dy, float *gw, const float *out, size_t n, int kind)
{
	const struct bn_kern *kk = kern();
	size_t i, off, len;

	for (i = 0; i < n; i += len) {
		off = s->pos % LANES;
		len = LANES - off < n - i ? LANES - off : n - i;
		if (kind == 0)
			kk->lsum(s->part + off, x + i, len);
		else if (kind == 1)
			kk->lsq(s->part + off, x + i, s->mu + off, len);
		else if (kind == 2)
			kk->lgrad(s->part + off, s->part2 + off, x + i,
			    dy ? dy + i : NULL, gw ? gw + i : NULL,
			    out ? out + i : NULL, s->mu + off, s->rs + off,
			    len);
		else
			kk->lgrad16(s->part + off, s->part2 + off, x16 + i,
			    dy ? dy + i : NULL, gw ? gw + i : NULL,
			    out ? out + i : NULL, s->mu + off, s->rs + off,
			    len);
		s->pos += len;
		if (s->pos % LANES == 0 && ++s->f == FOLD) {
			lane_flush(s);
			s->f = 0;
		}
	}
}

static void
lane_feed(struct mm_bn_gsum *s, const float *x, const float *dy, float *gw,
    const float *out, size_t n, int kind)
{
	lane_feed_k(s, x, NULL, dy, gw, out, n, kind);
}

/* out[c] = sum of acc[j] over j % C == c */
static void
lane_fold(double *out, const double *acc, int C)
{
	int j, c;

	for (c = 0; c < C; c++)
		out[c] = 0;
	/* (lanes j0 + c in order for each c: vectorised across c) */
	for (j = 0; j < LANES; j += C)
		for (c = 0; c < C; c++)
			out[c] += acc[j + c];
}

static void
lane_end(struct mm_bn_gsum *s, double *s1, double *s2)
{
	if (s->pos != s->flushed)
		lane_flush(s);
	lane_fold(s1, s->acc, s->C);
	if (s2)
		lane_fold(s2, s->acc2, s->C);
}

int
mm_bn_gsum_start(struct mm_bn_gsum *s, const float *mean, const float *rstd,
    int C, int mask)
{
	if (!use_lanes(C))
		return 0;
	lane_start(s, mean, rstd, C);
	s->mask = mask;
	return 1;
}

void
mm_bn_gsum_add(struct mm_bn_gsum *s, float *dout, const float *out,
    const float *inp, size_t n)
{
	if (s->mask)
		lane_feed(s, inp, NULL, dout, out, n, 2);
	else
		lane_feed(s, inp, dout, NULL, out, n, 2);
}

void
mm_bn_gsum_add16(struct mm_bn_gsum *s, float *dout, const float *out,
    const uint16_t *inp, size_t n)
{
	if (s->mask)
		lane_feed_k(s, NULL, inp, NULL, dout, out, n, 3);
	else
		lane_feed_k(s, NULL, inp, dout, NULL, out, n, 3);
}

void
mm_bn_gsum_end(struct mm_bn_gsum *s, double *sdy, double *sdyx)
{
	lane_end(s, sdy, sdyx);
}

void
mm_bn_sum_ld(double *sum, const float *x, const float *mean, size_t M, int C,
    int ld)
{
	struct mm_bn_gsum st;
	int c0;

	if (ld == C && use_lanes(C)) {
		lane_start(&st, mean, NULL, C);
		lane_feed(&st, x, NULL, NULL, NULL, M * C, mean ? 1 : 0);
		lane_end(&st, sum, NULL);
		return;
	}
	for (c0 = 0; c0 < C; c0 += CBLK)
		colsum(sum + c0, x, mean ? mean + c0 : NULL, M, ld, c0,
		    C - c0 < CBLK ? C - c0 : CBLK);
}

void
mm_bn_sum(double *sum, const float *x, const float *mean, size_t M, int C)
{
	mm_bn_sum_ld(sum, x, mean, M, C, C);
}

void
mm_bn_mean(float *mean, const double *sum, size_t M, int C)
{
	int c;

	for (c = 0; c < C; c++)
		mean[c] = (float)(sum[c] / (double)M);
}

void
mm_bn_var(float *rstd, float *running_mean, float *running_var,
    const float *mean, const double *sqdev, size_t M, int C)
{
	double var;
	int c;

	for (c = 0; c < C; c++) {
		var = sqdev[c] / (double)M;
		rstd[c] = (float)(1.0 / sqrt(var + MM_BN_EPS));
		/* unbiased for the running estimate, as PyTorch */
		if (M > 1)
			var = sqdev[c] / (double)(M - 1);
		running_mean[c] = (1 - MM_BN_MOMENTUM) * running_mean[c] +
		    MM_BN_MOMENTUM * mean[c];
		running_var[c] = (1 - MM_BN_MOMENTUM) * running_var[c] +
		    MM_BN_MOMENTUM * (float)var;
	}
}

void
mm_bn_eval_stats(float *mean, float *rstd, const float *running_mean,
    const float *running_var, int C)
{
	int c;

	for (c = 0; c < C; c++) {
		mean[c] = running_mean[c];
		rstd[c] = (float)(1.0 / sqrt((double)running_var[c] +
		    MM_BN_EPS));
	}
}

void
mm_bn_affine(float *sc, float *sh, const float *mean, const float *rstd,
    const float *gamma, const float *beta, int C)
{
	int c;

	for (c = 0; c < C; c++) {
		sc[c] = rstd[c] * gamma[c];
		sh[c] = beta[c] - mean[c] * sc[c];
	}
}

void
mm_bn_apply(float *out, const float *inp, const float *res,
    const float *mean, const float *rstd, const float *gamma,
    const float *beta, size_t M, int C, int relu)
{
	const struct bn_kern *kk = kern();
	float sc[LANES], sh[LANES];
	size_t n = M * C, i0, len, r;
	int c, c0, cb;

	/* per-channel scale and shift, replicated over the lanes when
	 * the data is walked flat */
	if (use_lanes(C)) {
		mm_bn_affine(sc, sh, mean, rstd, gamma, beta, C);
		for (c = C; c < LANES; c++) {
			sc[c] = sc[c % C];
			sh[c] = sh[c % C];
		}
		for (i0 = 0; i0 < n; i0 += LANES) {
			len = n - i0 < LANES ? n - i0 : LANES;
			kk->lapply(out + i0, inp + i0, res ? res + i0 : NULL,
			    sc, sh, len, relu);
		}
		return;
	}
	/* other widths: block by block over the rows */
	for (c0 = 0; c0 < C; c0 += CBLK) {
		float scale[CBLK], shift[CBLK];
		cb = C - c0 < CBLK ? C - c0 : CBLK;
		mm_bn_affine(scale, shift, mean + c0, rstd + c0, gamma + c0,
		    beta + c0, cb);
		/* each row's block: the lane kernel with per-channel arrays */
		for (r = 0; r < M; r++)
			kk->lapply(out + r * C + c0, inp + r * C + c0,
			    res ? res + r * C + c0 : NULL, scale, shift, cb,
			    relu);
	}
}

/* Sums of dy and dy * xhat over rows for channels [c0, c0 + cb), with dy
 * masked by out > 0 when out: sdy, sdyx (cb). */
static void
gsum_cols(double *sdy, double *sdyx, const float *dout, const float *out,
    const float *inp, const float *mean, const float *rstd, size_t M, int ld,
    int c0, int cb)
{
	const struct bn_kern *kk = kern();
	float p1[CBLK], p2[CBLK];
	size_t r0, r, end, o;
	int c;

	for (c = 0; c < cb; c++)
		sdy[c] = sdyx[c] = 0;
	for (r0 = 0; r0 < M; r0 += RBLK) {
		end = r0 + RBLK < M ? r0 + RBLK : M;
		for (c = 0; c < cb; c++)
			p1[c] = p2[c] = 0;
		for (r = r0; r < end; r++) {
			o = r * ld + c0;
			if (out)
				kk->cgrad(p1, p2, inp + o, dout + o, out + o,
				    mean + c0, rstd + c0, (size_t)cb);
			else
				kk->lgrad(p1, p2, inp + o, dout + o, NULL,
				    NULL, mean + c0, rstd + c0, (size_t)cb);
		}
		for (c = 0; c < cb; c++) {
			sdy[c] += p1[c];
			sdyx[c] += p2[c];
		}
	}
}

/* dinp (=, or += when add) k dy + a x + b for channels [c0, c0 + cb);
 * k, a, b indexed from c0. */
static void
gapply_cols(float *dinp, const float *dout, const float *out,
    const float *inp, const float *k, const float *a, const float *b,
    size_t M, int ld, int c0, int cb, int add)
{
	const struct bn_kern *kk = kern();
	size_t r, o;

	for (r = 0; r < M; r++) {
		o = r * ld + c0;
		kk->cgapply(dinp + o, dout + o, out ? out + o : NULL, inp + o,
		    k, a, b, (size_t)cb, add);
	}
}

/* dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat)), written as
 * dx = k dy + a x + b per channel; all arrays (n). */
static void
gcoef(float *k, float *a, float *b, float *dgamma, float *dbeta,
    const double *sdy, const double *sdyx, const float *mean,
    const float *rstd, const float *gamma, size_t M, int n)
{
	int c;

	for (c = 0; c < n; c++) {
		dgamma[c] += (float)sdyx[c];
		dbeta[c] += (float)sdy[c];
		k[c] = gamma[c] * rstd[c];
		a[c] = -k[c] * rstd[c] * (float)(sdyx[c] / (double)M);
		b[c] = -k[c] * (float)(sdy[c] / (double)M) - a[c] * mean[c];
	}
}

void
mm_bn_grad_sum_ld(double *sdy, double *sdyx, const float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C, int ld)
{
	struct mm_bn_gsum st;
	int c0;

	if (ld == C && use_lanes(C)) {
		lane_start(&st, mean, rstd, C);
		lane_feed(&st, inp, dout, NULL, out, M * C, 2);
		lane_end(&st, sdy, sdyx);
		return;
	}
	for (c0 = 0; c0 < C; c0 += CBLK)
		gsum_cols(sdy + c0, sdyx + c0, dout, out, inp, mean, rstd, M,
		    ld, c0, C - c0 < CBLK ? C - c0 : CBLK);
}

void
mm_bn_grad_sum(double *sdy, double *sdyx, const float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C)
{
	mm_bn_grad_sum_ld(sdy, sdyx, dout, out, inp, mean, rstd, M, C, C);
}

void
mm_bn_grad_sum_mask(double *sdy, double *sdyx, float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C)
{
	struct mm_bn_gsum st;

	if (!use_lanes(C)) {
		mm_relu_mask(dout, out, M * C);
		mm_bn_grad_sum(sdy, sdyx, dout, NULL, inp, mean, rstd, M, C);
		return;
	}
	lane_start(&st, mean, rstd, C);
	lane_feed(&st, inp, NULL, dout, out, M * C, 2);
	lane_end(&st, sdy, sdyx);
}

void
mm_bn_grad_coef(float *coef, float *dgamma, float *dbeta, const double *sdy,
    const double *sdyx, const float *mean, const float *rstd,
    const float *gamma, size_t M, int C)
{
	gcoef(coef, coef + C, coef + 2 * C, dgamma, dbeta, sdy, sdyx, mean,
	    rstd, gamma, M, C);
}

void
mm_bn_grad_apply_ld(float *dinp, const float *dout, const float *out,
    const float *inp, const float *coef, size_t M, int C, int ld, int add)
{
	const float *k = coef, *a = coef + C, *b = coef + 2 * C;
	const struct bn_kern *kk = kern();
	float kl[LANES], al[LANES], bl[LANES];
	size_t n = M * C, i0, len;
	int c0;

	if (ld != C || !use_lanes(C)) {
		for (c0 = 0; c0 < C; c0 += CBLK)
			gapply_cols(dinp, dout, out, inp, k + c0, a + c0,
			    b + c0, M, ld, c0, C - c0 < CBLK ? C - c0 : CBLK,
			    add);
		return;
	}
	lane_spread(kl, k, C);
	lane_spread(al, a, C);
	lane_spread(bl, b, C);
	for (i0 = 0; i0 < n; i0 += LANES) {
		len = n - i0 < LANES ? n - i0 : LANES;
		kk->lgapply(dinp + i0, dout + i0, out ? out + i0 : NULL,
		    inp + i0, kl, al, bl, len, add);
	}
}

void
mm_bn_grad_apply(float *dinp, const float *dout, const float *out,
    const float *inp, const float *coef, size_t M, int C, int add)
{
	mm_bn_grad_apply_ld(dinp, dout, out, inp, coef, M, C, C, add);
}

void
mm_bn_moments(double *part, const float *x, size_t M, int C)
{
	double q[256];
	float mf[256] = { 0 };
	int c;

	mm_bn_sum(part, x, NULL, M, C);
	for (c = 0; c < C; c++) {
		part[c] /= (double)M;
		mf[c] = (float)part[c];
	}
	/* about the rounded mean, then moved to the exact one */
	mm_bn_sum(q, x, mf, M, C);
	for (c = 0; c < C; c++)
		part[C + c] = q[c] - (double)M * (part[c] - mf[c]) *
		    (part[c] - mf[c]);
}

void
mm_bn_stats_add(double *acc, double *nacc, const double *part, double n,
    int C)
{
	double na = *nacc, tot = na + n, d;
	int c;

	if (n <= 0)
		return;
	for (c = 0; c < C; c++) {
		d = part[c] - acc[c];
		acc[c] += d * (n / tot);
		acc[C + c] += part[C + c] + d * d * (na * n / tot);
	}
	*nacc = tot;
}
