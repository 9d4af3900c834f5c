/*
 * mmib-train - train an image encoder and a factor encoder with InfoNCE
 * or SigLIP (plus an optional alignment regulariser) on a paired stream.
 */
#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "err.h"
#include "evaluate.h"
#include "gemm-bf16.h"
#include "meta.h"
#include "model.h"
#include "pairs.h"
#include "prov.h"
#include "stream.h"
#include "train.h"

static const char usage[] =
    "usage: mmib-train [-hqVv] [--batch-size N] [--beta B] [--checkpoint]\n"
    "                  [--code-size N] [--epochs N] [--eval-every N]\n"
    "                  [--factor-encoder SPEC] [--force]\n"
    "                  [--gamma G] [--image-encoder SPEC] [--init MODEL]\n"
    "                  [--learn-temperature] [--log FILE] [--lr LR]\n"
    "                  [--momentum M] [--objective infonce|siglip]\n"
    "                  [--optimizer adam|adamw|sgd] [--precision fp32|bf16]\n"
    "                  [--profile quick|paper] [--reg cos|kl]\n"
    "                  [--resume MODEL] [-s seed]\n"
    "                  [--step-size E] [--symmetric] [-t threads]\n"
    "                  [--temperature T] [--test FILE] [--weight-decay WD]\n"
    "                  [TRAIN] -o MODEL\n";

static const char help[] =
    "  TRAIN                 a paired stream from mmib-gen (default stdin)\n"
    "  -o, --output FILE     the model file (required)\n"
    "  --profile P           quick (default: mlp-flatten:512,256/64, 10 epochs,\n"
    "                        minutes) or paper (resnet20, 50 epochs, hours)\n"
    "  --image-encoder SPEC  image encoder (default: the profile's)\n"
    "  --factor-encoder SPEC factor encoder (default: the dataset's, protocol)\n"
    "  --code-size N         embedding width (64)\n"
    "  --objective NAME      infonce (default) or siglip\n"
    "  --symmetric           InfoNCE in both directions\n"
    "  --beta B              weight of the alignment regulariser (0)\n"
    "  --reg R               cos (default) or kl\n"
    "  --temperature T       fix the temperature at T (default: learnt)\n"
    "  --learn-temperature   learn it, starting from T (default 0.07)\n"
    "  --epochs N            epochs (default: the profile's)\n"
    "  --batch-size N        pairs per step (128)\n"
    "  --lr LR               learning rate (1e-3)\n"
    "  --optimizer O         adam (default), adamw or sgd; --momentum M for sgd\n"
    "  --precision P         fp32 (default) or bf16 products (AVX512-BF16; mlp\n"
    "                        and resnet encoders)\n"
    "  --weight-decay WD     (default: the encoder kind's)\n"
    "  --step-size E, --gamma G   StepLR: lr times G every E epochs (20, 0.3)\n"
    "  --test FILE           also log the loss on FILE each epoch\n"
    "  --eval-every N        and every N epochs (and the last) its probes' nMI,\n"
    "                        CKA and mutual kNN@1 (log columns)\n"
    "  --log FILE            the per-epoch log as TSV\n"
    "  --force               a --test that is not the training data's held-out\n"
    "                        part (prov: mmib-stream(5))\n"
    "  --checkpoint          keep the last finished epoch in the output file\n"
    "  --resume MODEL        continue a checkpointed run; --init MODEL: start\n"
    "                        from a model's weights\n"
    "  -s SEED               seed (1); -t N: threads (1)\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n";

/* -h: after the usage, the encoder kinds from the library's table. */
static void
encoder_kinds(FILE *f)
{
	const char *name, *syntax, *help;
	int i;

	fprintf(f, "\nencoder SPECs:\n");
	for (i = 0; (name = mm_encoder_kind(i, &syntax, &help)); i++)
		fprintf(f, "  %-30s %s\n", syntax, help);
}

enum {
	O_BATCH = 256, O_BETA, O_CHECKPOINT, O_CODE, O_EPOCHS, O_EVAL, O_FACENC,
	O_GAMMA, O_IMGENC, O_INIT, O_LEARNT, O_LOG, O_LR, O_MOMENTUM, O_OBJ,
	O_OPT, O_PREC, O_PROFILE, O_REG, O_RESUME, O_STEP, O_SYM, O_TEMP,
	O_TEST, O_WD, O_FORCE
};

static const struct option longopts[] = {
	{ "batch-size", required_argument, NULL, O_BATCH },
	{ "beta", required_argument, NULL, O_BETA },
	{ "checkpoint", no_argument, NULL, O_CHECKPOINT },
	{ "code-size", required_argument, NULL, O_CODE },
	{ "epochs", required_argument, NULL, O_EPOCHS },
	{ "eval-every", required_argument, NULL, O_EVAL },
	{ "factor-encoder", required_argument, NULL, O_FACENC },
	{ "force", no_argument, NULL, O_FORCE },
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
	{ "precision", required_argument, NULL, O_PREC },
	{ "profile", required_argument, NULL, O_PROFILE },
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


/* The command line: the run's settings, what to read and write. */
struct opts {
	struct mm_cli cli;
	struct mm_train_config cfg;
	const char *train, *test, *log, *init, *resume;
	const char *img_enc, *fac_enc;  /* NULL: the profile's, protocol's */
	int code;                       /* 0: the protocol's */
	int checkpoint;
	const struct mm_profile *profile;
	int epochs_set, profile_used;   /* the profile supplied a setting */
	int eval_every;                 /* 0: no evaluation */
	int force;                      /* --force: provenance not checked */
};

/* One option of the run's own (not one of mm_cli_option's). */
static void
option(struct opts *op, int c, const char *arg)
{
	struct mm_train_config *t = &op->cfg;

	switch (c) {
	case O_BATCH:
		t->batch = (int)mm_cli_long("--batch-size", arg, 2, 65536);
		break;
	case O_BETA:
		t->beta = mm_cli_double("--beta", arg, 0, 1e6);
		break;
	case O_CHECKPOINT:
		op->checkpoint = 1;
		break;
	case O_CODE:
		op->code = (int)mm_cli_long("--code-size", arg, 1, 65536);
		break;
	case O_EPOCHS:
		t->epochs = (int)mm_cli_long("--epochs", arg, 0, 1000000);
		op->epochs_set = 1;
		break;
	case O_EVAL:
		op->eval_every = (int)mm_cli_long("--eval-every", arg, 1,
		    1000000);
		break;
	case O_FORCE:
		op->force = 1;
		break;
	case O_FACENC:
		op->fac_enc = arg;
		break;
	case O_GAMMA:
		t->gamma = mm_cli_double("--gamma", arg, 0, 1e6);
		break;
	case O_IMGENC:
		op->img_enc = arg;
		break;
	case O_INIT:
		op->init = arg;
		break;
	case O_LEARNT:
		t->learn_T = 1;
		break;
	case O_LOG:
		op->log = arg;
		break;
	case O_LR:
		t->lr = mm_cli_double("--lr", arg, 0, 1e38);
		break;
	case O_MOMENTUM:
		t->momentum = mm_cli_double("--momentum", arg, 0, 1);
		break;
	case O_OBJ:
		if ((t->objective = mm_objective_parse(arg)) < 0)
			mm_die("--objective: %s", mm_errmsg());
		break;
	case O_PREC:
		if (mm_precision_parse(arg, &t->precision) < 0)
			mm_die("--precision: %s", mm_errmsg());
		break;
	case O_OPT:
		if ((t->optimizer = mm_optim_parse(arg)) < 0)
			mm_die("--optimizer: '%s' is not adam, adamw or sgd", arg);
		break;
	case O_PROFILE:
		if (!(op->profile = mm_profile_find(arg)))
			mm_die("--profile: %s", mm_errmsg());
		break;
	case O_REG:
		if ((t->reg = mm_reg_parse(arg)) < 0)
			mm_die("--reg: %s", mm_errmsg());
		break;
	case O_RESUME:
		op->resume = arg;
		break;
	case O_STEP:
		t->step_size = (int)mm_cli_long("--step-size", arg, 0, 1000000);
		break;
	case O_SYM:
		t->symmetric = 1;
		break;
	case O_TEMP:
		t->temperature = mm_cli_double("--temperature", arg, 1e-6, 1e6);
		t->fixed_T = 1;
		break;
	case O_TEST:
		op->test = arg;
		break;
	case O_WD:
		t->weight_decay = mm_cli_double("--weight-decay", arg, 0, 1e6);
		break;
	case 's':
		t->seed = (unsigned long long)mm_cli_long("-s", arg, 0,
		    0x7fffffffffffffffL);
		break;
	default:
		mm_cli_option(&op->cli, c, arg);
	}
}

static void
parse(struct opts *op, int argc, char **argv)
{
	int c;

	memset(op, 0, sizeof *op);
	mm_cli_start(&op->cli, argc, argv, usage);
	op->cli.help = help;
	op->cli.more = encoder_kinds;
	mm_train_defaults(&op->cfg);
	while ((c = getopt_long(argc, argv, "ho:qs:t:Vv", longopts, NULL)) != -1)
		option(op, c, optarg);
	if (argc - optind > 1 || !op->cli.out)
		mm_cli_usage(&op->cli, 2);
	op->train = argc > optind ? argv[optind] : NULL;
	/* the preset's settings where no option gave them */
	if (!op->profile)
		op->profile = mm_profile_at(0);
	if (!op->epochs_set) {
		op->cfg.epochs = op->profile->epochs;
		op->profile_used = 1;
	}
	if (!op->img_enc && op->profile->image_encoder) {
		op->img_enc = op->profile->image_encoder;
		op->profile_used = 1;
	}
	if (op->init && op->resume)
		mm_die("--init and --resume exclude each other");
	if (op->eval_every && !op->test)
		mm_die("--eval-every needs --test FILE (the rows it measures)");
	if (op->checkpoint && !strcmp(op->cli.out, "-"))
		mm_die("--checkpoint needs -o FILE (the model is rewritten "
		    "every epoch)");
}

/* Pair values of a size that squares beyond float32 in the factor
 * encoder's BatchNorm (running_var = inf) are refused: a pair vector is
 * a one-hot code or a few continuous factors, never 1e6 or more. */
#define PAIR_MAX 1e6

static void
check_values(const struct mm_pairs *d, const char *name)
{
	int64_t i, n = d->N * d->D;

	for (i = 0; i < n; i++)
		if (!(fabsf(d->pair[i]) < PAIR_MAX))
			mm_die("%s: pair value %g at row %lld, column %lld: "
			    "not finite or beyond +-%g (BatchNorm statistics "
			    "would overflow)", name, (double)d->pair[i],
			    (long long)(i / d->D), (long long)(i % d->D),
			    PAIR_MAX);
}

/* Every pair of path (NULL or "-": stdin), at least two. */
static void
load(struct mm_pairs *d, const char *path)
{
	FILE *f = mm_in_open(path);
	const char *name = mm_in_name(path);
	struct mm_reader *rd = mm_reader_open(f, name);
	int rc;

	if (!rd)
		mm_die("out of memory");
	mm_pairs_init(d);
	if ((rc = mm_pairs_load(d, rd)) < 0)
		mm_die_err(name, rc);
	if (d->N < 2)
		mm_die("%s: %lld pairs; InfoNCE needs at least two", name,
		    (long long)d->N);
	check_values(d, name);
	mm_reader_close(rd);
	mm_in_close(f);
}

/* The architecture from the options, the protocol's line for the data
 * and the data's shapes; sinit gets the scalars' starting values. */
static void
arch(struct opts *op, const struct mm_pairs *tr, struct mm_arch *a,
    double *sinit)
{
	const struct mm_protocol *pr = mm_protocol_find(mm_meta_get(&tr->meta,
	    "dataset"));
	struct mm_encoder_info img;
	int out = 0;

	if (!op->img_enc) {
		op->img_enc = pr->image_encoder;
		op->profile_used = 1;
	}
	if (!op->fac_enc)
		op->fac_enc = pr->factor_encoder;
	memset(a, 0, sizeof *a);
	if (mm_spec_split(op->img_enc, a->img_spec, sizeof a->img_spec,
	    &out) < 0)
		mm_die("--image-encoder: %s", mm_errmsg());
	if (!op->code)
		op->code = out ? out : pr->code_size;
	else if (out && out != op->code)
		mm_die("--image-encoder %s disagrees with --code-size %d",
		    op->img_enc, op->code);
	if (mm_spec_split(op->fac_enc, a->fac_spec, sizeof a->fac_spec,
	    &out) < 0)
		mm_die("--factor-encoder: %s", mm_errmsg());
	if (out && out != op->code)
		mm_die("--factor-encoder %s disagrees with the code size %d",
		    op->fac_enc, op->code);
	if (mm_encoder_spec_info(a->img_spec, &img) < 0)
		mm_die("--image-encoder: %s", mm_errmsg());
	if (op->cfg.weight_decay < 0)
		op->cfg.weight_decay = img.weight_decay;
	a->code = op->code;
	a->C = tr->C;
	a->H = tr->H;
	a->W = tr->W;
	a->pair_dim = tr->D;
	a->objective = op->cfg.objective;
	a->reg = op->cfg.reg;
	if (mm_train_scalars(&op->cfg, a, sinit) < 0)
		mm_die("--temperature: %s", mm_errmsg());
}

/* The model and optimiser: resumed from a checkpoint (with the
 * generator; returns the epochs it has done), started from --init's
 * weights, or new.  A fresh model starts its scalars at the run's
 * values, a loaded one keeps those it learns. */
static int
start(const struct opts *op, const struct mm_arch *a, const double *sinit,
    struct mm_model *m, struct mm_optim *o, struct mm_rng *rng)
{
	const struct mm_train_config *c = &op->cfg;
	int rc, k, done = 0;
	FILE *f;

	mm_rng_seed(rng, c->seed);
	if (op->resume) {
		struct mm_resume want = { a, c->batch, c->optimizer, c->lr,
		    c->weight_decay, c->momentum };

		f = mm_in_open(op->resume);
		if ((rc = mm_ckpt_resume(f, op->resume, &want, m, o, rng,
		    &done)) < 0)
			mm_die_err(op->resume, rc);
		mm_in_close(f);
		mm_note("resuming %s after epoch %d (step %lld)", op->resume,
		    done, (long long)o->step);
	} else {
		if (op->init) {
			f = mm_in_open(op->init);
			if ((rc = mm_ckpt_load(f, op->init, a, c->batch, m)) < 0)
				mm_die_err(op->init, rc);
			mm_in_close(f);
		} else if ((rc = mm_model_create(m, a, c->batch)) < 0)
			mm_die_err("model", rc);
		else
			mm_model_init(m, rng);
		if ((rc = mm_optim_init(o, c->optimizer, mm_model_nparams(m),
		    c->lr, c->weight_decay, c->momentum)) < 0)
			mm_die_err("setup", rc);
	}
	for (k = 0; k < m->obj->nscalars; k++)
		if (!(op->resume || op->init) || !a->learn[k])
			m->scal[k] = (float)sinit[k];
	if (c->precision != MM_PREC_FP32 &&
	    ((rc = mm_encoder_set_precision(m->img, c->precision)) < 0 ||
	    (rc = mm_encoder_set_precision(m->fac, c->precision)) < 0))
		mm_die("--precision %s: %s", mm_precision_name(c->precision),
		    mm_errmsg());
	if (c->precision == MM_PREC_BF16) {
		mm_note("bf16: vdpbf16ps does %.2f times the multiply-adds "
		    "per second of fp32 FMA on this CPU (measured)",
		    mm_bf16_rate());
		mm_note("bf16: the products run on %s (MMIB_BF16_KERNEL=dp "
		    "or fma chooses; both give the same results)",
		    mm_bf16_kernel_name());
	}
	if (c->precision == MM_PREC_BF16 && mm_bf16_rate() < 1.0)
		mm_warn("--precision bf16: this CPU's vdpbf16ps does %.2f "
		    "times the multiply-adds per second of its fp32 FMA "
		    "(measured): bf16 trains no faster than fp32 here (its "
		    "products run on %s)", mm_bf16_rate(),
		    mm_bf16_kernel_name());
	return done;
}

/* The run's keys in meta: the tool, the settings (mm_train_meta) and
 * the temperature it was given, and the position after epoch epochs. */
static void
run_meta(const struct opts *op, struct mm_meta *meta,
    const struct mm_optim *o, int epoch, const struct mm_rng *rng)
{
	int rc = 0;

	rc |= mm_meta_set(meta, "tool", "mmib-train");
	rc |= mm_meta_set(meta, "version", MM_VERSION);
	rc |= mm_meta_setf(meta, "train.temperature", "%.9g",
	    op->cfg.temperature);
	if (op->profile_used)
		rc |= mm_meta_set(meta, "train.profile", op->profile->name);
	if (rc || mm_train_meta(meta, &op->cfg, o, epoch, rng) < 0)
		mm_die("out of memory");
}

/* A resumed run must be the checkpointed one: its settings (train.*)
 * and its data (fp.data) as in the checkpoint's metadata, so that the
 * model's metadata stays true.  Only --epochs (and -t, --log, --test,
 * --checkpoint) may change. */
static void
check_resume(const struct opts *op, const struct mm_pairs *tr,
    const struct mm_model *m, const struct mm_optim *o,
    const struct mm_rng *rng, int done)
{
	struct mm_meta now;

	mm_meta_init(&now);
	if (mm_meta_copy(&now, &tr->meta) < 0)
		mm_die("out of memory");
	run_meta(op, &now, o, done, rng);
	/* no --force here: the model's metadata would lie */
	if (mm_prov_check_resume(&m->meta, &now) < 0)
		mm_die("%s: %s", op->resume, mm_errmsg());
	mm_meta_free(&now);
}

/* Write the model (with o, the optimiser state and the run's position
 * after epoch epochs) atomically to -o. */
static void
save(const struct opts *op, struct mm_model *m, struct mm_meta *meta,
    const struct mm_optim *o, int epoch, const struct mm_rng *rng)
{
	const char *data = mm_meta_get(meta, "fp.data");
	char fp[17];
	FILE *f;
	int rc = 0;

	run_meta(op, meta, o, epoch, rng);
	mm_prov_model(m, fp);
	rc |= mm_meta_set(meta, "model.fp", fp);
	if (data)
		rc |= mm_meta_set(meta, "model.data_fp", data);
	if (rc)
		mm_die("out of memory");
	f = mm_out_open(op->cli.out, 1);
	if ((rc = mm_model_save(m, f, meta, op->checkpoint ? o : NULL)) < 0)
		mm_die_err(op->cli.out, rc);
	mm_out_close(f);
}

/* What the progress callback sees: the bar, and enough to say once,
 * terminal or not, how long the whole run will take when that is more
 * than a minute (a default run is the paper's ResNet-20: hours). */
struct eta {
	struct mm_progress bar;
	double t0;              /* start of the first epoch of this process */
	int64_t rows;           /* pairs per epoch */
	int epochs;             /* epochs left, this one included */
	int said;
};

static void
progress(void *arg, int64_t done)
{
	struct eta *e = arg;
	double el, total;

	mm_progress_update(&e->bar, (uint64_t)done);
	if (e->said || mm_verbose < 1 || done <= 0 ||
	    (el = mm_now() - e->t0) < 0.5)
		return;
	e->said = 1;
	total = el / (double)done * (double)e->rows * e->epochs;
	if (total < 60)
		return;
	if (total < 3600)
		mm_warn("about %.0f min for %d epochs (-q hides this; a quick "
		    "run: --profile quick)", total / 60, e->epochs);
	else
		mm_warn("about %.1f h for %d epochs (-q hides this; a quick "
		    "run: --profile quick)", total / 3600, e->epochs);
}

/* The log: a new one with its header (with ev, its columns too), or,
 * when resuming and the file exists with the same header, the same file
 * continued (the epochs before the checkpoint stay). */
static FILE *
open_log(const struct opts *op, const struct mm_model *m,
    const struct mm_eval *ev)
{
	char *want = NULL, line[1024];
	size_t wl = 0;
	FILE *f, *mem;

	if (op->resume && (f = fopen(op->log, "r")) != NULL) {
		int have = fgets(line, sizeof line, f) != NULL;
		fclose(f);
		if (have) {
			if (!(mem = open_memstream(&want, &wl)) ||
			    mm_train_log_header_eval(mem, m->obj, ev) < 0 ||
			    fclose(mem) != 0)
				mm_die("out of memory");
			if (strcmp(line, want))
				mm_die("%s: not this run's log (its header "
				    "differs): name a new --log", op->log);
			free(want);
			if (!(f = fopen(op->log, "a")))
				mm_die("%s: %s", op->log, strerror(errno));
			return f;
		}
	}
	if (!(f = fopen(op->log, "w")) ||
	    mm_train_log_header_eval(f, m->obj, ev) < 0)
		mm_die("%s: cannot write the log", op->log);
	return f;
}

int
main(int argc, char **argv)
{
	struct opts op;
	struct mm_pairs tr, te;
	struct mm_arch a;
	struct mm_model model;
	struct mm_optim opt;
	struct mm_rng rng;
	struct mm_meta meta;
	struct mm_train run;
	struct mm_eval ev;
	struct eta eta;
	double sinit[MM_LOSS_MAXSCALARS], t0, secs;
	char line[512];
	FILE *logf = NULL;
	int rc, epoch, first, kept;

	parse(&op, argc, argv);
	/* a model that cannot be written should fail now, not after hours */
	mm_out_check(op.cli.out);
	if (op.log) {
		mm_out_check(op.log);
		if (mm_same_path(op.log, op.cli.out) ||
		    mm_same_path(op.log, op.train) ||
		    mm_same_path(op.log, op.test) ||
		    mm_same_path(op.log, op.resume) ||
		    mm_same_path(op.log, op.init))
			mm_die("%s: --log names an input or the output", op.log);
	}
	mm_blas_threads(op.cli.threads);
	mm_note("%s", mm_blas_core_desc());
	load(&tr, op.train);
	arch(&op, &tr, &a, sinit);
	if (op.test) {
		load(&te, op.test);
		if (te.C != tr.C || te.H != tr.H || te.W != tr.W || te.D != tr.D)
			mm_die("%s: images or pairs differ in shape from the "
			    "training data", op.test);
		if (mm_prov_known(&tr.meta, "fp.split") < 0 ||
		    mm_prov_known(&te.meta, "fp.split") < 0)
			mm_note("%s: no split fingerprint (an older mmib?): "
			    "not checked", op.test);
		else if (!op.force && mm_prov_check_test(&tr.meta,
		    &te.meta) < 0)
			mm_die("%s: %s (--force uses it anyway)", op.test,
			    mm_errmsg());
	}
	/* memory is sized by the batch: never more rows than the data */
	if (op.cfg.batch > tr.N && (!op.test || op.cfg.batch > te.N)) {
		int64_t rows = op.test && te.N > tr.N ? te.N : tr.N;
		mm_note("--batch-size %d: %lld pairs, batches of %lld",
		    op.cfg.batch, (long long)rows, (long long)rows);
		op.cfg.batch = (int)rows;
	}
	if (op.cfg.epochs == 0 && !op.resume)
		mm_warn("--epochs 0: writing the model as initialised "
		    "(untrained)");
	first = start(&op, &a, sinit, &model, &opt, &rng);
	if (op.resume)
		check_resume(&op, &tr, &model, &opt, &rng, first);
	if ((rc = mm_train_init(&run, &op.cfg, &model, &opt, &rng, &tr,
	    op.test ? &te : NULL)) < 0)
		mm_die_err("setup", rc);
	if (op.eval_every) {
		if ((rc = mm_eval_init(&ev, &model, &tr, &te,
		    op.cli.threads)) < 0)
			mm_die("--eval-every: %s", mm_errmsg());
		run.eval = &ev;
	}
	memset(&eta, 0, sizeof eta);
	eta.rows = tr.N;
	eta.epochs = op.cfg.epochs - first;
	run.progress = progress;
	run.progress_arg = &eta;
	mm_meta_init(&meta);
	if (mm_meta_copy(&meta, &tr.meta) < 0)
		mm_die("out of memory");
	mm_note("%s + %s, code %d, %zu parameters, %lld pairs of %dx%dx%d "
	    "images and %d-d factors", a.img_spec, a.fac_spec, a.code,
	    mm_model_nparams(&model), (long long)tr.N, tr.C, tr.H, tr.W, tr.D);
	if (op.log)
		logf = open_log(&op, &model, run.eval);

	for (epoch = first; epoch < op.cfg.epochs; epoch++) {
		t0 = mm_now();
		if (epoch == first)
			eta.t0 = t0;
		mm_progress_start(&eta.bar, "train", (uint64_t)tr.N);
		rc = mm_train_epoch(&run, epoch);
		mm_progress_end(&eta.bar);
		if (rc < 0) {
			/* a checkpoint of this run, or one resumed in place,
			 * holds the last good state */
			kept = op.checkpoint && (epoch > first || (op.resume &&
			    !strcmp(op.resume, op.cli.out)));
			mm_die("%s%s%s", mm_errmsg(), kept ? "; kept the last "
			    "good checkpoint in " : "", kept ? op.cli.out : "");
		}
		if (op.test)
			mm_train_eval(&run);
		/* seconds: the epoch's training and test loss, as without
		 * --eval-every; the evaluation logs its own time */
		secs = mm_now() - t0;
		if (op.eval_every && mm_eval_due(op.eval_every, run.epoch,
		    op.cfg.epochs) && mm_eval_run(&ev, &model, run.epoch) < 0)
			mm_die("%s: evaluation after epoch %d: %s", op.test,
			    run.epoch, mm_errmsg());
		if (logf && mm_train_log_row(logf, &run, secs) < 0)
			mm_die("%s: write error", op.log);
		if (mm_verbose > 0) {
			mm_train_summary(&run, line, sizeof line);
			fprintf(stderr, "%s: epoch %d/%d %s %.1fs\n", mm_progname,
			    run.epoch, op.cfg.epochs, line, secs);
			if (op.eval_every && ev.epoch == run.epoch)
				fprintf(stderr, "%s: epoch %d/%d nMI essence %.4f "
				    "nuisance %.4f CKA %.4f mutual kNN@1 %.4f "
				    "(evaluation %.1fs)\n", mm_progname, run.epoch,
				    op.cfg.epochs, ev.ess_nmi, ev.nui_nmi, ev.cka,
				    ev.mutual_knn1, ev.seconds);
		}
		if (op.checkpoint)
			save(&op, &model, &meta, &opt, epoch + 1, &rng);
	}
	if (!op.checkpoint || first >= op.cfg.epochs)
		save(&op, &model, &meta, &opt, op.cfg.epochs > first ?
		    op.cfg.epochs : first, &rng);
	if (logf && fclose(logf) != 0)
		mm_die("%s: write error", op.log);
	if (op.eval_every)
		mm_eval_free(&ev);
	mm_train_free(&run);
	mm_meta_free(&meta);
	mm_optim_free(&opt);
	mm_model_free(&model);
	mm_pairs_free(&tr);
	if (op.test)
		mm_pairs_free(&te);
	return 0;
}
