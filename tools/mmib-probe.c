/*
 * mmib-probe - linear probes of embeddings: how much of each factor the
 * image and factor representations carry (cross-entropy, MI, nMI,
 * accuracy), per factor and summed over the essence and nuisance factors.
 */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "meta.h"
#include "emb.h"
#include "probe.h"

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: mmib-probe [-hqVv] [--C C] [--factor list] "
	    "[--format tsv|json]\n"
	    "                  [--max-iter N] [--modality img|fac|both] "
	    "[-o file] [-t threads]\n"
	    "                  [--tol T] --train train.mts [test.mts]\n");
	exit(status);
}

enum { OPT_C = 256, OPT_FACTOR, OPT_FORMAT, OPT_MAXITER, OPT_MODALITY,
    OPT_TOL, OPT_TRAIN };

/* The probes of one modality, fitted together. */
struct job {
	int mod;                /* 0 img, 1 fac */
	int n;                  /* factors */
	int factor[MM_MAXFACTORS];
	struct mm_probe_result r[MM_MAXFACTORS];
	int rc;
	char err[512];
};

struct ctx {
	const struct mm_emb *tr, *te;
	const struct mm_probe_opts *opt;
	struct job *jobs;
	int njobs, next;
	pthread_mutex_t lock;
};

static const char *modname[2] = { "img", "fac" };

static const float *
modality(const struct mm_emb *e, int mod, int *D)
{
	*D = mod == 0 ? e->Dimg : e->Dfac;
	return mod == 0 ? e->z_img : e->z_fac;
}

/* Column f of the (N, F) class table. */
static int32_t *
column(const struct mm_emb *e, int f)
{
	int32_t *y = malloc(sizeof(int32_t) * e->N);
	int64_t i;

	if (!y)
		return NULL;
	for (i = 0; i < e->N; i++)
		y[i] = e->classes[i * e->F + f];
	return y;
}

static void
run_job(struct ctx *c, struct job *j)
{
	int D, K[MM_MAXFACTORS], k, ok = 1;
	const float *Xtr = modality(c->tr, j->mod, &D);
	const float *Xte = modality(c->te, j->mod, &D);
	int32_t *ytr[MM_MAXFACTORS], *yte[MM_MAXFACTORS];

	for (k = 0; k < j->n; k++) {
		ytr[k] = column(c->tr, j->factor[k]);
		yte[k] = column(c->te, j->factor[k]);
		K[k] = c->tr->fac.card[j->factor[k]];
		ok = ok && ytr[k] && yte[k];
	}
	if (!ok) {
		j->rc = MM_ENOMEM;
		snprintf(j->err, sizeof j->err, "out of memory");
	} else {
		j->rc = mm_probe_many(Xtr, c->tr->N, Xte, c->te->N, D, j->n,
		    (const int32_t *const *)ytr, (const int32_t *const *)yte, K,
		    c->opt, j->r);
		if (j->rc < 0)
			snprintf(j->err, sizeof j->err, "%s", mm_errmsg());
	}
	for (k = 0; k < j->n; k++) {
		free(ytr[k]);
		free(yte[k]);
	}
}

static void *
worker(void *arg)
{
	struct ctx *c = arg;

	for (;;) {
		int k;
		pthread_mutex_lock(&c->lock);
		k = c->next++;
		pthread_mutex_unlock(&c->lock);
		if (k >= c->njobs)
			return NULL;
		run_job(c, &c->jobs[k]);
	}
}

static void
read_emb(struct mm_emb *e, const char *path)
{
	FILE *f = mm_in_open(path);
	int rc = mm_emb_read(e, f, mm_in_name(path), 1);

	if (rc < 0)
		mm_die_err(mm_in_name(path), rc);
	mm_in_close(f);
}

/* Train and test must describe the same factors and representation. */
static void
check_pair(const struct mm_emb *tr, const struct mm_emb *te,
    const char *ntr, const char *nte)
{
	int i;

	if (tr->fac.F != te->fac.F)
		mm_die("%s, %s: train and test name %d and %d factors", ntr,
		    nte, tr->fac.F, te->fac.F);
	for (i = 0; i < tr->fac.F; i++) {
		if (strcmp(tr->fac.name[i], te->fac.name[i]) ||
		    tr->fac.card[i] != te->fac.card[i])
			mm_die("%s, %s: factor %d differs between train (%s, "
			    "%d classes) and test (%s, %d classes)", ntr, nte,
			    i + 1, tr->fac.name[i], tr->fac.card[i],
			    te->fac.name[i], te->fac.card[i]);
		if (tr->fac.essence[i] != te->fac.essence[i])
			mm_die("%s, %s: factor %s is essence in one and "
			    "nuisance in the other", ntr, nte, tr->fac.name[i]);
	}
	if ((tr->z_img != NULL) != (te->z_img != NULL) ||
	    (tr->z_fac != NULL) != (te->z_fac != NULL))
		mm_die("%s, %s: train and test hold different embeddings "
		    "(z_img/z_fac)", ntr, nte);
	if (tr->Dimg != te->Dimg || tr->Dfac != te->Dfac)
		mm_die("%s, %s: embedding widths differ between train "
		    "(z_img %d, z_fac %d) and test (z_img %d, z_fac %d)", ntr,
		    nte, tr->Dimg, tr->Dfac, te->Dimg, te->Dfac);
}

/* JSON has no NaN or infinity: those become null. */
static void
jnum(FILE *o, const char *key, double v, int comma)
{
	if (isfinite(v))
		fprintf(o, "\"%s\": %.6f%s", key, v, comma ? ", " : "");
	else
		fprintf(o, "\"%s\": null%s", key, comma ? ", " : "");
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "C", required_argument, NULL, OPT_C },
		{ "factor", required_argument, NULL, OPT_FACTOR },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "help", no_argument, NULL, 'h' },
		{ "max-iter", required_argument, NULL, OPT_MAXITER },
		{ "modality", required_argument, NULL, OPT_MODALITY },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 't' },
		{ "tol", required_argument, NULL, OPT_TOL },
		{ "train", required_argument, NULL, OPT_TRAIN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct mm_probe_opts opt;
	struct mm_emb tr, te;
	struct ctx c;
	struct {
		int mod, factor;
		const struct mm_probe_result *r;
	} rows[2 * MM_MAXFACTORS];
	int nrows = 0;
	const char *trainp = NULL, *testp = NULL, *outp = NULL;
	const char *factors = NULL, *mods = NULL;
	int json = 0, threads = 1, want[MM_MAXFACTORS], usemod[2], ch, i, m;
	double t0;
	FILE *out;

	mm_cli_init(argc, argv);
	mm_probe_defaults(&opt);
	while ((ch = getopt_long(argc, argv, "ho:qt:Vv", lopts, NULL)) != -1) {
		switch (ch) {
		case OPT_C:
			opt.C = mm_cli_double("--C", optarg, 1e-12, 1e12);
			break;
		case OPT_FACTOR:
			factors = optarg;
			break;
		case OPT_FORMAT:
			if (strcmp(optarg, "tsv") == 0)
				json = 0;
			else if (strcmp(optarg, "json") == 0)
				json = 1;
			else
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
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
		case 'h':
			usage(0);
			break;
		case 'o':
			outp = optarg;
			break;
		case 'q':
			mm_verbose = 0;
			break;
		case 't':
			threads = (int)mm_cli_long("-t", optarg, 1, 256);
			break;
		case 'V':
			mm_cli_version();
			break;
		case 'v':
			mm_verbose++;
			break;
		default:
			usage(1);
		}
	}
	argc -= optind;
	argv += optind;
	if (!trainp || argc > 1)
		usage(1);
	testp = argc ? argv[0] : NULL;
	if ((trainp == NULL || strcmp(trainp, "-") == 0) &&
	    (testp == NULL || strcmp(testp, "-") == 0))
		mm_die("--train and the test set cannot both be stdin");

	t0 = mm_now();
	mm_emb_init(&tr);
	mm_emb_init(&te);
	read_emb(&tr, trainp);
	read_emb(&te, testp);
	check_pair(&tr, &te, mm_in_name(trainp), mm_in_name(testp));
	mm_note("read %lld train and %lld test rows in %.3f s",
	    (long long)tr.N, (long long)te.N, mm_now() - t0);

	/* which modalities and factors */
	usemod[0] = tr.z_img != NULL;
	usemod[1] = tr.z_fac != NULL;
	if (mods && strcmp(mods, "both")) {
		int k = strcmp(mods, "img") == 0 ? 0 : 1;
		if (!usemod[k])
			mm_die("%s: no z_%s tensor for --modality %s",
			    mm_in_name(trainp), mods, mods);
		usemod[1 - k] = 0;
	} else if (mods && (!usemod[0] || !usemod[1])) {
		mm_die("%s: --modality both needs z_img and z_fac",
		    mm_in_name(trainp));
	}
	for (i = 0; i < tr.fac.F; i++)
		want[i] = factors == NULL;
	if (factors) {
		char buf[1024], *tok, *save = NULL;
		if (strlen(factors) >= sizeof buf)
			mm_die("--factor: list too long");
		strcpy(buf, factors);
		for (tok = strtok_r(buf, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save)) {
			int k = mm_factors_find(&tr.fac, tok);
			if (k < 0)
				mm_die("--factor: '%s' is not a factor of %s "
				    "(its factors: %s)", tok, mm_in_name(trainp),
				    mm_meta_get(&tr.meta, "factors"));
			want[k] = 1;
		}
	}

	memset(&c, 0, sizeof c);
	c.tr = &tr;
	c.te = &te;
	c.opt = &opt;
	c.jobs = calloc(2, sizeof *c.jobs);
	if (!c.jobs)
		mm_die("out of memory");
	for (i = 0; i < tr.fac.F; i++)
		if (want[i] && tr.fac.card[i] < 2) {
			mm_warn("factor %s has 1 class: skipped (ln K = 0, nMI "
			    "undefined)", tr.fac.name[i]);
			want[i] = 0;
		}
	for (m = 0; m < 2; m++) {
		struct job *j = &c.jobs[c.njobs];
		if (!usemod[m])
			continue;
		j->mod = m;
		for (i = 0; i < tr.fac.F; i++)
			if (want[i])
				j->factor[j->n++] = i;
		if (j->n)
			c.njobs++;
	}
	pthread_mutex_init(&c.lock, NULL);
	t0 = mm_now();
	if (threads > c.njobs)
		threads = c.njobs;
	if (threads <= 1) {
		worker(&c);
	} else {
		pthread_t *th = calloc(threads, sizeof *th);
		if (!th)
			mm_die("out of memory");
		for (i = 0; i < threads; i++)
			if (pthread_create(&th[i], NULL, worker, &c))
				mm_die("cannot start a thread");
		for (i = 0; i < threads; i++)
			pthread_join(th[i], NULL);
		free(th);
	}
	for (i = 0, m = 0; i < c.njobs; i++)
		m += c.jobs[i].n;
	mm_note("%d probes of %d modalit%s in %.3f s", m, c.njobs,
	    c.njobs == 1 ? "y" : "ies", mm_now() - t0);

	for (i = 0; i < c.njobs; i++) {
		struct job *j = &c.jobs[i];
		int k;
		if (j->rc < 0)
			mm_die("%s: %s", modname[j->mod], j->err);
		for (k = 0; k < j->n; k++) {
			const char *fn = tr.fac.name[j->factor[k]];
			if (j->r[k].status < 0) {
				mm_warn("%s/%s: the training set holds a single "
				    "class of this factor: skipped",
				    modname[j->mod], fn);
				continue;
			}
			if (j->r[k].unseen)
				mm_warn("%s/%s: %lld test rows of classes absent "
				    "from training (counted wrong, cross-entropy "
				    "clipped)", modname[j->mod], fn,
				    (long long)j->r[k].unseen);
			mm_note("%s/%s: %d iterations", modname[j->mod], fn,
			    j->r[k].iters);
		}
	}

	/* the fitted probes, in modality then factor order */
	for (i = 0; i < c.njobs; i++) {
		struct job *j = &c.jobs[i];
		int k;
		for (k = 0; k < j->n; k++)
			if (j->r[k].status == 0) {
				rows[nrows].mod = j->mod;
				rows[nrows].factor = j->factor[k];
				rows[nrows].r = &j->r[k];
				nrows++;
			}
	}

	out = mm_out_open(outp, 0);
	if (json)
		fprintf(out, "{\"probes\": [");
	else
		fprintf(out, "modality\tfactor\trole\tK\tlnK\tce\tmi\tnmi\tacc"
		    "\titers\n");
	for (i = 0; i < nrows; i++) {
		const struct mm_probe_result *r = rows[i].r;
		const char *fn = tr.fac.name[rows[i].factor];
		const char *role = tr.fac.essence[rows[i].factor] ? "essence" :
		    "nuisance";
		const char *mn = modname[rows[i].mod];
		if (json) {
			fprintf(out, "%s\n  {\"modality\": \"%s\", \"factor\": "
			    "\"%s\", \"role\": \"%s\", \"K\": %d, ",
			    i ? "," : "", mn, fn, role, r->K);
			jnum(out, "lnK", r->lnK, 1);
			jnum(out, "ce", r->ce, 1);
			jnum(out, "mi", r->mi, 1);
			jnum(out, "nmi", r->nmi, 1);
			jnum(out, "acc", r->acc, 1);
			fprintf(out, "\"iters\": %d, \"seen\": %d, "
			    "\"unseen_rows\": %lld}", r->iters, r->Kseen,
			    (long long)r->unseen);
		} else {
			fprintf(out, "%s\t%s\t%s\t%d\t%.6f\t%.6f\t%.6f\t%.6f"
			    "\t%.6f\t%d\n", mn, fn, role, r->K, r->lnK, r->ce,
			    r->mi, r->nmi, r->acc, r->iters);
		}
	}
	if (json)
		fprintf(out, "\n], \"groups\": [");
	/* group rows: sums over the essence and the nuisance factors */
	{
		int first = 1, g;
		for (m = 0; m < 2; m++)
			for (g = 1; g >= 0; g--) {
				double lnk = 0, ce = 0, mi = 0, acc = 0;
				int n = 0;
				const char *gn = g ? "essence" : "nuisance";
				for (i = 0; i < nrows; i++) {
					if (rows[i].mod != m ||
					    tr.fac.essence[rows[i].factor] != g)
						continue;
					lnk += rows[i].r->lnK;
					ce += rows[i].r->ce;
					mi += rows[i].r->mi;
					acc += rows[i].r->acc;
					n++;
				}
				if (n == 0)
					continue;
				if (json) {
					fprintf(out, "%s\n  {\"modality\": \"%s\", "
					    "\"group\": \"%s\", \"factors\": %d, ",
					    first ? "" : ",", modname[m], gn, n);
					jnum(out, "lnK", lnk, 1);
					jnum(out, "ce", ce, 1);
					jnum(out, "mi", mi, 1);
					jnum(out, "nmi", mi / lnk, 1);
					jnum(out, "acc", acc / n, 0);
					fprintf(out, "}");
				} else {
					fprintf(out, "%s\t%s\tgroup\t-\t%.6f\t%.6f"
					    "\t%.6f\t%.6f\t%.6f\t-\n", modname[m],
					    gn, lnk, ce, mi, mi / lnk, acc / n);
				}
				first = 0;
			}
	}
	if (json)
		fprintf(out, "\n]}\n");
	mm_out_close(out);
	pthread_mutex_destroy(&c.lock);
	free(c.jobs);
	mm_emb_free(&tr);
	mm_emb_free(&te);
	return 0;
}
