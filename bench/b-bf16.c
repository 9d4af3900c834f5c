/*
 * b-bf16.c - the bf16 product (gemm-bf16.h) against cblas_sgemm on the
 * Linear layers of the paper's mlp-flatten (dsprites, batch B):
 * 4096 -> 2048 -> 2048 -> 1024 -> 1024 -> 512 -> 512 -> 256, each layer's
 * forward (N Dout Din), input gradient (N Din Dout) and weight gradient
 * (Dout Din N).
 *
 *   b-bf16 [-b batch] [-s seconds]
 *
 * Prints GFLOP/s of both and their ratio per product, then the totals.
 * Wall and CPU time are both given: on a shared machine the wall-clock
 * figures are noisy.  One BLAS thread (OPENBLAS_NUM_THREADS=1 is set
 * unless the environment says otherwise), as the bf16 kernel has one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "cli.h"
#include "err.h"
#include "gemm-bf16.h"
#include "rng.h"

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

struct prod {
	int ta, tb, M, N, K;
};

/* seconds (wall, cpu) per call of one product, over about secs */
static void
timeit(const struct prod *p, int bf16, const float *A, const float *B,
    float *C, void *work, double secs, double *wall, double *cpu)
{
	int lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
	double t0, c0, t;
	long reps = 0;
	int rc;

	do {
		if (reps == 0) {
			t0 = mm_now();  /* after one warm-up call */
			c0 = cpu_now();
		}
		if (bf16) {
			if ((rc = mm_gemm_bf16(p->ta, p->tb, p->M, p->N, p->K,
			    A, lda, B, ldb, 1, C, p->N, work)) < 0)
				mm_die("bf16: %s", mm_errmsg());
		} else {
			cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans :
			    CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
			    p->M, p->N, p->K, 1, A, lda, B, ldb, 1, C, p->N);
		}
		if (reps++ == 0) {
			t0 = mm_now();
			c0 = cpu_now();
		}
		t = mm_now() - t0;
	} while (t < secs || reps < 3);
	*wall = t / (reps - 1);
	*cpu = (cpu_now() - c0) / (reps - 1);
}

int
main(int argc, char **argv)
{
	static const int width[] = { 4096, 2048, 2048, 1024, 1024, 512, 512,
	    256 };
	int B = 128, c, l, k;
	double secs = 0.3, tw[2] = { 0, 0 }, tc[2] = { 0, 0 }, ftot = 0;
	float *A, *Bm, *C;
	void *work;
	struct mm_rng rng;
	size_t i, big = (size_t)4096 * 2048;

	while ((c = getopt(argc, argv, "b:s:")) != -1)
		switch (c) {
		case 'b': B = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		default:
			fprintf(stderr, "usage: b-bf16 [-b batch] [-s seconds]\n");
			return 2;
		}
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	openblas_set_num_threads(1);
	if (!mm_bf16_level(-1)) {
		printf("b-bf16: skipped: %s\n", mm_bf16_missing());
		return 0;
	}
	if (B < 1 || B > 4096)
		mm_die("-b %d: 1..4096", B);
	A = malloc(big * sizeof *A);
	Bm = malloc(big * sizeof *Bm);
	C = malloc(big * sizeof *C);
	work = malloc(mm_gemm_bf16_scratch(4096, 4096, 4096));
	if (!A || !Bm || !C || !work)
		mm_die("out of memory");
	mm_rng_seed(&rng, 1);
	for (i = 0; i < big; i++) {
		A[i] = 2 * mm_rng_float(&rng) - 1;
		Bm[i] = 2 * mm_rng_float(&rng) - 1;
		C[i] = 0;
	}
	printf("%-6s %-22s %9s %9s %9s %9s %6s\n", "layer", "product (M N K)",
	    "sgemm", "bf16", "sgemm", "bf16", "ratio");
	printf("%-6s %-22s %9s %9s %9s %9s %6s\n", "", "", "GFLOP/s", "GFLOP/s",
	    "cpu ms", "cpu ms", "wall");
	for (l = 0; l + 1 < (int)(sizeof width / sizeof *width); l++) {
		int Din = width[l], Dout = width[l + 1];
		struct prod ps[3] = {
			{ 0, 1, B, Dout, Din },    /* forward: x W^T */
			{ 0, 0, B, Din, Dout },    /* input gradient: dy W */
			{ 1, 0, Dout, Din, B },    /* weight gradient: dy^T x */
		};
		static const char *what[3] = { "fwd", "dx", "dW" };
		for (k = 0; k < 3; k++) {
			struct prod *p = &ps[k];
			double f = 2.0 * p->M * p->N * p->K, w[2], cp[2];
			char name[64];
			timeit(p, 0, A, Bm, C, work, secs, &w[0], &cp[0]);
			timeit(p, 1, A, Bm, C, work, secs, &w[1], &cp[1]);
			snprintf(name, sizeof name, "%s %dx%dx%d", what[k],
			    p->M, p->N, p->K);
			printf("%-6d %-22s %9.1f %9.1f %9.2f %9.2f %5.2fx\n",
			    l, name, f / w[0] * 1e-9, f / w[1] * 1e-9,
			    1e3 * cp[0], 1e3 * cp[1], w[0] / w[1]);
			tw[0] += w[0];
			tw[1] += w[1];
			tc[0] += cp[0];
			tc[1] += cp[1];
			ftot += f;
		}
	}
	printf("%-6s %-22s %9.1f %9.1f %9.2f %9.2f %5.2fx (wall), %.2fx "
	    "(cpu)\n", "all", "one training step", ftot / tw[0] * 1e-9,
	    ftot / tw[1] * 1e-9, 1e3 * tc[0], 1e3 * tc[1], tw[0] / tw[1],
	    tc[0] / tc[1]);
	free(A);
	free(Bm);
	free(C);
	free(work);
	return 0;
}
