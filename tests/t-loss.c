/* t-loss.c - InfoNCE and its regularisers: closed forms and
 * finite-difference checks of every gradient, including d/dT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "loss.h"
#include "rng.h"
#include "tap.h"
#include "util-gradcheck.h"
#include "util-ref.h"

#define N 6
#define D 5

/* loss at (a, b, T) with the kl noise drawn from a fixed seed */
static double
eval(struct mm_loss *l, const float *a, const float *b, double T)
{
	struct mm_rng r;

	mm_rng_seed(&r, 99);
	return mm_loss_compute(l, a, b, N, &T, &r, NULL, NULL);
}

static void
gradcheck(int reg, int symmetric, double beta, const char *what)
{
	struct mm_loss l;
	struct mm_rng r;
	int Da = reg == MM_REG_KL ? 2 * D : D, i, k;
	float a[N * 2 * D], b[N * 2 * D], da[N * 2 * D], db[N * 2 * D];
	double T = 0.3, h = 1e-3, worst = 0, dT, fd;

	mm_rng_seed(&r, 7);
	for (i = 0; i < N * Da; i++) {
		a[i] = (float)mm_rng_normal(&r);
		b[i] = (float)mm_rng_normal(&r);
		if (reg == MM_REG_KL && i % Da >= D) {	/* log-variances */
			a[i] *= 0.3f;
			b[i] *= 0.3f;
		}
	}
	if (mm_loss_init(&l, N, D, MM_OBJ_INFONCE, reg, symmetric, beta) != 0) {
		ok(0, "%s: init", what);
		return;
	}
	mm_rng_seed(&r, 99);
	mm_loss_compute(&l, a, b, N, &T, &r, da, db);
	dT = l.dscal[0];
	ok(isfinite(l.loss) && l.term > 0, "%s: loss %.6f finite, InfoNCE "
	    "%.6f > 0", what, l.loss, l.term);
	for (k = 0; k < 2; k++) {
		float *x = k ? b : a, *g = k ? db : da;

		for (i = 0; i < N * Da; i++) {
			float keep = x[i];
			double lp, lm;

			x[i] = keep + (float)h;
			lp = eval(&l, a, b, T);
			x[i] = keep - (float)h;
			lm = eval(&l, a, b, T);
			x[i] = keep;
			fd = (lp - lm) / (2 * h);
			if (fabs(fd - g[i]) > worst)
				worst = fabs(fd - g[i]);
		}
	}
	ok(worst < 2e-3, "%s: d/da, d/db match finite differences (worst "
	    "%.2e)", what, worst);
	fd = (eval(&l, a, b, T + h) - eval(&l, a, b, T - h)) / (2 * h);
	is_double(dT, fd, 2e-3, "%s: d/dT %.6f vs finite difference %.6f",
	    what, dT, fd);
	mm_loss_free(&l);
}

/* The tables: names both ways, unknown names refused with the list. */
static void
tables(void)
{
	const struct mm_objective *o = mm_objective_get(MM_OBJ_INFONCE);
	int rc;

	ok(o && !strcmp(o->name, "infonce") && !mm_objective_get(-1) &&
	    mm_objective_parse("infonce") == MM_OBJ_INFONCE,
	    "objective table: infonce at MM_OBJ_INFONCE, found by name");
	ok(o && o->nscalars == 1 && !strcmp(o->scalars[0].name, "temperature") &&
	    o->scalars[0].init == 0.07 && o->scalars[0].learnt &&
	    o->scalars[0].positive && mm_objective_scalar(MM_OBJ_INFONCE,
	    "temperature") == 0 && mm_objective_scalar(MM_OBJ_INFONCE,
	    "bias") < 0, "infonce declares one scalar: the temperature, 0.07, "
	    "learnt, positive");
	rc = mm_objective_parse("siglip");
	ok(rc == MM_EINVAL && !strcmp(mm_errmsg(), "'siglip' is not infonce"),
	    "unknown objective refused: %s", mm_errmsg());
	ok(mm_reg_parse("cos") == MM_REG_COS && mm_reg_parse("kl") == MM_REG_KL &&
	    !strcmp(mm_reg_name(MM_REG_KL), "kl") &&
	    mm_regulariser_get(MM_REG_COS)->width == 1 &&
	    mm_regulariser_get(MM_REG_KL)->width == 2 && !mm_regulariser_get(2),
	    "regulariser table: cos (width 1), kl (width 2)");
	rc = mm_reg_parse("l2");
	ok(rc == MM_EINVAL && !strcmp(mm_errmsg(), "'l2' is not cos or kl"),
	    "unknown regulariser refused: %s", mm_errmsg());
}

/* Worst |fd - g| over x (n) of central differences of step h of the
 * smooth function f (no kinks here, unlike the encoders' ReLUs). */
static double
fd_worst(double (*f)(void *), void *ctx, float *x, const float *g, int n,
    float h)
{
	double worst = 0, fp, fd;
	float keep;
	int i;

	for (i = 0; i < n; i++) {
		keep = x[i];
		x[i] = keep + h;
		fp = f(ctx);
		x[i] = keep - h;
		fd = (fp - f(ctx)) / ((double)(keep + h) - (double)(keep - h));
		x[i] = keep;
		if (fabs(fd - g[i]) > worst)
			worst = fabs(fd - g[i]);
	}
	return worst;
}

/* An objective alone, as a function of the codes u, v (any rows, not
 * only unit ones) and of its scalars. */
struct objctx {
	struct mm_loss *l;
	int n;
	double s[MM_LOSS_MAXSCALARS];
};

static double
obj_value(void *p)
{
	struct objctx *c = p;

	return c->l->obj->forward(c->l, c->n, c->s);
}

static void
objective_part(int obj, int symmetric)
{
	const struct mm_objective *o = mm_objective_get(obj);
	struct mm_loss l;
	struct objctx c;
	struct mm_rng r;
	float gu[N * D], gv[N * D];
	double worst, w2, h = 1e-4, fd, keep;
	int k;

	mm_loss_init(&l, N, D, obj, MM_REG_COS, symmetric, 0);
	mm_rng_seed(&r, 17);
	gc_fill(l.u, N * D, 1, &r);
	gc_fill(l.v, N * D, 1, &r);
	c.l = &l;
	c.n = N;
	for (k = 0; k < o->nscalars; k++)
		c.s[k] = o->scalars[k].init * 4;
	o->forward(&l, N, c.s);
	o->backward(&l, N, c.s, 1);
	memcpy(gu, l.du, sizeof(gu));
	memcpy(gv, l.dv, sizeof(gv));
	worst = fd_worst(obj_value, &c, l.u, gu, N * D, 1e-3f);
	w2 = fd_worst(obj_value, &c, l.v, gv, N * D, 1e-3f);
	ok(worst < 2e-3 && w2 < 2e-3, "%s%s part alone: d/du, d/dv match "
	    "finite differences (worst %.1e, %.1e)", o->name,
	    symmetric ? " symmetric" : "", worst, w2);
	/* each scalar, by central differences in double */
	for (k = 0; k < o->nscalars; k++) {
		o->forward(&l, N, c.s);
		o->backward(&l, N, c.s, 0);
		keep = c.s[k];
		c.s[k] = keep + h;
		fd = obj_value(&c);
		c.s[k] = keep - h;
		fd = (fd - obj_value(&c)) / (2 * h);
		c.s[k] = keep;
		is_double(l.dscal[k], fd, 1e-4, "%s%s part alone: "
		    "d/d%s %.6f vs finite difference %.6f", o->name, symmetric ?
		    " symmetric" : "", o->scalars[k].name, l.dscal[k], fd);
	}
	mm_loss_free(&l);
}

/* A regulariser alone: the loss driver with an objective that is 0. */
static double
zero_forward(struct mm_loss *l, int N_, const double *s)
{
	(void)l;
	(void)N_;
	(void)s;
	return 0;
}

static void
zero_backward(struct mm_loss *l, int N_, const double *s, int codes)
{
	(void)s;
	if (codes) {
		/* (N, D): this file's D is the loss's */
		memset(l->du, 0, (size_t)N_ * D * sizeof(float));
		memset(l->dv, 0, (size_t)N_ * D * sizeof(float));
	}
}

static size_t
zero_work(int max_batch, int D_)
{
	(void)max_batch;
	(void)D_;
	return 0;
}

static const struct mm_objective zero = {
	"zero", 0, NULL, zero_work, zero_forward, zero_backward
};

struct regctx {
	struct mm_loss *l;
	float *a, *b;
};

static double
reg_value(void *p)
{
	struct regctx *c = p;
	struct mm_rng r;

	mm_rng_seed(&r, 99);
	return mm_loss_compute(c->l, c->a, c->b, N, NULL, &r, NULL, NULL);
}

static void
regulariser_part(int reg)
{
	const struct mm_regulariser *rg = mm_regulariser_get(reg);
	int Da = rg->width * D, i;
	float a[N * 2 * D], b[N * 2 * D], da[N * 2 * D], db[N * 2 * D];
	struct mm_loss l;
	struct regctx c = { &l, a, b };
	struct mm_rng r;
	double worst, w2, v;

	mm_rng_seed(&r, 23);
	gc_fill(a, N * Da, 1, &r);
	gc_fill(b, N * Da, 1, &r);
	for (i = 0; i < N * Da; i++)
		if (i % Da >= D) {	/* the second half, e.g. log-variances */
			a[i] *= 0.3f;
			b[i] *= 0.3f;
		}
	mm_loss_init(&l, N, D, MM_OBJ_INFONCE, reg, 0, 0.8);
	l.obj = &zero;
	mm_rng_seed(&r, 99);
	v = mm_loss_compute(&l, a, b, N, NULL, &r, da, db);
	is_double(v, 0.8 * l.regval, 1e-12, "%s part alone: the loss is beta "
	    "R = %.6f", rg->name, v);
	worst = fd_worst(reg_value, &c, a, da, N * Da, 1e-3f);
	w2 = fd_worst(reg_value, &c, b, db, N * Da, 1e-3f);
	ok(worst < 1e-4 && w2 < 1e-4, "%s part alone: d(beta R)/da, db match "
	    "finite differences (worst %.1e, %.1e)", rg->name, worst, w2);
	mm_loss_free(&l);
}

/* worst |got - want| relative to the largest |want| */
static double
relerr(const float *got, const double *want, int n)
{
	double big = 1e-12, worst = 0;
	int i;

	for (i = 0; i < n; i++)
		if (fabs(want[i]) > big)
			big = fabs(want[i]);
	for (i = 0; i < n; i++)
		if (fabs(got[i] - want[i]) > worst)
			worst = fabs(got[i] - want[i]);
	return worst / big;
}

/* PyTorch's values (tests/ref/train_ref.py): 8 pairs, 4 dims, T = 0.2 */
static void
golden(void)
{
	struct mm_loss l;
	float a[64], b[64], da[64], db[64];
	const double *w;
	double T = 0.2;
	char tag[64], key[80];
	int sym, bi;

	if (ref_load("loss.txt") != 0) {
		ok(0, "tests/ref/loss.txt loads");
		return;
	}
	ref_floats("a", a, 32);
	ref_floats("b", b, 32);
	for (sym = 0; sym < 2; sym++)
		for (bi = 0; bi < 2; bi++) {
			double beta = bi ? 0.5 : 0.0;

			snprintf(tag, sizeof(tag), "cos.s%d.b%g", sym, beta);
			mm_loss_init(&l, 8, 4, MM_OBJ_INFONCE, MM_REG_COS, sym, beta);
			mm_loss_compute(&l, a, b, 8, &T, NULL, da, db);
			snprintf(key, sizeof(key), "%s.loss", tag);
			w = ref_get(key, NULL);
			ok(w && fabs(l.loss - w[0]) < 1e-4 * fabs(w[0]) &&
			    fabs(l.term - w[1]) < 1e-4 * fabs(w[1]) &&
			    fabs(l.regval - w[2]) < 1e-4 * fabs(w[2]) + 1e-7,
			    "%s: loss %.6f InfoNCE %.6f reg %.6f as PyTorch",
			    tag, l.loss, l.term, l.regval);
			snprintf(key, sizeof(key), "%s.da", tag);
			w = ref_get(key, NULL);
			ok(w && relerr(da, w, 32) < 1e-4, "%s: d/da as PyTorch",
			    tag);
			snprintf(key, sizeof(key), "%s.db", tag);
			w = ref_get(key, NULL);
			ok(w && relerr(db, w, 32) < 1e-4, "%s: d/db as PyTorch",
			    tag);
			snprintf(key, sizeof(key), "%s.dT", tag);
			w = ref_get(key, NULL);
			ok(w && fabs(l.dscal[0] - w[0]) < 1e-4 * fabs(w[0]),
			    "%s: d/dT %.6f as PyTorch", tag, l.dscal[0]);
			mm_loss_free(&l);
		}
	ref_floats("ak", a, 64);
	ref_floats("bk", b, 64);
	mm_loss_init(&l, 8, 4, MM_OBJ_INFONCE, MM_REG_KL, 0, 0.3);
	mm_loss_compute(&l, a, b, 8, &T, NULL, da, db);
	w = ref_get("kl.loss", NULL);
	ok(w && fabs(l.loss - w[0]) < 1e-4 * fabs(w[0]) &&
	    fabs(l.regval - w[2]) < 1e-4 * fabs(w[2]),
	    "kl: loss %.6f, KL %.6f as PyTorch", l.loss, l.regval);
	w = ref_get("kl.da", NULL);
	ok(w && relerr(da, w, 64) < 1e-4, "kl: d/da as PyTorch");
	w = ref_get("kl.db", NULL);
	ok(w && relerr(db, w, 64) < 1e-4, "kl: d/db as PyTorch");
	w = ref_get("kl.dT", NULL);
	ok(w && fabs(l.dscal[0] - w[0]) < 1e-4 * fabs(w[0]), "kl: d/dT as PyTorch");
	mm_loss_free(&l);
	ref_free();
}

int
main(void)
{
	struct mm_loss l;
	float a[N * D], b[N * D];
	double T = 0.5, want, lse;
	int i;

	plan(37 + 5 + 4 + 4);
	/* orthonormal identical pairs: S_ii = 1/T, S_ij = 0 */
	memset(a, 0, sizeof(a));
	for (i = 0; i < N; i++)
		a[i * D + i % D] = 2.0f;	/* rows 0 and 5 share a direction */
	memcpy(b, a, sizeof(a));
	mm_loss_init(&l, N, D, MM_OBJ_INFONCE, MM_REG_COS, 0, 1.0);
	mm_loss_compute(&l, a, b, N, &T, NULL, NULL, NULL);
	want = 0;
	for (i = 0; i < N; i++) {
		int twin = i == 0 || i == 5;

		lse = log((twin ? 2 : 1) * exp(1 / T) + (twin ? N - 2 : N - 1));
		want += 1 / T - lse;
	}
	want = -(log(N) + want / N);
	is_double(l.term, want, 1e-6, "InfoNCE closed form %.6f", want);
	is_double(l.regval, 0, 1e-6, "cos regulariser 0 for equal codes");
	is_double(l.loss, want, 1e-6, "loss = InfoNCE + beta * 0");
	mm_loss_free(&l);

	/* kl: equal Gaussians have zero divergence; unit shift of the
	 * means with unit variances is D / 2 per row */
	{
		float ga[N * 2 * D], gb[N * 2 * D];

		memset(ga, 0, sizeof(ga));
		for (i = 0; i < N; i++)
			ga[i * 2 * D + i % D] = 1.0f;
		memcpy(gb, ga, sizeof(ga));
		mm_loss_init(&l, N, D, MM_OBJ_INFONCE, MM_REG_KL, 0, 1.0);
		mm_loss_compute(&l, ga, gb, N, &T, NULL, NULL, NULL);
		is_double(l.regval, 0, 1e-7, "kl of equal Gaussians is 0");
		for (i = 0; i < N * 2 * D; i++)
			if (i % (2 * D) < D)
				gb[i] += 1.0f;
		mm_loss_compute(&l, ga, gb, N, &T, NULL, NULL, NULL);
		is_double(l.regval, D / 2.0, 1e-6, "kl of unit-shifted means "
		    "is D/2");
		mm_loss_free(&l);
	}

	gradcheck(MM_REG_COS, 0, 0.7, "cos");
	gradcheck(MM_REG_COS, 1, 0.5, "cos symmetric");
	gradcheck(MM_REG_KL, 0, 0.3, "kl");
	gradcheck(MM_REG_KL, 1, 0.3, "kl symmetric");
	golden();
	tables();
	for (i = 0; mm_objective_get(i); i++) {
		objective_part(i, 0);
		objective_part(i, 1);
	}
	for (i = 0; mm_regulariser_get(i); i++)
		regulariser_part(i);
	return done_testing();
}
