/*
 * mmib-align - alignment between the image and factor embeddings of the
 * same rows: CKA, unbiased CKA, SVCCA, mutual and cycle kNN, CKNNA,
 * cross-modal recall@k, mean paired cosine and the modality gap.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "cli.h"
#include "err.h"
#include "emb.h"
#include "npy.h"
#include "table.h"

#define MAXK 64

static const char usage[] =
    "usage: mmib-align [-hqVv] [--force] [--format tsv|json] [-k list]\n"
    "                  [--normalize] [-o file] [--svcca-dim N] [-t threads]\n"
    "                  [emb.mts]\n"
    "       mmib-align [options] a.npy b.npy\n"
    "       mmib-align [options] ab.npz\n";

static const char help[] =
    "  -k, --k LIST          neighbourhood sizes for the kNN metrics (1,5)\n"
    "  --normalize           L2-normalise both sides first (-n: deprecated)\n"
    "  --svcca-dim N         directions kept per side by SVCCA (10)\n"
    "  --force               use inputs of mismatched provenance (prov: mmib-stream(5))\n"
    "  --format F            tsv (default) or json\n"
    "  -o, --output FILE     write the table to FILE, not stdout\n"
    "  -t, --threads N       threads for the products and searches (1)\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n"
    "Input: an mmib-encode stream, two .npy files (one per side) or one .npz.\n";

enum { OPT_FORMAT = 256, OPT_NORM, OPT_SVCCA, OPT_FORCE };

static const struct option lopts[] = {
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ "k", required_argument, NULL, 'k' },
	{ "normalize", no_argument, NULL, OPT_NORM },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "svcca-dim", required_argument, NULL, OPT_SVCCA },
	{ "threads", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* One metric row; k 0 for a metric without a neighbourhood size. */
static void
emit(struct mm_table *t, const char *metric, int k, double v)
{
	mm_table_row(t);
	mm_table_str(t, "metric", metric);
	if (k > 0)
		mm_table_int(t, "k", k);
	else
		mm_table_none(t, "k");
	mm_table_num(t, "value", v, 8);
	mm_table_end_row(t);
}

/* --force: segments of different models are read as one set (prov.h) */
static int force;

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
	long kl[MAXK];
	int ks[MAXK] = { 1, 5 }, nk = 2, json = 0, norm = 0, svdim = 10, ch, t;
	double cka, ucka, sv, cs, gap, ab[MAXK], ba[MAXK], t0;
	int32_t *nnA = NULL, *nnB = NULL, *la = NULL, *lb = NULL;
	int64_t i;
	int kmax;
	const char *name;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	while ((ch = getopt_long(argc, argv, "hk:no:qt:Vv", lopts, NULL)) != -1)
		switch (ch) {
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_FORMAT:
			if ((json = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
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
		default:
			mm_cli_option(&cli, ch, optarg);
		}
	argc -= optind;
	argv += optind;
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
	if (norm) {
		mm_align_normalise(e.z_img, e.N, e.Dimg);
		mm_align_normalise(e.z_fac, e.N, e.Dfac);
	}

	t0 = mm_now();
	mm_table_open(&tab, mm_out_open(cli.out, 0), json);
	mm_table_member_int(&tab, "rows", e.N);
	mm_table_array(&tab, "metrics", "metric\tk\tvalue");
	if (mm_align_cka(e.z_img, e.Dimg, e.z_fac, e.Dfac, e.N, cli.threads,
	    &cka, &ucka) < 0)
		mm_die("%s", mm_errmsg());
	emit(&tab, "cka", 0, cka);
	emit(&tab, "cka_unbiased", 0, ucka);
	if (mm_align_svcca(e.z_img, e.Dimg, e.z_fac, e.Dfac, e.N, svdim,
	    cli.threads, &sv) < 0)
		mm_die("%s", mm_errmsg());
	emit(&tab, "svcca", 0, sv);
	if (e.Dimg == e.Dfac) {
		if (mm_align_paired(e.z_img, e.z_fac, e.N, e.Dimg, &cs,
		    &gap) < 0 || mm_align_recall(e.z_img, e.z_fac, e.N, e.Dimg,
		    ks, nk, cli.threads, ab, ba) < 0)
			mm_die("%s", mm_errmsg());
		emit(&tab, "cosine", 0, cs);
		emit(&tab, "gap", 0, gap);
	} else {
		mm_warn("%s: z_img (%d) and z_fac (%d) differ in width: no "
		    "cosine, gap or recall", name, e.Dimg, e.Dfac);
	}
	/* the neighbour lists once, at the largest k: those at a smaller k
	 * are their prefixes */
	for (t = kmax = 0; t < nk; t++)
		if (ks[t] > kmax)
			kmax = ks[t];
	if (!(nnA = malloc(sizeof(int32_t) * e.N * kmax)) ||
	    !(nnB = malloc(sizeof(int32_t) * e.N * kmax)) ||
	    !(la = malloc(sizeof(int32_t) * e.N * kmax)) ||
	    !(lb = malloc(sizeof(int32_t) * e.N * kmax)))
		mm_die("out of memory");
	if (mm_align_knn(e.z_img, e.N, e.Dimg, kmax, cli.threads, nnA) < 0 ||
	    mm_align_knn(e.z_fac, e.N, e.Dfac, kmax, cli.threads, nnB) < 0)
		mm_die("%s", mm_errmsg());
	for (t = 0; t < nk; t++) {
		int k = ks[t];
		double v;
		for (i = 0; i < e.N; i++) {
			memcpy(la + i * k, nnA + i * kmax, sizeof(int32_t) * k);
			memcpy(lb + i * k, nnB + i * kmax, sizeof(int32_t) * k);
		}
		emit(&tab, "mutual_knn", k, mm_align_mutual_knn(la, lb, e.N, k));
		emit(&tab, "cycle_knn", k, mm_align_cycle_knn(la, lb, e.N, k));
		if (k >= 2) {
			if (mm_align_cknna(e.z_img, e.Dimg, e.z_fac, e.Dfac, e.N,
			    la, lb, k, cli.threads, &v) < 0)
				mm_die("%s", mm_errmsg());
			emit(&tab, "cknna", k, v);
		}
		if (e.Dimg == e.Dfac) {
			emit(&tab, "recall_img2fac", k, ab[t]);
			emit(&tab, "recall_fac2img", k, ba[t]);
		}
	}
	free(nnA);
	free(nnB);
	free(la);
	free(lb);
	mm_table_close(&tab);
	mm_out_close(tab.f);
	mm_note("%lld rows: metrics in %.3f s", (long long)e.N, mm_now() - t0);
	mm_emb_free(&e);
	return 0;
}
