/*
 * mmib-probe - linear probes of embeddings: how much of each factor the
 * image and factor representations carry (cross-entropy, MI, nMI,
 * accuracy), per factor and summed over the essence and nuisance factors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "emb.h"
#include "err.h"
#include "meta.h"
#include "prov.h"
#include "npy.h"
#include "probe.h"
#include "table.h"

static const char usage[] =
    "usage: mmib-probe [-hqVv] [--C C] [--factor list] [--force]\n"
    "                  [--format tsv|json] [--max-iter N]\n"
    "                  [--modality img|fac|both] [-o file]\n"
    "                  [-t threads] [--tol T] --train train.mts [test.mts]\n"
    "       mmib-probe [options] [--labels y.npy] [--names list]\n"
    "                  [--train-labels y.npy] --train train.npy|train.npz\n"
    "                  test.npy|test.npz\n";

static const char help[] =
    "  --train FILE          embeddings to fit on (required); test: the operand\n"
    "                        or stdin\n"
    "  --factor LIST         probe only these factors (default: all)\n"
    "  --labels FILE         the test rows' labels (.npy, (N,) or (N, F))\n"
    "  --train-labels FILE   the training rows' labels (.npy)\n"
    "  --names LIST          names of the label columns (y, or y1,y2,...)\n"
    "  --modality M          img, fac or both (default both)\n"
    "  --force               use inputs of mismatched provenance (prov: mmib-stream(5))\n"
    "  --C C                 inverse L2 strength, as scikit-learn (1.0)\n"
    "  --max-iter N          L-BFGS iterations per probe (100)\n"
    "  --tol T               gradient tolerance of the fit (1e-4)\n"
    "  --format F            tsv (default) or json\n"
    "  -o, --output FILE     write the table to FILE, not stdout\n"
    "  -t, --threads N       fit the two modalities on two threads (1)\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n"
    "Input: mmib-encode streams, or .npy/.npz embeddings with integer labels.\n";

enum { OPT_C = 256, OPT_FACTOR, OPT_FORCE, OPT_FORMAT, OPT_LABELS,
    OPT_MAXITER, OPT_MODALITY, OPT_NAMES, OPT_TOL, OPT_TRAIN,
    OPT_TRAIN_LABELS };

static const struct option lopts[] = {
	{ "C", required_argument, NULL, OPT_C },
	{ "factor", required_argument, NULL, OPT_FACTOR },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "help", no_argument, NULL, 'h' },
	{ "labels", required_argument, NULL, OPT_LABELS },
	{ "max-iter", required_argument, NULL, OPT_MAXITER },
	{ "modality", required_argument, NULL, OPT_MODALITY },
	{ "names", required_argument, NULL, OPT_NAMES },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "threads", required_argument, NULL, 't' },
	{ "tol", required_argument, NULL, OPT_TOL },
	{ "train", required_argument, NULL, OPT_TRAIN },
	{ "train-labels", required_argument, NULL, OPT_TRAIN_LABELS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* --force: inputs of mismatched provenance are used (prov.h) */
static int force;

/* One side: a stream, or numpy embeddings with their labels (labels
 * NULL: inside the .npz); returns 1 for numpy input. */
static int
read_emb(struct mm_emb *e, const char *path, const char *labels,
    const char *opt)
{
	const char *bad;
	FILE *f;
	int rc;

	if (mm_npy_kind(path)) {
		if ((rc = mm_npy_labelled(e, path, labels, &bad)) < 0)
			mm_die_err(bad, rc);
		return 1;
	}
	if (labels)
		mm_die("%s: %s: labels go with .npy/.npz embeddings (a stream "
		    "holds its classes)", opt, labels);
	f = mm_in_open(path);
	rc = mm_emb_read(e, f, mm_in_name(path), MM_EMB_CLASSES |
	    (force ? MM_EMB_ANYMODEL : 0));
	if (rc < 0)
		mm_die("%s: %s%s", mm_in_name(path), mm_errmsg(),
		    rc == MM_EINVAL ? " (--force reads it anyway)" : "");
	mm_in_close(f);
	return 0;
}

/* The factors of numpy labels, the same for both sides: F columns named
 * by --names (or y, y1..yF), K = the largest label + 1, no roles. */
static void
name_factors(struct mm_emb *tr, struct mm_emb *te, const char *names)
{
	struct mm_factors fac;
	int64_t i;
	int j, n = 0;

	if (tr->F != te->F)
		mm_die("the training labels have %d column%s and the test "
		    "labels %d", tr->F, tr->F == 1 ? "" : "s", te->F);
	if (tr->F > MM_MAXFACTORS)
		mm_die("labels of %d columns: at most %d factors", tr->F,
		    MM_MAXFACTORS);
	memset(&fac, 0, sizeof fac);
	fac.F = tr->F;
	if (names) {
		char buf[1024], *tok, *save = NULL;
		if (strlen(names) >= sizeof buf)
			mm_die("--names: list too long");
		strcpy(buf, names);
		for (tok = strtok_r(buf, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save), n++) {
			if (n >= fac.F || strlen(tok) >= sizeof fac.name[0])
				mm_die("--names: %s", n >= fac.F ? "more names "
				    "than label columns" : "a name over 31 "
				    "characters");
			strcpy(fac.name[n], tok);
		}
		if (n != fac.F)
			mm_die("--names: %d names for %d label columns", n,
			    fac.F);
	} else {
		for (j = 0; j < fac.F; j++)
			snprintf(fac.name[j], sizeof fac.name[j], fac.F == 1 ?
			    "y" : "y%d", j + 1);
	}
	for (j = 0; j < fac.F; j++) {
		int32_t top = 0;
		for (i = 0; i < tr->N; i++)
			if (tr->classes[i * fac.F + j] > top)
				top = tr->classes[i * fac.F + j];
		for (i = 0; i < te->N; i++)
			if (te->classes[i * fac.F + j] > top)
				top = te->classes[i * fac.F + j];
		if (top >= 1 << 20)
			mm_die("%s: label %d: at most 2^20 classes", fac.name[j],
			    (int)top);
		fac.card[j] = top + 1;
	}
	tr->fac = fac;
	te->fac = fac;
}

/* use[] from --modality (NULL: every embedding present). */
static void
choose_modalities(const struct mm_emb *e, const char *mods, const char *name,
    int *use)
{
	use[0] = e->z_img != NULL;
	use[1] = e->z_fac != NULL;
	if (mods && strcmp(mods, "both")) {
		int k = strcmp(mods, "img") == 0 ? 0 : 1;
		if (!use[k])
			mm_die("%s: no z_%s tensor for --modality %s", name,
			    mods, mods);
		use[1 - k] = 0;
	} else if (mods && (!use[0] || !use[1])) {
		mm_die("%s: --modality both needs z_img and z_fac", name);
	}
}

/* want[] from --factor (NULL: every factor), less those of one class. */
static void
choose_factors(const struct mm_emb *e, const char *list, const char *name,
    int *want)
{
	int i;

	for (i = 0; i < e->fac.F; i++)
		want[i] = list == NULL;
	if (list) {
		char buf[1024], *tok, *save = NULL;
		if (strlen(list) >= sizeof buf)
			mm_die("--factor: list too long");
		strcpy(buf, list);
		for (tok = strtok_r(buf, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save)) {
			int k = mm_factors_find(&e->fac, tok);
			if (k < 0) {
				char all[MM_MAXFACTORS * 33] = "";
				for (k = 0; k < e->fac.F; k++) {
					if (k)
						strcat(all, ",");
					strcat(all, e->fac.name[k]);
				}
				mm_die("--factor: '%s' is not a factor of %s "
				    "(its factors: %s)", tok, name, all);
			}
			want[k] = 1;
		}
	}
	for (i = 0; i < e->fac.F; i++)
		if (want[i] && e->fac.card[i] < 2) {
			mm_warn("factor %s has 1 class: skipped (ln K = 0, nMI "
			    "undefined)", e->fac.name[i]);
			want[i] = 0;
		}
	for (i = 0; i < e->fac.F && !want[i]; i++)
		;
	if (i == e->fac.F)
		mm_die("%s: no factor to probe (%s)", name, list ?
		    "--factor names none with 2 or more classes" :
		    "every factor has 1 class");
}

/* What the fits say beyond their figures. */
static void
report(const struct mm_emb *e, const struct mm_probe_fit *fit, int n,
    int max_iter)
{
	int i;

	for (i = 0; i < n; i++) {
		const char *mn = mm_probe_modname[fit[i].mod];
		const char *fn = e->fac.name[fit[i].factor];
		if (fit[i].r.status < 0) {
			mm_warn("%s/%s: the training set holds a single class "
			    "of this factor: skipped", mn, fn);
			continue;
		}
		if (fit[i].r.unseen)
			mm_warn("%s/%s: %lld test rows of classes absent from "
			    "training (counted wrong, cross-entropy clipped)",
			    mn, fn, (long long)fit[i].r.unseen);
		if (!fit[i].r.converged)
			mm_warn("%s/%s: no convergence in %d iterations (%s): "
			    "raise --max-iter or --tol", mn, fn, fit[i].r.iters,
			    fit[i].r.iters >= max_iter ? "--max-iter reached" :
			    "the line search failed");
		mm_note("%s/%s: %d iterations", mn, fn, fit[i].r.iters);
	}
}

/* One row per fitted probe, in modality then factor order, then the
 * group rows (in TSV the same table; in JSON a second array). */
static void
print_table(FILE *f, int json, const struct mm_emb *e,
    const struct mm_probe_fit *fit, int n, int roles)
{
	struct mm_probe_group g[2 * MM_PROBE_NMOD];
	struct mm_table t;
	int i, ng = roles ? mm_probe_groups(fit, n, g) : 0;

	mm_table_open(&t, f, json);
	mm_table_array(&t, "probes", "modality\tfactor\trole\tK\tlnK\tce\tmi"
	    "\tnmi\tacc\titers\tconverged");
	for (i = 0; i < n; i++) {
		const struct mm_probe_result *r = &fit[i].r;
		if (r->status < 0)
			continue;
		mm_table_row(&t);
		mm_table_str(&t, "modality", mm_probe_modname[fit[i].mod]);
		mm_table_str(&t, "factor", e->fac.name[fit[i].factor]);
		if (roles)
			mm_table_str(&t, "role", fit[i].essence ? "essence" :
			    "nuisance");
		else
			mm_table_none(&t, "role");
		mm_table_int(&t, "K", r->K);
		mm_table_num(&t, "lnK", r->lnK, 6);
		mm_table_num(&t, "ce", r->ce, 6);
		mm_table_num(&t, "mi", r->mi, 6);
		mm_table_num(&t, "nmi", r->nmi, 6);
		mm_table_num(&t, "acc", r->acc, 6);
		mm_table_int(&t, "iters", r->iters);
		mm_table_json_int(&t, "seen", r->Kseen);
		mm_table_json_int(&t, "unseen_rows", r->unseen);
		mm_table_int(&t, "converged", r->converged);
		mm_table_end_row(&t);
	}
	mm_table_array(&t, "groups", NULL);
	for (i = 0; i < ng; i++) {
		mm_table_row(&t);
		mm_table_str(&t, "modality", mm_probe_modname[g[i].mod]);
		mm_table_str(&t, "group", g[i].essence ? "essence" :
		    "nuisance");
		mm_table_str(&t, NULL, "group");
		mm_table_none(&t, NULL);
		mm_table_json_int(&t, "factors", g[i].n);
		mm_table_num(&t, "lnK", g[i].lnK, 6);
		mm_table_num(&t, "ce", g[i].ce, 6);
		mm_table_num(&t, "mi", g[i].mi, 6);
		mm_table_num(&t, "nmi", g[i].nmi, 6);
		mm_table_num(&t, "acc", g[i].acc, 6);
		mm_table_none(&t, NULL);
		mm_table_none(&t, NULL);
		mm_table_end_row(&t);
	}
	mm_table_close(&t);
}

int
main(int argc, char **argv)
{
	struct mm_cli cli;
	struct mm_probe_opts opt;
	struct mm_probe_fit fit[MM_PROBE_NMOD * MM_MAXFACTORS];
	struct mm_emb tr, te;
	const char *trainp = NULL, *testp, *factors = NULL, *mods = NULL;
	const char *trlab = NULL, *telab = NULL, *names = NULL;
	int ext, json = 0, want[MM_MAXFACTORS], use[MM_PROBE_NMOD], ch, n, nmod, rc;
	double t0;
	FILE *out;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	mm_probe_defaults(&opt);
	while ((ch = getopt_long(argc, argv, "ho:qt:Vv", lopts, NULL)) != -1)
		switch (ch) {
		case OPT_C:
			opt.C = mm_cli_double("--C", optarg, 1e-12, 1e12);
			break;
		case OPT_FACTOR:
			factors = optarg;
			break;
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_FORMAT:
			if ((json = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
			break;
		case OPT_LABELS:
			telab = optarg;
			break;
		case OPT_NAMES:
			names = optarg;
			break;
		case OPT_TRAIN_LABELS:
			trlab = optarg;
			break;
		case OPT_MAXITER:
			opt.max_iter = (int)mm_cli_long("--max-iter", optarg, 0,
			    1000000);
			break;
		case OPT_MODALITY:
			mods = optarg;
			if (strcmp(mods, "img") && strcmp(mods, "fac") &&
			    strcmp(mods, "both"))
				mm_die("--modality: '%s' is not img, fac or both",
				    mods);
			break;
		case OPT_TOL:
			opt.tol = mm_cli_double("--tol", optarg, 0, 1e6);
			break;
		case OPT_TRAIN:
			trainp = optarg;
			break;
		default:
			mm_cli_option(&cli, ch, optarg);
		}
	argc -= optind;
	argv += optind;
	mm_note("%s", mm_blas_core_desc());
	if (!trainp || argc > 1)
		mm_cli_usage(&cli, 2);
	testp = argc ? argv[0] : NULL;
	if (strcmp(trainp, "-") == 0 && (testp == NULL ||
	    strcmp(testp, "-") == 0))
		mm_die("--train and the test set cannot both be stdin");

	t0 = mm_now();
	mm_emb_init(&tr);
	mm_emb_init(&te);
	ext = read_emb(&tr, trainp, trlab, "--train-labels");
	if (read_emb(&te, testp, telab, "--labels") != ext)
		mm_die("--train %s and the test set %s: both streams or both "
		    "numpy files", mm_in_name(trainp), mm_in_name(testp));
	if (ext)
		name_factors(&tr, &te, names);
	else if (names)
		mm_die("--names: only for numpy labels (a stream names its "
		    "factors)");
	if ((rc = mm_emb_match(&tr, &te)) < 0)
		mm_die("%s, %s: %s", mm_in_name(trainp), mm_in_name(testp),
		    mm_errmsg());
	if (!force && mm_prov_check_probe(&tr.meta, &te.meta) < 0)
		mm_die("%s, %s: %s (--force probes anyway)",
		    mm_in_name(trainp), mm_in_name(testp), mm_errmsg());
	if (mm_prov_known(&tr.meta, "model.fp") < 0 ||
	    mm_prov_known(&te.meta, "model.fp") < 0)
		mm_note("%s, %s: no model fingerprint (an older mmib?): not "
		    "checked", mm_in_name(trainp), mm_in_name(testp));
	mm_note("read %lld train and %lld test rows in %.3f s",
	    (long long)tr.N, (long long)te.N, mm_now() - t0);
	choose_modalities(&tr, mods, mm_in_name(trainp), use);
	choose_factors(&tr, factors, mm_in_name(trainp), want);

	t0 = mm_now();
	if ((n = mm_probe_emb(&tr, &te, use, want, &opt, cli.threads,
	    fit)) < 0)
		mm_die("%s", mm_errmsg());
	if ((rc = mm_probe_measured(&te, fit, n)) < 0)
		mm_die("%s: %s", mm_in_name(testp), mm_errmsg());
	if (rc > 0)
		mm_note("marginals=measured: nMI over the entropy of the test "
		    "labels (column lnK), not ln K");
	nmod = n ? 1 + (fit[0].mod != fit[n - 1].mod) : 0;
	mm_note("%d probes of %d modalit%s in %.3f s", n, nmod,
	    nmod == 1 ? "y" : "ies", mm_now() - t0);
	report(&tr, fit, n, opt.max_iter);

	out = mm_out_open(cli.out, 0);
	print_table(out, json, &tr, fit, n, !ext);
	mm_out_close(out);
	mm_emb_free(&tr);
	mm_emb_free(&te);
	return 0;
}
