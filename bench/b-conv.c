/*
 * b-conv.c - each 3x3 convolution shape of ResNet-20 on 64x64 images,
 * alone, fp32 (the direct kernels of conv-x86.c) against bf16 (conv-bf16.c),
 * and each against its instruction's peak measured in the same run.
 *
 *   b-conv [-b batch] [-r rounds]
 *
 * For each shape, at batch B (128) on one thread: the forward (fp32
 * input, no statistics), the forward with the BatchNorm statistics, and
 * the backward with the input gradient (weight gradient included) and
 * without it (weight gradient only, its copies included); the best of R
 * (5) calls each, in ms, and as a share of the peak: 12 independent
 * chains of fp32 FMA (fp32) or of vdpbf16ps (bf16), timed just before.
 * A share well below 1 in a row whose product kernel is near its peak
 * (in-cache) is the time of the packing and copying passes around it.
 * bf16 rows are skipped (with the reason) on a CPU without AVX512-BF16.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conv.h"
#include "err.h"
#include "gemm-bf16.h"
#include "rng.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* GFLOP/s of 12 independent chains of 16-lane FMA (dp 0) or vdpbf16ps
 * (dp 1: two multiply-adds a lane) on one core */
static __attribute__((target("avx512f,avx512bf16"))) double
peak(int dp)
{
	__m512 a[12], y = _mm512_set1_ps(0.999f), x = _mm512_set1_ps(1e-7f);
	__m512bh xb = (__m512bh)_mm512_set1_epi16(0x3f80);
	__m512bh yb = (__m512bh)_mm512_set1_epi16(0x0001);
	long n = 20000000, k;
	double t;
	float s = 0;
	int i;

	for (i = 0; i < 12; i++)
		a[i] = _mm512_set1_ps((float)i);
	t = mm_now();
	for (k = 0; k < n; k++)
#pragma GCC unroll 12
		for (i = 0; i < 12; i++)
			a[i] = dp ? _mm512_dpbf16_ps(a[i], xb, yb) :
			    _mm512_fmadd_ps(a[i], y, x);
	t = mm_now() - t;
	for (i = 0; i < 12; i++)
		s += _mm512_reduce_add_ps(a[i]);
	if (s == 12345.f)       /* (keeps the chains) */
		printf(" ");
	return 12.0 * n * 16 * (dp ? 4 : 2) / t * 1e-9;
}
#else
static double
peak(int dp)
{
	(void)dp;
	return 0;
}
#endif

struct shape {
	int H, Cin, Cout, S;
};

struct bufs {
	float *x, *dy, *dx, *w, *dw, *scr, *o, *wtf;
	uint16_t *o16;
	uint32_t *wt, *wb;
};

/* best of R calls of pass k (what[] in main) of a shape, seconds; bf16:
 * the bf16 functions */
static double
run(const struct shape *s, struct bufs *b, int N, int bf16, int k, int R)
{
	double best = 1e30, t, st[2 * 64], cnt;
	int r;

	for (r = 0; r < R; r++) {
		cnt = 0;
		t = mm_now();
		if (bf16 && k < 2)
			mm_conv3x3_forward_bf16(b->o16, k ? st : NULL, &cnt,
			    b->x, NULL, b->wt, N, s->H, s->H, s->Cin, s->Cout,
			    s->S, b->scr);
		else if (bf16)
			mm_conv3x3_backward_bn_bf16(k == 2 ? b->dx : NULL, 0,
			    b->dw, b->dy, NULL, NULL, NULL, NULL, b->x, NULL,
			    b->wb, N, s->H, s->H, s->Cin, s->Cout, s->S,
			    b->scr);
		else if (k == 0)
			mm_conv3x3_forward(b->o, b->x, b->w, N, s->H, s->H,
			    s->Cin, s->Cout, s->S, b->scr);
		else if (k == 1)
			mm_conv3x3_forward_stats(b->o, st, &cnt, b->x, b->w,
			    b->wtf, N, s->H, s->H, s->Cin, s->Cout, s->S,
			    b->scr);
		else
			mm_conv3x3_backward(k == 2 ? b->dx : NULL, b->dw,
			    b->dy, b->x, b->w, N, s->H, s->H, s->Cin, s->Cout,
			    s->S, b->scr);
		t = mm_now() - t;
		if (t < best)
			best = t;
	}
	return best;
}

static float *
fill(size_t n, float scale, struct mm_rng *rng)
{
	float *p = malloc(n * sizeof *p);
	size_t i;

	if (!p)
		mm_die("out of memory");
	for (i = 0; i < n; i++)
		p[i] = scale * (2 * mm_rng_float(rng) - 1);
	return p;
}

int
main(int argc, char **argv)
{
	static const struct shape sh[] = {
		{ 64, 16, 16, 1 }, { 64, 16, 32, 2 }, { 32, 32, 32, 1 },
		{ 32, 32, 64, 2 }, { 16, 64, 64, 1 },
	};
	static const char *what[4] = { "fwd", "fwd+stats", "bwd", "dw only" };
	int N = 128, R = 5, c, i, k, p, bf;
	double pk[2], t[2], flops;
	struct mm_rng rng;
	struct bufs b;
	size_t in, on, s1, s2;

	while ((c = getopt(argc, argv, "b:r:")) != -1)
		switch (c) {
		case 'b': N = atoi(optarg); break;
		case 'r': R = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: b-conv [-b batch] [-r rounds]\n");
			return 2;
		}
	if (N < 1 || N > 1024 || R < 1)
		mm_die("-b 1..1024, -r at least 1");
	bf = mm_bf16_level(-1) > 0 && mm_nn_simd(-1) == 2;
	if (mm_nn_simd(-1) < 2)
		printf("b-conv: no AVX-512F: peaks and shares not measured\n");
	pk[0] = mm_nn_simd(-1) == 2 ? peak(0) : 0;
	pk[1] = bf ? peak(1) : 0;
	if (!bf)
		printf("b-conv: bf16 skipped: %s\n", mm_bf16_level(-1) ?
		    "no AVX-512F" : mm_bf16_missing());
	printf("batch %d, one thread; peaks: fp32 FMA %.0f GFLOP/s, "
	    "vdpbf16ps %.0f GFLOP/s (bf16 kernel: %s)\n", N, pk[0], pk[1],
	    bf ? (mm_bf16_kernel(-1) == MM_BF16_FMA ? "fp32 FMA" :
	    "vdpbf16ps") : "none");
	printf("%-22s %-10s %9s %7s %9s %7s %6s\n", "shape", "pass", "fp32 ms",
	    "share", "bf16 ms", "share", "ratio");
	mm_rng_seed(&rng, 1);
	for (i = 0; i < (int)(sizeof sh / sizeof *sh); i++) {
		const struct shape *s = &sh[i];
		int Ho = (s->H - 1) / s->S + 1;
		in = (size_t)N * s->H * s->H * s->Cin;
		on = (size_t)N * Ho * Ho * s->Cout;
		s1 = mm_conv3x3_scratch(s->H, s->H, s->Cin, s->Cout);
		s2 = mm_conv3x3_bf16_scratch(s->H, s->H, s->Cin, s->Cout);
		b.x = fill(in, 1, &rng);
		b.dx = fill(in, 1, &rng);
		b.dy = fill(on, 1, &rng);
		b.o = fill(on, 1, &rng);
		b.w = fill((size_t)9 * s->Cin * s->Cout, 0.3f, &rng);
		b.dw = fill((size_t)9 * s->Cin * s->Cout, 0, &rng);
		b.wtf = fill((size_t)9 * s->Cin * s->Cout, 0, &rng);
		b.scr = fill(s1 > s2 ? s1 : s2, 0, &rng);
		b.o16 = malloc(on * sizeof *b.o16);
		b.wt = malloc(mm_conv3x3_bf16_wsize(s->Cin, s->Cout) *
		    sizeof *b.wt);
		b.wb = malloc(mm_conv3x3_bf16_wsize(s->Cin, s->Cout) *
		    sizeof *b.wb);
		if (!b.o16 || !b.wt || !b.wb)
			mm_die("out of memory");
		mm_conv3x3_weights(b.wtf, b.w, s->Cin, s->Cout, 0);
		if (bf) {
			mm_conv3x3_bf16_weights(b.wt, b.w, s->Cin, s->Cout, 0);
			mm_conv3x3_bf16_weights(b.wb, b.w, s->Cin, s->Cout, 1);
		}
		flops = 2.0 * N * Ho * Ho * s->Cout * s->Cin * 9;
		for (k = 0; k < 4; k++) {
			double f = k == 2 ? 2 * flops : flops;
			char name[32];
			for (p = 0; p < 2; p++)
				t[p] = p && !bf ? 0 : run(s, &b, N, p, k, R);
			snprintf(name, sizeof name, "%dx%d %d->%d s%d", s->H,
			    s->H, s->Cin, s->Cout, s->S);
			printf("%-22s %-10s %9.2f %6.0f%% ", name, what[k],
			    1e3 * t[0], pk[0] > 0 ? 100 * f / t[0] * 1e-9 /
			    pk[0] : 0);
			if (bf)
				printf("%9.2f %6.0f%% %5.2fx\n", 1e3 * t[1],
				    100 * f / t[1] * 1e-9 / pk[1], t[0] / t[1]);
			else
				printf("%9s %7s %6s\n", "-", "-", "-");
		}
		free(b.x); free(b.dx); free(b.dy); free(b.o); free(b.w);
		free(b.dw); free(b.wtf); free(b.scr); free(b.o16); free(b.wt);
		free(b.wb);
	}
	return 0;
}
