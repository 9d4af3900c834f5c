/*
 * t-nn.c - the layers of lib/nn.c against naive double-precision
 * references, finite-difference gradient checks, and adjoint identities
 * for the linear maps (<A x, y> = <x, A^T y>).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "nn.h"
#include "pool.h"
#include "rng.h"
#include "tap.h"
#include "util-gradcheck.h"

static struct mm_rng rng;

/* One TAP test: a gradient check that must pass everywhere but at a few
 * coordinates straddling a ReLU kink. */
static void
gcheck(const char *what, double (*loss)(void *), void *ctx, float *x,
    const float *g, size_t n, size_t checks, float h, double atol,
    double rtol)
{
	double worst;
	int kinks, fails;

	fails = gc_check(loss, ctx, x, g, n, checks, h, atol, rtol, &worst,
	    &kinks);
	ok(fails == 0 && kinks <= 2, "%s gradcheck (worst %.3f, %d kinks)",
	    what, worst, kinks);
}

/* ---- naive references ---- */

/* out (N, Dout) = inp (N, Din) w^T + b */
static void
naive_linear(float *out, const float *inp, const float *w, const float *b,
    int N, int Din, int Dout)
{
	int n, o, i;
	double s;

	for (n = 0; n < N; n++)
		for (o = 0; o < Dout; o++) {
			s = b ? b[o] : 0;
			for (i = 0; i < Din; i++)
				s += (double)inp[n * Din + i] * w[o * Din + i];
			out[n * Dout + o] = (float)s;
		}
}

/* batch norm over rows of (M, C) in double, train mode */
static void
naive_bn(float *out, const float *x, const float *g, const float *b,
    size_t M, int C, double *mean, double *var, int relu)
{
	size_t r;
	int c;
	double m, v, y;

	for (c = 0; c < C; c++) {
		for (m = 0, r = 0; r < M; r++)
			m += x[r * C + c];
		m /= M;
		for (v = 0, r = 0; r < M; r++)
			v += (x[r * C + c] - m) * (x[r * C + c] - m);
		v /= M;
		for (r = 0; r < M; r++) {
			y = (x[r * C + c] - m) / sqrt(v + 1e-5) * g[c] + b[c];
			out[r * C + c] = (float)(relu && y < 0 ? 0 : y);
		}
		mean[c] = m;
		var[c] = v;
	}
}

/* direct 3x3 convolution, pad 1, NCHW */
static void
naive_conv(float *out, const float *in, const float *w, int N, int H, int W,
    int Cin, int Cout, int s)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
	int n, o, y, x, c, ky, kx, iy, ix;
	double acc;

	for (n = 0; n < N; n++)
		for (o = 0; o < Cout; o++)
			for (y = 0; y < Ho; y++)
				for (x = 0; x < Wo; x++) {
					acc = 0;
					for (c = 0; c < Cin; c++)
						for (ky = 0; ky < 3; ky++)
							for (kx = 0; kx < 3; kx++) {
								iy = y * s - 1 + ky;
								ix = x * s - 1 + kx;
								if (iy < 0 || iy >= H || ix < 0 || ix >= W)
									continue;
								acc += (double)w[((o * Cin + c) * 3 + ky) * 3 + kx] *
								    in[((n * Cin + c) * H + iy) * W + ix];
							}
					out[((n * Cout + o) * Ho + y) * Wo + x] = (float)acc;
				}
}

/* its backward: din (NCHW), dw, given dout (NCHW), all overwritten */
static void
naive_conv_back(float *din, float *dw, const float *dout, const float *in,
    const float *w, int N, int H, int W, int Cin, int Cout, int s)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
	int n, o, y, x, c, ky, kx, iy, ix;
	double *ddin = calloc((size_t)N * Cin * H * W, sizeof *ddin);
	double *ddw = calloc((size_t)Cout * Cin * 9, sizeof *ddw);
	float g;

	for (n = 0; n < N; n++)
		for (o = 0; o < Cout; o++)
			for (y = 0; y < Ho; y++)
				for (x = 0; x < Wo; x++) {
					g = dout[((n * Cout + o) * Ho + y) * Wo + x];
					for (c = 0; c < Cin; c++)
						for (ky = 0; ky < 3; ky++)
							for (kx = 0; kx < 3; kx++) {
								iy = y * s - 1 + ky;
								ix = x * s - 1 + kx;
								if (iy < 0 || iy >= H || ix < 0 || ix >= W)
									continue;
								size_t wi = ((o * Cin + c) * 3 + ky) * 3 + kx;
								size_t ii = ((n * Cin + c) * H + iy) * W + ix;
								ddw[wi] += (double)g * in[ii];
								ddin[ii] += (double)g * w[wi];
							}
				}
	for (size_t i = 0; i < (size_t)N * Cin * H * W; i++)
		din[i] = (float)ddin[i];
	for (size_t i = 0; i < (size_t)Cout * Cin * 9; i++)
		dw[i] = (float)ddw[i];
	free(ddin);
	free(ddw);
}

static void
nhwc_to_nchw(float *out, const float *in, int N, int C, int HW)
{
	int n, c, p;

	for (n = 0; n < N; n++)
		for (c = 0; c < C; c++)
			for (p = 0; p < HW; p++)
				out[((size_t)n * C + c) * HW + p] =
				    in[((size_t)n * HW + p) * C + c];
}

/* ---- Linear ---- */

struct lin_ctx {
	float *out, *x, *w, *b, *R;
	int N, Din, Dout;
};

static double
lin_loss(void *p)
{
	struct lin_ctx *c = p;

	mm_linear_forward(c->out, c->x, c->w, c->b, c->N, c->Din, c->Dout);
	return gc_dot(c->out, c->R, (size_t)c->N * c->Dout);
}

static void
test_linear(void)
{
	int N = 5, Din = 7, Dout = 3;
	struct lin_ctx c = { gc_alloc(N * Dout), gc_alloc(N * Din),
	    gc_alloc(Dout * Din), gc_alloc(Dout), gc_alloc(N * Dout), N, Din,
	    Dout };
	float *ref = gc_alloc(N * Dout), *dx = gc_alloc(N * Din);
	float *dw = gc_alloc(Dout * Din), *db = gc_alloc(Dout);

	gc_fill(c.x, N * Din, 1, &rng);
	gc_fill(c.w, Dout * Din, 1, &rng);
	gc_fill(c.b, Dout, 1, &rng);
	gc_fill(c.R, N * Dout, 1, &rng);
	lin_loss(&c);
	naive_linear(ref, c.x, c.w, c.b, N, Din, Dout);
	ok(gc_maxrel(c.out, ref, N * Dout) < 1e-6, "linear forward = naive");
	mm_linear_forward(c.out, c.x, c.w, NULL, N, Din, Dout);
	naive_linear(ref, c.x, c.w, NULL, N, Din, Dout);
	ok(gc_maxrel(c.out, ref, N * Dout) < 1e-6, "linear forward without bias");

	mm_linear_backward(dx, dw, db, c.R, c.x, c.w, N, Din, Dout);
	gcheck("linear dinp", lin_loss, &c, c.x, dx, N * Din, 100, 1e-2f, 1e-4, 1e-3);
	gcheck("linear dw", lin_loss, &c, c.w, dw, Dout * Din, 100, 1e-2f, 1e-4, 1e-3);
	gcheck("linear db", lin_loss, &c, c.b, db, Dout, 100, 1e-2f, 1e-4, 1e-3);
	/* backward accumulates */
	float *dw2 = gc_alloc(Dout * Din);
	memcpy(dw2, dw, Dout * Din * sizeof *dw);
	mm_linear_backward(NULL, dw, NULL, c.R, c.x, c.w, N, Din, Dout);
	int acc = 1;
	for (int i = 0; i < Dout * Din; i++)
		acc &= fabsf(dw[i] - 2 * dw2[i]) <= 1e-5f * (1 + fabsf(dw2[i]));
	ok(acc, "linear backward adds into dw");
	free(dw2);
	free(c.out); free(c.x); free(c.w); free(c.b); free(c.R);
	free(ref); free(dx); free(dw); free(db);
}

/* ---- products in fixed slices (mm_gemm_pool) ---- */

/* C (M, N) = alpha op(A) op(B) + beta C0 in double */
static void
naive_gemm(double *C, int ta, int tb, int M, int N, int K, float alpha,
    const float *A, const float *B, float beta, const float *C0)
{
	int m, n, k;
	double s;

	for (m = 0; m < M; m++)
		for (n = 0; n < N; n++) {
			for (s = 0, k = 0; k < K; k++)
				s += (double)(ta ? A[(size_t)k * M + m] :
				    A[(size_t)m * K + k]) *
				    (tb ? B[(size_t)n * K + k] :
				    B[(size_t)k * N + n]);
			C[(size_t)m * N + n] = alpha * s +
			    (double)beta * C0[(size_t)m * N + n];
		}
}

/* One shape: the product on no pool, on pools of 2, 3 and 7 threads and
 * with the caller's BLAS on 4 threads, all bit-identical and near the
 * double reference; the caller's BLAS count restored.  slices: the
 * count mm_gemm_slices() must give (so that the cut is exercised). */
static void
test_gemm_pool_shape(struct mm_rng *r, int ta, int tb, int M, int N, int K,
    int slices)
{
	static const int T[] = { 2, 3, 7 };
	size_t mn = (size_t)M * N;
	float *A = gc_alloc((size_t)M * K), *B = gc_alloc((size_t)K * N);
	float *C0 = gc_alloc(mn), *C = gc_alloc(mn), *D = gc_alloc(mn);
	double *ref = malloc(mn * sizeof *ref), err = 0, e;
	int lda = ta ? M : K, ldb = tb ? K : N, same = 1, i, saved;
	size_t q;

	gc_fill(A, (size_t)M * K, 1, r);
	gc_fill(B, (size_t)K * N, 1, r);
	gc_fill(C0, mn, 1, r);
	is_int(mm_gemm_slices(M, N, K), slices,
	    "gemm %c%c %dx%dx%d: %d slices", ta ? 'T' : 'N', tb ? 'T' : 'N',
	    M, N, K, slices);
	memcpy(C, C0, mn * sizeof *C);
	mm_gemm_pool(NULL, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, C, N);
	naive_gemm(ref, ta, tb, M, N, K, 0.5f, A, B, 1.0f, C0);
	for (q = 0; q < mn; q++) {
		e = fabs(C[q] - ref[q]) / (1 + fabs(ref[q]));
		err = e > err ? e : err;
	}
	ok(err < 1e-5, "... = the double reference (rel. error %.1e)", err);
	for (i = 0; i < 3; i++) {
		struct mm_pool *p = mm_pool_new(T[i]);

		memcpy(D, C0, mn * sizeof *D);
		mm_gemm_pool(p, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f,
		    D, N);
		same &= !memcmp(C, D, mn * sizeof *C);
		mm_pool_free(p);
	}
	saved = openblas_get_num_threads();
	openblas_set_num_threads(4);
	memcpy(D, C0, mn * sizeof *D);
	mm_gemm_pool(NULL, ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 1.0f, D, N);
	same &= !memcmp(C, D, mn * sizeof *C);
	ok(same, "... bit-identical on 1, 2, 3 and 7 threads and under a "
	    "4-thread BLAS");
	is_int(openblas_get_num_threads(), 4, "... the caller's BLAS threads "
	    "restored");
	openblas_set_num_threads(saved);
	free(A); free(B); free(C0); free(C); free(D); free(ref);
}

/* The Linear layer over a pool: near mm_linear_* for a sliced shape,
 * bit-identical to it for a shape of one slice per product, and
 * bit-identical over pools. */
static void
test_linear_pool(int N, int Din, int Dout, int one)
{
	struct mm_rng r;
	struct mm_pool *p = mm_pool_new(3);
	float *x = gc_alloc((size_t)N * Din), *w = gc_alloc((size_t)Dout * Din);
	float *b = gc_alloc(Dout), *g = gc_alloc((size_t)N * Dout);
	float *y[3], *dx[3], *dw[3], *db[3];
	int i, same = 1, near = 1;
	size_t q;

	mm_rng_seed(&r, 7);
	gc_fill(x, (size_t)N * Din, 1, &r);
	gc_fill(w, (size_t)Dout * Din, 1, &r);
	gc_fill(b, Dout, 1, &r);
	gc_fill(g, (size_t)N * Dout, 1, &r);
	for (i = 0; i < 3; i++) {
		y[i] = gc_alloc((size_t)N * Dout);
		dx[i] = gc_alloc((size_t)N * Din);
		dw[i] = gc_alloc((size_t)Dout * Din);
		db[i] = gc_alloc(Dout);
	}
	/* 0: mm_linear_*, 1: no pool, 2: a pool of 3 threads */
	mm_linear_forward(y[0], x, w, b, N, Din, Dout);
	mm_linear_backward(dx[0], dw[0], db[0], g, x, w, N, Din, Dout);
	for (i = 1; i < 3; i++) {
		mm_linear_forward_pool(i == 2 ? p : NULL, y[i], x, w, b, N, Din,
		    Dout);
		mm_linear_backward_pool(i == 2 ? p : NULL, dx[i], dw[i], db[i],
		    g, x, w, N, Din, Dout);
	}
#define SAME(a, b, n) (!memcmp((a), (b), (n) * sizeof(float)))
	same = SAME(y[1], y[2], (size_t)N * Dout) &&
	    SAME(dx[1], dx[2], (size_t)N * Din) &&
	    SAME(dw[1], dw[2], (size_t)Dout * Din) && SAME(db[1], db[2], Dout);
	ok(same, "linear %dx%d->%d over a pool: bit-identical to no pool",
	    N, Din, Dout);
	if (one) {
		same = SAME(y[0], y[1], (size_t)N * Dout) &&
		    SAME(dx[0], dx[1], (size_t)N * Din) &&
		    SAME(dw[0], dw[1], (size_t)Dout * Din) &&
		    SAME(db[0], db[1], Dout);
		ok(same, "... one slice each: bit-identical to mm_linear_*");
	} else {
		for (q = 0; q < (size_t)N * Dout; q++)
			near &= fabsf(y[0][q] - y[1][q]) <= 1e-5f *
			    (1 + fabsf(y[0][q]));
		for (q = 0; q < (size_t)N * Din; q++)
			near &= fabsf(dx[0][q] - dx[1][q]) <= 1e-5f *
			    (1 + fabsf(dx[0][q]));
		for (q = 0; q < (size_t)Dout * Din; q++)
			near &= fabsf(dw[0][q] - dw[1][q]) <= 1e-5f *
			    (1 + fabsf(dw[0][q]));
		ok(near, "... sliced: within 1e-5 of mm_linear_*");
	}
#undef SAME
	for (i = 0; i < 3; i++) {
		free(y[i]); free(dx[i]); free(dw[i]); free(db[i]);
	}
	free(x); free(w); free(b); free(g);
	mm_pool_free(p);
}

static void
test_gemm_pool(void)
{
	struct mm_rng r;

	/* a rng of their own: the tests after these keep their data */
	mm_rng_seed(&r, 11);
	test_gemm_pool_shape(&r, 0, 1, 5, 7, 3, 1);
	test_gemm_pool_shape(&r, 0, 1, 64, 600, 300, 4);   /* columns */
	test_gemm_pool_shape(&r, 0, 0, 700, 130, 200, 5);  /* rows, tail */
	test_gemm_pool_shape(&r, 1, 0, 300, 1000, 70, 7);  /* dW-like */
	test_gemm_pool_shape(&r, 1, 1, 2048, 48, 600, 16); /* capped */
	test_linear_pool(5, 7, 3, 1);
	test_linear_pool(96, 700, 300, 0);
	test_linear_pool(300, 200, 150, 0);   /* rows of out and dinp */
}

/* ---- ReLU ---- */

static void
test_relu(void)
{
	float x[6] = { -2, -0.5f, 0, 0.25f, 3, -0.0f }, y[6], g[6], d[6];
	int i, good = 1;

	mm_relu_forward(y, x, 6);
	for (i = 0; i < 6; i++)
		good &= y[i] == (x[i] > 0 ? x[i] : 0);
	ok(good, "relu forward");
	for (i = 0; i < 6; i++) {
		g[i] = (float)(i + 1);
		d[i] = 1;
	}
	mm_relu_backward(d, g, y, 6);
	good = 1;
	for (i = 0; i < 6; i++)
		good &= d[i] == 1 + (x[i] > 0 ? g[i] : 0);
	ok(good, "relu backward adds the masked gradient");
}

/* ---- BatchNorm ---- */

struct bn_ctx {
	float *out, *x, *g, *b, *rm, *rv, *mean, *rstd, *R;
	size_t M;
	int C, relu;
};

static double
bn_loss(void *p)
{
	struct bn_ctx *c = p;

	mm_batchnorm_forward(c->out, c->mean, c->rstd, c->x, c->g, c->b, c->rm,
	    c->rv, c->M, c->C, 1, c->relu);
	return gc_dot(c->out, c->R, c->M * c->C);
}

static void
test_bn(size_t M, int C, int relu)
{
	struct bn_ctx c;
	float *ref = gc_alloc(M * C), *dx = gc_alloc(M * C);
	float *dg = gc_alloc(C), *db = gc_alloc(C);
	double *mu = calloc(C, sizeof *mu), *var = calloc(C, sizeof *var);
	int i, good;

	c.M = M;
	c.C = C;
	c.relu = relu;
	c.out = gc_alloc(M * C);
	c.x = gc_alloc(M * C);
	c.g = gc_alloc(C);
	c.b = gc_alloc(C);
	c.rm = gc_alloc(C);
	c.rv = gc_alloc(C);
	c.mean = gc_alloc(C);
	c.rstd = gc_alloc(C);
	c.R = gc_alloc(M * C);
	gc_fill(c.x, M * C, 2, &rng);
	for (size_t k = 0; k < M * C; k++)
		c.x[k] += 0.5f + (float)(k % C);  /* channel offsets */
	gc_fill(c.g, C, 1, &rng);
	gc_fill(c.b, C, 0.5f, &rng);
	gc_fill(c.R, M * C, 1, &rng);
	for (i = 0; i < C; i++) {
		c.rm[i] = 0;
		c.rv[i] = 1;
	}
	bn_loss(&c);
	naive_bn(ref, c.x, c.g, c.b, M, C, mu, var, relu);
	ok(gc_maxrel(c.out, ref, M * C) < 2e-5, "bn M=%zu C=%d relu=%d: "
	    "train forward = naive (%.2g)", M, C, relu,
	    gc_maxrel(c.out, ref, M * C));
	good = 1;
	for (i = 0; i < C; i++) {
		good &= fabs(c.rm[i] - 0.1 * mu[i]) < 1e-5 * (1 + fabs(mu[i]));
		good &= fabs(c.rv[i] - (0.9 + 0.1 * var[i] * M / (M - 1))) <
		    1e-5 * (1 + var[i]);
	}
	ok(good, "bn running mean and unbiased running variance, momentum 0.1");

	/* eval mode uses the running statistics */
	mm_batchnorm_forward(c.out, c.mean, c.rstd, c.x, c.g, c.b, c.rm, c.rv,
	    M, C, 0, 0);
	good = 1;
	for (size_t k = 0; k < M * C; k++) {
		int ch = (int)(k % C);
		double y = (c.x[k] - c.rm[ch]) / sqrt(c.rv[ch] + 1e-5) *
		    c.g[ch] + c.b[ch];
		good &= fabs(c.out[k] - y) < 1e-5 * (1 + fabs(y));
	}
	ok(good, "bn eval forward uses running statistics");

	bn_loss(&c);
	mm_batchnorm_backward(dx, dg, db, c.R, relu ? c.out : NULL, c.x,
	    c.mean, c.rstd, c.g, M, C);
	if (!relu) {
		gcheck("bn dinp", bn_loss, &c, c.x, dx, M * C, 200, M > 100 ? 5e-2f : 1e-2f, 2e-3,
		    1e-2);
		gcheck("bn dgamma", bn_loss, &c, c.g, dg, C, 200, 1e-2f, 2e-3,
		    1e-2);
		gcheck("bn dbeta", bn_loss, &c, c.b, db, C, 200, 1e-2f, 2e-3,
		    1e-2);
	} else {
		/* the fused ReLU equals masking first, then plain backward */
		float *gm = gc_alloc(M * C), *dx2 = gc_alloc(M * C);
		float *dg2 = gc_alloc(C), *db2 = gc_alloc(C);
		mm_relu_backward(gm, c.R, c.out, M * C);
		mm_batchnorm_backward(dx2, dg2, db2, gm, NULL, c.x, c.mean,
		    c.rstd, c.g, M, C);
		ok(gc_maxabs(dx, dx2, M * C) == 0 && gc_maxabs(dg, dg2, C) == 0 &&
		    gc_maxabs(db, db2, C) == 0,
		    "bn backward with fused relu = relu backward + bn backward");
		free(gm); free(dx2); free(dg2); free(db2);
	}
	free(ref); free(dx); free(dg); free(db); free(mu); free(var);
	free(c.out); free(c.x); free(c.g); free(c.b); free(c.rm); free(c.rv);
	free(c.mean); free(c.rstd); free(c.R);
}

/* BatchNorm2d on NHWC equals per-channel statistics over (N, H, W) of
 * the NCHW tensor, checked with an independent NCHW loop. */
static void
test_bn2d(void)
{
	int N = 3, C = 4, HW = 25, n, c, p;
	size_t M = (size_t)N * HW;
	float *x = gc_alloc(M * C), *y = gc_alloc(M * C), *xc = gc_alloc(M * C);
	float *yc = gc_alloc(M * C), g[4] = { 1, 0.5f, -2, 1.5f };
	float b[4] = { 0, 1, -1, 0.25f }, rm[4] = { 0 }, rv[4] = { 1, 1, 1, 1 };
	float mean[4], rstd[4];
	double m, v, err = 0;

	gc_fill(x, M * C, 3, &rng);
	mm_batchnorm_forward(y, mean, rstd, x, g, b, rm, rv, M, C, 1, 0);
	nhwc_to_nchw(xc, x, N, C, HW);
	nhwc_to_nchw(yc, y, N, C, HW);
	for (c = 0; c < C; c++) {
		m = v = 0;
		for (n = 0; n < N; n++)
			for (p = 0; p < HW; p++)
				m += xc[(n * C + c) * HW + p];
		m /= M;
		for (n = 0; n < N; n++)
			for (p = 0; p < HW; p++)
				v += pow(xc[(n * C + c) * HW + p] - m, 2);
		v /= M;
		for (n = 0; n < N; n++)
			for (p = 0; p < HW; p++) {
				double want = (xc[(n * C + c) * HW + p] - m) /
				    sqrt(v + 1e-5) * g[c] + b[c];
				err = fmax(err, fabs(yc[(n * C + c) * HW + p] -
				    want));
			}
	}
	ok(err < 1e-5, "bn2d on NHWC = per-channel NCHW batch norm (%.2g)", err);
	free(x); free(y); free(xc); free(yc);
}

/* ---- conv ---- */

struct conv_ctx {
	float *out, *x, *w, *R, *scratch;
	int N, H, W, Cin, Cout, s;
	size_t nout;
};

static double
conv_loss(void *p)
{
	struct conv_ctx *c = p;

	mm_conv3x3_forward(c->out, c->x, c->w, c->N, c->H, c->W, c->Cin,
	    c->Cout, c->s, c->scratch);
	return gc_dot(c->out, c->R, c->nout);
}

static void
test_conv(int N, int H, int W, int Cin, int Cout, int s, int grad)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
	size_t nin = (size_t)N * H * W * Cin, nout = (size_t)N * Ho * Wo * Cout;
	size_t nw = (size_t)Cout * Cin * 9;
	struct conv_ctx c = { gc_alloc(nout), gc_alloc(nin), gc_alloc(nw),
	    gc_alloc(nout), gc_alloc(mm_conv3x3_scratch(H, W, Cin, Cout)), N, H, W,
	    Cin, Cout, s, nout };
	float *xc = gc_alloc(nin), *refc = gc_alloc(nout), *ref = gc_alloc(nout);
	float *Rc = gc_alloc(nout), *dxc = gc_alloc(nin), *dwref = gc_alloc(nw);
	float *dx = gc_alloc(nin), *dxr = gc_alloc(nin), *dw = gc_alloc(nw);

	gc_fill(c.x, nin, 1, &rng);
	gc_fill(c.w, nw, 1, &rng);
	gc_fill(c.R, nout, 1, &rng);
	conv_loss(&c);
	nhwc_to_nchw(xc, c.x, N, Cin, H * W);
	naive_conv(refc, xc, c.w, N, H, W, Cin, Cout, s);
	mm_nchw_to_nhwc(ref, refc, N, Cout, Ho * Wo);
	ok(gc_maxrel(c.out, ref, nout) < 1e-5, "conv %dx%dx%dx%d->%d s%d: "
	    "forward = naive direct conv (%.2g)", N, H, W, Cin, Cout, s,
	    gc_maxrel(c.out, ref, nout));

	nhwc_to_nchw(Rc, c.R, N, Cout, Ho * Wo);
	naive_conv_back(dxc, dwref, Rc, xc, c.w, N, H, W, Cin, Cout, s);
	mm_nchw_to_nhwc(dxr, dxc, N, Cin, H * W);
	mm_conv3x3_backward(dx, dw, c.R, c.x, c.w, N, H, W, Cin, Cout, s,
	    c.scratch);
	ok(gc_maxrel(dx, dxr, nin) < 1e-5 && gc_maxrel(dw, dwref, nw) < 1e-5,
	    "conv backward = naive (dx %.2g, dw %.2g)", gc_maxrel(dx, dxr, nin),
	    gc_maxrel(dw, dwref, nw));
	if (grad) {
		gcheck("conv dinp", conv_loss, &c, c.x, dx, nin, 60, 1e-2f, 1e-3, 1e-2);
		gcheck("conv dw", conv_loss, &c, c.w, dw, nw, 60, 1e-2f, 1e-3, 1e-2);
		/* dinp NULL still gives dw, and dw accumulates */
		mm_conv3x3_backward(NULL, dw, c.R, c.x, c.w, N, H, W, Cin, Cout,
		    s, c.scratch);
		for (size_t i = 0; i < nw; i++)
			dwref[i] *= 2;
		ok(gc_maxrel(dw, dwref, nw) < 1e-5, "conv backward adds into dw");
	}
	free(c.out); free(c.x); free(c.w); free(c.R); free(c.scratch);
	free(xc); free(refc); free(ref); free(Rc); free(dxc); free(dwref);
	free(dx); free(dxr); free(dw);
}

/* The input gradient of a stride-2 convolution at the current SIMD level
 * (the direct phase kernel where it applies) against the portable path
 * (level 0) and the naive reference, added to a non-zero dinp. */
static void
test_dinput2(int N, int H, int W, int Cin, int Cout)
{
	int Ho = (H - 1) / 2 + 1, Wo = (W - 1) / 2 + 1, level = mm_nn_simd(-1);
	size_t nin = (size_t)N * H * W * Cin, nout = (size_t)N * Ho * Wo * Cout;
	size_t nw = (size_t)Cout * Cin * 9, i;
	float *x = gc_alloc(nin), *w = gc_alloc(nw), *dy = gc_alloc(nout);
	float *d0 = gc_alloc(nin), *d1 = gc_alloc(nin), *d2 = gc_alloc(nin);
	float *dw = gc_alloc(nw), *xc = gc_alloc(nin), *dyc = gc_alloc(nout);
	float *dxc = gc_alloc(nin), *dr = gc_alloc(nin);
	float *scr = gc_alloc(mm_conv3x3_scratch(H, W, Cin, Cout));
	double e1, e2;

	gc_fill(x, nin, 1, &rng);
	gc_fill(w, nw, 0.3f, &rng);
	gc_fill(dy, nout, 1, &rng);
	gc_fill(d0, nin, 1, &rng);
	memcpy(d1, d0, nin * sizeof *d0);
	memcpy(d2, d0, nin * sizeof *d0);
	mm_conv3x3_backward(d1, dw, dy, x, w, N, H, W, Cin, Cout, 2, scr);
	mm_nn_simd(0);
	mm_conv3x3_backward(d2, dw, dy, x, w, N, H, W, Cin, Cout, 2, scr);
	mm_nn_simd(level);
	nhwc_to_nchw(xc, x, N, Cin, H * W);
	nhwc_to_nchw(dyc, dy, N, Cout, Ho * Wo);
	naive_conv_back(dxc, dw, dyc, xc, w, N, H, W, Cin, Cout, 2);
	mm_nchw_to_nhwc(dr, dxc, N, Cin, H * W);
	for (i = 0; i < nin; i++)
		dr[i] += d0[i];
	e1 = gc_maxrel(d1, d2, nin);
	e2 = gc_maxrel(d1, dr, nin);
	ok(e1 < 1e-5 && e2 < 1e-5, "stride-2 input gradient %dx%dx%dx%d->%d "
	    "added to dinp = portable path (%.2g) = naive (%.2g)", N, H, W,
	    Cin, Cout, e1, e2);
	free(x); free(w); free(dy); free(d0); free(d1); free(d2); free(dw);
	free(xc); free(dyc); free(dxc); free(dr); free(scr);
}

/* ---- shortcut, pooling, layout ---- */

static void
test_shortcut(void)
{
	int N = 2, H = 5, W = 6, Cin = 3, Cout = 7, s = 2;
	int Ho = 3, Wo = 3, n, y, x, c, good = 1;
	size_t nin = (size_t)N * H * W * Cin, nout = (size_t)N * Ho * Wo * Cout;
	float *in = gc_alloc(nin), *out = gc_alloc(nin), *g = gc_alloc(nout);
	float *din = gc_alloc(nin);

	gc_fill(in, nin, 1, &rng);
	gc_fill(g, nout, 1, &rng);
	mm_shortcut_forward(out, in, N, H, W, Cin, Cout, s);
	for (n = 0; n < N; n++)
		for (y = 0; y < Ho; y++)
			for (x = 0; x < Wo; x++)
				for (c = 0; c < Cout; c++) {
					float v = out[((n * Ho + y) * Wo + x) * Cout + c];
					int ci = c - 2;   /* pad (7 - 3) / 2 */
					float want = ci >= 0 && ci < Cin ?
					    in[((n * H + 2 * y) * W + 2 * x) * Cin + ci] : 0;
					good &= v == want;
				}
	ok(good, "shortcut: stride-2 subsample, channels centred in zeros");
	mm_shortcut_backward(din, g, N, H, W, Cin, Cout, s);
	ok(fabs(gc_dot(out, g, nout) - gc_dot(in, din, nin)) < 1e-5,
	    "shortcut backward is the adjoint");
	memset(out, 0, nout * sizeof *out);
	mm_shortcut_forward(out, in, N, H, W, Cin, Cin, 1);
	ok(gc_maxabs(out, in, nin) == 0, "shortcut stride 1 is the identity");
	free(in); free(out); free(g); free(din);
}

static void
test_pool_layout(void)
{
	int N = 3, HW = 10, C = 4, n, p, c;
	float *in = gc_alloc(N * HW * C), *out = gc_alloc(N * C);
	float *g = gc_alloc(N * C), *din = gc_alloc(N * HW * C);
	float *t = gc_alloc(N * HW * C);
	double err = 0, s;

	gc_fill(in, N * HW * C, 1, &rng);
	gc_fill(g, N * C, 1, &rng);
	mm_avgpool_forward(out, in, N, HW, C);
	for (n = 0; n < N; n++)
		for (c = 0; c < C; c++) {
			for (s = 0, p = 0; p < HW; p++)
				s += in[(n * HW + p) * C + c];
			err = fmax(err, fabs(s / HW - out[n * C + c]));
		}
	ok(err < 1e-6, "avgpool forward = mean over H*W");
	mm_avgpool_backward(din, g, N, HW, C);
	ok(fabs(gc_dot(out, g, N * C) - gc_dot(in, din, N * HW * C)) < 1e-5,
	    "avgpool backward is the adjoint");
	/* NCHW (C = 4, HW = 10) -> NHWC -> NCHW round trip */
	mm_nchw_to_nhwc(t, in, N, C, HW);
	ok(t[((1 * HW + 7) * C) + 2] == in[(1 * C + 2) * HW + 7],
	    "nchw_to_nhwc places (n, c, p) at (n, p, c)");
	nhwc_to_nchw(din, t, N, C, HW);
	ok(gc_maxabs(din, in, N * HW * C) == 0, "layout round trip");
	free(in); free(out); free(g); free(din); free(t);
}

/* ---- L2 normalisation ---- */

struct l2_ctx {
	float *out, *norm, *x, *R;
	int N, D;
};

static double
l2_loss(void *p)
{
	struct l2_ctx *c = p;

	mm_l2norm_forward(c->out, c->norm, c->x, c->N, c->D);
	return gc_dot(c->out, c->R, (size_t)c->N * c->D);
}

static void
test_l2(void)
{
	int N = 4, D = 6, n, good = 1;
	struct l2_ctx c = { gc_alloc(N * D), gc_alloc(N), gc_alloc(N * D),
	    gc_alloc(N * D), N, D };
	float *dx = gc_alloc(N * D);

	gc_fill(c.x, N * D, 2, &rng);
	gc_fill(c.R, N * D, 1, &rng);
	l2_loss(&c);
	for (n = 0; n < N; n++)
		good &= fabs(gc_dot(c.out + n * D, c.out + n * D, D) - 1) < 1e-6;
	ok(good, "l2norm rows have unit norm");
	mm_l2norm_backward(dx, c.R, c.out, c.norm, N, D);
	gcheck("l2norm", l2_loss, &c, c.x, dx, N * D, 100, 1e-3f, 1e-4, 1e-3);
	free(c.out); free(c.norm); free(c.x); free(c.R); free(dx);
}

/* The column-block path of the backward (C past the lanes, rows ld
 * apart: mm_batchnorm_backward on more than 256 channels) at every SIMD
 * level: bit for bit the portable level, and a dy of inf or NaN where
 * the fused ReLU's out <= 0 is masked by selection (counts as 0), so
 * every gradient stays finite. */
static void
test_bn_cols(size_t M, int C, int top)
{
	size_t n = M * C, i;
	float *x = gc_alloc(n), *dy = gc_alloc(n), *out = gc_alloc(n);
	float *mean = gc_alloc(C), *rstd = gc_alloc(C), *gam = gc_alloc(C);
	float *dx[3], *dg[3], *db[3];
	int l, c, same = 1, fin = 1, edges = 0;

	gc_fill(x, n, 2, &rng);
	gc_fill(dy, n, 1, &rng);
	gc_fill(out, n, 1, &rng);
	gc_fill(mean, C, 0.5f, &rng);
	gc_fill(gam, C, 1, &rng);
	for (c = 0; c < C; c++)
		rstd[c] = 0.5f + (float)c / C;
	for (i = 0; i < n; i += 7)
		if (out[i] <= 0) {
			dy[i] = i % 2 ? INFINITY : NAN;
			edges++;
		}
	for (l = 0; l <= top; l++) {
		dx[l] = gc_alloc(n);
		dg[l] = calloc(C, sizeof *dg[l]);
		db[l] = calloc(C, sizeof *db[l]);
		mm_nn_simd(l);
		mm_batchnorm_backward(dx[l], dg[l], db[l], dy, out, x, mean,
		    rstd, gam, M, C);
		for (i = 0; i < n; i++)
			fin &= isfinite(dx[l][i]) != 0;
		for (c = 0; c < C; c++)
			fin &= isfinite(dg[l][c]) && isfinite(db[l][c]);
		if (l)
			same &= !memcmp(dx[0], dx[l], n * sizeof *dx[0]) &&
			    !memcmp(dg[0], dg[l], C * sizeof *dg[0]) &&
			    !memcmp(db[0], db[l], C * sizeof *db[0]);
	}
	mm_nn_simd(top);
	ok(same, "bn backward by column blocks %zux%d: levels 1..%d = "
	    "portable, bit for bit", M, C, top);
	ok(fin && edges > 0, "... %d inf/NaN gradients under out <= 0 "
	    "masked by selection: every result finite", edges);
	for (l = 0; l <= top; l++) {
		free(dx[l]);
		free(dg[l]);
		free(db[l]);
	}
	free(x); free(dy); free(out); free(mean); free(rstd); free(gam);
}

/* mm_bn_grad_sum_mask = mm_relu_mask, then mm_bn_grad_sum without out */
static void
test_bn_sum_mask(size_t M, int C)
{
	size_t n = M * C;
	float *g1 = gc_alloc(n), *g2 = gc_alloc(n), *out = gc_alloc(n);
	float *x = gc_alloc(n), *mean = gc_alloc(C), *rstd = gc_alloc(C);
	double *s1 = calloc(4 * C, sizeof *s1), *s2 = s1 + C, *s3 = s2 + C;
	double *s4 = s3 + C, e = 0;
	int c;

	gc_fill(g1, n, 1, &rng);
	memcpy(g2, g1, n * sizeof *g1);
	gc_fill(out, n, 1, &rng);
	gc_fill(x, n, 2, &rng);
	gc_fill(mean, C, 1, &rng);
	for (c = 0; c < C; c++)
		rstd[c] = 0.5f + (float)c / C;
	mm_relu_mask(g1, out, n);
	mm_bn_grad_sum(s1, s2, g1, NULL, x, mean, rstd, M, C);
	mm_bn_grad_sum_mask(s3, s4, g2, out, x, mean, rstd, M, C);
	for (c = 0; c < C; c++)
		e = fmax(e, fmax(fabs(s1[c] - s3[c]), fabs(s2[c] - s4[c])) /
		    (1 + fabs(s1[c]) + fabs(s2[c])));
	ok(!memcmp(g1, g2, n * sizeof *g1) && e < 1e-12, "bn grad sums with "
	    "the ReLU mask applied in place, %zux%d (%.2g)", M, C, e);
	free(g1); free(g2); free(out); free(x); free(mean); free(rstd);
	free(s1);
}

/* mm_bn_gsum_add16 (the input in bf16) in pieces of 3, 250, 1, ... rows
 * at the portable level and at level: the sums of one mm_bn_grad_sum (dy;
 * dy masked by out) or mm_bn_grad_sum_mask (masked in place) on the fp32
 * values of the bf16 input, bit for bit. */
static int
test_bn_lanes16(const float *x, const float *dy, const float *out,
    const float *mean, const float *rstd, size_t M, int C, int level)
{
	size_t n = M * C, i, r, m, cut[] = { 3, 250, 1 };
	uint16_t *h = malloc(n * sizeof *h);
	float *xw = gc_alloc(n), *g[2] = { gc_alloc(n), gc_alloc(n) };
	double *sd = calloc(4 * C, sizeof *sd);
	struct mm_bn_gsum *st = malloc(sizeof *st);
	int same = 1, k, l, v;
	uint32_t b;

	for (i = 0; i < n; i++) {
		memcpy(&b, x + i, sizeof b);
		h[i] = (uint16_t)(b >> 16);     /* a bf16 near x */
		b = (uint32_t)h[i] << 16;
		memcpy(xw + i, &b, sizeof b);
	}
	for (v = 0; v < 2; v++) {
		mm_nn_simd(v ? level : 0);
		for (k = 0; k < 3; k++) {
			memcpy(g[0], dy, n * sizeof *dy);
			memcpy(g[1], dy, n * sizeof *dy);
			if (k == 2)
				mm_bn_grad_sum_mask(sd, sd + C, g[0], out, xw,
				    mean, rstd, M, C);
			else
				mm_bn_grad_sum(sd, sd + C, dy, k ? out : NULL,
				    xw, mean, rstd, M, C);
			mm_bn_gsum_start(st, mean, rstd, C, k == 2);
			for (r = 0, l = 0; r < M; r += m) {
				m = M - r < cut[l % 3] ? M - r : cut[l % 3];
				l++;
				mm_bn_gsum_add16(st, g[1] + r * C, k ? out +
				    r * C : NULL, h + r * C, m * C);
			}
			mm_bn_gsum_end(st, sd + 2 * C, sd + 3 * C);
			same &= !memcmp(sd, sd + 2 * C, 2 * C * sizeof *sd) &&
			    !memcmp(g[0], g[1], n * sizeof *dy);
		}
	}
	mm_nn_simd(level);
	free(h); free(xw); free(g[0]); free(g[1]); free(sd); free(st);
	return same;
}

/* The flat BatchNorm loops of bn-slices.c (bn-kern.h) at the SIMD level
 * in effect: bit-identical to the portable level (same operations, wider
 * vectors), and the sums within float accuracy of sums in double; the
 * streamed gradient sums (mm_bn_gsum_*) in uneven pieces bit-identical
 * to one mm_bn_grad_sum.  M C above 64 chunks of 1024 crosses a fold
 * into double; odd M leaves a short last chunk. */
static void
test_bn_lanes(size_t M, int C)
{
	size_t n = M * C, i, r, cut[] = { 3, 250, 1 };
	float *x = gc_alloc(n), *res = gc_alloc(n), *out = gc_alloc(n);
	float *dy = gc_alloc(n), *y[2], *d[2], *gm[2];
	float *mean = gc_alloc(C), *rstd = gc_alloc(C), *gam = gc_alloc(C);
	float *bet = gc_alloc(C), *coef = gc_alloc(3 * C);
	double *sd = calloc(16 * C, sizeof *sd), e = 0, ref, q, a;
	int level = mm_nn_simd(-1), l, c, k, same = 1, v, sums = 1;
	struct mm_bn_gsum *st = malloc(sizeof *st);

	gc_fill(x, n, 2, &rng);
	gc_fill(res, n, 1, &rng);
	gc_fill(out, n, 1, &rng);
	gc_fill(dy, n, 1, &rng);
	gc_fill(mean, C, 0.5f, &rng);
	gc_fill(gam, C, 1, &rng);
	gc_fill(bet, C, 1, &rng);
	gc_fill(coef, 3 * C, 1, &rng);
	for (c = 0; c < C; c++)
		rstd[c] = 0.5f + (float)c / C;
	for (k = 0; k < 2; k++) {
		y[k] = gc_alloc(n * 4);
		d[k] = gc_alloc(n * 4);
		gm[k] = gc_alloc(n);
	}
	/* k 0: the portable level, 1: the level in effect */
	for (k = 0; k < 2; k++) {
		double *s = sd + k * 8 * C;
		mm_nn_simd(k ? level : 0);
		mm_bn_sum(s, x, NULL, M, C);
		mm_bn_sum(s + C, x, mean, M, C);
		mm_bn_grad_sum(s + 2 * C, s + 3 * C, dy, out, x, mean, rstd,
		    M, C);
		mm_bn_grad_sum(s + 4 * C, s + 5 * C, dy, NULL, x, mean, rstd,
		    M, C);
		memcpy(gm[k], dy, n * sizeof *dy);
		mm_bn_grad_sum_mask(s + 6 * C, s + 7 * C, gm[k], out, x, mean,
		    rstd, M, C);
		for (v = 0; v < 4; v++) {
			mm_bn_apply(y[k] + v * n, x, v & 1 ? res : NULL, mean,
			    rstd, gam, bet, M, C, v >> 1);
			memcpy(d[k] + v * n, res, n * sizeof *res);
			mm_bn_grad_apply(d[k] + v * n, dy, v & 1 ? out : NULL,
			    x, coef, M, C, v >> 1);
		}
	}
	mm_nn_simd(level);
	same = !memcmp(sd, sd + 8 * C, 8 * C * sizeof *sd) &&
	    !memcmp(y[0], y[1], 4 * n * sizeof *y[0]) &&
	    !memcmp(d[0], d[1], 4 * n * sizeof *d[0]) &&
	    !memcmp(gm[0], gm[1], n * sizeof *gm[0]);
	ok(same, "bn lane loops %zux%d at level %d = portable level, bit for "
	    "bit", M, C, level);
	/* the sums against double */
	for (c = 0; c < C; c++) {
		double t[8] = { 0 };
		for (r = 0; r < M; r++) {
			i = r * C + c;
			q = x[i] - mean[c];
			a = out[i] > 0 ? dy[i] : 0;
			t[0] += x[i];
			t[1] += q * q;
			t[2] += a;
			t[3] += a * q * rstd[c];
			t[4] += dy[i];
			t[5] += dy[i] * q * rstd[c];
			t[6] += a;
			t[7] += a * q * rstd[c];
		}
		for (k = 0; k < 8; k++) {
			ref = t[k];
			e = fmax(e, fabs(sd[8 * C + k * C + c] - ref) /
			    (sqrt((double)M) + fabs(ref)));
		}
	}
	ok(e < 1e-5, "... its sums within float accuracy of double (%.2g)",
	    e);
	/* apply against its definition, per element */
	for (e = 0, i = 0; i < n; i++) {
		c = (int)(i % C);
		double sc = (double)rstd[c] * gam[c];
		double b = (double)x[i] * sc + (bet[c] - mean[c] * sc) + res[i];
		e = fmax(e, fabs(y[1][n + i] - b) / (1 + fabs(b)));
		e = fmax(e, fabs(y[1][3 * n + i] - (b > 0 ? b : 0)) /
		    (1 + fabs(b)));
		b = (double)coef[c] * (out[i] > 0 ? dy[i] : 0) +
		    (double)coef[C + c] * x[i] + coef[2 * C + c] + res[i];
		e = fmax(e, fabs(d[1][3 * n + i] - b) / (1 + fabs(b)));
	}
	ok(e < 1e-5, "... apply (+ residual, ReLU) and input gradient (+=, "
	    "mask) per element (%.2g)", e);
	/* streaming: lane widths only (the others are summed by columns) */
	if (MM_BN_LANES % C == 0) {
		/* streamed in pieces of 3, 250, 1, ... rows: dy, dy masked by
		 * out, dy masked in place (into d[0]) */
		memcpy(d[0], dy, n * sizeof *dy);
		for (k = 0; k < 3; k++) {
			const float *o = k ? out : NULL;
			float *g = k == 2 ? d[0] : dy;
			if (!mm_bn_gsum_start(st, mean, rstd, C, k == 2)) {
				sums = 0;
				continue;
			}
			for (r = 0, l = 0; r < M; r += cut[l++ % 3]) {
				size_t m = M - r < cut[l % 3] ? M - r :
				    cut[l % 3];
				mm_bn_gsum_add(st, g + r * C, o ? o + r * C :
				    NULL, x + r * C, m * C);
			}
			mm_bn_gsum_end(st, sd, sd + C);
			sums &= !memcmp(sd, sd + 8 * C + (k == 2 ? 6 : k ?
			    2 : 4) * C, 2 * C * sizeof *sd);
		}
		sums &= !memcmp(d[0], gm[1], n * sizeof *dy);
		ok(sums, "... streamed gradient sums in uneven pieces (dy, "
		    "masked, masked in place) = one call, bit for bit");
		sums = test_bn_lanes16(x, dy, out, mean, rstd, M, C, level);
		ok(sums, "... the same with the input in bf16 (at the portable "
		    "level and %d) = one call on its fp32 values, bit for bit",
		    level);
	}
	ok(!mm_bn_gsum_start(st, mean, rstd, 24, 0), "... no streaming for 24 "
	    "channels (not a divisor of the lanes)");
	for (k = 0; k < 2; k++) {
		free(y[k]); free(d[k]); free(gm[k]);
	}
	free(x); free(res); free(out); free(dy); free(mean); free(rstd);
	free(gam); free(bet); free(coef); free(sd); free(st);
}

/* mm_conv3x3_forward_stats: the output of mm_conv3x3_forward, and the
 * per-channel mean and squared deviations of it in double, also when the
 * samples come in two calls. */
static void
test_conv_stats(int N, int H, int W, int Cin, int Cout, int s)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1, c, n1 = N / 2;
	size_t nout = (size_t)N * Ho * Wo * Cout, nin = (size_t)N * H * W * Cin;
	size_t M = nout / Cout, r;
	float *x = gc_alloc(nin), *w = gc_alloc((size_t)Cout * Cin * 9);
	float *y1 = gc_alloc(nout), *y2 = gc_alloc(nout);
	float *scr = gc_alloc(mm_conv3x3_scratch(H, W, Cin, Cout));
	float *wt = gc_alloc((size_t)Cout * Cin * 9);
	double st[2][128], cnt[2] = { 0, 0 }, m, q, em = 0, eq = 0;

	gc_fill(x, nin, 1, &rng);
	for (r = 0; r < nin; r++)
		x[r] += 0.5f;   /* a mean well away from zero */
	gc_fill(w, (size_t)Cout * Cin * 9, 0.3f, &rng);
	memset(st, 0, sizeof st);
	mm_conv3x3_forward(y1, x, w, N, H, W, Cin, Cout, s, scr);
	mm_conv3x3_forward_stats(y2, st[0], &cnt[0], x, w, NULL, N, H, W,
	    Cin, Cout, s, scr);
	ok(!memcmp(y1, y2, nout * sizeof *y1), "conv %dx%dx%dx%d->%d s%d "
	    "with statistics: same output", N, H, W, Cin, Cout, s);
	/* the second time with the weights prepared by the caller */
	mm_conv3x3_weights(wt, w, Cin, Cout, 0);
	mm_conv3x3_forward_stats(y2, st[1], &cnt[1], x, w, wt, n1, H, W, Cin,
	    Cout, s, scr);
	mm_conv3x3_forward_stats(y2 + n1 * nout / N, st[1], &cnt[1],
	    x + n1 * nin / N, w, wt, N - n1, H, W, Cin, Cout, s, scr);
	/* (bit-identical on the direct path; the sgemm of the portable
	 * path may round rows differently in another partition) */
	ok(gc_maxrel(y2, y1, nout) < 1e-6, "... also in two calls with "
	    "prepared weights (%.2g)", gc_maxrel(y2, y1, nout));
	for (c = 0; c < Cout; c++) {
		for (m = 0, r = 0; r < M; r++)
			m += y1[r * Cout + c];
		m /= M;
		for (q = 0, r = 0; r < M; r++)
			q += (y1[r * Cout + c] - m) * (y1[r * Cout + c] - m);
		for (int k = 0; k < 2; k++) {
			em = fmax(em, fabs(st[k][c] - m) / sqrt(q / M));
			eq = fmax(eq, fabs(st[k][Cout + c] - q) / q);
		}
	}
	ok(cnt[0] == M && cnt[1] == M && em < 1e-6 && eq < 1e-6,
	    "... mean (%.2g of a std) and squared deviations (%.2g) = double "
	    "sums, in one call or two", em, eq);
	free(x); free(w); free(y1); free(y2); free(scr); free(wt);
}

/* mm_conv3x3_forward_bn against its definition: mm_bn_apply() into a
 * buffer, then mm_conv3x3_forward_stats() (train) or mm_conv3x3_forward(),
 * bit for bit, with and without a shortcut; the input holds NaN, +-inf,
 * -0 and values whose BatchNorm output is exactly 0. */
static void
test_conv_fwd_bn(int N, int H, int W, int Cin, int Cout, int s)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1, c, k, train, res;
	size_t nout = (size_t)N * Ho * Wo * Cout, nin = (size_t)N * H * W * Cin;
	size_t nw = (size_t)Cout * Cin * 9, M = (size_t)N * H * W;
	float *x = gc_alloc(nin), *r = gc_alloc(nin), *w = gc_alloc(nw);
	float *p1 = gc_alloc(nin), *p2 = gc_alloc(nin), *wt = gc_alloc(nw);
	float *y1 = gc_alloc(nout), *y2 = gc_alloc(nout);
	float *scr = gc_alloc(mm_conv3x3_scratch(H, W, Cin, Cout));
	float mean[64], rstd[64], gam[64], bet[64];
	double st[2][128], cnt[2];
	struct mm_bn_relu b;
	int same;

	gc_fill(x, nin, 2, &rng);
	gc_fill(r, nin, 1, &rng);
	gc_fill(w, nw, 0.3f, &rng);
	gc_fill(mean, Cin, 0.5f, &rng);
	gc_fill(gam, Cin, 1, &rng);
	gc_fill(bet, Cin, 0.5f, &rng);
	for (c = 0; c < Cin; c++)
		rstd[c] = 0.5f + mm_rng_uniform(&rng);
	x[1] = NAN;
	x[nin / 2] = INFINITY;
	x[nin - 1] = -INFINITY;
	x[Cin + 2] = -0.0f;
	/* max(x sc + sh, 0) exactly 0: x = mean, beta 0 */
	bet[3] = 0;
	x[2 * Cin + 3] = mean[3];
	mm_conv3x3_weights(wt, w, Cin, Cout, 0);
	for (k = 0; k < 4; k++) {
		train = k & 1;
		res = k >> 1;
		mm_bn_apply(p1, x, res ? r : NULL, mean, rstd, gam, bet, M, Cin,
		    1);
		memset(st, 0, sizeof st);
		cnt[0] = cnt[1] = 0;
		if (train)
			mm_conv3x3_forward_stats(y1, st[0], &cnt[0], p1, w, NULL,
			    N, H, W, Cin, Cout, s, scr);
		else
			mm_conv3x3_forward(y1, p1, w, N, H, W, Cin, Cout, s, scr);
		b = (struct mm_bn_relu){ mean, rstd, gam, bet, res ? r : NULL,
		    p2 };
		memset(p2, 0xff, nin * sizeof *p2);
		memset(y2, 0xff, nout * sizeof *y2);
		mm_conv3x3_forward_bn(y2, train ? st[1] : NULL, &cnt[1], x, &b,
		    w, train ? wt : NULL, N, H, W, Cin, Cout, s, scr);
		same = !memcmp(y1, y2, nout * sizeof *y1) &&
		    !memcmp(st[0], st[1], sizeof st[0]) && cnt[0] == cnt[1];
		ok(same, "conv of a ReLU-BatchNorm output %dx%dx%dx%d->%d s%d "
		    "%s%s, formed while padding: the output%s of the apply "
		    "pass and the convolution, bit for bit", N, H, W, Cin, Cout,
		    s, train ? "train" : "eval", res ? " + shortcut" : "",
		    train ? " and statistics" : "");
		ok(!memcmp(p1, p2, nin * sizeof *p1), "... and stores the apply "
		    "pass's output");
	}
	free(x); free(r); free(w); free(p1); free(p2); free(wt); free(y1);
	free(y2); free(scr);
}

/* mm_conv3x3_backward_bn against its definition: mm_bn_grad_apply into a
 * buffer, then mm_conv3x3_backward. */
static void
test_conv_bn(int N, int H, int W, int Cin, int Cout, int s, int relu)
{
	int Ho = (H - 1) / s + 1, Wo = (W - 1) / s + 1;
	size_t nout = (size_t)N * Ho * Wo * Cout, nin = (size_t)N * H * W * Cin;
	size_t nw = (size_t)Cout * Cin * 9, i;
	float *dy = gc_alloc(nout), *out = gc_alloc(nout), *pre = gc_alloc(nout);
	float *coef = gc_alloc(3 * Cout), *x = gc_alloc(nin), *w = gc_alloc(nw);
	float *tmp = gc_alloc(nout), *d0 = gc_alloc(nin);
	float *dx1 = gc_alloc(nin), *dx2 = gc_alloc(nin), *dx3 = gc_alloc(nin);
	float *dw1 = gc_alloc(nw), *dw2 = gc_alloc(nw), *dw3 = gc_alloc(nw);
	float *dw0 = gc_alloc(nw), *wt = gc_alloc(nw), *scr = gc_alloc(mm_conv3x3_scratch(H, W, Cin, Cout));

	gc_fill(dy, nout, 1, &rng);
	gc_fill(out, nout, 1, &rng);
	gc_fill(pre, nout, 2, &rng);
	gc_fill(coef, 3 * Cout, 1, &rng);
	gc_fill(x, nin, 1, &rng);
	gc_fill(w, nw, 0.3f, &rng);
	gc_fill(d0, nin, 1, &rng);
	gc_fill(dw0, nw, 1, &rng);
	memcpy(dw1, dw0, nw * sizeof *dw1);
	memcpy(dw2, dw1, nw * sizeof *dw1);
	memcpy(dw3, dw1, nw * sizeof *dw1);
	memcpy(dx1, d0, nin * sizeof *d0);
	memcpy(dx2, d0, nin * sizeof *d0);
	mm_bn_grad_apply(tmp, dy, relu ? out : NULL, pre, coef, nout / Cout,
	    Cout, 0);
	mm_conv3x3_backward(dx1, dw1, tmp, x, w, N, H, W, Cin, Cout, s, scr);
	memset(tmp, 0, nout * sizeof *tmp);
	mm_conv3x3_backward_bn(dx2, 1, dw2, dy, relu ? out : NULL, NULL, pre,
	    coef, x, NULL, w, NULL, N, H, W, Cin, Cout, s, scr, tmp);
	for (i = 0; i < nin; i++)
		dx3[i] = -7;    /* overwritten */
	mm_conv3x3_weights(wt, w, Cin, Cout, 1);   /* prepared by the caller */
	mm_conv3x3_backward_bn(dx3, 0, dw3, dy, relu ? out : NULL, NULL, pre,
	    coef, x, NULL, w, wt, N, H, W, Cin, Cout, s, scr, tmp);
	for (i = 0; i < nin; i++)
		dx3[i] += d0[i];
	ok(gc_maxrel(dx2, dx1, nin) < 1e-6 && gc_maxrel(dx3, dx1, nin) < 1e-5 &&
	    gc_maxrel(dw2, dw1, nw) < 1e-6,
	    "conv+bn backward %dx%dx%dx%d->%d s%d relu %d = bn then conv "
	    "(dx %.2g, %.2g, dw %.2g)", N, H, W, Cin, Cout, s, relu,
	    gc_maxrel(dx2, dx1, nin), gc_maxrel(dx3, dx1, nin),
	    gc_maxrel(dw2, dw1, nw));
	mm_conv3x3_backward_bn(NULL, 0, dw3, dy, relu ? out : NULL, NULL, pre,
	    coef, x, NULL, w, NULL, N, H, W, Cin, Cout, s, scr, tmp);
	for (i = 0; i < nw; i++)
		dw3[i] -= dw1[i] - dw0[i];      /* one more gradient added */
	ok(gc_maxrel(dw3, dw1, nw) < 1e-5, "conv+bn backward without dinp "
	    "adds the weight gradient (%.2g)", gc_maxrel(dw3, dw1, nw));
	/* with the layer below's gradient sums fed sample by sample: the
	 * same dx and dw, and the sums of one mm_bn_grad_sum over dx */
	struct mm_bn_gsum *gs = malloc(sizeof *gs);
	float *gout = gc_alloc(nin), *gpre = gc_alloc(nin);
	float *gmu = gc_alloc(Cin), *grs = gc_alloc(Cin);
	double *sums = calloc(4 * Cin, sizeof *sums);
	gc_fill(gout, nin, 1, &rng);
	gc_fill(gpre, nin, 2, &rng);
	gc_fill(gmu, Cin, 0.5f, &rng);
	gc_fill(grs, Cin, 1, &rng);
	if (mm_bn_gsum_start(gs, gmu, grs, Cin, 0)) {
		memcpy(dx3, d0, nin * sizeof *d0);
		memcpy(dw3, dw0, nw * sizeof *dw0);
		mm_conv3x3_backward_bn_gsum(dx3, 1, dw3, dy, relu ? out : NULL,
		    NULL, pre, coef, x, NULL, w, NULL, N, H, W, Cin, Cout, s,
		    scr, tmp, gs, relu ? gout : NULL, gpre);
		mm_bn_gsum_end(gs, sums, sums + Cin);
		mm_bn_grad_sum(sums + 2 * Cin, sums + 3 * Cin, dx2, relu ?
		    gout : NULL, gpre, gmu, grs, nin / Cin, Cin);
		ok(!memcmp(dx3, dx2, nin * sizeof *dx2) && !memcmp(dw3, dw2,
		    nw * sizeof *dw2) && !memcmp(sums, sums + 2 * Cin,
		    2 * Cin * sizeof *sums), "... with the sums of the layer "
		    "below sample by sample: dx, dw and sums bit for bit");
	}
	/* a formed ReLU output (obn) and a formed input (ibn) give the bits
	 * of the stored tensors they replace */
	if (relu && mm_conv3x3_bn_direct(Cin, Cout, s) &&
	    mm_bn_gsum_start(gs, gmu, grs, Cin, 0)) {
		float *p1 = gc_alloc(4 * Cout), *p2 = gc_alloc(4 * Cin);
		float *fo = gc_alloc(nout), *fx = gc_alloc(nin);
		struct mm_bn_relu ob = { p1, p1 + Cout, p1 + 2 * Cout,
		    p1 + 3 * Cout, NULL, NULL };
		struct mm_bn_relu ib = { p2, p2 + Cin, p2 + 2 * Cin,
		    p2 + 3 * Cin, NULL, NULL };
		double *s2 = calloc(2 * Cin, sizeof *s2);
		gc_fill(p1, 4 * Cout, 1, &rng);
		gc_fill(p2, 4 * Cin, 1, &rng);
		for (i = 0; i < (size_t)Cout; i++)
			p1[Cout + i] = fabsf(p1[Cout + i]) + 0.5f;
		for (i = 0; i < (size_t)Cin; i++)
			p2[Cin + i] = fabsf(p2[Cin + i]) + 0.5f;
		/* the stored tensors: fo from pre, fx from gpre */
		mm_bn_apply(fo, pre, NULL, ob.mean, ob.rstd, ob.gamma, ob.beta,
		    nout / Cout, Cout, 1);
		mm_bn_apply(fx, gpre, NULL, ib.mean, ib.rstd, ib.gamma, ib.beta,
		    nin / Cin, Cin, 1);
		memcpy(dx2, d0, nin * sizeof *d0);
		memcpy(dw2, dw0, nw * sizeof *dw0);
		mm_conv3x3_backward_bn_gsum(dx2, 1, dw2, dy, fo, NULL, pre,
		    coef, fx, NULL, w, NULL, N, H, W, Cin, Cout, s, scr, tmp, gs,
		    fx, gpre);
		mm_bn_gsum_end(gs, sums, sums + Cin);
		mm_bn_gsum_start(gs, gmu, grs, Cin, 0);
		memcpy(dx3, d0, nin * sizeof *d0);
		memcpy(dw3, dw0, nw * sizeof *dw0);
		mm_conv3x3_backward_bn_gsum(dx3, 1, dw3, dy, out, &ob, pre,
		    coef, gpre, &ib, w, NULL, N, H, W, Cin, Cout, s, scr, tmp,
		    gs, gout, gpre);
		mm_bn_gsum_end(gs, s2, s2 + Cin);
		ok(!memcmp(dx3, dx2, nin * sizeof *dx2) && !memcmp(dw3, dw2,
		    nw * sizeof *dw2) && !memcmp(s2, sums, 2 * Cin *
		    sizeof *s2), "... with its ReLU output and its input "
		    "formed from their BatchNorm inputs: dx, dw and sums bit "
		    "for bit");
		memcpy(dw2, dw0, nw * sizeof *dw0);
		mm_conv3x3_backward_bn(dx2, 0, dw2, dy, fo, NULL, pre, coef, fx,
		    NULL, w, NULL, N, H, W, Cin, Cout, s, scr, tmp);
		memcpy(dw3, dw0, nw * sizeof *dw0);
		mm_conv3x3_backward_bn(dx3, 0, dw3, dy, out, &ob, pre, coef,
		    gpre, &ib, w, NULL, N, H, W, Cin, Cout, s, scr, tmp);
		ok(!memcmp(dx3, dx2, nin * sizeof *dx2) && !memcmp(dw3, dw2,
		    nw * sizeof *dw2), "... and without the sums");
		free(p1); free(p2); free(fo); free(fx); free(s2);
	}
	free(gs); free(gout); free(gpre); free(gmu); free(grs); free(sums);
	free(dy); free(out); free(pre); free(coef); free(x); free(w);
	free(tmp); free(d0); free(dx1); free(dx2); free(dx3); free(dw1);
	free(dw2); free(dw3); free(dw0); free(wt); free(scr);
}

int
main(void)
{
	struct mm_rng keep;
	int level, top;

	mm_rng_seed(&rng, 42);
	test_linear();
	test_gemm_pool();
	test_relu();
	test_bn(16, 5, 0);
	test_bn(33, 3, 1);
	test_bn(300, 70, 0);     /* more than one channel block */
	test_bn(300, 70, 1);
	test_bn2d();
	keep = rng;
	test_bn_sum_mask(5000, 16);
	test_bn_sum_mask(300, 70);
	top = mm_nn_simd(-1);
	for (level = top; level >= 1; level--) {
		mm_nn_simd(level);
		test_bn_lanes(5001, 16);        /* over a fold, short tail */
		test_bn_lanes(97, 32);
		test_bn_lanes(33, 64);
		test_bn_lanes(7, 256);
		test_bn_lanes(41, 100);         /* not a lane width: by blocks */
	}
	mm_nn_simd(top);
	test_bn_cols(37, 300, top);     /* blocks of 256 + 44, ld 300 */
	test_bn_cols(5, 2048, top);
	rng = keep;
	test_conv(2, 6, 7, 3, 4, 1, 1);
	test_conv(2, 7, 6, 2, 5, 2, 1);
	test_conv(1, 5, 5, 1, 3, 2, 1);
	/* several im2col chunks, crossing image boundaries */
	test_conv(3, 17, 17, 5, 8, 1, 0);
	test_conv(3, 33, 31, 16, 32, 2, 0);
	/* the direct kernels (16, 32 or 64 output channels, stride 1 or 2;
	 * input gradients of that many channels, stride 1 or 2; rows of 10-,
	 * 8-, 6- or 4-pixel blocks and shorter tails),
	 * then the same shapes on the portable path; the tests after these
	 * keep the random data they had before these were added */
	keep = rng;
	top = mm_nn_simd(-1);
	for (level = top; level >= 0; level--) {
		mm_nn_simd(level);
		diag("direct kernels: %s", level == 2 ? "AVX-512" :
		    level == 1 ? "AVX2" : "off (portable path)");
		test_conv(2, 9, 11, 16, 16, 1, 1);
		test_conv(1, 3, 20, 16, 16, 1, 1);    /* AVX2: 10-pixel */
		test_conv(2, 3, 44, 8, 16, 1, 0);     /* blocks, then 4 */
		test_conv(1, 4, 8, 24, 16, 1, 0);     /* dw: 6 inputs x 4 */
		test_conv(2, 8, 17, 3, 16, 1, 0);
		test_conv(1, 5, 4, 16, 8, 1, 0);
		test_conv(3, 16, 16, 16, 16, 1, 0);
		test_conv(2, 7, 8, 16, 16, 1, 1);     /* 2-row blocks, odd H */
		test_conv(1, 5, 16, 3, 16, 1, 0);
		test_conv(2, 6, 7, 1, 16, 1, 1);      /* few input channels */
		test_conv(2, 5, 9, 2, 16, 1, 0);
		test_conv(2, 6, 10, 8, 32, 1, 0);     /* 32 and 64 channels */
		test_conv(1, 5, 6, 32, 8, 1, 0);
		test_conv(2, 5, 7, 16, 64, 1, 0);
		test_conv(1, 4, 6, 64, 16, 1, 0);
		test_conv(1, 4, 5, 32, 32, 1, 1);
		test_conv(1, 6, 9, 64, 64, 1, 0);     /* input channels in */
		test_conv(1, 5, 5, 40, 64, 1, 0);     /* blocks of 16 */
		test_conv(2, 5, 8, 32, 32, 1, 1);     /* 32 and 64 channels */
		test_conv(1, 3, 16, 8, 32, 1, 0);     /* in rows of whole */
		test_conv(2, 4, 8, 64, 64, 1, 1);     /* blocks (the taps of */
		test_conv(1, 5, 4, 40, 64, 1, 0);     /* a row share each */
		test_conv(2, 6, 8, 32, 16, 1, 0);     /* broadcast); dinput */
		test_conv(1, 3, 12, 64, 8, 1, 0);     /* of 32 and 64 */
		test_conv(2, 7, 6, 16, 16, 2, 1);     /* stride 2 */
		test_conv(2, 8, 8, 16, 32, 2, 0);
		test_conv(1, 9, 19, 8, 32, 2, 0);
		test_conv(2, 8, 9, 32, 64, 2, 0);
		test_conv_stats(3, 9, 11, 16, 16, 1);
		test_conv_stats(3, 8, 8, 16, 32, 2);
		test_conv_stats(2, 5, 6, 3, 8, 1);
		test_conv_fwd_bn(2, 9, 11, 16, 16, 1);
		test_conv_fwd_bn(2, 6, 16, 16, 16, 1); /* 2-row blocks */
		test_conv_fwd_bn(1, 3, 24, 16, 16, 1); /* 10-pixel blocks */
		test_conv_fwd_bn(2, 8, 8, 16, 32, 2);
		test_conv_fwd_bn(1, 6, 9, 32, 64, 1);
		test_conv_fwd_bn(2, 7, 6, 64, 16, 2);
		test_conv_fwd_bn(1, 5, 7, 64, 64, 1);
		test_conv_fwd_bn(2, 6, 10, 8, 32, 1);  /* apply pass first */
		test_conv_fwd_bn(2, 6, 8, 32, 32, 1);  /* whole blocks */
		test_conv_fwd_bn(1, 5, 4, 64, 64, 1);
		test_conv_bn(2, 9, 11, 16, 16, 1, 1);
		test_conv_bn(2, 6, 5, 32, 32, 1, 0);
		test_conv_bn(1, 5, 6, 64, 64, 1, 1);
		test_conv_bn(2, 8, 7, 16, 32, 2, 1);
		test_conv_bn(2, 8, 8, 3, 16, 1, 1);
		test_conv_bn(2, 7, 9, 32, 64, 2, 0);
		test_conv_bn(2, 5, 8, 32, 32, 1, 1);   /* whole blocks */
		test_conv_bn(1, 4, 8, 64, 64, 1, 0);
		/* the stride-2 input gradient: even and odd sizes, rows
		 * shorter and longer than a pixel block */
		test_dinput2(2, 8, 8, 16, 32);
		test_dinput2(2, 7, 9, 16, 16);
		test_dinput2(1, 32, 33, 32, 64);
		test_dinput2(2, 11, 20, 64, 16);
		test_dinput2(1, 3, 2, 16, 8);
	}
	mm_nn_simd(top);        /* back to the best the CPU has */
	rng = keep;
	test_shortcut();
	test_pool_layout();
	test_l2();
	return done_testing();
}
