/* t-train.c - a training run epoch by epoch: the protocol's table and
 * defaults, the scalars a temperature sets, the run's metadata; an epoch
 * and the held-out loss equal to the loop they replace (same bytes, same
 * generator state), the dropped batch of one row, progress, a diverging
 * step refused, and the log's format. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "meta.h"
#include "model.h"
#include "pairs.h"
#include "rng.h"
#include "tap.h"
#include "train.h"

#define SIDE 4          /* image side */
#define PW 5            /* pair width */
#define ROWS 21         /* 2 batches of BATCH, then one row */
#define BATCH 10

static uint8_t img[ROWS * SIDE * SIDE];
static float pair[ROWS * PW];

/* n paired rows: a bright pixel where the one-hot pair says. */
static void
data(struct mm_pairs *d, int n)
{
	int i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < SIDE * SIDE; k++)
			img[i * SIDE * SIDE + k] = (uint8_t)(k == (i * 3) %
			    (SIDE * SIDE) ? 200 : (i + k) % 7);
		for (k = 0; k < PW; k++)
			pair[i * PW + k] = k == i % PW;
	}
	mm_pairs_init(d);
	d->N = n;
	d->C = 1;
	d->H = d->W = SIDE;
	d->D = PW;
	d->img = img;
	d->pair = pair;
}

static void
model(struct mm_model *m, struct mm_rng *rng, struct mm_optim *o)
{
	struct mm_arch a;

	memset(&a, 0, sizeof a);
	strcpy(a.img_spec, "mlp-flatten:8");
	strcpy(a.fac_spec, "mlp:6");
	a.code = 4;
	a.C = 1;
	a.H = a.W = SIDE;
	a.pair_dim = PW;
	a.learn[0] = 1;
	mm_model_create(m, &a, BATCH);
	mm_rng_seed(rng, 7);
	mm_model_init(m, rng);
	mm_optim_init(o, MM_OPT_ADAM, mm_model_nparams(m), 1e-2, 0, 0);
}

/* The model's file bytes, for comparisons; *len its size. */
static char *
bytes(struct mm_model *m, size_t *len)
{
	FILE *f = tmpfile();
	char *b;

	mm_model_save(m, f, NULL, NULL);
	*len = (size_t)ftell(f);
	b = malloc(*len);
	rewind(f);
	if (fread(b, 1, *len, f) != *len)
		*len = 0;
	fclose(f);
	return b;
}

static int64_t last_done;
static int calls;

static void
progress(void *arg, int64_t done)
{
	(void)arg;
	last_done = done;
	calls++;
}

static void
test_protocol(void)
{
	const struct mm_protocol *p;
	struct mm_train_config c;
	int i;

	is_str(mm_protocol_find("dsprites")->factor_encoder,
	    "mlp:16,16,8,8,16,16", "dsprites factor encoder");
	is_str(mm_protocol_find("shapes3d")->factor_encoder,
	    "mlp:64,64,32,32,64,64", "shapes3d factor encoder");
	is_str(mm_protocol_find("mpi3d")->factor_encoder,
	    "mlp:128,128,64,64,128,128", "mpi3d factor encoder");
	ok(mm_protocol_find("mpi3d_real") == mm_protocol_find("mpi3d"),
	    "an mpi3d variant gets mpi3d's line");
	ok(mm_protocol_find("shapes3d_x") == mm_protocol_at(0) &&
	    mm_protocol_find(NULL) == mm_protocol_at(0) &&
	    mm_protocol_find("cifar") == mm_protocol_at(0),
	    "other names and none get the first line");
	for (i = 0; (p = mm_protocol_at(i)); i++)
		if (strcmp(p->image_encoder, "resnet20") || p->code_size != 64)
			break;
	ok(i == 3 && !mm_protocol_at(-1),
	    "three lines, each resnet20 with a code of 64");

	mm_train_defaults(&c);
	ok(c.batch == 128 && c.epochs == 50 && c.lr == 1e-3 &&
	    c.step_size == 20 && c.gamma == 0.3 && c.temperature == 0.07 &&
	    c.optimizer == MM_OPT_ADAM && c.objective == MM_OBJ_INFONCE &&
	    c.reg == MM_REG_COS && c.weight_decay < 0 && c.seed == 1 &&
	    c.beta == 0 && !c.symmetric && !c.fixed_T && !c.learn_T,
	    "the protocol's settings");
}

static void
test_scalars(void)
{
	struct mm_train_config c;
	struct mm_arch a;
	double init[MM_LOSS_MAXSCALARS];

	mm_train_defaults(&c);
	memset(&a, 0, sizeof a);
	ok(mm_train_scalars(&c, &a, init) == 0 && init[0] == 0.07 &&
	    a.learn[0] == 1, "infonce: T learnt from 0.07 by default");
	c.temperature = 0.1;
	c.fixed_T = 1;
	mm_train_scalars(&c, &a, init);
	ok(init[0] == 0.1 && a.learn[0] == 0, "--temperature fixes T");
	c.learn_T = 1;
	mm_train_scalars(&c, &a, init);
	ok(init[0] == 0.1 && a.learn[0] == 1,
	    "... with --learn-temperature it is the start");
	c.objective = MM_OBJ_SIGLIP;
	c.learn_T = 0;
	mm_train_scalars(&c, &a, init);
	ok(init[0] == -log(0.1) && a.learn[0] == 0 && init[1] == -10 &&
	    a.learn[1] == 1, "siglip: T sets t' = -ln T, b stays learnt");
}

static void
test_run(void)
{
	struct mm_train_config c;
	struct mm_pairs d, te;
	struct mm_model m1, m2;
	struct mm_optim o1, o2;
	struct mm_rng r1, r2;
	struct mm_train t;
	struct mm_loss l;
	struct mm_meta meta;
	int64_t idx[ROWS], i;
	float x[BATCH * SIDE * SIDE], p[BATCH * PW];
	double sl = 0, sn = 0, s, el;
	size_t n1, n2;
	char *b1, *b2, line[256];
	FILE *f;
	int e, rc, seen;

	mm_train_defaults(&c);
	c.batch = BATCH;
	c.lr = 1e-2;
	c.step_size = 1;
	c.gamma = 0.5;
	data(&d, ROWS);
	model(&m1, &r1, &o1);
	model(&m2, &r2, &o2);
	mm_loss_init(&l, BATCH, 4, MM_OBJ_INFONCE, MM_REG_COS, 0, 0);
	ok(mm_train_init(&t, &c, &m1, &o1, &r1, &d, &d) == 0, "init");
	t.progress = progress;
	for (e = 0; e < 2; e++) {
		calls = 0;
		rc = mm_train_epoch(&t, e);
		/* the loop it replaces */
		o2.lr = mm_steplr(c.lr, e, c.step_size, c.gamma);
		for (i = 0; i < ROWS; i++)
			idx[i] = i;
		mm_rng_shuffle(&r2, idx, ROWS);
		sl = sn = 0;
		seen = 0;
		for (i = 0; i + 2 <= ROWS; i += BATCH) {
			int n = ROWS - i < BATCH ? (int)(ROWS - i) : BATCH;
			double v;

			mm_pairs_gather(&d, idx + i, n, x, p);
			v = mm_model_train_step(&m2, &l, &o2, x, p, n, &r2);
			sl += v * n;
			sn += l.term * n;
			seen += n;
		}
		ok(rc == 0 && t.epoch == e + 1 && t.lr == o2.lr &&
		    t.train_loss == sl / seen && t.term == sn / seen &&
		    isnan(t.test_loss), "epoch %d: rate and means of the loop "
		    "(%g, %g)", e + 1, t.train_loss, sl / seen);
		ok(seen == 2 * BATCH && calls == 2 && last_done == 2 * BATCH,
		    "epoch %d: the row left over is dropped, progress after "
		    "each step", e + 1);
	}
	b1 = bytes(&m1, &n1);
	b2 = bytes(&m2, &n2);
	ok(n1 > 0 && n1 == n2 && !memcmp(b1, b2, n1) && o1.step == o2.step &&
	    !memcmp(&r1, &r2, sizeof r1), "the same model, steps and generator");
	free(b1);
	free(b2);

	/* held-out loss: batches of BATCH in row order */
	data(&te, 13);
	t.test = &te;
	for (s = 0, i = 0; i < 13; i += BATCH) {
		int n = 13 - i < BATCH ? (int)(13 - i) : BATCH;

		mm_pairs_slice(&te, i, n, x, p);
		s += mm_model_eval_loss(&m2, &l, x, p, n) * n;
	}
	el = mm_train_eval(&t);
	ok(el == s / 13 && t.test_loss == el, "held-out loss %g", el);

	/* the log */
	f = tmpfile();
	mm_train_log_header(f, m1.obj);
	ok(mm_train_log_row(f, &t, 1.5) == 0, "log row written");
	rewind(f);
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	is_str(line, "epoch\tlr\ttemperature\ttrain_loss\tinfonce\treg\t"
	    "test_loss\tseconds\n", "log header");
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	{
		char want[256];
		snprintf(want, sizeof want, "2\t%.6g\t%.6g\t%.6f\t%.6f\t%.6f\t"
		    "%.6f\t1.500\n", o1.lr, m1.scal[0], t.train_loss, t.term,
		    t.reg, el);
		is_str(line, want, "log row");
	}
	fclose(f);
	mm_train_summary(&t, line, sizeof line);
	ok(!strncmp(line, "loss ", 5) && strstr(line, "(infonce ") &&
	    strstr(line, " T ") && strstr(line, " test "), "summary '%s'",
	    line);

	mm_meta_init(&meta);
	ok(mm_train_meta(&meta, &c, &o1, 2, &r1) == 0 &&
	    !strcmp(mm_meta_get(&meta, "train.lr"), "0.01") &&
	    !strcmp(mm_meta_get(&meta, "train.batch_size"), "10") &&
	    !strcmp(mm_meta_get(&meta, "train.epoch"), "2") &&
	    mm_meta_get(&meta, "train.rng"), "run metadata");
	mm_meta_free(&meta);

	/* a temperature below zero: the run has diverged */
	m1.scal[0] = -1;
	rc = mm_train_epoch(&t, 2);
	ok(rc == MM_ENUM && strstr(mm_errmsg(), "epoch 3, step ") &&
	    strstr(mm_errmsg(), "the loss is not finite") &&
	    strstr(mm_errmsg(), "temperature -"), "divergence: %s",
	    mm_errmsg());

	mm_train_free(&t);
	mm_loss_free(&l);
	mm_model_free(&m1);
	mm_model_free(&m2);
	mm_optim_free(&o1);
	mm_optim_free(&o2);
}

int
main(void)
{
	plan(24);
	test_protocol();
	test_scalars();
	test_run();
	return done_testing();
}
