/*
 * t-linear-eval.c - the evaluation Linear kernel of lib/linear-x86.c:
 * bit for bit the fmaf loop of mm_linear_eval_ref() over edge shapes,
 * with and without a bias, on 1 to 3 threads, at each SIMD level the CPU
 * has (2: AVX-512F, 1: AVX2 + FMA); that reference against a
 * double-precision sum; an encoder's evaluation through it independent
 * of the batch it is cut into, of the thread count and of the level, and
 * within a stated bound of the BLAS path (level 0); the epilogue that
 * folds an evaluation BatchNorm and ReLU into the store bit for bit
 * mm_bn_apply() after the plain product, at every level (0: the
 * reference loop).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn-slices.h"
#include "cli.h"
#include "conv.h"
#include "encoder.h"
#include "linear-x86.h"
#include "nn.h"
#include "pool.h"
#include "rng.h"
#include "tap.h"

static struct mm_rng rng;

static float *
randv(size_t n, float scale)
{
	float *v = malloc(n * sizeof *v);
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = (float)((2 * mm_rng_float(&rng) - 1) * scale);
	return v;
}

static int top;         /* the CPU's SIMD level */

/* the kernel against the reference for one shape, threads 1..3, at each
 * level from the CPU's down to 1 */
static void
shape(int N, int Din, int Dout, int bias)
{
	float *x = randv((size_t)N * Din, 1), *w = randv((size_t)Dout * Din,
	    1), *b = bias ? randv(Dout, 1) : NULL;
	float *want = malloc((size_t)N * Dout * sizeof *want);
	float *got = malloc((size_t)N * Dout * sizeof *got);
	float *s = malloc(mm_linear_eval_scratch(N, Din, Dout) * sizeof *s);
	double err = 0, d, bound = 0;
	int T, n, o, k, lv;

	mm_linear_eval_ref(want, x, w, b, N, Din, Dout);
	/* the fmaf loop against a double sum: Din roundings of at most
	 * half an ulp of the running sum, bounded by sum |x w| + |b| */
	for (n = 0; n < N; n++)
		for (o = 0; o < Dout; o++) {
			double e = b ? b[o] : 0, a = fabs(e);

			for (k = 0; k < Din; k++) {
				e += (double)x[(size_t)n * Din + k] *
				    w[(size_t)o * Din + k];
				a += fabs((double)x[(size_t)n * Din + k] *
				    w[(size_t)o * Din + k]);
			}
			d = fabs(want[(size_t)n * Dout + o] - e);
			if (d > err)
				err = d;
			if (a * (Din + 1) * 0x1p-24 > bound)
				bound = a * (Din + 1) * 0x1p-24;
		}
	ok(err <= bound, "%dx%d -> %d%s: fmaf loop within %.3g of the double "
	    "sum (%.3g)", N, Din, Dout, bias ? " + bias" : "", bound, err);
	if (top < 1)
		skip(3, "the evaluation kernel needs AVX2 + FMA or AVX-512F");
	for (lv = top; lv >= 1; lv--) {
		mm_nn_simd(lv);
		for (T = 1; T <= 3; T++) {
			struct mm_pool *p = mm_pool_new(T);

			memset(got, 0xff, (size_t)N * Dout * sizeof *got);
			mm_linear_eval(p, got, x, w, b, N, Din, Dout, NULL, s);
			ok(!memcmp(got, want, (size_t)N * Dout * sizeof *got),
			    "%dx%d -> %d%s, level %d, %d thread%s: bit for bit "
			    "the fmaf loop", N, Din, Dout, bias ? " + bias" : "",
			    lv, T, T > 1 ? "s" : "");
			mm_pool_free(p);
		}
	}
	mm_nn_simd(top);
	free(x);
	free(w);
	free(b);
	free(want);
	free(got);
	free(s);
}

/* The epilogue: scale and shift (mm_bn_affine() of random statistics,
 * gamma of both signs) with and without the ReLU, and the ReLU alone,
 * against the product without it followed by mm_bn_apply() (or a plain
 * max), at each level from the CPU's down to 0, on 1 to 3 threads. */
static void
folded(int N, int Din, int Dout)
{
	float *x = randv((size_t)N * Din, 1), *w = randv((size_t)Dout * Din,
	    1), *b = randv(Dout, 1), *g = randv(Dout, 2), *be = randv(Dout, 1),
	    *rm = randv(Dout, 1), *rv = randv(Dout, 1);
	float *mean = malloc(Dout * sizeof *mean), *rstd = malloc(Dout *
	    sizeof *rstd), *sc = malloc(Dout * sizeof *sc), *sh = malloc(Dout *
	    sizeof *sh);
	size_t n = (size_t)N * Dout, i;
	float *pre = malloc(n * sizeof *pre), *want = malloc(n * sizeof *want),
	    *got = malloc(n * sizeof *got);
	float *s = malloc(mm_linear_eval_scratch(N, Din, Dout) * sizeof *s);
	struct mm_linear_epi epi;
	int lv, T, mode, bad, zeros;

	for (i = 0; i < (size_t)Dout; i++)
		rv[i] = rv[i] * rv[i] + 0.1f;
	mm_bn_eval_stats(mean, rstd, rm, rv, Dout);
	mm_bn_affine(sc, sh, mean, rstd, g, be, Dout);
	for (mode = 0; mode < 3; mode++) {
		/* 0: BN + ReLU, 1: BN, 2: ReLU */
		epi.scale = mode < 2 ? sc : NULL;
		epi.shift = mode < 2 ? sh : NULL;
		epi.relu = mode != 1;
		bad = 0;
		zeros = 0;
		for (lv = top; lv >= 0; lv--) {
			mm_nn_simd(lv);
			mm_linear_eval(NULL, pre, x, w, b, N, Din, Dout, NULL, s);
			if (mode < 2)
				mm_bn_apply(want, pre, NULL, mean, rstd, g, be,
				    N, Dout, epi.relu);
			else
				for (i = 0; i < n; i++)
					want[i] = pre[i] > 0 ? pre[i] : 0;
			for (T = 1; T <= 3; T++) {
				struct mm_pool *p = mm_pool_new(T);

				memset(got, 0xff, n * sizeof *got);
				mm_linear_eval(p, got, x, w, b, N, Din, Dout,
				    &epi, s);
				bad += memcmp(got, want, n * sizeof *got) != 0;
				mm_pool_free(p);
			}
		}
		for (i = 0; i < n; i++)
			zeros += want[i] == 0;
		mm_nn_simd(top);
		ok(!bad && (mode == 1 || (zeros > 0 && zeros < (int)n)),
		    "%dx%d -> %d, %s folded into the store: bit for bit the "
		    "product then %s, levels %d..0, 1-3 threads (%d of %zu "
		    "zero)", N, Din, Dout, mode == 0 ? "BN + ReLU" : mode == 1 ?
		    "BN" : "ReLU", mode < 2 ? "mm_bn_apply()" : "max(., 0)",
		    top, zeros, n);
	}
	free(x);
	free(w);
	free(b);
	free(g);
	free(be);
	free(rm);
	free(rv);
	free(mean);
	free(rstd);
	free(sc);
	free(sh);
	free(pre);
	free(want);
	free(got);
	free(s);
}

/* "mlp-flatten:" is one Linear: its evaluation is the fmaf loop over its
 * own weights (mm_encoder_params(): weight (O, D), then bias) */
static void
single(void)
{
	struct mm_encoder *e;
	const int N = 45, D = 3 * 7 * 9, O = 30;
	float *x = randv((size_t)N * D, 1), *want = malloc(N * O * sizeof *want);
	const float *y, *p;

	if (mm_encoder_create(&e, "mlp-flatten:", 3, 7, 9, O, 64) < 0) {
		ok(0, "encoder create");
		return;
	}
	mm_encoder_init(e, &rng);
	p = mm_encoder_params(e);
	mm_linear_eval_ref(want, x, p, p + O * D, N, D, O);
	y = mm_encoder_forward(e, x, N, 0);
	ok(!memcmp(y, want, N * O * sizeof *want), "\"mlp-flatten:\" "
	    "evaluation: bit for bit the fmaf loop over its weights");
	mm_encoder_free(e);
	free(x);
	free(want);
}

/* mlp-flatten evaluation: rows independent of the batch and the threads
 * at the CPU's level, the same bits at level 1, and near the BLAS path
 * of level 0 */
static void
encoder(void)
{
	struct mm_encoder *e;
	const int N = 70, C = 1, H = 8, W = 8, D = C * H * W, O = 24;
	float *x = randv((size_t)N * D, 1), *a = malloc(N * O * sizeof *a),
	    *c = malloc(N * O * sizeof *c);
	const float *y;
	double err = 0, scale = 0;
	int i, T;

	for (T = 1; T <= 2; T++) {
		mm_blas_threads(T);
		if (mm_encoder_create(&e, "mlp-flatten:40,100,36", C, H, W, O,
		    N) < 0) {
			ok(0, "encoder create");
			return;
		}
		mm_rng_seed(&rng, 9);
		mm_encoder_init(e, &rng);
		/* running statistics away from 0 and 1 */
		y = mm_encoder_forward(e, x, N, 1);
		mm_nn_simd(top);
		y = mm_encoder_forward(e, x, N, 0);
		if (T == 1)
			memcpy(a, y, N * O * sizeof *a);
		else
			ok(!memcmp(a, y, N * O * sizeof *a), "mlp-flatten "
			    "evaluation: -t 2 bit for bit -t 1");
		/* the batch cut in two: each row the same bits */
		y = mm_encoder_forward(e, x, 33, 0);
		memcpy(c, y, 33 * O * sizeof *c);
		y = mm_encoder_forward(e, x + 33 * D, N - 33, 0);
		memcpy(c + 33 * O, y, (N - 33) * O * sizeof *c);
		ok(!memcmp(a, c, N * O * sizeof *a), "mlp-flatten evaluation "
		    "(%d thread%s): batches of 33 and 37 bit for bit one of "
		    "70", T, T > 1 ? "s" : "");
		if (T == 1 && top >= 2) {
			mm_nn_simd(1);
			y = mm_encoder_forward(e, x, N, 0);
			ok(!memcmp(a, y, N * O * sizeof *a), "mlp-flatten "
			    "evaluation: level 1 bit for bit level %d", top);
			mm_nn_simd(top);
		}
		if (T == 1) {
			mm_nn_simd(0);
			y = mm_encoder_forward(e, x, N, 0);
			for (i = 0; i < N * O; i++) {
				if (fabs(y[i] - a[i]) > err)
					err = fabs(y[i] - a[i]);
				if (fabs(a[i]) > scale)
					scale = fabs(a[i]);
			}
			ok(err <= 1e-5 * scale, "mlp-flatten evaluation: "
			    "level %d within %.3g of the BLAS path (%.3g)",
			    top, 1e-5 * scale, err);
			mm_nn_simd(top);
		}
		mm_encoder_free(e);
	}
	mm_blas_threads(1);
	free(x);
	free(a);
	free(c);
}

int
main(void)
{
	static const int shapes[][3] = {
		{ 1, 1, 1 }, { 5, 81, 16 }, { 31, 7, 13 }, { 32, 256, 12 },
		{ 33, 257, 25 }, { 64, 300, 97 }, { 70, 513, 96 },
		{ 128, 64, 200 }, { 256, 40, 8 },
		/* rows 4 KiB apart and more: the pieces are copied */
		{ 40, 1024, 25 }, { 33, 3072, 12 },
	};
	int i;

	mm_rng_seed(&rng, 5);
	top = mm_nn_simd(-1);
	for (i = 0; i < (int)(sizeof shapes / sizeof *shapes); i++) {
		shape(shapes[i][0], shapes[i][1], shapes[i][2], i % 3 != 1);
		if (i == 4)
			shape(shapes[i][0], shapes[i][1], shapes[i][2], 1);
	}
	/* Dout below and above mm_bn_apply()'s lane width, and a tail */
	folded(37, 50, 5);
	folded(64, 33, 16);
	folded(70, 129, 97);
	folded(128, 64, 200);
	if (top >= 1) {
		single();
		encoder();
		if (top < 2)
			skip(1, "level 2 (AVX-512F) to compare level 1 with");
	} else {
		skip(5, "the evaluation kernel needs AVX2 + FMA or AVX-512F");
	}
	return done_testing();
}
