/*
 * mmib-train - train an image encoder and a factor encoder with InfoNCE
 * or SigLIP (plus an optional alignment regulariser) on a paired stream.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "err.h"
#include "loss.h"
#include "meta.h"
#include "model.h"
#include "optim.h"
#include "rng.h"
#include "stream.h"

/* The encoder kinds for --help, from the library's table. */
static void
encoder_kinds(void)
{
	const char *name, *syntax, *help;
	int i;

	printf("encoder SPECs:\n");
	for (i = 0; (name = mm_encoder_kind(i, &syntax, &help)); i++)
		printf("  %-30s %s\n", syntax, help);
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: mmib-train [-hqVv] [--batch-size N] [--beta B] [--checkpoint]\n"
	    "                  [--code-size N] [--epochs N] [--factor-encoder SPEC]\n"
	    "                  [--gamma G] [--image-encoder SPEC] [--init MODEL]\n"
	    "                  [--learn-temperature] [--log FILE] [--lr LR]\n"
	    "                  [--momentum M] [--objective infonce|siglip]\n"
	    "                  [--optimizer adam|adamw|sgd] [--reg cos|kl]\n"
	    "                  [--resume MODEL] [-s seed]\n"
	    "                  [--step-size E] [--symmetric] [-t threads]\n"
	    "                  [--temperature T] [--test FILE] [--weight-decay WD]\n"
	    "                  [TRAIN] -o MODEL\n");
	if (!status)
		encoder_kinds();
	exit(status);
}

/* A paired data set held in memory: images stay u8 and are converted
 * batch by batch. */
struct pairs {
	int64_t N;
	int C, H, W, D;
	uint8_t *img;              /* (N, C, H, W) */
	float *pair;               /* (N, D) */
	struct mm_meta meta;
};

static void
pairs_load(struct pairs *d, const char *path)
{
	FILE *f = mm_in_open(path);
	const char *name = mm_in_name(path);
	struct mm_reader *rd = mm_reader_open(f, name);
	struct mm_batch b;
	int64_t cap = 0, i;
	int rc;

	memset(d, 0, sizeof(*d));
	mm_meta_init(&d->meta);
	if (!rd)
		mm_die("out of memory");
	mm_batch_init(&b);
	while ((rc = mm_reader_batch(rd, &b)) > 0) {
		struct mm_record *im = mm_batch_get(&b, "images");
		struct mm_record *pr = mm_batch_get(&b, "pair");
		int64_t n = b.rows;

		if (!im || !pr)
			mm_die("%s: batch %u lacks the '%s' tensor (not a paired "
			    "stream from mmib-gen?)", name, b.index,
			    im ? "pair" : "images");
		if (im->dtype != MM_U8 || im->ndim != 4)
			mm_die("%s: 'images' must be u8 (N, C, H, W)", name);
		if (pr->dtype != MM_F32 || pr->ndim != 2)
			mm_die("%s: 'pair' must be f32 (N, D)", name);
		if (d->N == 0 && cap == 0) {
			d->C = (int)im->shape[1];
			d->H = (int)im->shape[2];
			d->W = (int)im->shape[3];
			d->D = (int)pr->shape[1];
			if (mm_meta_copy(&d->meta, mm_reader_meta(rd)) < 0)
				mm_die("out of memory");
		} else if (im->shape[1] != d->C || im->shape[2] != d->H ||
		    im->shape[3] != d->W || pr->shape[1] != d->D)
			mm_die("%s: batch %u changes the image or pair shape",
			    name, b.index);
		if (d->N + n > cap) {
			cap = 2 * (d->N + n);
			d->img = realloc(d->img, (size_t)cap * d->C * d->H * d->W);
			d->pair = realloc(d->pair, (size_t)cap * d->D *
			    sizeof(float));
			if (!d->img || !d->pair)
				mm_die("%s: out of memory", name);
		}
		memcpy(d->img + (size_t)d->N * d->C * d->H * d->W, im->data,
		    im->size);
		memcpy(d->pair + (size_t)d->N * d->D, pr->data, pr->size);
		for (i = 0; i < n * d->D; i++)
			if (!isfinite(d->pair[(size_t)d->N * d->D + i]))
				mm_die("%s: 'pair' row %lld is not finite", name,
				    (long long)(d->N + i / d->D));
		d->N += n;
	}
	if (rc < 0)
		mm_die_err(name, rc);
	if (d->N < 2)
		mm_die("%s: %lld pairs; InfoNCE needs at least two", name,
		    (long long)d->N);
	mm_batch_free(&b);
	mm_reader_close(rd);
	mm_in_close(f);
}

static void
pairs_free(struct pairs *d)
{
	free(d->img);
	free(d->pair);
	mm_meta_free(&d->meta);
}

/* Rows idx[0..n) of d into x (n, C, H, W) float and p (n, D). */
static void
gather(const struct pairs *d, const int64_t *idx, int n, float *x, float *p)
{
	size_t chw = (size_t)d->C * d->H * d->W, k;
	int i;

	for (i = 0; i < n; i++) {
		const uint8_t *s = d->img + (size_t)idx[i] * chw;

		for (k = 0; k < chw; k++)
			x[i * chw + k] = s[k];
		memcpy(p + (size_t)i * d->D, d->pair + (size_t)idx[i] * d->D,
		    d->D * sizeof(float));
	}
}

/* Factor encoder of the protocol for each dataset. */
static const char *
default_factor_encoder(const char *dataset)
{
	if (dataset && !strcmp(dataset, "shapes3d"))
		return "mlp:64,64,32,32,64,64";
	if (dataset && !strncmp(dataset, "mpi3d", 5))
		return "mlp:128,128,64,64,128,128";
	return "mlp:16,16,8,8,16,16";
}

enum {
	O_BATCH = 256, O_BETA, O_CHECKPOINT, O_CODE, O_EPOCHS, O_FACENC,
	O_GAMMA, O_IMGENC, O_INIT, O_LEARNT, O_LOG, O_LR, O_MOMENTUM, O_OBJ,
	O_OPT, O_REG, O_RESUME, O_STEP, O_SYM, O_TEMP, O_TEST, O_WD
};

static const struct option longopts[] = {
	{ "batch-size", required_argument, NULL, O_BATCH },
	{ "beta", required_argument, NULL, O_BETA },
	{ "checkpoint", no_argument, NULL, O_CHECKPOINT },
	{ "code-size", required_argument, NULL, O_CODE },
	{ "epochs", required_argument, NULL, O_EPOCHS },
	{ "factor-encoder", required_argument, NULL, O_FACENC },
	{ "gamma", required_argument, NULL, O_GAMMA },
	{ "help", no_argument, NULL, 'h' },
	{ "image-encoder", required_argument, NULL, O_IMGENC },
	{ "init", required_argument, NULL, O_INIT },
	{ "learn-temperature", no_argument, NULL, O_LEARNT },
	{ "log", required_argument, NULL, O_LOG },
	{ "lr", required_argument, NULL, O_LR },
	{ "momentum", required_argument, NULL, O_MOMENTUM },
	{ "objective", required_argument, NULL, O_OBJ },
	{ "optimizer", required_argument, NULL, O_OPT },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "reg", required_argument, NULL, O_REG },
	{ "resume", required_argument, NULL, O_RESUME },
	{ "seed", required_argument, NULL, 's' },
	{ "step-size", required_argument, NULL, O_STEP },
	{ "symmetric", no_argument, NULL, O_SYM },
	{ "temperature", required_argument, NULL, O_TEMP },
	{ "test", required_argument, NULL, O_TEST },
	{ "threads", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "weight-decay", required_argument, NULL, O_WD },
	{ NULL, 0, NULL, 0 }
};

struct opts {
	const char *img_enc, *fac_enc, *out, *test, *log, *init, *resume;
	int code, batch, epochs, step_size, checkpoint, symmetric, learn_T;
	int fixed_T, objective, reg, optimizer, threads;
	double T, beta, lr, momentum, wd, gamma;
	unsigned long long seed;
};

/* Write the model (and with o the optimiser state) atomically to path. */
static void
save(struct mm_model *m, const char *path, struct mm_meta *meta,
    const struct mm_optim *o)
{
	FILE *f = mm_out_open(path, 1);
	int rc;

	if ((rc = mm_model_save(m, f, meta, o)) < 0)
		mm_die_err(path ? path : "<stdout>", rc);
	mm_out_close(f);
}

static void
set_run_meta(struct mm_meta *m, const struct opts *op, const struct mm_optim *o,
    int epoch, const struct mm_rng *rng)
{
	int rc = 0;

	rc |= mm_meta_set(m, "tool", "mmib-train");
	rc |= mm_meta_set(m, "version", MM_VERSION);
	rc |= mm_meta_set(m, "train.optimizer", mm_optim_name(op->optimizer));
	rc |= mm_meta_setf(m, "train.lr", "%.9g", op->lr);
	rc |= mm_meta_setf(m, "train.weight_decay", "%.9g", op->wd);
	rc |= mm_meta_setf(m, "train.momentum", "%.9g", op->momentum);
	rc |= mm_meta_setf(m, "train.step_size", "%d", op->step_size);
	rc |= mm_meta_setf(m, "train.gamma", "%.9g", op->gamma);
	rc |= mm_meta_setf(m, "train.batch_size", "%d", op->batch);
	rc |= mm_meta_setf(m, "train.beta", "%.9g", op->beta);
	rc |= mm_meta_setf(m, "train.symmetric", "%d", op->symmetric);
	rc |= mm_meta_setf(m, "train.seed", "%llu", op->seed);
	if (rc || mm_ckpt_to_meta(m, o, epoch, rng) < 0)
		mm_die("out of memory");
}

/* The trained scalars of the objective: declared starting values and
 * learning, then --temperature and --learn-temperature for the scalar a
 * temperature sets (infonce: T; siglip: t' = -ln T).  It is learnt by
 * default, the paper's configurations; --temperature alone fixes it,
 * with --learn-temperature it is the start value. */
static void
set_scalars(const struct opts *op, struct mm_arch *a, double *init)
{
	const struct mm_objective *ob = mm_objective_get(op->objective);
	double v;
	int k, t = mm_objective_temperature(op->objective, op->T, &v);

	for (k = 0; k < ob->nscalars; k++) {
		init[k] = ob->scalars[k].init;
		a->learn[k] = ob->scalars[k].learnt;
	}
	if (t < 0 && (op->fixed_T || op->learn_T))
		mm_die("--temperature: objective %s has no temperature",
		    ob->name);
	if (t >= 0) {
		if (op->fixed_T)
			init[t] = v;
		a->learn[t] = op->learn_T || !op->fixed_T;
	}
}

/* Log columns: the epoch, the rate, the objective's scalars, the loss and
 * its parts, the held-out loss and the time. */
static void
log_header(FILE *f, const struct mm_objective *ob)
{
	int k;

	fprintf(f, "epoch\tlr\t");
	for (k = 0; k < ob->nscalars; k++)
		fprintf(f, "%s\t", ob->scalars[k].name);
	fprintf(f, "train_loss\t%s\treg\ttest_loss\tseconds\n", ob->name);
}

/* 0 when every scalar of m is finite, and positive where declared so. */
static int
scalars_bad(const struct mm_model *m)
{
	int k;

	for (k = 0; k < m->obj->nscalars; k++)
		if (!isfinite(m->scal[k]) || (m->obj->scalars[k].positive &&
		    m->scal[k] <= 0))
			return 1;
	return 0;
}

/* ", name value" for every scalar (a static buffer), for messages. */
static const char *
scalars_text(const struct mm_model *m, int abbrev)
{
	static char buf[256];
	size_t len = 0;
	int k;

	buf[0] = '\0';
	for (k = 0; k < m->obj->nscalars && len < sizeof(buf); k++)
		len += snprintf(buf + len, sizeof(buf) - len, abbrev ?
		    " %s %.4f" : ", %s %g", abbrev ? m->obj->scalars[k].abbrev :
		    m->obj->scalars[k].name, m->scal[k]);
	return buf;
}

int
main(int argc, char **argv)
{
	struct opts op;
	struct pairs tr, te;
	struct mm_arch a;
	struct mm_encoder_info img;
	struct mm_model model;
	struct mm_loss loss;
	struct mm_optim opt;
	struct mm_rng rng;
	struct mm_meta meta;
	struct mm_progress bar;
	FILE *logf = NULL;
	int64_t *idx, *tid;
	float *x, *p;
	int c, rc, epoch, first_epoch = 0, spec_out = 0, k;
	double sinit[MM_LOSS_MAXSCALARS];
	const char *ds;

	mm_cli_init(argc, argv);
	memset(&op, 0, sizeof(op));
	op.code = 0;
	op.batch = 128;
	op.epochs = 50;
	op.step_size = 20;
	op.gamma = 0.3;
	op.lr = 1e-3;
	op.wd = -1;                /* per encoder, see below */
	op.T = 0.07;
	op.objective = MM_OBJ_INFONCE;
	op.reg = MM_REG_COS;
	op.optimizer = MM_OPT_ADAM;
	op.threads = 1;
	op.seed = 1;
	while ((c = getopt_long(argc, argv, "ho:qs:t:Vv", longopts, NULL)) != -1)
		switch (c) {
		case O_BATCH:
			op.batch = (int)mm_cli_long("--batch-size", optarg, 2, 65536);
			break;
		case O_BETA:
			op.beta = mm_cli_double("--beta", optarg, 0, 1e6);
			break;
		case O_CHECKPOINT:
			op.checkpoint = 1;
			break;
		case O_CODE:
			op.code = (int)mm_cli_long("--code-size", optarg, 1, 65536);
			break;
		case O_EPOCHS:
			op.epochs = (int)mm_cli_long("--epochs", optarg, 0, 1000000);
			break;
		case O_FACENC:
			op.fac_enc = optarg;
			break;
		case O_GAMMA:
			op.gamma = mm_cli_double("--gamma", optarg, 0, 1e6);
			break;
		case O_IMGENC:
			op.img_enc = optarg;
			break;
		case O_INIT:
			op.init = optarg;
			break;
		case O_LEARNT:
			op.learn_T = 1;
			break;
		case O_LOG:
			op.log = optarg;
			break;
		case O_LR:
			op.lr = mm_cli_double("--lr", optarg, 0, 1e38);
			break;
		case O_MOMENTUM:
			op.momentum = mm_cli_double("--momentum", optarg, 0, 1);
			break;
		case O_OBJ:
			if ((op.objective = mm_objective_parse(optarg)) < 0)
				mm_die("--objective: %s", mm_errmsg());
			break;
		case O_OPT:
			if ((op.optimizer = mm_optim_parse(optarg)) < 0)
				mm_die("--optimizer: '%s' is not adam, adamw or sgd",
				    optarg);
			break;
		case O_REG:
			if ((op.reg = mm_reg_parse(optarg)) < 0)
				mm_die("--reg: %s", mm_errmsg());
			break;
		case O_RESUME:
			op.resume = optarg;
			break;
		case O_STEP:
			op.step_size = (int)mm_cli_long("--step-size", optarg, 0,
			    1000000);
			break;
		case O_SYM:
			op.symmetric = 1;
			break;
		case O_TEMP:
			op.T = mm_cli_double("--temperature", optarg, 1e-6, 1e6);
			op.fixed_T = 1;
			break;
		case O_TEST:
			op.test = optarg;
			break;
		case O_WD:
			op.wd = mm_cli_double("--weight-decay", optarg, 0, 1e6);
			break;
		case 'h':
			usage(0);
			break;
		case 'o':
			op.out = optarg;
			break;
		case 'q':
			mm_verbose = 0;
			break;
		case 's':
			op.seed = (unsigned long long)mm_cli_long("-s", optarg, 0,
			    0x7fffffffffffffffL);
			break;
		case 't':
			op.threads = (int)mm_cli_long("-t", optarg, 1, 256);
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
	argc -= optind;
	argv += optind;
	if (argc > 1 || !op.out)
		usage(1);
	if (op.init && op.resume)
		mm_die("--init and --resume exclude each other");
	if (op.checkpoint && !strcmp(op.out, "-"))
		mm_die("--checkpoint needs -o FILE (the model is rewritten "
		    "every epoch)");
	mm_blas_threads(op.threads);

	pairs_load(&tr, argc ? argv[0] : NULL);
	ds = mm_meta_get(&tr.meta, "dataset");
	if (!op.img_enc)
		op.img_enc = "resnet20";
	if (!op.fac_enc)
		op.fac_enc = default_factor_encoder(ds);
	memset(&a, 0, sizeof(a));
	if (mm_spec_split(op.img_enc, a.img_spec, sizeof(a.img_spec),
	    &spec_out) < 0)
		mm_die("--image-encoder: %s", mm_errmsg());
	if (!op.code)
		op.code = spec_out ? spec_out : 64;
	else if (spec_out && spec_out != op.code)
		mm_die("--image-encoder %s disagrees with --code-size %d",
		    op.img_enc, op.code);
	if (mm_spec_split(op.fac_enc, a.fac_spec, sizeof(a.fac_spec),
	    &spec_out) < 0)
		mm_die("--factor-encoder: %s", mm_errmsg());
	if (spec_out && spec_out != op.code)
		mm_die("--factor-encoder %s disagrees with the code size %d",
		    op.fac_enc, op.code);
	if (mm_encoder_spec_info(a.img_spec, &img) < 0)
		mm_die("--image-encoder: %s", mm_errmsg());
	if (op.wd < 0)
		op.wd = img.weight_decay;
	a.code = op.code;
	a.C = tr.C;
	a.H = tr.H;
	a.W = tr.W;
	a.pair_dim = tr.D;
	a.objective = op.objective;
	a.reg = op.reg;
	set_scalars(&op, &a, sinit);
	if (op.test) {
		pairs_load(&te, op.test);
		if (te.C != tr.C || te.H != tr.H || te.W != tr.W || te.D != tr.D)
			mm_die("%s: images or pairs differ in shape from the "
			    "training data", op.test);
	}

	mm_rng_seed(&rng, op.seed);
	if (op.resume) {
		struct mm_resume want = { &a, op.batch, op.optimizer, op.lr,
		    op.wd, op.momentum };
		FILE *f = mm_in_open(op.resume);

		if ((rc = mm_ckpt_resume(f, op.resume, &want, &model, &opt, &rng,
		    &first_epoch)) < 0)
			mm_die_err(op.resume, rc);
		mm_in_close(f);
		mm_note("resuming %s after epoch %d (step %lld)", op.resume,
		    first_epoch, (long long)opt.step);
	} else {
		if (op.init) {
			FILE *f = mm_in_open(op.init);

			if ((rc = mm_ckpt_load(f, op.init, &a, op.batch,
			    &model)) < 0)
				mm_die_err(op.init, rc);
			mm_in_close(f);
		} else if ((rc = mm_model_create(&model, &a, op.batch)) < 0)
			mm_die_err("model", rc);
		else
			mm_model_init(&model, &rng);
		if ((rc = mm_optim_init(&opt, op.optimizer,
		    mm_model_nparams(&model), op.lr, op.wd, op.momentum)) < 0)
			mm_die_err("setup", rc);
	}
	/* a fresh model starts its scalars at the run's values; a loaded
	 * one keeps its learnt ones */
	for (k = 0; k < model.obj->nscalars; k++)
		if (!(op.resume || op.init) || !a.learn[k])
			model.scal[k] = (float)sinit[k];
	if ((rc = mm_loss_init(&loss, op.batch, op.code, op.objective, op.reg,
	    op.symmetric, op.beta)) < 0)
		mm_die_err("setup", rc);
	mm_meta_init(&meta);
	if (mm_meta_copy(&meta, &tr.meta) < 0)
		mm_die("out of memory");
	mm_note("%s + %s, code %d, %zu parameters, %lld pairs of %dx%dx%d "
	    "images and %d-d factors", a.img_spec, a.fac_spec, a.code,
	    mm_model_nparams(&model), (long long)tr.N, tr.C, tr.H, tr.W, tr.D);

	if (op.log) {
		if (!(logf = fopen(op.log, "w")))
			mm_die("%s: cannot write the log", op.log);
		log_header(logf, model.obj);
		fflush(logf);
	}
	idx = malloc(tr.N * sizeof(int64_t));
	x = malloc((size_t)op.batch * tr.C * tr.H * tr.W * sizeof(float));
	p = malloc((size_t)op.batch * tr.D * sizeof(float));
	tid = malloc((size_t)op.batch * sizeof(int64_t));
	if (!idx || !x || !p || !tid)
		mm_die("out of memory");

	for (epoch = first_epoch; epoch < op.epochs; epoch++) {
		double t0 = mm_now(), sl = 0, sn = 0, sr = 0, tl = NAN;
		int64_t i, seen = 0;

		opt.lr = mm_steplr(op.lr, epoch, op.step_size, op.gamma);
		for (i = 0; i < tr.N; i++)
			idx[i] = i;
		mm_rng_shuffle(&rng, idx, (size_t)tr.N);
		mm_progress_start(&bar, "train", (uint64_t)tr.N);
		for (i = 0; i < tr.N; i += op.batch) {
			int n = (int)(tr.N - i < op.batch ? tr.N - i : op.batch);
			double l;

			/* drop_last=False, except a final batch of one row,
			 * on which BatchNorm cannot train */
			if (n < 2)
				break;
			gather(&tr, idx + i, n, x, p);
			l = mm_model_train_step(&model, &loss, &opt, x, p, n, &rng);
			if (!isfinite(l) || scalars_bad(&model))
				mm_die("epoch %d, step %lld: the loss is not finite "
				    "(%g%s)%s%s", epoch + 1,
				    (long long)opt.step + 1, l, scalars_text(&model, 0),
				    op.checkpoint && (epoch > first_epoch ||
				    (op.resume && !strcmp(op.resume, op.out))) ?
				    "; kept the last good checkpoint in " : "",
				    op.checkpoint && (epoch > first_epoch ||
				    (op.resume && !strcmp(op.resume, op.out))) ?
				    op.out : "");
			sl += l * n;
			sn += loss.term * n;
			sr += loss.regval * n;
			seen += n;
			mm_progress_update(&bar, (uint64_t)(i + n));
		}
		mm_progress_end(&bar);
		if (op.test) {
			double s = 0;

			for (i = 0; i < te.N; i += op.batch) {
				int n = (int)(te.N - i < op.batch ? te.N - i :
				    op.batch), k;

				for (k = 0; k < n; k++)
					tid[k] = i + k;
				gather(&te, tid, n, x, p);
				s += mm_model_eval_loss(&model, &loss, x, p, n) * n;
			}
			tl = s / te.N;
		}
		sl /= seen;
		sn /= seen;
		sr /= seen;
		if (logf) {
			fprintf(logf, "%d\t%.6g\t", epoch + 1, opt.lr);
			for (k = 0; k < model.obj->nscalars; k++)
				fprintf(logf, "%.6g\t", model.scal[k]);
			fprintf(logf, "%.6f\t%.6f\t%.6f\t", sl, sn, sr);
			if (op.test)
				fprintf(logf, "%.6f", tl);
			else
				fprintf(logf, "NA");
			fprintf(logf, "\t%.3f\n", mm_now() - t0);
			fflush(logf);
		}
		if (mm_verbose > 0) {
			fprintf(stderr, "%s: epoch %d/%d loss %.4f (%s %.4f "
			    "reg %.4f)%s", mm_progname, epoch + 1, op.epochs,
			    sl, model.obj->name, sn, sr, scalars_text(&model, 1));
			if (op.test)
				fprintf(stderr, " test %.4f", tl);
			fprintf(stderr, " %.1fs\n", mm_now() - t0);
		}
		if (op.checkpoint) {
			set_run_meta(&meta, &op, &opt, epoch + 1, &rng);
			save(&model, op.out, &meta, &opt);
		}
	}
	if (!op.checkpoint || first_epoch >= op.epochs) {
		set_run_meta(&meta, &op, &opt, op.epochs > first_epoch ?
		    op.epochs : first_epoch, &rng);
		save(&model, op.out, &meta, op.checkpoint ? &opt : NULL);
	}
	if (logf && fclose(logf) != 0)
		mm_die("%s: write error", op.log);
	free(idx);
	free(tid);
	free(x);
	free(p);
	mm_meta_free(&meta);
	mm_optim_free(&opt);
	mm_loss_free(&loss);
	mm_model_free(&model);
	pairs_free(&tr);
	if (op.test)
		pairs_free(&te);
	return 0;
}
