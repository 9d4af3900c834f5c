/*
 * mmib-align - alignment between the image and factor embeddings of the
 * same rows: CKA, unbiased CKA, SVCCA, mutual and cycle kNN, CKNNA,
 * cross-modal recall@k, mean paired cosine and the modality gap.
 */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "cli.h"
#include "err.h"
#include "emb.h"
#include "gemm-bf16.h"
#include "npy.h"
#include "table.h"

#define MAXK MM_ALIGN_MAXK

static const char usage[] =
    "usage: mmib-align [-hqVv] [--force] [--format tsv|json] [-k list]\n"
    "                  [--metrics list] [--normalize] [-o file]\n"
    "                  [--permutations P] [--rbf-sigma S] [-s seed]\n"
    "                  [--svcca-dim N] [-t threads] [emb.mts]\n"
    "       mmib-align [options] a.npy b.npy\n"
    "       mmib-align [options] ab.npz\n";

static const char help[] =
    "  -k, --k LIST          neighbourhood sizes for the kNN metrics (1,5)\n"
    "  --metrics LIST        the metrics to compute (default: all but cka_rbf)\n"
    "  --normalize           L2-normalise both sides first (-n: deprecated)\n"
    "  --permutations P      null of each metric from P row permutations (0)\n"
    "  --rbf-sigma S         cka_rbf bandwidth, a fraction of the median\n"
    "                        distance (1)\n"
    "  -s, --seed S          seed of the permutations (0)\n"
    "  --svcca-dim N         directions kept per side by SVCCA (10)\n"
    "  --force               use inputs of mismatched provenance (prov: mmib-stream(5))\n"
    "  --format F            tsv (default) or json\n"
    "  -o, --output FILE     write the table to FILE, not stdout\n"
    "  -t, --threads N       threads for the products and searches (1)\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n"
    "Input: an mmib-encode stream, two .npy files (one per side) or one .npz.\n"
    "Metrics: cka cka_unbiased cka_rbf svcca cosine gap mutual_knn cycle_knn\n"
    "cknna recall.\n";

enum { OPT_FORMAT = 256, OPT_FORCE, OPT_METRICS, OPT_NORM, OPT_PERM, OPT_RBF,
    OPT_SVCCA };

static const struct option lopts[] = {
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ "k", required_argument, NULL, 'k' },
	{ "metrics", required_argument, NULL, OPT_METRICS },
	{ "normalize", no_argument, NULL, OPT_NORM },
	{ "output", required_argument, NULL, 'o' },
	{ "permutations", required_argument, NULL, OPT_PERM },
	{ "quiet", no_argument, NULL, 'q' },
	{ "rbf-sigma", required_argument, NULL, OPT_RBF },
	{ "seed", required_argument, NULL, 's' },
	{ "svcca-dim", required_argument, NULL, OPT_SVCCA },
	{ "threads", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static int
parse_metrics(const char *list)
{
	char buf[512], *tok, *save = NULL;
	int sel = 0, bit;

	if (strlen(list) >= sizeof buf)
		mm_die("--metrics: list too long");
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (!(bit = mm_align_metric(tok)))
			mm_die("--metrics: '%s' is not a metric (%s)", tok,
			    mm_align_metric_names());
		sel |= bit;
	}
	if (!sel)
		mm_die("--metrics: no metric named");
	return sel;
}

/* One metric row; k 0 for a metric without a neighbourhood size; nul
 * NULL without --permutations. */
static void
emit(struct mm_table *t, const char *metric, int k, double v,
    const struct mm_align_null *nul)
{
	mm_table_row(t);
	mm_table_str(t, "metric", metric);
	if (k > 0)
		mm_table_int(t, "k", k);
	else
		mm_table_none(t, "k");
	mm_table_num(t, "value", v, 8);
	if (nul) {
		mm_table_num(t, "null_mean", nul->mean, 8);
		mm_table_num(t, "null_sd", nul->sd, 8);
		mm_table_num(t, "p_value", nul->p, 8);
		mm_table_num(t, "calibrated", nul->calibrated, 8);
	}
	mm_table_end_row(t);
}

/* --force: segments of different models are read as one set (prov.h) */
static int force;

/* The bandwidth factor 1 / (2 s^2 m2) of one side's RBF kernel; infinity
 * (the metric NaN) when the median distance is 0. */
static double
rbf_gamma(const float *Z, int64_t N, int D, double sigma, int threads,
    const char *side)
{
	double m2;

	if (mm_align_rbf_median(Z, N, D, threads, &m2) < 0)
		mm_die("%s", mm_errmsg());
	if (!(m2 > 0.0)) {
		mm_warn("cka_rbf: the median distance of %s is 0: NaN", side);
		return INFINITY;
	}
	mm_note("cka_rbf: %s median distance %.6g, bandwidth %.6g", side,
	    sqrt(m2), sigma * sqrt(m2));
	return 1.0 / (2.0 * sigma * sigma * m2);
}

/* The embeddings of the operands: two .npy files, one .npz, or a stream
 * (absent or "-": stdin); returns the name for messages. */
static const char *
read_input(struct mm_emb *e, int argc, char **argv)
{
	const char *inp = argc ? argv[0] : NULL, *name = mm_in_name(inp), *bad;
	FILE *f;
	int rc;

	mm_emb_init(e);
	if (argc == 2 || mm_npy_kind(inp)) {
		/* numpy arrays: the two sides, no metadata */
		if (argc == 2 && (mm_npy_kind(argv[0]) != 'y' ||
		    mm_npy_kind(argv[1]) != 'y'))
			mm_die("two inputs must be .npy files (got %s, %s)",
			    argv[0], argv[1]);
		if (argc == 1 && mm_npy_kind(inp) != 'z')
			mm_die("%s: one .npy holds one side: give two .npy "
			    "files or one .npz", inp);
		if ((rc = mm_npy_emb(e, argv[0], argc == 2 ? argv[1] : NULL,
		    &bad)) < 0)
			mm_die_err(bad, rc);
		return argc == 2 ? argv[0] : name;
	}
	f = mm_in_open(inp);
	if ((rc = mm_emb_read(e, f, name, MM_EMB_NOFACTORS |
	    (force ? MM_EMB_ANYMODEL : 0))) < 0)
		mm_die("%s: %s%s", name, mm_errmsg(), rc == MM_EINVAL ?
		    " (--force reads it anyway)" : "");
	mm_in_close(f);
	return name;
}

int
main(int argc, char **argv)
{
	struct mm_cli cli;
	struct mm_emb e;
	struct mm_table tab;
	struct mm_align_suite su;
	long kl[MAXK];
	int ks[MAXK] = { 1, 5 }, nk = 2, json = 0, norm = 0, svdim = 10, ch, t;
	int sel = MM_ALIGN_DEFAULT, P = 0;
	uint64_t seed = 0;
	double t0, sigma = 1.0;
	const char *name;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	while ((ch = getopt_long(argc, argv, "hk:no:qs:t:Vv", lopts, NULL)) != -1)
		switch (ch) {
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_FORMAT:
			if ((json = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
			break;
		case OPT_METRICS:
			sel = parse_metrics(optarg);
			break;
		case OPT_PERM:
			P = (int)mm_cli_long("--permutations", optarg, 2,
			    1000000);
			break;
		case OPT_RBF:
			sigma = mm_cli_double("--rbf-sigma", optarg, 1e-6, 1e6);
			break;
		case OPT_SVCCA:
			svdim = (int)mm_cli_long("--svcca-dim", optarg, 1, 4096);
			break;
		case 'k':
			nk = mm_cli_longs("-k", optarg, 1, 1000000, kl, MAXK);
			for (t = 0; t < nk; t++)
				ks[t] = (int)kl[t];
			break;
		case 'n':       /* -n is the sample count elsewhere */
			norm = 2;
			break;
		case OPT_NORM:
			norm = 1;
			break;
		case 's':
			seed = (uint64_t)mm_cli_long("-s", optarg, 0,
			    0x7fffffffffffffffL);
			break;
		default:
			mm_cli_option(&cli, ch, optarg);
		}
	argc -= optind;
	argv += optind;
	mm_note("%s", mm_blas_core_desc());
	if (mm_bf16_level(-1))
		mm_note("neighbour searches in %s tiles: vdpbf16ps does %.2f "
		    "times the multiply-adds per second of fp32 FMA here "
		    "(measured; bf16 from %.2f)", mm_align_search_default() ==
		    MM_ALIGN_PATH_BF16 ? "bf16" : "float32", mm_bf16_rate(),
		    MM_BF16_PAYS);
	else
		mm_note("neighbour searches in float32 tiles: %s",
		    mm_bf16_missing());
	if (argc > 2)
		mm_cli_usage(&cli, 2);
	if (norm == 2)
		mm_warn("-n is deprecated: use --normalize");
	name = read_input(&e, argc, argv);
	if (!e.z_img || !e.z_fac)
		mm_die("%s: needs both z_img and z_fac (this stream has only "
		    "%s)", name, e.z_img ? "z_img" : "z_fac");
	if (e.N < 4)
		mm_die("%s: %lld rows: alignment needs at least 4",
		    name, (long long)e.N);
	for (t = 0; t < nk; t++)
		if (ks[t] >= e.N)
			mm_die("-k: %d needs more than %d rows (%s has %lld)",
			    ks[t], ks[t], name, (long long)e.N);
	if ((sel & MM_ALIGN_RBF) && e.N > MM_ALIGN_RBF_MAXN)
		mm_die("%s: %lld rows: cka_rbf takes at most %d (its median "
		    "distance holds N (N - 1) / 2 values)", name,
		    (long long)e.N, MM_ALIGN_RBF_MAXN);
	if (norm) {
		mm_align_normalise(e.z_img, e.N, e.Dimg);
		mm_align_normalise(e.z_fac, e.N, e.Dfac);
	}

	t0 = mm_now();
	memset(&su, 0, sizeof su);
	su.A = e.z_img;
	su.B = e.z_fac;
	su.Da = e.Dimg;
	su.Db = e.Dfac;
	su.N = e.N;
	su.svdim = svdim;
	su.sel = sel;
	su.threads = cli.threads;
	su.ks = ks;
	su.nk = nk;
	su.P = P;
	su.seed = seed;
	if (e.Dimg != e.Dfac && (sel & (MM_ALIGN_COS | MM_ALIGN_GAP |
	    MM_ALIGN_RECALL)))
		mm_warn("%s: z_img (%d) and z_fac (%d) differ in width: no "
		    "cosine, gap or recall", name, e.Dimg, e.Dfac);
	if (sel & MM_ALIGN_RBF) {
		su.ga = rbf_gamma(e.z_img, e.N, e.Dimg, sigma, cli.threads,
		    "z_img");
		su.gb = rbf_gamma(e.z_fac, e.N, e.Dfac, sigma, cli.threads,
		    "z_fac");
	}
	if (mm_align_suite_run(&su) < 0)
		mm_die("%s", mm_errmsg());
	mm_note("%lld rows: metrics%s in %.3f s", (long long)e.N, P > 0 ?
	    " and their null" : "", mm_now() - t0);

	mm_table_open(&tab, mm_out_open(cli.out, 0), json);
	mm_table_member_int(&tab, "rows", e.N);
	if (P > 0)
		mm_table_member_int(&tab, "permutations", P);
	mm_table_array(&tab, "metrics", P > 0 ? "metric\tk\tvalue\tnull_mean"
	    "\tnull_sd\tp_value\tcalibrated" : "metric\tk\tvalue");
	for (t = 0; t < su.n; t++)
		emit(&tab, su.name[t], su.k[t], su.value[t], P > 0 ?
		    su.null + t : NULL);
	mm_table_close(&tab);
	mm_out_close(tab.f);
	mm_emb_free(&e);
	return 0;
}
