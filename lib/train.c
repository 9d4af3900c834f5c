/* train.c - a training run epoch by epoch, its settings and the
 * protocol's defaults (train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "err.h"
#include "encoder.h"
#include "evaluate.h"
#include "train.h"

/* reference/protocol.md: "Encoders", "Training". */
static const struct mm_protocol protocol[] = {
	/* dataset    prefix image      code factor encoder */
	{ "dsprites", 0, "resnet20", 64, "mlp:16,16,8,8,16,16" },
	{ "shapes3d", 0, "resnet20", 64, "mlp:64,64,32,32,64,64" },
	{ "mpi3d",    1, "resnet20", 64, "mlp:128,128,64,64,128,128" },
};
#define NPROTOCOL ((int)(sizeof protocol / sizeof protocol[0]))

const struct mm_protocol *
mm_protocol_at(int i)
{
	return i >= 0 && i < NPROTOCOL ? &protocol[i] : NULL;
}

const struct mm_protocol *
mm_protocol_find(const char *dataset)
{
	int i;

	for (i = 0; dataset && i < NPROTOCOL; i++)
		if (protocol[i].prefix ? !strncmp(dataset, protocol[i].dataset,
		    strlen(protocol[i].dataset)) :
		    !strcmp(dataset, protocol[i].dataset))
			return &protocol[i];
	return &protocol[0];
}

/* reference/quick-profile.md (the pipelines' PROFILE=quick) and
 * protocol.md; the first line is mmib-train's default. */
static const struct mm_profile profile[] = {
	{ "quick", "mlp-flatten:512,256/64", 10,
	    "mlp-flatten:512,256/64, 10 epochs: minutes (default)" },
	{ "paper", NULL, 50,
	    "the protocol's encoder (resnet20), 50 epochs: hours on 2 cores" },
};
#define NPROFILE ((int)(sizeof profile / sizeof profile[0]))

const struct mm_profile *
mm_profile_at(int i)
{
	return i >= 0 && i < NPROFILE ? &profile[i] : NULL;
}

const struct mm_profile *
mm_profile_find(const char *name)
{
	char names[128];
	size_t n = 0;
	int i;

	for (i = 0; i < NPROFILE; i++)
		if (!strcmp(name, profile[i].name))
			return &profile[i];
	for (i = 0; i < NPROFILE && n < sizeof names; i++)
		n += snprintf(names + n, sizeof names - n, "%s%s",
		    i == 0 ? "" : i == NPROFILE - 1 ? " or " : ", ",
		    profile[i].name);
	mm_err(MM_EINVAL, "'%s' is not %s", name, names);
	return NULL;
}

void
mm_train_defaults(struct mm_train_config *c)
{
	memset(c, 0, sizeof *c);
	c->batch = 128;
	c->epochs = 50;
	c->lr = 1e-3;
	c->step_size = 20;
	c->gamma = 0.3;
	c->optimizer = MM_OPT_ADAM;
	c->weight_decay = -1;
	c->objective = MM_OBJ_INFONCE;
	c->reg = MM_REG_COS;
	c->temperature = 0.07;
	c->seed = 1;
}

int
mm_train_scalars(const struct mm_train_config *c, struct mm_arch *a,
    double *init)
{
	const struct mm_objective *ob = mm_objective_get(c->objective);
	double v;
	int k, t = mm_objective_temperature(c->objective, c->temperature, &v);

	for (k = 0; k < ob->nscalars; k++) {
		init[k] = ob->scalars[k].init;
		a->learn[k] = ob->scalars[k].learnt;
	}
	if (t < 0 && (c->fixed_T || c->learn_T))
		return mm_err(MM_EINVAL, "objective %s has no temperature",
		    ob->name);
	if (t >= 0) {
		if (c->fixed_T)
			init[t] = v;
		a->learn[t] = c->learn_T || !c->fixed_T;
	}
	return 0;
}

int
mm_train_meta(struct mm_meta *m, const struct mm_train_config *c,
    const struct mm_optim *o, int epoch, const struct mm_rng *rng)
{
	int rc = 0;

	rc |= mm_meta_set(m, "train.optimizer", mm_optim_name(c->optimizer));
	rc |= mm_meta_set(m, "train.precision", mm_precision_name(c->precision));
	rc |= mm_meta_setf(m, "train.lr", "%.9g", c->lr);
	rc |= mm_meta_setf(m, "train.weight_decay", "%.9g", c->weight_decay);
	rc |= mm_meta_setf(m, "train.momentum", "%.9g", c->momentum);
	rc |= mm_meta_setf(m, "train.step_size", "%d", c->step_size);
	rc |= mm_meta_setf(m, "train.gamma", "%.9g", c->gamma);
	rc |= mm_meta_setf(m, "train.batch_size", "%d", c->batch);
	rc |= mm_meta_setf(m, "train.beta", "%.9g", c->beta);
	rc |= mm_meta_setf(m, "train.symmetric", "%d", c->symmetric);
	rc |= mm_meta_setf(m, "train.seed", "%llu", c->seed);
	if (rc)
		return mm_err(MM_ENOMEM, "out of memory");
	return mm_ckpt_to_meta(m, o, epoch, rng);
}

int
mm_train_init(struct mm_train *t, const struct mm_train_config *c,
    struct mm_model *m, struct mm_optim *o, struct mm_rng *rng,
    const struct mm_pairs *data, const struct mm_pairs *test)
{
	size_t chw = (size_t)data->C * data->H * data->W;
	int rc;

	memset(t, 0, sizeof *t);
	if ((rc = mm_loss_init(&t->loss, c->batch, m->a.code, c->objective,
	    c->reg, c->symmetric, c->beta)) < 0)
		return rc;
	t->cfg = c;
	t->model = m;
	t->opt = o;
	t->rng = rng;
	t->data = data;
	t->test = test;
	t->test_loss = NAN;
	t->order = malloc((size_t)data->N * sizeof(int64_t));
	t->x = malloc((size_t)c->batch * chw * sizeof(float));
	t->p = malloc((size_t)c->batch * data->D * sizeof(float));
	if (!t->order || !t->x || !t->p) {
		mm_train_free(t);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	return 0;
}

void
mm_train_free(struct mm_train *t)
{
	mm_loss_free(&t->loss);
	free(t->order);
	free(t->x);
	free(t->p);
	t->order = NULL;
	t->x = t->p = NULL;
}

/* ", name value" (%g) or, abbreviated, " T value" (%.4f) for every
 * scalar of m, into buf. */
static void
scalars_text(const struct mm_model *m, int abbrev, char *buf, size_t size)
{
	size_t len = 0;
	int k;

	buf[0] = '\0';
	for (k = 0; k < m->obj->nscalars && len < size; k++)
		len += snprintf(buf + len, size - len, abbrev ? " %s %.4f" :
		    ", %s %g", abbrev ? m->obj->scalars[k].abbrev :
		    m->obj->scalars[k].name, m->scal[k]);
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

int
mm_train_epoch(struct mm_train *t, int epoch)
{
	const struct mm_pairs *d = t->data;
	int B = t->cfg->batch;
	double sl = 0, sn = 0, sr = 0;
	int64_t i, seen = 0;
	char why[256];

	t->opt->lr = mm_steplr(t->cfg->lr, epoch, t->cfg->step_size,
	    t->cfg->gamma);
	for (i = 0; i < d->N; i++)
		t->order[i] = i;
	mm_rng_shuffle(t->rng, t->order, (size_t)d->N);
	for (i = 0; i < d->N; i += B) {
		int n = (int)(d->N - i < B ? d->N - i : B);
		double l;

		if (n < 2)
			break;
		mm_pairs_gather(d, t->order + i, n, t->x, t->p);
		l = mm_model_train_step(t->model, &t->loss, t->opt, t->x, t->p,
		    n, t->rng);
		if (!isfinite(l) || scalars_bad(t->model)) {
			scalars_text(t->model, 0, why, sizeof why);
			return mm_err(MM_ENUM, "epoch %d, step %lld: the loss is "
			    "not finite (%g%s)", epoch + 1,
			    (long long)t->opt->step + 1, l, why);
		}
		sl += l * n;
		sn += t->loss.term * n;
		sr += t->loss.regval * n;
		seen += n;
		if (t->progress)
			t->progress(t->progress_arg, i + n);
	}
	t->epoch = epoch + 1;
	t->lr = t->opt->lr;
	t->train_loss = sl / seen;
	t->term = sn / seen;
	t->reg = sr / seen;
	t->test_loss = NAN;
	return 0;
}

double
mm_train_eval(struct mm_train *t)
{
	const struct mm_pairs *d = t->test;
	int B = t->cfg->batch;
	double s = 0;
	int64_t i;

	if (!d)
		return NAN;
	for (i = 0; i < d->N; i += B) {
		int n = (int)(d->N - i < B ? d->N - i : B);

		mm_pairs_slice(d, i, n, t->x, t->p);
		s += mm_model_eval_loss(t->model, &t->loss, t->x, t->p, n) * n;
	}
	return t->test_loss = s / d->N;
}

/* 0, or MM_EIO when f has failed. */
static int
flushed(FILE *f)
{
	if (fflush(f) != 0 || ferror(f))
		return mm_err(MM_EIO, "write error");
	return 0;
}

int
mm_train_log_header(FILE *f, const struct mm_objective *ob)
{
	return mm_train_log_header_eval(f, ob, NULL);
}

int
mm_train_log_header_eval(FILE *f, const struct mm_objective *ob,
    const struct mm_eval *ev)
{
	int k;

	fprintf(f, "epoch\tlr\t");
	for (k = 0; k < ob->nscalars; k++)
		fprintf(f, "%s\t", ob->scalars[k].name);
	fprintf(f, "train_loss\t%s\treg\ttest_loss\tseconds", ob->name);
	if (ev)
		mm_eval_log_header(f, ev);
	fputc('\n', f);
	return flushed(f);
}

int
mm_train_log_row(FILE *f, const struct mm_train *t, double seconds)
{
	const struct mm_model *m = t->model;
	int k;

	fprintf(f, "%d\t%.6g\t", t->epoch, t->lr);
	for (k = 0; k < m->obj->nscalars; k++)
		fprintf(f, "%.6g\t", m->scal[k]);
	fprintf(f, "%.6f\t%.6f\t%.6f\t", t->train_loss, t->term, t->reg);
	if (t->test)
		fprintf(f, "%.6f", t->test_loss);
	else
		fprintf(f, "NA");
	fprintf(f, "\t%.3f", seconds);
	if (t->eval)
		mm_eval_log_values(f, t->eval, t->epoch);
	fputc('\n', f);
	return flushed(f);
}

void
mm_train_summary(const struct mm_train *t, char *buf, size_t size)
{
	char sc[256];
	int len;

	scalars_text(t->model, 1, sc, sizeof sc);
	len = snprintf(buf, size, "loss %.4f (%s %.4f reg %.4f)%s",
	    t->train_loss, t->model->obj->name, t->term, t->reg, sc);
	if (t->test && len >= 0 && (size_t)len < size)
		snprintf(buf + len, size - len, " test %.4f", t->test_loss);
}
