/*
 * b-probe-kern.c - the fused float64 probe objective (probe-kern.h) on the shape of one
 * dSprites evaluation (7,500 rows, 64 features, five probes of 3, 6, 40,
 * 32 and 32 classes: 120 columns with padding) against the same products
 * as a dgemm pair, and against OpenBLAS's dgemm ceiling (1024^3), measured
 * side by side on one thread.  Run with OPENBLAS_NUM_THREADS=1.
 * Usage: b-probe-kern [repeats]   (default 30; the best time counts)
 */
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "cli.h"
#include "probe-kern.h"
#include "rng.h"

#define N 7500
#define D 64
#define NP 5

int
main(int argc, char **argv)
{
	static const int K[NP] = { 3, 6, 40, 32, 32 };
	int reps = argc > 1 ? atoi(argv[1]) : 30, Kt = 0, j, k, d, r, n = 1024;
	int level = mm_probe_kern_level();
	struct mm_probe_kern_seg seg[NP];
	struct mm_rng rng;
	float *X = malloc(sizeof(float) * N * D);
	int32_t *y = malloc(sizeof(int32_t) * N);
	double *Wt, *b, *Gt, *gb, *scr, f[NP], *Xd, *Zd, *Gd, *A, *B, *Cm;
	double t, best_k = 1e30, best_p = 1e30, best_c = 1e30, flops;
	int64_t i;

	mm_rng_seed(&rng, 3);
	for (i = 0; i < (int64_t)N * D; i++)
		X[i] = (float)mm_rng_normal(&rng);
	for (i = 0; i < N; i++)
		y[i] = (int32_t)mm_rng_below(&rng, 3);
	for (j = 0; j < NP; j++) {
		seg[j].off = Kt;
		seg[j].K = K[j];
		seg[j].y = y;   /* labels < 3 are valid for every probe */
		Kt += (K[j] + 7) / 8 * 8;
	}
	Wt = malloc(sizeof(double) * (D + 1) * Kt);   /* row D: b, for dgemm */
	b = malloc(sizeof(double) * Kt);
	Gt = malloc(sizeof(double) * D * Kt);
	gb = malloc(sizeof(double) * Kt);
	scr = malloc(sizeof(double) * mm_probe_kern_scratch(D, Kt));
	for (j = 0; j < NP; j++)
		for (k = 0; k < (K[j] + 7) / 8 * 8; k++) {
			int c = seg[j].off + k;
			b[c] = k < K[j] ? 0.1 * mm_rng_normal(&rng) : MM_LRK_PAD;
			for (d = 0; d < D; d++)
				Wt[d * Kt + c] = k < K[j] ?
				    0.1 * mm_rng_normal(&rng) : 0.0;
			Wt[D * Kt + c] = b[c];
		}
	/* the dgemm pair's operands: X with a ones column, W (Kt, D + 1) */
	Xd = malloc(sizeof(double) * N * (D + 1));
	Zd = malloc(sizeof(double) * N * Kt);
	Gd = malloc(sizeof(double) * Kt * (D + 1));
	for (i = 0; i < N; i++) {
		for (d = 0; d < D; d++)
			Xd[i * (D + 1) + d] = X[i * D + d];
		Xd[i * (D + 1) + D] = 1.0;
	}
	A = malloc(sizeof(double) * n * n);
	B = malloc(sizeof(double) * n * n);
	Cm = malloc(sizeof(double) * n * n);
	for (i = 0; i < (int64_t)n * n; i++) {
		A[i] = mm_rng_normal(&rng);
		B[i] = mm_rng_normal(&rng);
	}

	for (r = 0; r < reps; r++) {
		if (level > 0) {
			t = mm_now();
			mm_probe_kern_eval(level, X, N, D, Kt, Wt, b, NP, seg,
			    f, Gt, gb, scr);
			t = mm_now() - t;
			best_k = t < best_k ? t : best_k;
		}
		t = mm_now();
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Kt,
		    D + 1, 1.0, Xd, D + 1, Wt, Kt, 0.0, Zd, Kt);
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Kt, D + 1,
		    N, 1.0, Zd, Kt, Xd, D + 1, 0.0, Gd, D + 1);
		t = mm_now() - t;
		best_p = t < best_p ? t : best_p;
		if (r < 5) {
			t = mm_now();
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n,
			    n, 1.0, A, n, B, n, 0.0, Cm, n);
			t = mm_now() - t;
			best_c = t < best_c ? t : best_c;
		}
	}
	/* both products, 2 flops per multiply-add (the dgemm pair's ones
	 * column counted as the intercept) */
	flops = 4.0 * N * (D + 1) * Kt;
	printf("%-52s %9s %9s\n", "one evaluation, 5 probes, 7500 x 64, 120 cols",
	    "ms", "GFLOP/s");
	printf("%-52s %9.3f %9.1f\n", "dgemm 1024^3 (ceiling)",
	    best_c * 1e3, 2.0 * n * n * n / best_c * 1e-9);
	printf("%-52s %9.3f %9.1f\n", "dgemm pair: logits + gradient only",
	    best_p * 1e3, flops / best_p * 1e-9);
	if (level > 0)
		printf("%-52s %9.3f %9.1f\n", level == 2 ?
		    "fused AVX-512: logits, softmax, gradient" :
		    "fused AVX2: logits, softmax, gradient", best_k * 1e3,
		    flops / best_k * 1e-9);
	if (level > 0)
		printf("fused / dgemm ceiling: %.2f; fused vs the dgemm pair "
		    "(which leaves the softmax out): %.2fx\n",
		    flops / best_k / (2.0 * n * n * n / best_c),
		    best_p / best_k);
	free(X);
	free(y);
	free(Wt);
	free(b);
	free(Gt);
	free(gb);
	free(scr);
	free(Xd);
	free(Zd);
	free(Gd);
	free(A);
	free(B);
	free(Cm);
	return 0;
}
