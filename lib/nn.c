/*
 * nn.c - layers as forward/backward pairs (see nn.h for the conventions).
 *
 * Reductions over many rows (batch normalisation) sum blocks of rows in
 * float, which the compiler vectorises across channels, and the block sums
 * in double, so a 500k-row reduction keeps float accuracy.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* GCC's -O2 vectorises only loops whose trip count is a known multiple of
 * the vector width, and never a loop with a float comparison while float
 * comparisons may trap; the channel loops here have run-time lengths and
 * ReLU masks, so ask for its usual cost model and non-trapping compares in
 * this file.  Neither changes a result (no reassociation, unlike
 * -ffast-math); clang vectorises these loops at -O2 anyway.  The short
 * copies of im2col stay inline loops rather than memcpy calls. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", \
    "no-trapping-math", "no-tree-loop-distribute-patterns")
#endif

#include <cblas.h>

#include "nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MM_X86 1
#endif

#define CBLK 64         /* channels per reduction block */
#define RBLK 256        /* rows summed in float before going to double */
#define COL_FLOATS 32768 /* im2col chunk: 128 KiB, stays in L2 */

/* ---- Linear ---- */

void
mm_linear_forward(float *out, const float *inp, const float *w,
    const float *b, int N, int Din, int Dout)
{
	int n;

	if (b)
		for (n = 0; n < N; n++)
			memcpy(out + (size_t)n * Dout, b, Dout * sizeof *b);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Dout, Din,
	    1.0f, inp, Din, w, Din, b ? 1.0f : 0.0f, out, Dout);
}

void
mm_linear_backward(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *w, int N, int Din, int Dout)
{
	int n, o;

	if (dinp)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Din,
		    Dout, 1.0f, dout, Dout, w, Din, 1.0f, dinp, Din);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Dout, Din, N,
	    1.0f, dout, Dout, inp, Din, 1.0f, dw, Din);
	if (db)
		for (n = 0; n < N; n++)
			for (o = 0; o < Dout; o++)
				db[o] += dout[(size_t)n * Dout + o];
}

/* ---- ReLU ---- */

void
mm_relu_forward(float *out, const float *inp, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = inp[i] > 0 ? inp[i] : 0;
}

void
mm_relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dinp[i] += out[i] > 0 ? dout[i] : 0;
}

void
mm_relu_mask(float *g, const float *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		g[i] = out[i] > 0 ? g[i] : 0;
}

/* ---- Batch normalisation ---- */

/* acc[c] = sum over rows of x[r, c0 + c] (c < cb), or of
 * (x[r, c0 + c] - mu[c])^2 when mu, for x (M, C). */
static void
colsum(double *acc, const float *x, const float *mu, size_t M, int C,
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
			const float *xr = x + r * C + c0;
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
 * channel j % C in every chunk, including a short last one).
 */
#define LANES 1024
#define FOLD 64         /* chunks summed in float before going to double */

static int
use_lanes(int C)
{
	return C <= 256 && LANES % C == 0;
}

/* acc[j] (LANES) = sum over chunks of f(x)[j]; kind 0: x, 1: (x - mu)^2,
 * 2: g (masked by out > 0 when out) into acc and g xhat into acc2;
 * 3: the same with g masked in place (gw = g, out not NULL). */
static void
lane_sums(double *acc, double *acc2, const float *x, const float *g,
    float *gw, const float *out, const float *mu, const float *rs, size_t n,
    int kind)
{
	float part[LANES], part2[LANES], v, xh, gm;
	size_t i0, len, k;
	int j, f = 0;

	for (j = 0; j < LANES; j++) {
		acc[j] = 0;
		part[j] = 0;
		if (acc2)
			acc2[j] = part2[j] = 0;
	}
	for (i0 = 0; i0 < n; i0 += LANES) {
		len = n - i0 < LANES ? n - i0 : LANES;
		const float *xr = x + i0, *gr = g ? g + i0 : NULL;
		const float *yr = out ? out + i0 : NULL;
		float *wr = gw ? gw + i0 : NULL;
		switch (kind) {
		case 0:
			for (k = 0; k < len; k++)
				part[k] += xr[k];
			break;
		case 1:
			for (k = 0; k < len; k++) {
				v = xr[k] - mu[k];
				part[k] += v * v;
			}
			break;
		case 3:
			for (k = 0; k < len; k++) {
				gm = yr[k] > 0 ? wr[k] : 0;
				wr[k] = gm;
				xh = (xr[k] - mu[k]) * rs[k];
				part[k] += gm;
				part2[k] += gm * xh;
			}
			break;
		default:
			if (yr)
				for (k = 0; k < len; k++) {
					gm = gr[k] * (float)(yr[k] > 0);
					xh = (xr[k] - mu[k]) * rs[k];
					part[k] += gm;
					part2[k] += gm * xh;
				}
			else
				for (k = 0; k < len; k++) {
					xh = (xr[k] - mu[k]) * rs[k];
					part[k] += gr[k];
					part2[k] += gr[k] * xh;
				}
		}
		if (++f == FOLD || i0 + LANES >= n) {
			for (j = 0; j < LANES; j++) {
				acc[j] += part[j];
				part[j] = 0;
			}
			if (acc2)
				for (j = 0; j < LANES; j++) {
					acc2[j] += part2[j];
					part2[j] = 0;
				}
			f = 0;
		}
	}
}

/* out[c] = sum of acc[j] over j % C == c */
static void
lane_fold(double *out, const double *acc, int C)
{
	int j;

	for (j = 0; j < C; j++)
		out[j] = 0;
	for (j = 0; j < LANES; j++)
		out[j % C] += acc[j];
}

static void
lane_spread(float *lane, const float *v, int C)
{
	int j;

	for (j = 0; j < LANES; j++)
		lane[j] = v[j % C];
}

void
mm_bn_sum(double *sum, const float *x, const float *mean, size_t M, int C)
{
	double acc[LANES];
	float mu[LANES];
	int c0;

	if (use_lanes(C)) {
		if (mean)
			lane_spread(mu, mean, C);
		lane_sums(acc, NULL, x, NULL, NULL, NULL, mu, NULL, M * C,
		    mean ? 1 : 0);
		lane_fold(sum, acc, C);
		return;
	}
	for (c0 = 0; c0 < C; c0 += CBLK)
		colsum(sum + c0, x, mean ? mean + c0 : NULL, M, C, c0,
		    C - c0 < CBLK ? C - c0 : CBLK);
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
mm_bn_apply(float *out, const float *inp, const float *res,
    const float *mean, const float *rstd, const float *gamma,
    const float *beta, size_t M, int C, int relu)
{
	float sc[LANES], sh[LANES], v;
	size_t n = M * C, i0, len, k, r;
	int c, c0, cb;

	/* per-channel scale and shift, replicated over the lanes when
	 * the data is walked flat */
	if (use_lanes(C)) {
		for (c = 0; c < C; c++) {
			sc[c] = rstd[c] * gamma[c];
			sh[c] = beta[c] - mean[c] * sc[c];
		}
		for (c = C; c < LANES; c++) {
			sc[c] = sc[c % C];
			sh[c] = sh[c % C];
		}
		for (i0 = 0; i0 < n; i0 += LANES) {
			len = n - i0 < LANES ? n - i0 : LANES;
			const float *xr = inp + i0, *rr = res ? res + i0 : NULL;
			float *yr = out + i0;
			if (rr && relu)
				for (k = 0; k < len; k++) {
					v = xr[k] * sc[k] + sh[k] + rr[k];
					yr[k] = v > 0 ? v : 0;
				}
			else if (rr)
				for (k = 0; k < len; k++)
					yr[k] = xr[k] * sc[k] + sh[k] + rr[k];
			else if (relu)
				for (k = 0; k < len; k++) {
					v = xr[k] * sc[k] + sh[k];
					yr[k] = v > 0 ? v : 0;
				}
			else
				for (k = 0; k < len; k++)
					yr[k] = xr[k] * sc[k] + sh[k];
		}
		return;
	}
	/* other widths: block by block over the rows */
	for (c0 = 0; c0 < C; c0 += CBLK) {
		float scale[CBLK], shift[CBLK];
		cb = C - c0 < CBLK ? C - c0 : CBLK;
		for (c = 0; c < cb; c++) {
			scale[c] = rstd[c0 + c] * gamma[c0 + c];
			shift[c] = beta[c0 + c] - mean[c0 + c] * scale[c];
		}
		for (r = 0; r < M; r++) {
			const float *xr = inp + r * C + c0;
			const float *rr = res ? res + r * C + c0 : NULL;
			float *yr = out + r * C + c0;
			if (rr)
				for (c = 0; c < cb; c++) {
					v = xr[c] * scale[c] + shift[c] + rr[c];
					yr[c] = relu && !(v > 0) ? 0 : v;
				}
			else if (relu)
				for (c = 0; c < cb; c++) {
					v = xr[c] * scale[c] + shift[c];
					yr[c] = v > 0 ? v : 0;
				}
			else
				for (c = 0; c < cb; c++)
					yr[c] = xr[c] * scale[c] + shift[c];
		}
	}
}

/* Sums of dy and dy * xhat over rows for channels [c0, c0 + cb), with dy
 * masked by out > 0 when out: sdy, sdyx (cb). */
static void
gsum_cols(double *sdy, double *sdyx, const float *dout, const float *out,
    const float *inp, const float *mean, const float *rstd, size_t M, int C,
    int c0, int cb)
{
	float mu[CBLK], rs[CBLK], p1[CBLK], p2[CBLK], g, xh;
	size_t r0, r, end;
	int c;

	for (c = 0; c < cb; c++) {
		sdy[c] = sdyx[c] = 0;
		mu[c] = mean[c0 + c];
		rs[c] = rstd[c0 + c];
	}
	for (r0 = 0; r0 < M; r0 += RBLK) {
		end = r0 + RBLK < M ? r0 + RBLK : M;
		for (c = 0; c < cb; c++)
			p1[c] = p2[c] = 0;
		for (r = r0; r < end; r++) {
			const float *xr = inp + r * C + c0;
			const float *gr = dout + r * C + c0;
			if (out) {
				const float *yr = out + r * C + c0;
				for (c = 0; c < cb; c++) {
					g = yr[c] > 0 ? gr[c] : 0;
					xh = (xr[c] - mu[c]) * rs[c];
					p1[c] += g;
					p2[c] += g * xh;
				}
			} else {
				for (c = 0; c < cb; c++) {
					xh = (xr[c] - mu[c]) * rs[c];
					p1[c] += gr[c];
					p2[c] += gr[c] * xh;
				}
			}
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
    size_t M, int C, int c0, int cb, int add)
{
	size_t r;
	float g;
	int c;

	for (r = 0; r < M; r++) {
		const float *xr = inp + r * C + c0;
		const float *gr = dout + r * C + c0;
		float *dr = dinp + r * C + c0;
		if (out) {
			const float *yr = out + r * C + c0;
			for (c = 0; c < cb; c++) {
				g = yr[c] > 0 ? gr[c] : 0;
				dr[c] = (add ? dr[c] : 0) + (k[c] * g +
				    a[c] * xr[c] + b[c]);
			}
		} else {
			for (c = 0; c < cb; c++)
				dr[c] = (add ? dr[c] : 0) + (k[c] * gr[c] +
				    a[c] * xr[c] + b[c]);
		}
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
mm_bn_grad_sum(double *sdy, double *sdyx, const float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C)
{
	double acc[LANES], acc2[LANES];
	float mu[LANES], rs[LANES];
	int c0;

	if (use_lanes(C)) {
		lane_spread(mu, mean, C);
		lane_spread(rs, rstd, C);
		lane_sums(acc, acc2, inp, dout, NULL, out, mu, rs, M * C, 2);
		lane_fold(sdy, acc, C);
		lane_fold(sdyx, acc2, C);
		return;
	}
	for (c0 = 0; c0 < C; c0 += CBLK)
		gsum_cols(sdy + c0, sdyx + c0, dout, out, inp, mean, rstd, M,
		    C, c0, C - c0 < CBLK ? C - c0 : CBLK);
}

void
mm_bn_grad_sum_mask(double *sdy, double *sdyx, float *dout,
    const float *out, const float *inp, const float *mean, const float *rstd,
    size_t M, int C)
{
	double acc[LANES], acc2[LANES];
	float mu[LANES], rs[LANES];

	if (!use_lanes(C)) {
		mm_relu_mask(dout, out, M * C);
		mm_bn_grad_sum(sdy, sdyx, dout, NULL, inp, mean, rstd, M, C);
		return;
	}
	lane_spread(mu, mean, C);
	lane_spread(rs, rstd, C);
	lane_sums(acc, acc2, inp, NULL, dout, out, mu, rs, M * C, 3);
	lane_fold(sdy, acc, C);
	lane_fold(sdyx, acc2, C);
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
mm_bn_grad_apply(float *dinp, const float *dout, const float *out,
    const float *inp, const float *coef, size_t M, int C, int add)
{
	const float *k = coef, *a = coef + C, *b = coef + 2 * C;
	float kl[LANES], al[LANES], bl[LANES];
	size_t n = M * C, i0, len, j;
	int c0;

	if (!use_lanes(C)) {
		for (c0 = 0; c0 < C; c0 += CBLK)
			gapply_cols(dinp, dout, out, inp, k + c0, a + c0,
			    b + c0, M, C, c0, C - c0 < CBLK ? C - c0 : CBLK,
			    add);
		return;
	}
	lane_spread(kl, k, C);
	lane_spread(al, a, C);
	lane_spread(bl, b, C);
	for (i0 = 0; i0 < n; i0 += LANES) {
		len = n - i0 < LANES ? n - i0 : LANES;
		const float *xr = inp + i0, *gr = dout + i0;
		const float *yr = out ? out + i0 : NULL;
		float *dr = dinp + i0;
		if (yr && add)
			for (j = 0; j < len; j++)
				dr[j] += kl[j] * gr[j] * (float)(yr[j] > 0) +
				    al[j] * xr[j] + bl[j];
		else if (yr)
			for (j = 0; j < len; j++)
				dr[j] = kl[j] * gr[j] * (float)(yr[j] > 0) +
				    al[j] * xr[j] + bl[j];
		else if (add)
			for (j = 0; j < len; j++)
				dr[j] += kl[j] * gr[j] + al[j] * xr[j] + bl[j];
		else
			for (j = 0; j < len; j++)
				dr[j] = kl[j] * gr[j] + al[j] * xr[j] + bl[j];
	}
}

void
mm_batchnorm_forward(float *out, float *mean, float *rstd, const float *inp,
    const float *gamma, const float *beta, float *running_mean,
    float *running_var, size_t M, int C, int train, int relu)
{
	double acc[256];
	int c0, cb;

	if (!train) {
		mm_bn_eval_stats(mean, rstd, running_mean, running_var, C);
	} else if (use_lanes(C)) {
		mm_bn_sum(acc, inp, NULL, M, C);
		mm_bn_mean(mean, acc, M, C);
		mm_bn_sum(acc, inp, mean, M, C);
		mm_bn_var(rstd, running_mean, running_var, mean, acc, M, C);
	} else {
		for (c0 = 0; c0 < C; c0 += CBLK) {
			cb = C - c0 < CBLK ? C - c0 : CBLK;
			colsum(acc, inp, NULL, M, C, c0, cb);
			mm_bn_mean(mean + c0, acc, M, cb);
			colsum(acc, inp, mean + c0, M, C, c0, cb);
			mm_bn_var(rstd + c0, running_mean + c0,
			    running_var + c0, mean + c0, acc, M, cb);
		}
	}
	mm_bn_apply(out, inp, NULL, mean, rstd, gamma, beta, M, C, relu);
}

void
mm_batchnorm_backward(float *dinp, float *dgamma, float *dbeta,
    const float *dout, const float *out, const float *inp, const float *mean,
    const float *rstd, const float *gamma, size_t M, int C)
{
	double sdy[256], sdyx[256];
	float coef[3 * 256];
	int c0, cb;

	if (use_lanes(C)) {
		mm_bn_grad_sum(sdy, sdyx, dout, out, inp, mean, rstd, M, C);
		mm_bn_grad_coef(coef, dgamma, dbeta, sdy, sdyx, mean, rstd,
		    gamma, M, C);
		mm_bn_grad_apply(dinp, dout, out, inp, coef, M, C, 1);
		return;
	}
	for (c0 = 0; c0 < C; c0 += CBLK) {
		cb = C - c0 < CBLK ? C - c0 : CBLK;
		gsum_cols(sdy, sdyx, dout, out, inp, mean, rstd, M, C, c0, cb);
		gcoef(coef, coef + CBLK, coef + 2 * CBLK, dgamma + c0,
		    dbeta + c0, sdy, sdyx, mean + c0, rstd + c0, gamma + c0, M,
		    cb);
		gapply_cols(dinp, dout, out, inp, coef, coef + CBLK,
		    coef + 2 * CBLK, M, C, c0, cb, 1);
	}
}

/* ---- 3x3 convolution ---- */

/* Rows of the im2col chunk for K = 9 Cin columns. */
static size_t
chunk_rows(int Cin)
{
	size_t K = 9 * (size_t)Cin, R = COL_FLOATS / K;

	return R ? R : 1;
}

size_t
mm_conv3x3_scratch(int H, int W, int Cin, int Cout)
{
	size_t K = 9 * (size_t)Cin, C = Cin > Cout ? Cin : Cout;

	/* permuted weight, its gradient, column chunk and its gradient,
	 * one zero-padded sample for the direct kernels, one sample of
	 * output gradient (mm_conv3x3_backward_bn) */
	return 2 * (size_t)Cout * K + 2 * chunk_rows(Cin) * K +
	    (size_t)(H + 2) * (W + 2) * C + (size_t)H * W * Cout;
}

/* ---- SIMD dispatch ----
 * The direct kernels below come in AVX-512F (level 2) and AVX2 + FMA
 * (level 1) versions, chosen at run time; without either (or when
 * switched off, for tests and comparisons) every convolution takes the
 * portable im2col + sgemm path (level 0). */
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

/* pad (H + 2, W + 2, C) = one sample x (H, W, C) inside a zero border */
static void
pad_sample(float *pad, const float *x, int H, int W, int C)
{
	size_t row = (size_t)(W + 2) * C;
	int y;

	memset(pad, 0, row * sizeof *pad);
	for (y = 0; y < H; y++) {
		float *d = pad + (y + 1) * row;
		memset(d, 0, C * sizeof *d);
		memcpy(d + C, x + (size_t)y * W * C, (size_t)W * C * sizeof *d);
		memset(d + (size_t)(W + 1) * C, 0, C * sizeof *d);
	}
	memset(pad + (H + 1) * row, 0, row * sizeof *pad);
}

#ifdef MM_X86
/*
 * Direct 3x3 convolution, stride 1, of one zero-padded sample into
 * Co = 16 KO output channels, KO AVX-512 registers per output pixel:
 *   out[y, x, :] (+)= sum over taps t = (ky, kx) and c < Cx of
 *                     pad[y + ky, x + kx, c] * wt[t, c, :]
 * out (H, W, Co), pad (H + 2, W + 2, Cx), wt (9, Cx, Co).  Blocks of XB
 * pixels of a row share each weight load (XB KO FMAs with broadcast
 * inputs); XB KO accumulators stay in registers.  KO and XB are
 * constants in each instance below.
 */
static inline __attribute__((always_inline, target("avx512f"))) void
direct_body(float *out, const float *pad, const float *wt, int H, int W,
    int Wp, int Cx, int cn, int add, const int KO, const int XB, const int S)
{
	size_t rs = (size_t)Wp * Cx;
	const int Co = 16 * KO;
	int y, x0, nb, t, c, j, k;

	for (y = 0; y < H; y++)
		for (x0 = 0; x0 < W; x0 += nb) {
			float *o = out + ((size_t)y * W + x0) * Co;
			nb = W - x0 < XB ? W - x0 : XB;
			if (nb == XB) {
				__m512 acc[XB][KO], w[KO], b;
#pragma GCC unroll 16
				for (j = 0; j < XB; j++)
#pragma GCC unroll 4
					for (k = 0; k < KO; k++)
						acc[j][k] = add ? _mm512_loadu_ps(o +
						    Co * j + 16 * k) :
						    _mm512_setzero_ps();
				for (t = 0; t < 9; t++) {
					const float *ip = pad + (S * y + t / 3) *
					    rs + (size_t)(S * x0 + t % 3) * Cx;
					const float *wp = wt + (size_t)t * Cx * Co;
					for (c = 0; c < cn; c++) {
#pragma GCC unroll 4
						for (k = 0; k < KO; k++)
							w[k] = _mm512_loadu_ps(wp +
							    Co * c + 16 * k);
#pragma GCC unroll 16
						for (j = 0; j < XB; j++) {
							b = _mm512_set1_ps(
							    ip[S * j * Cx + c]);
#pragma GCC unroll 4
							for (k = 0; k < KO; k++)
								acc[j][k] = _mm512_fmadd_ps(b,
								    w[k], acc[j][k]);
						}
					}
				}
#pragma GCC unroll 16
				for (j = 0; j < XB; j++)
#pragma GCC unroll 4
					for (k = 0; k < KO; k++)
						_mm512_storeu_ps(o + Co * j + 16 * k,
						    acc[j][k]);
				continue;
			}
			for (j = 0; j < nb; j++) {
				__m512 a[KO];
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					a[k] = add ? _mm512_loadu_ps(o + Co * j +
					    16 * k) : _mm512_setzero_ps();
				for (t = 0; t < 9; t++) {
					const float *ip = pad + (S * y + t / 3) *
					    rs + (size_t)(S * (x0 + j) + t % 3) * Cx;
					const float *wp = wt + (size_t)t * Cx * Co;
					for (c = 0; c < cn; c++)
#pragma GCC unroll 4
						for (k = 0; k < KO; k++)
							a[k] = _mm512_fmadd_ps(
							    _mm512_set1_ps(ip[c]),
							    _mm512_loadu_ps(wp +
							    Co * c + 16 * k), a[k]);
				}
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					_mm512_storeu_ps(o + Co * j + 16 * k, a[k]);
			}
		}
}

/*
 * Weight gradient of the same convolution (stride S) for one sample:
 *   dwt[t, c, :] += sum over output pixels (y, x) of
 *                   x[S y + ky - 1, S x + kx - 1, c] * dy[y, x, :]
 * over the pixels whose input lies inside the image (the zero padding
 * adds nothing).  dwt (9, Cx, Co), x (H, W, Cx), dy (Ho, Wo, Co),
 * Co = 16 KO.  For each tap and block of CB input channels, CB KO
 * accumulators stay in registers over all pixels; Cx must be a multiple
 * of CB.
 */
static inline __attribute__((always_inline, target("avx512f"))) void
dweight_body(float *dwt, const float *x, const float *dy, int Ho, int Wo,
    int H, int W, int Cx, const int KO, const int CB, const int S)
{
	const int Co = 16 * KO;
	int t, ky, kx, y0, y1, x0, x1, c0, c, k, y, px;

	for (t = 0; t < 9; t++) {
		ky = t / 3;
		kx = t % 3;
		/* 0 <= S y + ky - 1 < H, likewise for x */
		y0 = ky == 0;
		y1 = (H - ky) / S + 1;
		y1 = y1 < Ho ? y1 : Ho;
		x0 = kx == 0;
		x1 = (W - kx) / S + 1;
		x1 = x1 < Wo ? x1 : Wo;
		for (c0 = 0; c0 < Cx; c0 += CB) {
			__m512 acc[CB][KO], d[KO], b;
			float *o = dwt + ((size_t)t * Cx + c0) * Co;
#pragma GCC unroll 16
			for (c = 0; c < CB; c++)
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					acc[c][k] = _mm512_loadu_ps(o + Co * c +
					    16 * k);
			for (y = y0; y < y1; y++) {
				const float *ip = x + ((size_t)(S * y + ky - 1) *
				    W + kx - 1) * Cx + c0;
				const float *g = dy + (size_t)y * Wo * Co;
				for (px = x0; px < x1; px++) {
#pragma GCC unroll 4
					for (k = 0; k < KO; k++)
						d[k] = _mm512_loadu_ps(g +
						    (size_t)px * Co + 16 * k);
#pragma GCC unroll 16
					for (c = 0; c < CB; c++) {
						b = _mm512_set1_ps(ip[(size_t)S *
						    px * Cx + c]);
#pragma GCC unroll 4
						for (k = 0; k < KO; k++)
							acc[c][k] = _mm512_fmadd_ps(b,
							    d[k], acc[c][k]);
					}
				}
			}
#pragma GCC unroll 16
			for (c = 0; c < CB; c++)
#pragma GCC unroll 4
				for (k = 0; k < KO; k++)
					_mm512_storeu_ps(o + Co * c + 16 * k,
					    acc[c][k]);
		}
	}
}

/*
 * The weight gradient for few input channels (the first layer: Cx = CX of
 * 1 to 3), 16 output channels, stride 1, from a zero-padded sample: all
 * 9 CX weight rows stay in registers while each output-gradient pixel is
 * loaded once.  dwt (9, CX, 16), pad (Ho + 2, Wo + 2, CX), dy (Ho, Wo, 16).
 */
static inline __attribute__((always_inline, target("avx512f"))) void
dweight_few_body(float *dwt, const float *pad, const float *dy, int Ho,
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

__attribute__((target("avx512f")))
static void
dweight_few_avx512(float *dwt, const float *pad, const float *dy, int Ho,
    int Wo, int Cx)
{
	if (Cx == 1)
		dweight_few_body(dwt, pad, dy, Ho, Wo, 1);
	else if (Cx == 2)
		dweight_few_body(dwt, pad, dy, Ho, Wo, 2);
	else
		dweight_few_body(dwt, pad, dy, Ho, Wo, 3);
}

__attribute__((target("avx512f")))
static void
dweight_avx512(float *dwt, const float *x, const float *dy, int Ho, int Wo,
    int H, int W, int Cx, int Co, int S)
{
	if (Co == 16 && S == 1)
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 1, 16, 1);
	else if (Co == 32 && S == 1)
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 2, 8, 1);
	else if (Co == 64 && S == 1)
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 4, 4, 1);
	else if (Co == 16)
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 1, 16, 2);
	else if (Co == 32)
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 2, 8, 2);
	else
		dweight_body(dwt, x, dy, Ho, Wo, H, W, Cx, 4, 4, 2);
}

/*
 * The same for 16 output channels, stride 1, W a multiple of 8, in blocks
 * of 2 rows x 8 pixels: each input value of the block's 4 x 10 window is
 * broadcast once and multiplies every tap weight that reaches an output
 * of the block (144 FMAs per 40 broadcasts and 9 weight loads per input
 * channel, against one broadcast per FMA above).  An odd last row goes
 * through direct_body().
 */
__attribute__((target("avx512f")))
static void
direct16_rows2(float *out, const float *pad, const float *wt, int H, int W,
    int Cx, int add)
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
			for (c = 0; c < Cx; c++) {
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
		direct_body(out + (size_t)(H - 1) * W * 16, pad + (H - 1) * rs,
		    wt, 1, W, W + 2, Cx, Cx, add, 1, 8, 1);
}

/* out (Ho, Wo, Co) (+)= the direct convolution of one padded sample */
__attribute__((target("avx512f")))
static void
direct_avx512(float *out, const float *pad, const float *wt, int Ho, int Wo,
    int Wp, int Cx, int Co, int S, int add)
{
	int c0, cn;

	if (Co == 16 && S == 1 && Wo % 8 == 0 && Wp == Wo + 2)
		direct16_rows2(out, pad, wt, Ho, Wo, Cx, add);
	else if (Co == 16 && S == 1)
		direct_body(out, pad, wt, Ho, Wo, Wp, Cx, Cx, add, 1, 8, 1);
	else if (Co == 32 && S == 1)
		direct_body(out, pad, wt, Ho, Wo, Wp, Cx, Cx, add, 2, 8, 1);
	else if (Co == 16)
		direct_body(out, pad, wt, Ho, Wo, Wp, Cx, Cx, add, 1, 8, 2);
	else if (Co == 32)
		direct_body(out, pad, wt, Ho, Wo, Wp, Cx, Cx, add, 2, 8, 2);
	else
		/* 64 channels: 16 input channels at a time, so that their
		 * weights (36 KiB) stay in the L1 cache */
		for (c0 = 0; c0 < Cx; c0 += cn) {
			cn = Cx - c0 < 16 ? Cx - c0 : 16;
			if (S == 1)
				direct_body(out, pad + c0, wt + (size_t)c0 * Co,
				    Ho, Wo, Wp, Cx, cn, add || c0, 4, 4, 1);
			else
				direct_body(out, pad + c0, wt + (size_t)c0 * Co,
				    Ho, Wo, Wp, Cx, cn, add || c0, 4, 4, 2);
		}
}

/*
 * AVX2 + FMA versions of direct_body() and dweight_body() for CPUs
 * without AVX-512: 8-float registers, KO8 per pixel (of Co output
 * channels in all: the caller offsets out, wt or dwt, dy to a group of
 * 8 KO8), and blocks small enough for the 16 registers.
 */
static inline __attribute__((always_inline, target("avx2,fma"))) void
direct_body_avx2(float *out, const float *pad, const float *wt, int H,
    int W, int Wp, int Cx, int cn, int add, const int KO8, const int XB,
    const int S, int Co)
{
	size_t rs = (size_t)Wp * Cx;
	int y, x0, nb, t, c, j, k;

	for (y = 0; y < H; y++)
		for (x0 = 0; x0 < W; x0 += nb) {
			float *o = out + ((size_t)y * W + x0) * Co;
			nb = W - x0 < XB ? W - x0 : XB;
			if (nb == XB) {
				__m256 acc[XB][KO8], b;
#pragma GCC unroll 8
				for (j = 0; j < XB; j++)
#pragma GCC unroll 8
					for (k = 0; k < KO8; k++)
						acc[j][k] = add ? _mm256_loadu_ps(o +
						    Co * j + 8 * k) :
						    _mm256_setzero_ps();
				for (t = 0; t < 9; t++) {
					const float *ip = pad + (S * y + t / 3) *
					    rs + (size_t)(S * x0 + t % 3) * Cx;
					const float *wp = wt + (size_t)t * Cx * Co;
					for (c = 0; c < cn; c++) {
#pragma GCC unroll 8
						for (j = 0; j < XB; j++) {
							b = _mm256_set1_ps(
							    ip[S * j * Cx + c]);
#pragma GCC unroll 8
							for (k = 0; k < KO8; k++)
								acc[j][k] = _mm256_fmadd_ps(b,
								    _mm256_loadu_ps(wp +
								    Co * c + 8 * k),
								    acc[j][k]);
						}
					}
				}
#pragma GCC unroll 8
				for (j = 0; j < XB; j++)
#pragma GCC unroll 8
					for (k = 0; k < KO8; k++)
						_mm256_storeu_ps(o + Co * j + 8 * k,
						    acc[j][k]);
				continue;
			}
			for (j = 0; j < nb; j++) {
				__m256 a[KO8];
#pragma GCC unroll 8
				for (k = 0; k < KO8; k++)
					a[k] = add ? _mm256_loadu_ps(o + Co * j +
					    8 * k) : _mm256_setzero_ps();
				for (t = 0; t < 9; t++) {
					const float *ip = pad + (S * y + t / 3) *
					    rs + (size_t)(S * (x0 + j) + t % 3) * Cx;
					const float *wp = wt + (size_t)t * Cx * Co;
					for (c = 0; c < cn; c++)
#pragma GCC unroll 8
						for (k = 0; k < KO8; k++)
							a[k] = _mm256_fmadd_ps(
							    _mm256_set1_ps(ip[c]),
							    _mm256_loadu_ps(wp +
							    Co * c + 8 * k), a[k]);
				}
#pragma GCC unroll 8
				for (k = 0; k < KO8; k++)
					_mm256_storeu_ps(o + Co * j + 8 * k, a[k]);
			}
		}
}

/* 16 output channels, stride 1, AVX2: for each kernel row, each input
 * of the 1 x (XB + 2) window is broadcast once for every tap reaching
 * the block (XB = 4 pixels, 2 registers each). */
__attribute__((target("avx2,fma")))
static void
direct16_row_avx2(float *out, const float *pad, const float *wt, int H,
    int W, int Cx, int cn, int add)
{
	size_t rs = (size_t)(W + 2) * Cx;
	int y, x0, ky, c, j, k, ic;

	for (y = 0; y < H; y++)
		for (x0 = 0; x0 < W; x0 += 4) {
			__m256 acc[4][2], w[3][2], b;
			float *o = out + ((size_t)y * W + x0) * 16;
#pragma GCC unroll 4
			for (j = 0; j < 4; j++)
#pragma GCC unroll 2
				for (k = 0; k < 2; k++)
					acc[j][k] = add ? _mm256_loadu_ps(o +
					    16 * j + 8 * k) : _mm256_setzero_ps();
			for (ky = 0; ky < 3; ky++) {
				const float *ip = pad + (y + ky) * rs +
				    (size_t)x0 * Cx;
				const float *wp = wt + (size_t)3 * ky * Cx * 16;
				for (c = 0; c < cn; c++) {
#pragma GCC unroll 3
					for (j = 0; j < 3; j++)
#pragma GCC unroll 2
						for (k = 0; k < 2; k++)
							w[j][k] = _mm256_loadu_ps(wp +
							    ((size_t)j * Cx + c) * 16 +
							    8 * k);
#pragma GCC unroll 6
					for (ic = 0; ic < 6; ic++) {
						b = _mm256_set1_ps(ip[ic * Cx + c]);
#pragma GCC unroll 4
						for (j = 0; j < 4; j++) {
							if (ic - j < 0 || ic - j > 2)
								continue;
#pragma GCC unroll 2
							for (k = 0; k < 2; k++)
								acc[j][k] = _mm256_fmadd_ps(b,
								    w[ic - j][k], acc[j][k]);
						}
					}
				}
			}
#pragma GCC unroll 4
			for (j = 0; j < 4; j++)
#pragma GCC unroll 2
				for (k = 0; k < 2; k++)
					_mm256_storeu_ps(o + 16 * j + 8 * k,
					    acc[j][k]);
		}
}

__attribute__((target("avx2,fma")))
static void
direct_avx2(float *out, const float *pad, const float *wt, int Ho, int Wo,
    int Wp, int Cx, int Co, int S, int add)
{
	int c0, cn, h;

	/* 16 input channels at a time, so that their weights stay in the
	 * L1 cache (64 channels: 36 KiB); 64 output channels in two
	 * halves of 32 (4 registers per pixel) */
	for (c0 = 0; c0 < Cx; c0 += cn) {
		cn = Cx - c0 < 16 ? Cx - c0 : 16;
		const float *p = pad + c0, *w = wt + (size_t)c0 * Co;
		int a = add || c0;
		for (h = 0; h < Co; h += 32) {
			if (Co == 16 && S == 1 && Wo % 4 == 0 &&
			    Wp == Wo + 2)
				direct16_row_avx2(out, p, w, Ho, Wo, Cx, cn, a);
			else if (Co == 16 && S == 1)
				direct_body_avx2(out, p, w, Ho, Wo, Wp, Cx, cn,
				    a, 2, 4, 1, Co);
			else if (Co == 16)
				direct_body_avx2(out, p, w, Ho, Wo, Wp, Cx, cn,
				    a, 2, 4, 2, Co);
			else if (S == 1)
				direct_body_avx2(out + h, p, w + h, Ho, Wo, Wp,
				    Cx, cn, a, 4, 2, 1, Co);
			else
				direct_body_avx2(out + h, p, w + h, Ho, Wo, Wp,
				    Cx, cn, a, 4, 2, 2, Co);
		}
	}
}

static inline __attribute__((always_inline, target("avx2,fma"))) void
dweight_body_avx2(float *dwt, const float *x, const float *dy, int Ho,
    int Wo, int H, int W, int Cx, const int KO8, const int CB, const int S,
    int Co)
{
	int t, ky, kx, y0, y1, x0, x1, c0, c, k, y, px;

	for (t = 0; t < 9; t++) {
		ky = t / 3;
		kx = t % 3;
		y0 = ky == 0;
		y1 = (H - ky) / S + 1;
		y1 = y1 < Ho ? y1 : Ho;
		x0 = kx == 0;
		x1 = (W - kx) / S + 1;
		x1 = x1 < Wo ? x1 : Wo;
		for (c0 = 0; c0 < Cx; c0 += CB) {
			__m256 acc[CB][KO8], d[KO8], b;
			float *o = dwt + ((size_t)t * Cx + c0) * Co;
#pragma GCC unroll 8
			for (c = 0; c < CB; c++)
#pragma GCC unroll 8
				for (k = 0; k < KO8; k++)
					acc[c][k] = _mm256_loadu_ps(o + Co * c +
					    8 * k);
			for (y = y0; y < y1; y++) {
				const float *ip = x + ((size_t)(S * y + ky - 1) *
				    W + kx - 1) * Cx + c0;
				const float *g = dy + (size_t)y * Wo * Co;
				for (px = x0; px < x1; px++) {
#pragma GCC unroll 8
					for (k = 0; k < KO8; k++)
						d[k] = _mm256_loadu_ps(g +
						    (size_t)px * Co + 8 * k);
#pragma GCC unroll 8
					for (c = 0; c < CB; c++) {
						b = _mm256_set1_ps(ip[(size_t)S *
						    px * Cx + c]);
#pragma GCC unroll 8
						for (k = 0; k < KO8; k++)
							acc[c][k] = _mm256_fmadd_ps(b,
							    d[k], acc[c][k]);
					}
				}
			}
#pragma GCC unroll 8
			for (c = 0; c < CB; c++)
#pragma GCC unroll 8
				for (k = 0; k < KO8; k++)
					_mm256_storeu_ps(o + Co * c + 8 * k,
					    acc[c][k]);
		}
	}
}

__attribute__((target("avx2,fma")))
static void
dweight_avx2(float *dwt, const float *x, const float *dy, int Ho, int Wo,
    int H, int W, int Cx, int Co, int S)
{
	int h;

	/* 64 output channels in two halves of 32 */
	for (h = 0; h < Co; h += 32) {
		if (Co == 16 && S == 1)
			dweight_body_avx2(dwt, x, dy, Ho, Wo, H, W, Cx, 2, 4,
			    1, Co);
		else if (Co == 16)
			dweight_body_avx2(dwt, x, dy, Ho, Wo, H, W, Cx, 2, 4,
			    2, Co);
		else if (S == 1)
			dweight_body_avx2(dwt + h, x, dy + h, Ho, Wo, H, W, Cx,
			    4, 2, 1, Co);
		else
			dweight_body_avx2(dwt + h, x, dy + h, Ho, Wo, H, W, Cx,
			    4, 2, 2, Co);
	}
}
#endif

/* Whether the direct kernel does a convolution to Co channels. */
static int
use_direct(int Co, int stride)
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

/* out (N, Ho, Wo, Co) (+)= direct convolution of x (N, H, W, Cx) with
 * wt (9, Cx, Co), Co = 16, 32 or 64; pad: scratch of (H + 2) (W + 2) Cx
 * floats. */
static void
direct_conv(float *out, const float *x, const float *wt, float *pad, int N,
    int H, int W, int Cx, int Co, int S, int add)
{
#ifdef MM_X86
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1, n;
	size_t in = (size_t)H * W * Cx, on = (size_t)Ho * Wo * Co;

	for (n = 0; n < N; n++) {
		pad_sample(pad, x + n * in, H, W, Cx);
		if (simd_level == 2)
			direct_avx512(out + n * on, pad, wt, Ho, Wo, W + 2, Cx,
			    Co, S, add);
		else
			direct_avx2(out + n * on, pad, wt, Ho, Wo, W + 2, Cx,
			    Co, S, add);
	}
#else
	(void)out, (void)x, (void)wt, (void)pad, (void)N, (void)H, (void)W;
	(void)Cx, (void)Co, (void)S, (void)add;
#endif
}

/* Whether the direct kernel computes the weight gradient of a
 * convolution from Cx to Co channels (Cx a multiple of its block). */
static int
use_direct_dw(int Cx, int Co, int stride)
{
	if (Cx <= 3)
		return use_direct(Co, stride) && Co == 16 && stride == 1 &&
		    simd_level == 2;
	/* channel blocks: 16, 8, 4 (AVX-512) or 4, 2, 2 (AVX2) */
	if (simd_level < 2)
		return use_direct(Co, stride) && Cx % (Co == 16 ? 4 : 2) == 0;
	return use_direct(Co, stride) && Cx % (Co == 16 ? 16 : Co == 32 ? 8 :
	    4) == 0;
}

/* dwt (9, Cx, Co) += the weight gradient of x (N, H, W, Cx) and
 * dy (N, Ho, Wo, Co); pad: scratch as for direct_conv() (used when
 * Cx <= 3). */
static void
direct_dw(float *dwt, const float *x, const float *dy, float *pad, int N,
    int H, int W, int Cx, int Co, int S)
{
#ifdef MM_X86
	int Ho = (H - 1) / S + 1, Wo = (W - 1) / S + 1, n;
	size_t in = (size_t)H * W * Cx, on = (size_t)Ho * Wo * Co;

	for (n = 0; n < N; n++) {
		if (Cx <= 3) {
			pad_sample(pad, x + n * in, H, W, Cx);
			dweight_few_avx512(dwt, pad, dy + n * on, Ho, Wo, Cx);
			continue;
		}
		if (simd_level == 2)
			dweight_avx512(dwt, x + n * in, dy + n * on, Ho, Wo, H,
			    W, Cx, Co, S);
		else
			dweight_avx2(dwt, x + n * in, dy + n * on, Ho, Wo, H,
			    W, Cx, Co, S);
	}
#else
	(void)dwt, (void)x, (void)dy, (void)pad, (void)N, (void)H, (void)W;
	(void)Cx, (void)Co, (void)S;
#endif
}

static void
copyf(float *dst, const float *src, int n)
{
	int i;

	for (i = 0; i < n; i++)
		dst[i] = src[i];
}

static void
zerof(float *dst, int n)
{
	int i;

	for (i = 0; i < n; i++)
		dst[i] = 0;
}

/* Columns of output pixels [p0, p1): col (p1 - p0, 3, 3, Cin), the
 * (ky, kx, c) order that makes each tap a contiguous copy in NHWC. */
static void
im2col(float *col, const float *inp, size_t p0, size_t p1, int H, int W,
    int Cin, int Ho, int Wo, int stride)
{
	size_t p, HWo = (size_t)Ho * Wo, K = 9 * (size_t)Cin;
	int n, oy, ox, iy, ix, ky, kx, rem;

	for (p = p0; p < p1; p++) {
		float *dst = col + (p - p0) * K;
		n = (int)(p / HWo);
		rem = (int)(p % HWo);
		oy = rem / Wo;
		ox = rem % Wo;
		for (ky = 0; ky < 3; ky++, dst += 3 * Cin) {
			iy = oy * stride - 1 + ky;
			if (iy < 0 || iy >= H) {
				zerof(dst, 3 * Cin);
				continue;
			}
			ix = ox * stride - 1;
			/* row (n, iy) of the input, indexed by x */
			const float *row = inp + ((size_t)n * H + iy) * W * Cin;
			if (ix >= 0 && ix + 2 < W) {
				copyf(dst, row + (size_t)ix * Cin, 3 * Cin);
				continue;
			}
			for (kx = 0; kx < 3; kx++) {
				if (ix + kx < 0 || ix + kx >= W)
					zerof(dst + kx * Cin, Cin);
				else
					copyf(dst + kx * Cin, row +
					    (size_t)(ix + kx) * Cin, Cin);
			}
		}
	}
}

/* dinp += the columns of output pixels [p0, p1) put back in place. */
static void
col2im(float *dinp, const float *col, size_t p0, size_t p1, int H, int W,
    int Cin, int Ho, int Wo, int stride)
{
	size_t p, HWo = (size_t)Ho * Wo, K = 9 * (size_t)Cin;
	int n, oy, ox, iy, ix, ky, kx, rem, c, lo, hi;

	for (p = p0; p < p1; p++) {
		const float *src = col + (p - p0) * K;
		n = (int)(p / HWo);
		rem = (int)(p % HWo);
		oy = rem / Wo;
		ox = rem % Wo;
		ix = ox * stride - 1;
		lo = ix < 0 ? -ix : 0;
		hi = ix + 2 >= W ? W - ix : 3;
		for (ky = 0; ky < 3; ky++, src += 3 * Cin) {
			iy = oy * stride - 1 + ky;
			if (iy < 0 || iy >= H)
				continue;
			float *row = dinp + ((size_t)n * H + iy) * W * Cin;
			for (kx = lo; kx < hi; kx++) {
				float *d = row + (size_t)(ix + kx) * Cin;
				const float *s = src + kx * Cin;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
		}
	}
}

/* wp (Cout, 3, 3, Cin) from PyTorch's w (Cout, Cin, 3, 3). */
static void
permute_weight(float *wp, const float *w, int Cin, int Cout)
{
	int o, c, t;

	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wp[((size_t)o * 9 + t) * Cin + c] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

/* wp (9, Cin, Cout) from PyTorch's w (Cout, Cin, 3, 3), for the direct
 * kernels. */
static void
direct_weight(float *wp, const float *w, int Cin, int Cout)
{
	int o, c, t;

	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wp[((size_t)t * Cin + c) * Cout + o] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

void
mm_conv3x3_forward(float *out, const float *inp, const float *w, int N,
    int H, int W, int Cin, int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t P = (size_t)N * Ho * Wo, p0, p1;
	float *wp = scratch, *col = scratch + 2 * (size_t)Cout * K;
	float *pad = col + 2 * R * K;

	if (use_direct(Cout, stride)) {
		direct_weight(wp, w, Cin, Cout);
		direct_conv(out, inp, wp, pad, N, H, W, Cin, Cout, stride, 0);
		return;
	}
	permute_weight(wp, w, Cin, Cout);
	for (p0 = 0; p0 < P; p0 = p1) {
		p1 = p0 + R < P ? p0 + R : P;
		im2col(col, inp, p0, p1, H, W, Cin, Ho, Wo, stride);
		/* out (R, Cout) = col (R, K) wp^T (K, Cout) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
		    (int)(p1 - p0), Cout, (int)K, 1.0f, col, (int)K, wp,
		    (int)K, 0.0f, out + p0 * Cout, Cout);
	}
}

void
mm_conv3x3_backward(float *dinp, float *dw, const float *dout,
    const float *inp, const float *w, int N, int H, int W, int Cin,
    int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t P = (size_t)N * Ho * Wo, p0, p1;
	float *wp = scratch, *dwp = wp + (size_t)Cout * K;
	float *col = dwp + (size_t)Cout * K, *dcol = col + R * K;
	float *pad = dcol + R * K;
	int o, c, t;
	int dwd = use_direct_dw(Cin, Cout, stride);
	int dxd = dinp && stride == 1 && use_direct(Cin, stride);

	memset(dwp, 0, (size_t)Cout * K * sizeof *dwp);
	if (dwd)        /* dwp (9, Cin, Cout) */
		direct_dw(dwp, inp, dout, pad, N, H, W, Cin, Cout, stride);
	if (dxd) {
		/* dinp is the stride-1 convolution of dout with the flipped,
		 * transposed weight wp (9, Cout, Cin): tap t' = 8 - t */
		for (o = 0; o < Cout; o++)
			for (c = 0; c < Cin; c++)
				for (t = 0; t < 9; t++)
					wp[((size_t)(8 - t) * Cout + o) * Cin + c] =
					    w[((size_t)o * Cin + c) * 9 + t];
		direct_conv(dinp, dout, wp, pad, N, H, W, Cout, Cin, 1, 1);
	} else if (dinp) {
		permute_weight(wp, w, Cin, Cout);
	}
	for (p0 = 0; !(dwd && (!dinp || dxd)) && p0 < P; p0 = p1) {
		p1 = p0 + R < P ? p0 + R : P;
		/* dwp (Cout, K) += dout^T (Cout, R) col (R, K) */
		if (!dwd) {
			im2col(col, inp, p0, p1, H, W, Cin, Ho, Wo, stride);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
			    Cout, (int)K, (int)(p1 - p0), 1.0f, dout +
			    p0 * Cout, Cout, col, (int)K, 1.0f, dwp, (int)K);
		}
		if (!dinp || dxd)
			continue;
		/* dcol (R, K) = dout (R, Cout) wp (Cout, K) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    (int)(p1 - p0), (int)K, Cout, 1.0f, dout + p0 * Cout, Cout,
		    wp, (int)K, 0.0f, dcol, (int)K);
		col2im(dinp, dcol, p0, p1, H, W, Cin, Ho, Wo, stride);
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				dw[((size_t)o * Cin + c) * 9 + t] += dwd ?
				    dwp[((size_t)t * Cin + c) * Cout + o] :
				    dwp[((size_t)o * 9 + t) * Cin + c];
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

/* part (2, C) = mean and squared deviations of the M rows x (M, C) */
static void
sample_stats(double *part, const float *x, size_t M, int C)
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
mm_conv3x3_weights(float *wt, const float *w, int Cin, int Cout, int flip)
{
	int o, c, t;

	if (!flip) {
		direct_weight(wt, w, Cin, Cout);
		return;
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wt[((size_t)(8 - t) * Cout + o) * Cin + c] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

void
mm_conv3x3_forward_stats(float *out, double *stats, double *count,
    const float *inp, const float *w, const float *wt, int N, int H, int W,
    int Cin, int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n;
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin;
	double part[2 * 256];

	if (!use_direct(Cout, stride)) {
		mm_conv3x3_forward(out, inp, w, N, H, W, Cin, Cout, stride,
		    scratch);
		for (n = 0; n < N; n++) {
			sample_stats(part, out + n * on, (size_t)Ho * Wo, Cout);
			mm_bn_stats_add(stats, count, part, (double)Ho * Wo,
			    Cout);
		}
		return;
	}
	/* sample by sample, the statistics while the output is in cache */
	if (!wt) {
		direct_weight(scratch, w, Cin, Cout);
		wt = scratch;
	}
	for (n = 0; n < N; n++) {
		direct_conv(out + n * on, inp + n * in, wt, scratch +
		    2 * (size_t)Cout * 9 * Cin + 2 * chunk_rows(Cin) * 9 * Cin,
		    1, H, W, Cin, Cout, stride, 0);
		sample_stats(part, out + n * on, (size_t)Ho * Wo, Cout);
		mm_bn_stats_add(stats, count, part, (double)Ho * Wo, Cout);
	}
}

void
mm_conv3x3_backward_bn(float *dinp, int add, float *dw, const float *dy,
    const float *out, const float *pre, const float *coef, const float *inp,
    const float *w, const float *wt, int N, int H, int W, int Cin, int Cout,
    int stride, float *scratch, float *tmp)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n, o, c, t;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin;
	float *wp = scratch, *dwt = wp + (size_t)Cout * K;
	float *pad = dwt + (size_t)Cout * K + 2 * R * K;
	float *g = pad + (size_t)(H + 2) * (W + 2) * (Cin > Cout ? Cin : Cout);

	if (!use_direct_dw(Cin, Cout, stride) || (dinp && (stride != 1 ||
	    !use_direct(Cin, 1)))) {
		mm_bn_grad_apply(tmp, dy, out, pre, coef, (size_t)N * Ho * Wo,
		    Cout, 0);
		if (dinp && !add)
			memset(dinp, 0, (size_t)N * in * sizeof *dinp);
		mm_conv3x3_backward(dinp, dw, tmp, inp, w, N, H, W, Cin, Cout,
		    stride, scratch);
		return;
	}
	if (dinp && !wt) {
		mm_conv3x3_weights(wp, w, Cin, Cout, 1);
		wt = wp;
	}
	memset(dwt, 0, (size_t)Cout * K * sizeof *dwt);
	/* sample by sample: g (Ho, Wo, Cout) stays in cache for both
	 * products */
	for (n = 0; n < N; n++) {
		mm_bn_grad_apply(g, dy + n * on, out ? out + n * on : NULL,
		    pre + n * on, coef, (size_t)Ho * Wo, Cout, 0);
		direct_dw(dwt, inp + n * in, g, pad, 1, H, W, Cin, Cout,
		    stride);
		if (dinp)
			direct_conv(dinp + n * in, g, wt, pad, 1, H, W, Cout,
			    Cin, 1, add);
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				dw[((size_t)o * Cin + c) * 9 + t] +=
				    dwt[((size_t)t * Cin + c) * Cout + o];
}

/* ---- option-A shortcut ---- */

void
mm_shortcut_forward(float *out, const float *inp, int N, int H, int W,
    int Cin, int Cout, int stride)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	int pad = (Cout - Cin) / 2, n, y, x, c;

	for (n = 0; n < N; n++)
		for (y = 0; y < Ho; y++)
			for (x = 0; x < Wo; x++) {
				const float *s = inp + (((size_t)n * H +
				    y * stride) * W + x * stride) * Cin;
				float *d = out + (((size_t)n * Ho + y) * Wo +
				    x) * Cout + pad;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
}

void
mm_shortcut_backward(float *dinp, const float *dout, int N, int H, int W,
    int Cin, int Cout, int stride)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	int pad = (Cout - Cin) / 2, n, y, x, c;

	for (n = 0; n < N; n++)
		for (y = 0; y < Ho; y++)
			for (x = 0; x < Wo; x++) {
				float *d = dinp + (((size_t)n * H +
				    y * stride) * W + x * stride) * Cin;
				const float *s = dout + (((size_t)n * Ho + y) *
				    Wo + x) * Cout + pad;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
}

/* ---- global average pooling ---- */

void
mm_avgpool_forward(float *out, const float *inp, int N, int HW, int C)
{
	int n, p, c;
	float inv = 1.0f / HW;

	for (n = 0; n < N; n++) {
		float *o = out + (size_t)n * C;
		for (c = 0; c < C; c++)
			o[c] = 0;
		for (p = 0; p < HW; p++) {
			const float *x = inp + ((size_t)n * HW + p) * C;
			for (c = 0; c < C; c++)
				o[c] += x[c];
		}
		for (c = 0; c < C; c++)
			o[c] *= inv;
	}
}

void
mm_avgpool_backward(float *dinp, const float *dout, int N, int HW, int C)
{
	int n, p, c;
	float inv = 1.0f / HW;

	for (n = 0; n < N; n++)
		for (p = 0; p < HW; p++) {
			float *d = dinp + ((size_t)n * HW + p) * C;
			const float *g = dout + (size_t)n * C;
			for (c = 0; c < C; c++)
				d[c] += g[c] * inv;
		}
}

/* ---- layout ---- */

void
mm_nchw_to_nhwc(float *out, const float *inp, int N, int C, int HW)
{
	int n, c, p;

	for (n = 0; n < N; n++)
		for (c = 0; c < C; c++) {
			const float *s = inp + ((size_t)n * C + c) * HW;
			float *d = out + (size_t)n * HW * C + c;
			for (p = 0; p < HW; p++)
				d[(size_t)p * C] = s[p];
		}
}

/* ---- L2 normalisation ---- */

#define L2_EPS 1e-12

void
mm_l2norm_rows(float *out, float *norm, const float *inp, int N, int D,
    int ld)
{
	int n, d;
	double s;
	float nr;

	for (n = 0; n < N; n++) {
		const float *x = inp + (size_t)n * ld;
		float *y = out + (size_t)n * D;
		for (s = 0, d = 0; d < D; d++)
			s += (double)x[d] * x[d];
		nr = (float)sqrt(s);
		if (!(nr > (float)L2_EPS))
			nr = (float)L2_EPS;
		if (norm)
			norm[n] = nr;
		/* a division, as torch's normalize does, not a product with
		 * the inverse: the two round differently */
		for (d = 0; d < D; d++)
			y[d] = x[d] / nr;
	}
}

void
mm_l2norm_forward(float *out, float *norm, const float *inp, int N, int D)
{
	mm_l2norm_rows(out, norm, inp, N, D, D);
}

void
mm_l2norm_backward(float *dinp, const float *dout, const float *out,
    const float *norm, int N, int D)
{
	int n, d;
	double s;
	float dot, inv;

	for (n = 0; n < N; n++) {
		const float *y = out + (size_t)n * D;
		const float *g = dout + (size_t)n * D;
		float *dx = dinp + (size_t)n * D;
		if (!(norm[n] > L2_EPS)) {
			/* clamped: out = inp / eps, no projection */
			for (d = 0; d < D; d++)
				dx[d] += g[d] / (float)L2_EPS;
			continue;
		}
		for (s = 0, d = 0; d < D; d++)
			s += (double)y[d] * g[d];
		dot = (float)s;
		inv = 1.0f / norm[n];
		for (d = 0; d < D; d++)
			dx[d] += (g[d] - y[d] * dot) * inv;
	}
}
