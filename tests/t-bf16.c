/*
 * t-bf16.c - the bf16 product (gemm-bf16.h) and the bf16 precision of the
 * encoders.
 *
 * Tolerances: against the reference (same rounding, same order of every
 * sum) the AVX512-BF16 kernel must give the same bits when this CPU's
 * vdpbf16ps adds its two products as gemm-bf16.h says (checked first on
 * random single pairs); otherwise within fp32 rounding of the sums,
 * 2 K 2^-24 sum |a b|.  Against the fp32 product (cblas_sgemm) each
 * element must be within (2^-7 + 2 K 2^-24) sum_k |a_k b_k|: rounding
 * both inputs to 8 significant bits moves a product by at most
 * (2 2^-8 + 2^-16) |a b|, and each fp32 sum adds at most K 2^-24 sum |a b|.
 * Both kinds of kernel (mm_bf16_kernel()) run every check; the FMA kind
 * must give the reference's bits whatever the CPU's vdpbf16ps does.
 * Without AVX512-BF16 the kernel tests are skipped (with the reason) and
 * the refusals are checked instead.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "encoder.h"
#include "err.h"
#include "gemm-bf16.h"
#include "nn.h"
#include "pool.h"
#include "rng.h"
#include "tap.h"
#include "util-bf16.h"

static struct mm_rng rng;

static void
fill(float *x, size_t n, float scale)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (2 * mm_rng_float(&rng) - 1) * scale;
}

/* op(X)(r, k) of X stored (R, K) (t = 0) or (K, R) (t = 1) */
static float
at(const float *X, int ld, int t, int r, int k)
{
	return t ? X[(size_t)k * ld + r] : X[(size_t)r * ld + k];
}

static void
test_round(void)
{
	is_int(mm_bf16_round(1.0f), 0x3f80, "round 1");
	is_int(mm_bf16_round(-2.0f), 0xc000, "round -2");
	/* 1 + 2^-8 is halfway between 0x3f80 and 0x3f81: to even */
	is_int(mm_bf16_round(1.00390625f), 0x3f80, "tie to even (down)");
	is_int(mm_bf16_round(1.01171875f), 0x3f82, "tie to even (up)");
	is_int(mm_bf16_round(1.0040f), 0x3f81, "above the tie rounds up");
	is_int(mm_bf16_round(FLT_MAX), 0x7f80, "FLT_MAX rounds to inf");
	is_int(mm_bf16_round(-INFINITY), 0xff80, "-inf");
	is_int(mm_bf16_round(NAN), 0x7fc0, "NaN -> 0x7fc0");
	ok(mm_bf16_float(0x3f81) == 1.0078125f, "bf16 -> fp32");
}

/* One shape in every transposition and three betas. */
static void
test_shape(int M, int N, int K, int pad, int exact)
{
	int ta, tb, bi, i, j, k;
	static const float betas[3] = { 0, 1, 0.5f };

	for (ta = 0; ta < 2; ta++)
		for (tb = 0; tb < 2; tb++) {
			int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad;
			int ldc = N + pad;
			size_t na = (size_t)(ta ? K : M) * lda;
			size_t nb = (size_t)(tb ? N : K) * ldb;
			size_t nc = (size_t)M * ldc;
			float *A = malloc((na + 1) * sizeof *A);
			float *B = malloc((nb + 1) * sizeof *B);
			float *C0 = malloc((nc + 1) * sizeof *C0);
			float *C = malloc((nc + 1) * sizeof *C);
			float *R = malloc((nc + 1) * sizeof *R);
			float *S = malloc((nc + 1) * sizeof *S);
			fill(A, na, 1);
			fill(B, nb, 1);
			fill(C0, nc, 1);
			for (bi = 0; bi < 3; bi++) {
				float beta = betas[bi];
				double worst = 0, wref = 0;
				int bad = 0, same, rc, nan = 0;
				memcpy(C, C0, nc * sizeof *C);
				if (beta == 0)
					for (i = 0; i < (int)nc; i++)
						C[i] = NAN;  /* not read */
				memcpy(R, C, nc * sizeof *R);
				memcpy(S, C0, nc * sizeof *S);
				rc = mm_gemm_bf16(ta, tb, M, N, K, A, lda, B,
				    ldb, beta, C, ldc, NULL);
				mm_gemm_bf16_ref(ta, tb, M, N, K, A, lda, B,
				    ldb, beta, R, ldc);
				cblas_sgemm(CblasRowMajor, ta ? CblasTrans :
				    CblasNoTrans, tb ? CblasTrans :
				    CblasNoTrans, M, N, K, 1, A, lda, B, ldb,
				    beta, S, ldc);
				same = 1;
				for (i = 0; i < M; i++)
					for (j = 0; j < N; j++) {
						size_t o = (size_t)i * ldc + j;
						double s = fabs(beta * C0[o]);
						double e, tol;
						for (k = 0; k < K; k++)
							s += fabs((double)at(A,
							    lda, ta, i, k) * at(B,
							    ldb, !tb, j, k));
						nan += isnan(C[o]);
						if (memcmp(C + o, R + o,
						    sizeof *C))
							same = 0;
						e = fabs(C[o] - R[o]);
						tol = 2.0 * (K + 1) *
						    ldexp(1, -24) * s;
						if (e > wref * tol && tol > 0)
							wref = e / tol;
						if (e > tol)
							bad++;
						e = fabs(C[o] - S[o]);
						tol = (ldexp(1, -7) + 2.0 *
						    (K + 1) * ldexp(1, -24)) *
						    s + 1e-30;
						if (e / tol > worst)
							worst = e / tol;
					}
				if (exact)
					ok(rc == 0 && same, "%dx%dx%d ta %d tb %d "
					    "beta %g: bits of the reference",
					    M, N, K, ta, tb, beta);
				else
					ok(rc == 0 && !bad, "%dx%dx%d ta %d tb %d "
					    "beta %g: reference within fp32 "
					    "rounding (worst %.2f of bound)", M, N,
					    K, ta, tb, beta, wref);
				ok(!nan && worst <= 1, "%dx%dx%d ta %d tb %d "
				    "beta %g: fp32 sgemm within bf16 bound "
				    "(worst %.3f of it)", M, N, K, ta, tb,
				    beta, worst);
			}
			free(A);
			free(B);
			free(C0);
			free(C);
			free(R);
			free(S);
		}
}

/* The Linear layer against the reference products. */
static void
test_linear(int exact)
{
	enum { N = 13, DI = 45, DO = 37 };
	float x[N * DI], w[DO * DI], b[DO], dy[N * DO];
	float y[N * DO], yr[N * DO], dx[N * DI], dxr[N * DI];
	float dw[DO * DI], dwr[DO * DI], db[DO], dbr[DO];
	int i, n, rc, same;

	fill(x, N * DI, 1);
	fill(w, DO * DI, 0.2f);
	fill(b, DO, 0.2f);
	fill(dy, N * DO, 1);
	fill(dx, N * DI, 1);
	fill(dw, DO * DI, 1);
	fill(db, DO, 1);
	memcpy(dxr, dx, sizeof dx);
	memcpy(dwr, dw, sizeof dw);
	memcpy(dbr, db, sizeof db);
	rc = mm_linear_forward_bf16(y, x, w, b, N, DI, DO, NULL);
	rc |= mm_linear_backward_bf16(dx, dw, db, dy, x, w, N, DI, DO, NULL);
	for (n = 0; n < N; n++)
		memcpy(yr + n * DO, b, sizeof b);
	mm_gemm_bf16_ref(0, 1, N, DO, DI, x, DI, w, DI, 1, yr, DO);
	mm_gemm_bf16_ref(0, 0, N, DI, DO, dy, DO, w, DI, 1, dxr, DI);
	mm_gemm_bf16_ref(1, 0, DO, DI, N, dy, DO, x, DI, 1, dwr, DI);
	for (n = 0; n < N; n++)
		for (i = 0; i < DO; i++)
			dbr[i] += dy[n * DO + i];
	same = !memcmp(db, dbr, sizeof db);
	ok(rc == 0 && same, "linear bias gradient is the fp32 sum");
	if (exact) {
		ok(!memcmp(y, yr, sizeof y), "linear forward: bits of the "
		    "reference");
		ok(!memcmp(dx, dxr, sizeof dx), "linear input gradient: bits "
		    "of the reference");
		ok(!memcmp(dw, dwr, sizeof dw), "linear weight gradient: bits "
		    "of the reference");
	} else {
		skip(3, "vdpbf16ps rounds differently here (see above)");
	}
}

/* The encoder precision: refusals, agreement with fp32, determinism. */
static void
test_encoder(void)
{
	enum { B = 24, OUT = 8 };
	struct mm_encoder *f, *h, *r;
	struct mm_rng r1, r2;
	float x[B * 2 * 8 * 8], dy[B * OUT], *g32;
	const float *y32, *y16;
	size_t np, i;
	double ey = 0, my = 0, eg = 0, mg = 0;
	int p, rc;

	fill(x, sizeof x / sizeof *x, 1);
	fill(dy, B * OUT, 1);
	if (mm_encoder_create(&f, "mlp-flatten:40,24", 2, 8, 8, OUT, B) ||
	    mm_encoder_create(&h, "mlp-flatten:40,24", 2, 8, 8, OUT, B) ||
	    mm_encoder_create(&r, "vit:patch=4,dim=8,depth=1,heads=2,mlp=8",
	    1, 8, 8, OUT, B))
		return (void)ok(0, "create: %s", mm_errmsg());
	mm_rng_seed(&r1, 3);
	mm_rng_seed(&r2, 3);
	mm_encoder_init(f, &r1);
	mm_encoder_init(h, &r2);
	rc = mm_encoder_set_precision(r, MM_PREC_BF16);
	ok(rc == MM_EUNSUP && strstr(mm_errmsg(), "no bf16 path"),
	    "vit refuses bf16: %s", mm_errmsg());
	is_int(mm_encoder_precision(r), MM_PREC_FP32, "vit stays fp32");
	ok(mm_encoder_set_precision(h, 7) == MM_EINVAL, "unknown precision");
	ok(mm_precision_parse("bf16", &p) == 0 && p == MM_PREC_BF16 &&
	    mm_precision_parse("fp32", &p) == 0 && p == MM_PREC_FP32 &&
	    mm_precision_parse("fp16", &p) == MM_EINVAL, "precision names");
	is_str(mm_precision_name(MM_PREC_BF16), "bf16", "name of bf16");
	rc = mm_encoder_set_precision(h, MM_PREC_BF16);
	is_int(rc, 0, "mlp-flatten takes bf16");
	is_int(mm_encoder_precision(h), MM_PREC_BF16, "precision is bf16");

	np = mm_encoder_nparams(f);
	g32 = malloc(np * sizeof *g32);
	mm_encoder_zero_grad(f);
	mm_encoder_zero_grad(h);
	y32 = mm_encoder_forward(f, x, B, 1);
	y16 = mm_encoder_forward(h, x, B, 1);
	for (i = 0; i < (size_t)B * OUT; i++) {
		ey += (y16[i] - y32[i]) * (double)(y16[i] - y32[i]);
		my += y32[i] * (double)y32[i];
	}
	mm_encoder_backward(f, dy);
	mm_encoder_backward(h, dy);
	memcpy(g32, mm_encoder_grads(f), np * sizeof *g32);
	for (i = 0; i < np; i++) {
		float g = mm_encoder_grads(h)[i];
		eg += (g - g32[i]) * (double)(g - g32[i]);
		mg += g32[i] * (double)g32[i];
	}
	ey = sqrt(ey / my);
	eg = sqrt(eg / mg);
	/* relative L2 errors: a few 2^-8 through three layers; the
	 * gradients more, since a ReLU whose input changes sign passes or
	 * stops a whole gradient value, and BatchNorm over 24 rows amplifies
	 * (a wrong operand or transposition gives errors near 1) */
	ok(ey <= 0.02 && ey > 0, "bf16 output within 2%% of fp32 (L2, %.2g)",
	    ey);
	ok(eg <= 0.1 && eg > 0, "bf16 gradients within 10%% of fp32 (L2, "
	    "%.2g)", eg);

	/* the same step again: the same bits */
	{
		float *y1 = malloc((size_t)B * OUT * sizeof *y1);
		float *g1 = malloc(np * sizeof *g1);
		memcpy(y1, y16, (size_t)B * OUT * sizeof *y1);
		memcpy(g1, mm_encoder_grads(h), np * sizeof *g1);
		mm_encoder_zero_grad(h);
		y16 = mm_encoder_forward(h, x, B, 1);
		mm_encoder_backward(h, dy);
		/* BatchNorm running statistics moved, outputs of a train
		 * pass do not depend on them */
		ok(!memcmp(y1, y16, (size_t)B * OUT * sizeof *y1) &&
		    !memcmp(g1, mm_encoder_grads(h), np * sizeof *g1),
		    "bf16 step is deterministic");
		/* back to fp32: the fp32 bits */
		mm_encoder_set_precision(h, MM_PREC_FP32);
		mm_encoder_zero_grad(h);
		mm_encoder_zero_grad(f);
		y16 = mm_encoder_forward(h, x, B, 1);
		y32 = mm_encoder_forward(f, x, B, 1);
		mm_encoder_backward(h, dy);
		mm_encoder_backward(f, dy);
		ok(!memcmp(y32, y16, (size_t)B * OUT * sizeof *y1) &&
		    !memcmp(mm_encoder_grads(f), mm_encoder_grads(h),
		    np * sizeof *g1), "back to fp32: fp32 bits");
		free(y1);
		free(g1);
	}
	free(g32);
	mm_encoder_free(f);
	mm_encoder_free(h);
	mm_encoder_free(r);
}

/* Without the kernel: clear refusals. */
static void
test_refusal(void)
{
	struct mm_encoder *h;
	float a = 1, b = 1, c = 0;
	int rc;

	rc = mm_gemm_bf16(0, 0, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1, NULL);
	ok(rc == MM_EUNSUP && strstr(mm_errmsg(), "AVX512-BF16"),
	    "product refused: %s", mm_errmsg());
	if (mm_encoder_create(&h, "mlp:8/4", 3, 1, 1, 4, 4))
		return (void)ok(0, "create: %s", mm_errmsg());
	rc = mm_encoder_set_precision(h, MM_PREC_BF16);
	ok(rc == MM_EUNSUP && strstr(mm_errmsg(), "AVX512-BF16"),
	    "encoder refuses bf16: %s", mm_errmsg());
	is_int(mm_encoder_precision(h), MM_PREC_FP32, "encoder stays fp32");
	mm_encoder_free(h);
}

/* The products cut over a pool: the bits of one mm_gemm_bf16() call for
 * 2 and 3 threads, cut along M (M > N) or N, the Linear layer's three
 * products included; a bad stride refused before any cut. */
static void
test_pool(void)
{
	static const int shapes[][5] = {
		/* M, N, K, ta, tb: each cut into several slices */
		{ 128, 1024, 2048, 0, 1 }, { 128, 2048, 1024, 0, 0 },
		{ 1024, 300, 128, 1, 0 }, { 700, 129, 999, 0, 0 },
	};
	int i, T, rc, S;

	for (i = 0; i < 4; i++) {
		int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
		int ta = shapes[i][3], tb = shapes[i][4];
		size_t each = mm_gemm_bf16_scratch(M, N, K);
		float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K *
		    N * 4), *C = malloc((size_t)M * N * 4), *C2 = malloc(
		    (size_t)M * N * 4);
		char *scr = malloc(3 * each);

		fill(A, (size_t)M * K, 1);
		fill(B, (size_t)K * N, 1);
		fill(C, (size_t)M * N, 1);
		memcpy(C2, C, (size_t)M * N * 4);
		rc = mm_gemm_bf16(ta, tb, M, N, K, A, ta ? M : K, B, tb ? K : N,
		    1, C, N, NULL);
		S = mm_gemm_slices(M, N, K);
		for (T = 2; T <= 3; T++) {
			struct mm_pool *p = mm_pool_new(T);
			float *C3 = malloc((size_t)M * N * 4);

			memcpy(C3, C2, (size_t)M * N * 4);
			rc |= mm_gemm_bf16_pool(p, ta, tb, M, N, K, A, ta ? M :
			    K, B, tb ? K : N, 1, C3, N, T == 2 ? scr : NULL,
			    each);
			ok(rc == 0 && p && S > 1 && !memcmp(C, C3, (size_t)M *
			    N * 4), "bf16 product %dx%dx%d (ta %d, tb %d) in %d "
			    "slices over %d threads: the bits of one call", M, N,
			    K, ta, tb, S, T);
			mm_pool_free(p);
			free(C3);
		}
		free(A), free(B), free(C), free(C2), free(scr);
	}
	{
		struct mm_pool *p = mm_pool_new(2);
		float a[4] = { 0 }, c[4];

		rc = mm_gemm_bf16_pool(p, 1, 0, 1000, 300, 2, a, 999, a, 300, 0,
		    c, 300, NULL, 0);
		ok(rc == MM_EINVAL, "a pooled product with a bad stride: "
		    "refused whole (%s)", mm_errmsg());
		mm_pool_free(p);
	}
	{
		/* the Linear layer: forward and backward pooled */
		enum { N = 128, DI = 640, DO = 1100 };
		size_t each = mm_linear_bf16_scratch(N, DI, DO);
		float *x = malloc(N * DI * 4), *w = malloc(DO * DI * 4);
		float *b = malloc(DO * 4), *dy = malloc(N * DO * 4);
		float *y[2], *dx[2], *dw[2], *db[2];
		char *scr = malloc(2 * each);
		struct mm_pool *p = mm_pool_new(2);
		int k;

		fill(x, N * DI, 1);
		fill(w, DO * DI, 0.2f);
		fill(b, DO, 0.2f);
		fill(dy, N * DO, 1);
		rc = 0;
		for (k = 0; k < 2; k++) {
			y[k] = malloc(N * DO * 4);
			dx[k] = calloc(N * DI, 4);
			dw[k] = calloc(DO * DI, 4);
			db[k] = calloc(DO, 4);
			rc |= mm_linear_forward_bf16_pool(k ? p : NULL, y[k], x,
			    w, b, N, DI, DO, scr, each);
			rc |= mm_linear_backward_bf16_pool(k ? p : NULL, dx[k],
			    dw[k], db[k], dy, x, w, N, DI, DO, scr, each);
		}
		ok(rc == 0 && p && !memcmp(y[0], y[1], N * DO * 4) &&
		    !memcmp(dx[0], dx[1], N * DI * 4) &&
		    !memcmp(dw[0], dw[1], DO * DI * 4) &&
		    !memcmp(db[0], db[1], DO * 4), "bf16 Linear %d x %d -> %d "
		    "over 2 threads: forward, input and weight gradients, the "
		    "bits of one thread", N, DI, DO);
		for (k = 0; k < 2; k++)
			free(y[k]), free(dx[k]), free(dw[k]), free(db[k]);
		free(x), free(w), free(b), free(dy), free(scr);
		mm_pool_free(p);
	}
}

int
main(void)
{
	/* M, N, K, extra stride: edges of MR 12, NR 32, KCP 128 pairs,
	 * MC 120 rows, NC 2048 columns, K odd */
	static const int shapes[][4] = {
		{ 1, 1, 1, 0 }, { 1, 1, 2, 0 }, { 3, 5, 7, 1 },
		{ 12, 32, 16, 0 }, { 13, 33, 17, 3 }, { 11, 31, 255, 0 },
		{ 25, 65, 257, 2 }, { 121, 47, 513, 1 }, { 37, 2085, 33, 0 },
	};
	int i, k, exact;

	mm_rng_seed(&rng, 17);
	test_round();
	if (!mm_bf16_level(-1)) {
		diag("no bf16 kernel: %s", mm_bf16_missing());
		test_refusal();
		ok(mm_bf16_rate() == 0.0, "no bf16 kernel: no bf16 rate");
		skip(1, mm_bf16_missing());
		return done_testing();
	}
	if (!getenv("MMIB_BF16_KERNEL"))
		is_int(mm_bf16_kernel(-1), mm_bf16_rate() < MM_BF16_SLOW ?
		    MM_BF16_FMA : MM_BF16_DP, "the default kernels: %s (vdpbf16ps at %.2f "
		    "times FMA's multiply-adds)", mm_bf16_kernel_name(),
		    mm_bf16_rate());
	mm_bf16_kernel(MM_BF16_DP);
	i = util_bf16_probe(&rng, 4000);
	ok(1, "vdpbf16ps probe: %d of 4000 pairs as the reference", i);
	exact = i == 4000;
	if (!exact)
		diag("this CPU's vdpbf16ps rounds its two additions otherwise; "
		    "comparing with the reference within fp32 rounding");
	/* both kinds of kernel; the FMA kind always rounds as the
	 * reference does */
	for (k = MM_BF16_DP; k <= MM_BF16_FMA; k++) {
		mm_bf16_kernel(k);
		is_int(mm_bf16_kernel(-1), k, "kernels: %s",
		    mm_bf16_kernel_name());
		for (i = 0; i < (int)(sizeof shapes / sizeof *shapes); i++)
			test_shape(shapes[i][0], shapes[i][1], shapes[i][2],
			    shapes[i][3], exact || k == MM_BF16_FMA);
		test_linear(exact || k == MM_BF16_FMA);
		test_pool();
		test_encoder();
	}
	mm_bf16_kernel(mm_bf16_rate() < MM_BF16_SLOW ? MM_BF16_FMA :
	    MM_BF16_DP);
	{
		double r = mm_bf16_rate();
		ok(r > 0.1 && r < 8.0 && mm_bf16_rate() == r, "vdpbf16ps "
		    "against fp32 FMA: %.2f times the multiply-adds per "
		    "second, measured once", r);
	}
	/* switched off: the refusals */
	mm_bf16_level(0);
	test_refusal();
	ok(mm_bf16_rate() == 0.0, "switched off: no bf16 rate");
	is_int(mm_bf16_level(1), 1, "switched back on");
	return done_testing();
}
