/*
 * b-encoder.c - encoder training-step throughput against the sgemm
 * ceiling measured in the same run.
 *
 *   b-encoder [-t threads] [-b batch] [-n steps] [-r rounds] [-c config]
 *             [-p precision] [-l]
 *
 * Configurations (the paper's, see reference/protocol.md):
 *   flat      dsprites: mlp-flatten:2048,2048,1024,1024,512,512/256 on
 *             1x64x64 + factor mlp:16,16,8,8,16,16 on 81 inputs
 *   res-dsp   dsprites: resnet20/64 on 1x64x64 + factor mlp
 *   res-s3d   shapes3d: resnet20/64 on 3x64x64 + mlp:64,64,32,32,64,64
 *   vit       dsprites: vit:patch=8,dim=192,depth=4,heads=3,mlp=384/64 (a
 *             mid-sized ViT; the paper's tiny ViT is far slower) + factor
 *             mlp; no PyTorch anchor (bench/train.sh runs PyTorch beside)
 * A step is the train forward and backward of both encoders (the loss and
 * optimiser are not included: bench/train.sh times the whole step beside
 * PyTorch in the same run).  Each figure is compared with PyTorch's anchor
 * (reference/anchors.md) as is and scaled by the two machines' sgemm
 * ceilings.  With -r R (R > 1), each configuration is measured in R
 * rounds, each timing the sgemm ceiling then the steps, and the line
 * gives the medians, the median of the rounds' own ratios to their
 * ceiling and its range: a ceiling and a step measured seconds apart on
 * a shared machine can each be 20 % off, the ratio within a round much
 * less.  -l prints the per-layer time table of the image encoder
 * (wall time of each phase, split between a convolution and its
 * BatchNorm in the proportion of the calling thread's own time).  With
 * the fused ResNet passes, a conv row's forward includes its BatchNorm
 * statistics and its backward the BatchNorm input gradient; a bn row's
 * forward is the normalisation (+ shortcut + ReLU), and the backward of
 * a block's bn2 holds the gradient sums of both its BatchNorms (bn1
 * rows then show 0).  -p bf16 runs both encoders' products in bf16
 * (mm_encoder_set_precision); the ratios then still compare with the
 * fp32 sgemm ceiling and PyTorch's fp32 anchor.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "encoder.h"
#include "err.h"
#include "rng.h"

struct config {
	const char *name, *img, *fac;
	int C, D, out;
	float scale;   /* image values: 0/1 (dsprites) or 0..255 */
	double torch1, torch2;  /* PyTorch anchors, samples/s, 1 and 2 t */
};

/* The PyTorch figures of reference/anchors.md (jemalloc, full training
 * step) were measured on a machine whose sgemm 512^3 ran at ANCHOR_SGEMM1
 * (1 thread) and ANCHOR_SGEMM2 GFLOP/s (2 threads). */
#define ANCHOR_SGEMM1 99.0
#define ANCHOR_SGEMM2 195.0

static const struct config configs[] = {
	{ "flat", "mlp-flatten:2048,2048,1024,1024,512,512", "mlp:16,16,8,8,16,16",
	    1, 81, 256, 1, 673, 488 },
	{ "res-dsp", "resnet20", "mlp:16,16,8,8,16,16", 1, 81, 64, 1, 64, 100 },
	{ "res-s3d", "resnet20", "mlp:64,64,32,32,64,64", 3, 47, 64, 255, 62,
	    103 },
	{ "vit", "vit:patch=8,dim=192,depth=4,heads=3,mlp=384",
	    "mlp:16,16,8,8,16,16", 1, 81, 64, 1, 0, 0 },
};

static double
sgemm_gflops(int n)
{
	float *a = calloc((size_t)n * n, sizeof *a);
	float *b = calloc((size_t)n * n, sizeof *b);
	float *c = calloc((size_t)n * n, sizeof *c);
	double t0, t, flops = 2.0 * n * n * n;
	long reps = 0;
	size_t i;

	if (!a || !b || !c)
		mm_die("out of memory");
	for (i = 0; i < (size_t)n * n; i++) {
		a[i] = (float)(i % 7) * 0.1f;
		b[i] = (float)(i % 5) * 0.1f;
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a,
	    n, b, n, 0, c, n);
	t0 = mm_now();
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
		    1, a, n, b, n, 0, c, n);
		reps++;
		t = mm_now() - t0;
	} while (t < 0.5);
	free(a);
	free(b);
	free(c);
	return flops * reps / t * 1e-9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: b-encoder [-l] [-b batch] [-c config] "
	    "[-n steps] [-p precision] [-r rounds] [-t threads]\n");
	exit(2);
}

/* seconds for steps training steps of img and fac (after one untimed) */
static double
time_steps(struct mm_encoder *img, struct mm_encoder *fac, const float *x,
    const float *p, const float *dy, int B, int steps)
{
	double t0 = 0;
	int s;

	for (s = -1; s < steps; s++) {
		if (s == 0) {
			/* the first step warms caches and page tables */
			mm_encoder_times_reset(img);
			t0 = mm_now();
		}
		mm_encoder_zero_grad(img);
		mm_encoder_zero_grad(fac);
		mm_encoder_forward(img, x, B, 1);
		mm_encoder_forward(fac, p, B, 1);
		mm_encoder_backward(img, dy);
		mm_encoder_backward(fac, dy);
	}
	return mm_now() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* the median of v[0..n) (sorted in place) */
static double
median(double *v, int n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAXROUNDS 64

static void
run(const struct config *c, int B, int steps, int layers, double ceil,
    int threads, int rounds, int prec)
{
	struct mm_encoder *img, *fac;
	struct mm_rng rng;
	size_t nx = (size_t)B * c->C * 64 * 64, i;
	float *x = malloc(nx * sizeof *x), *p = malloc((size_t)B * c->D *
	    sizeof *p), *dy = malloc((size_t)B * c->out * sizeof *dy);
	double t, tlast = 0, flops, sps, anchor, asgemm, ratio;
	double vs[MAXROUNDS], vc[MAXROUNDS], vr[MAXROUNDS], rlo, rhi;
	int rc, n, k, r;

	if (!x || !p || !dy)
		mm_die("out of memory");
	if ((rc = mm_encoder_create(&img, c->img, c->C, 64, 64, c->out, B)) < 0 ||
	    (rc = mm_encoder_create(&fac, c->fac, c->D, 1, 1, c->out, B)) < 0)
		mm_die_err(c->name, rc);
	if ((rc = mm_encoder_set_precision(img, prec)) < 0 ||
	    (rc = mm_encoder_set_precision(fac, prec)) < 0)
		mm_die_err(c->name, rc);
	mm_rng_seed(&rng, 1);
	mm_encoder_init(img, &rng);
	mm_encoder_init(fac, &rng);
	for (i = 0; i < nx; i++)
		x[i] = c->scale == 1 ? (float)(mm_rng_float(&rng) < 0.1f) :
		    (float)mm_rng_below(&rng, 256);
	for (i = 0; i < (size_t)B * c->D; i++)
		p[i] = (float)(mm_rng_float(&rng) < 0.05f);
	for (i = 0; i < (size_t)B * c->out; i++)
		dy[i] = (2 * mm_rng_float(&rng) - 1) / B;
	flops = 3 * (mm_encoder_flops(img) + mm_encoder_flops(fac)) * B * steps;
	for (r = 0; r < rounds; r++) {
		if (rounds > 1)
			vc[r] = sgemm_gflops(512);
		t = tlast = time_steps(img, fac, x, p, dy, B, steps);
		vs[r] = B * steps / t;
		vr[r] = flops / t * 1e-9 / (rounds > 1 ? vc[r] : ceil);
	}
	t = B * steps / median(vs, rounds);
	if (rounds > 1)
		ceil = median(vc, rounds);
	ratio = median(vr, rounds);
	rlo = vr[0];
	rhi = vr[rounds - 1];
	sps = B * steps / t;
	printf("%-8s %-44s %8.1f samples/s %7.1f ms/step %6.1f GFLOP/s "
	    "(%.0f%% of sgemm 512^3", c->name, mm_encoder_spec(img),
	    sps, 1e3 * t / steps, flops / t * 1e-9, 100 * ratio);
	if (rounds > 1)
		printf("; medians of %d rounds, ratio %.0f-%.0f%%, sgemm "
		    "%.1f", rounds, 100 * rlo, 100 * rhi, ceil);
	printf(")\n");
	/* against PyTorch's anchor: as measured there, and scaled by the
	 * ratio of the two machines' sgemm ceilings */
	if (B == 128 && threads <= 2 && c->torch1 > 0) {
		anchor = threads == 1 ? c->torch1 : c->torch2;
		asgemm = threads == 1 ? ANCHOR_SGEMM1 : ANCHOR_SGEMM2;
		printf("  vs PyTorch anchor %.0f samples/s: %.2fx; per unit of "
		    "sgemm ceiling: %.2fx\n", anchor, sps / anchor,
		    sps / ceil / (anchor / asgemm));
	}
	fflush(stdout);
	if (layers) {
		/* the last round's */
		const char *names[256];
		double fw[256], bw[256], tf = 0, tb = 0;
		t = tlast;
		n = mm_encoder_times(img, names, fw, bw, 256);
		for (k = 0; k < n && k < 256; k++) {
			tf += fw[k];
			tb += bw[k];
		}
		printf("  %-24s %9s %9s %6s\n", "layer", "fwd ms", "bwd ms",
		    "share");
		for (k = 0; k < n && k < 256; k++)
			printf("  %-24s %9.2f %9.2f %5.1f%%\n", names[k],
			    1e3 * fw[k] / steps, 1e3 * bw[k] / steps,
			    100 * (fw[k] + bw[k]) / t);
		printf("  %-24s %9.2f %9.2f %5.1f%%\n", "(image encoder)",
		    1e3 * tf / steps, 1e3 * tb / steps, 100 * (tf + tb) / t);
	}
	mm_encoder_free(img);
	mm_encoder_free(fac);
	free(x);
	free(p);
	free(dy);
}

int
main(int argc, char **argv)
{
	const char *only = NULL;
	int ch, threads = 1, B = 128, steps = 0, layers = 0, rounds = 1;
	int prec = 0;
	double g128, g512;
	size_t k;

	mm_cli_init(argc, argv);
	while ((ch = getopt(argc, argv, "b:c:ln:p:r:t:")) != -1) {
		switch (ch) {
		case 'b':
			B = (int)mm_cli_long("-b", optarg, 2, 4096);
			break;
		case 'c':
			only = optarg;
			break;
		case 'l':
			layers = 1;
			break;
		case 'n':
			steps = (int)mm_cli_long("-n", optarg, 1, 100000);
			break;
		case 'p':
			if (mm_precision_parse(optarg, &prec) < 0)
				mm_die("-p: %s: not fp32 or bf16", optarg);
			break;
		case 'r':
			rounds = (int)mm_cli_long("-r", optarg, 1, MAXROUNDS);
			break;
		case 't':
			threads = (int)mm_cli_long("-t", optarg, 1, 256);
			break;
		default:
			usage();
		}
	}
	mm_blas_threads(threads);
	g128 = sgemm_gflops(128);
	g512 = sgemm_gflops(512);
	printf("threads %d, batch %d: sgemm 128^3 %.1f GFLOP/s, 512^3 %.1f "
	    "GFLOP/s\n", threads, B, g128, g512);
	for (k = 0; k < sizeof configs / sizeof *configs; k++) {
		if (only && strcmp(only, configs[k].name))
			continue;
		run(&configs[k], B, steps ? steps :
		    strncmp(configs[k].img, "mlp", 3) ? 4 : 20, layers, g512,
		    threads, rounds, prec);
	}
	return 0;
}
