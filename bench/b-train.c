/*
 * b-train - training and encoding throughput of one configuration, with
 * the sgemm ceiling measured in the same process and a per-layer time
 * table.  Used by bench/train.sh.
 *
 *   b-train [-p fp32|bf16] [-t threads] [-b batch] [-s seconds] [-v]
 *           C PAIR_DIM IMG_SPEC FAC_SPEC
 *   b-train -B     the OpenBLAS in use: its core (kernel family) and build
 * prints one TSV row:
 *   threads  train_samples_s  train_gflop_s  encode_samples_s  sgemm_gflop_s
 *   isa
 * where isa names the kernels of the image encoder's products: with -p
 * bf16 AVX512-BF16 (vdpbf16ps) or bf16-on-AVX-512-FMA (mm_bf16_kernel(),
 * the same bits), else AVX-512F, AVX2+FMA (the direct convolutions'
 * level, mm_nn_simd) or portable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "cli.h"
#include "conv.h"
#include "encoder.h"
#include "err.h"
#include "gemm-bf16.h"
#include "model.h"

/* GFLOP/s of a 512^3 sgemm: the ceiling the encoders aim at. */
static double
sgemm_ceiling(void)
{
	int n = 512, k, reps = 0;
	float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4);
	float *c = calloc((size_t)n * n, 4);
	double t0, t;

	for (k = 0; k < n * n; k++)
		a[k] = b[k] = 0.001f * (k % 7);
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a,
	    n, b, n, 0, c, n);
	t0 = mm_now();
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
		    1, a, n, b, n, 0, c, n);
		reps++;
	} while ((t = mm_now() - t0) < 0.5);
	free(a);
	free(b);
	free(c);
	return 2.0 * n * n * n * reps / t / 1e9;
}

int
main(int argc, char **argv)
{
	struct mm_arch a;
	struct mm_model m;
	struct mm_loss l;
	struct mm_optim o;
	struct mm_rng r;
	int c, threads = 1, B = 128, verbose = 0, steps = 0, i, rc;
	int prec = MM_PREC_FP32;
	const char *isa;
	double budget = 3, t0, t, flops, ceiling, train_sps, enc_sps;
	float *x, *p, *zi, *zf;
	size_t chw;

	mm_cli_init(argc, argv);
	while ((c = getopt(argc, argv, "Bb:p:s:t:v")) != -1)
		switch (c) {
		case 'B':
			/* the kernels every sgemm figure depends on, which
			 * OPENBLAS_CORETYPE can force below the CPU's own;
			 * then what mmib said of them, and the measured rate
			 * of vdpbf16ps against fp32 FMA (0: none) */
			printf("%s\t%s\t%s\t%.2f\n", openblas_get_corename(),
			    openblas_get_config(), mm_blas_core_desc(),
			    mm_bf16_rate());
			return 0;
		case 'p':
			if (mm_precision_parse(optarg, &prec) < 0)
				mm_die("-p: %s", mm_errmsg());
			break;
		case 'b':
			B = (int)mm_cli_long("-b", optarg, 2, 4096);
			break;
		case 's':
			budget = mm_cli_double("-s", optarg, 0.1, 1000);
			break;
		case 't':
			threads = (int)mm_cli_long("-t", optarg, 1, 64);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			mm_die("usage: b-train [-p fp32|bf16] [-t threads] "
			    "[-b batch] [-s seconds] [-v] C PAIR_DIM IMG_SPEC "
			    "FAC_SPEC");
		}
	if (argc - optind != 4)
		mm_die("usage: b-train [-p fp32|bf16] [-t threads] [-b batch] "
		    "[-s seconds] [-v] C PAIR_DIM IMG_SPEC FAC_SPEC");
	mm_blas_threads(threads);
	memset(&a, 0, sizeof(a));
	a.C = (int)mm_cli_long("C", argv[optind], 1, 4);
	a.H = a.W = 64;
	a.pair_dim = (int)mm_cli_long("PAIR_DIM", argv[optind + 1], 1, 10000);
	{
		int out;

		if (mm_spec_split(argv[optind + 2], a.img_spec,
		    sizeof(a.img_spec), &out) < 0)
			mm_die("%s", mm_errmsg());
		a.code = out ? out : 64;
		if (mm_spec_split(argv[optind + 3], a.fac_spec,
		    sizeof(a.fac_spec), &out) < 0)
			mm_die("%s", mm_errmsg());
	}
	a.reg = MM_REG_COS;
	a.learn[0] = 1;	/* the temperature */
	if ((rc = mm_model_create(&m, &a, B)) < 0)
		mm_die_err("model", rc);
	if (prec != MM_PREC_FP32 &&
	    ((rc = mm_encoder_set_precision(m.img, prec)) < 0 ||
	    (rc = mm_encoder_set_precision(m.fac, prec)) < 0))
		mm_die("-p %s: %s", mm_precision_name(prec), mm_errmsg());
	i = mm_nn_simd(-1);
	isa = prec == MM_PREC_BF16 ? (mm_bf16_kernel(-1) == MM_BF16_FMA ?
	    "bf16-on-AVX-512-FMA" : "AVX512-BF16") : i == 2 ? "AVX-512F" :
	    i == 1 ? "AVX2+FMA" : "portable";
	mm_rng_seed(&r, 1);
	mm_model_init(&m, &r);
	mm_loss_init(&l, B, a.code, MM_OBJ_INFONCE, MM_REG_COS, 0, 0);
	mm_optim_init(&o, MM_OPT_ADAM, mm_model_nparams(&m), 1e-3, 0, 0);
	chw = (size_t)a.C * a.H * a.W;
	x = malloc(B * chw * sizeof(float));
	p = calloc((size_t)B * a.pair_dim, sizeof(float));
	zi = malloc((size_t)B * a.code * sizeof(float));
	zf = malloc((size_t)B * a.code * sizeof(float));
	for (i = 0; i < (int)(B * chw); i++)
		x[i] = a.C == 1 ? (float)mm_rng_below(&r, 2) :
		    (float)mm_rng_below(&r, 256);
	for (i = 0; i < B; i++)
		p[(size_t)i * a.pair_dim + mm_rng_below(&r, a.pair_dim)] = 1;

	ceiling = sgemm_ceiling();
	mm_model_train_step(&m, &l, &o, x, p, B, &r);	/* warm-up */
	mm_encoder_times_reset(m.img);
	t0 = mm_now();
	do {
		mm_model_train_step(&m, &l, &o, x, p, B, &r);
		steps++;
	} while ((t = mm_now() - t0) < budget || steps < 3);
	train_sps = (double)steps * B / t;
	/* forward + backward of both encoders: ~3x the forward flops */
	flops = 3.0 * (mm_encoder_flops(m.img) + mm_encoder_flops(m.fac));
	if (verbose) {
		const char *names[256];
		double fwd[256], bwd[256], tf = 0, tb = 0;
		int n = mm_encoder_times(m.img, names, fwd, bwd, 256), k;

		fprintf(stderr, "# per-layer time of the image encoder, ms per "
		    "step (batch %d, %d thread%s)\n", B, threads,
		    threads > 1 ? "s" : "");
		fprintf(stderr, "# layer\tforward\tbackward\n");
		for (k = 0; k < n && k < 256; k++) {
			fprintf(stderr, "# %s\t%.2f\t%.2f\n", names[k],
			    1e3 * fwd[k] / steps, 1e3 * bwd[k] / steps);
			tf += fwd[k];
			tb += bwd[k];
		}
		fprintf(stderr, "# image encoder total\t%.2f\t%.2f\t(step %.2f "
		    "ms)\n", 1e3 * tf / steps, 1e3 * tb / steps,
		    1e3 * t / steps);
	}
	steps = 0;
	t0 = mm_now();
	do {
		mm_model_encode(&m, x, p, B, zi, zf);
		steps++;
	} while ((t = mm_now() - t0) < budget / 2 || steps < 3);
	enc_sps = (double)steps * B / t;
	printf("%d\t%.1f\t%.1f\t%.1f\t%.1f\t%s\n", threads, train_sps,
	    train_sps * flops / 1e9, enc_sps, ceiling, isa);
	free(x);
	free(p);
	free(zi);
	free(zf);
	mm_optim_free(&o);
	mm_loss_free(&l);
	mm_model_free(&m);
	return 0;
}
