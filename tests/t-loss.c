/* t-loss.c - InfoNCE, SigLIP and the regularisers: closed forms and
 * finite-difference checks of every gradient, including d/dT, d/dt' and
 * d/db; PyTorch fixtures. */
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

/* loss at (a, b, s) with the kl noise drawn from a fixed seed */
static double
eval(struct mm_loss *l, const float *a, const float *b, const double *s)
{
	struct mm_rng r;

	mm_rng_seed(&r, 99);
	return mm_loss_compute(l, a, b, N, s, &r, NULL, NULL);
}

/* The whole loss of objective obj at scalars s0: d/da, d/db and every
 * scalar against central differences. */
static void
gradcheck(int obj, const double *s0, int reg, int symmetric, double beta,
    const char *what)
{
	const struct mm_objective *o = mm_objective_get(obj);
	struct mm_loss l;
	struct mm_rng r;
	int Da = reg == MM_REG_KL ? 2 * D : D, i, k;
	float a[N * 2 * D], b[N * 2 * D], da[N * 2 * D], db[N * 2 * D];
	double s[MM_LOSS_MAXSCALARS], ds[MM_LOSS_MAXSCALARS];
	double h = 1e-3, worst = 0, fd;

	mm_rng_seed(&r, 7);
	for (i = 0; i < N * Da; i++) {
		a[i] = (float)mm_rng_normal(&r);
		b[i] = (float)mm_rng_normal(&r);
		if (reg == MM_REG_KL && i % Da >= D) {	/* log-variances */
			a[i] *= 0.3f;
			b[i] *= 0.3f;
		}
	}
	if (mm_loss_init(&l, N, D, obj, reg, symmetric, beta) != 0) {
		ok(0, "%s: init", what);
		return;
	}
	for (k = 0; k < o->nscalars; k++)
		s[k] = s0[k];
	mm_rng_seed(&r, 99);
	mm_loss_compute(&l, a, b, N, s, &r, da, db);
	memcpy(ds, l.dscal, sizeof(ds));
	ok(isfinite(l.loss) && l.term > 0, "%s: loss %.6f finite, %s "
	    "%.6f > 0", what, l.loss, o->name, l.term);
	for (k = 0; k < 2; k++) {
		float *x = k ? b : a, *g = k ? db : da;

		for (i = 0; i < N * Da; i++) {
			float keep = x[i];
			double lp, lm;

			x[i] = keep + (float)h;
			lp = eval(&l, a, b, s);
			x[i] = keep - (float)h;
			lm = eval(&l, a, b, s);
			x[i] = keep;
			fd = (lp - lm) / (2 * h);
			if (fabs(fd - g[i]) > worst)
				worst = fabs(fd - g[i]);
		}
	}
	ok(worst < 2e-3, "%s: d/da, d/db match finite differences (worst "
	    "%.2e)", what, worst);
	for (k = 0; k < o->nscalars; k++) {
		double keep = s[k], lp;

		s[k] = keep + h;
		lp = eval(&l, a, b, s);
		s[k] = keep - h;
		fd = (lp - eval(&l, a, b, s)) / (2 * h);
		s[k] = keep;
		is_double(ds[k], fd, 2e-3, "%s: d/d%s %.6f vs finite difference "
		    "%.6f", what, o->scalars[k].name, ds[k], fd);
	}
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
	o = mm_objective_get(MM_OBJ_SIGLIP);
	ok(o && !strcmp(o->name, "siglip") && !mm_objective_get(2) &&
	    mm_objective_parse("siglip") == MM_OBJ_SIGLIP,
	    "objective table: siglip at MM_OBJ_SIGLIP, found by name");
	ok(o && o->nscalars == 2 && mm_objective_scalar(MM_OBJ_SIGLIP,
	    "logit_scale") == 0 && o->scalars[0].init == log(10.0) &&
	    mm_objective_scalar(MM_OBJ_SIGLIP, "logit_bias") == 1 &&
	    o->scalars[1].init == -10 && o->scalars[0].learnt &&
	    o->scalars[1].learnt && !o->scalars[0].positive &&
	    !o->scalars[1].positive && mm_objective_scalar(MM_OBJ_SIGLIP,
	    "temperature") < 0, "siglip declares two signed, learnt scalars: "
	    "logit_scale ln 10, logit_bias -10");
	{
		double v = 0, w = 0;
		int ki = mm_objective_temperature(MM_OBJ_INFONCE, 0.2, &v);
		int ks = mm_objective_temperature(MM_OBJ_SIGLIP, 0.1, &w);

		ok(ki == 0 && v == 0.2 && ks == 0 && fabs(w - log(10.0)) <
		    1e-15 && mm_objective_temperature(-1, 0.1, &v) < 0,
		    "a temperature T sets infonce's T and siglip's "
		    "logit_scale -ln T (%.6f at 0.1)", w);
	}
	rc = mm_objective_parse("clip");
	ok(rc == MM_EINVAL && !strcmp(mm_errmsg(),
	    "'clip' is not infonce or siglip"),
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
	/* away from the declared start at a moderate scale: a positive
	 * scalar (infonce's T) times 4, a signed one (siglip's t', b) over 4 */
	for (k = 0; k < o->nscalars; k++)
		c.s[k] = o->scalars[k].positive ? o->scalars[k].init * 4 :
		    o->scalars[k].init / 4;
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

/* SigLIP on tiny batches whose value and scalar gradients follow by
 * hand (sp = softplus, sg = sigmoid). */
static void
siglip_closed(void)
{
	struct mm_loss l, m;
	float a[N * D], b[N * D], da[N * D], db[N * D];
	double s[2], want, e1, e2;
	int i;

	mm_loss_init(&l, N, D, MM_OBJ_SIGLIP, MM_REG_COS, 0, 1.0);
	mm_loss_init(&m, N, D, MM_OBJ_SIGLIP, MM_REG_COS, 1, 1.0);

	/* B = 1, a = b: z = t - b = 10 - 10 = 0, loss ln 2, G = -1/2 */
	memset(a, 0, sizeof(a));
	a[0] = 2.0f;
	memcpy(b, a, sizeof(a));
	s[0] = log(10.0);
	s[1] = -10;
	mm_loss_compute(&l, a, b, 1, s, NULL, da, db);
	ok(fabs(l.term - log(2.0)) < 1e-6 && fabs(l.regval) < 1e-7 &&
	    fabs(l.dscal[1] + 0.5) < 1e-7 && fabs(l.dscal[0] + 5) < 1e-6 &&
	    fabs(da[0]) < 1e-7 && fabs(db[0]) < 1e-7, "siglip B=1 at the "
	    "paper's start, one matched pair: ln 2 = %.7f, d/db -1/2 = %.7f, "
	    "d/dt' -t/2 = %.6f, no gradient along the code", l.term,
	    l.dscal[1], l.dscal[0]);

	/* B = 2, orthonormal matched pairs, t = 5, b = -2: logits 3 on the
	 * diagonal, -2 off it; loss = sp(-3) + sp(-2), d/db = -sg(-3) +
	 * sg(-2), d/dt' = -t sg(-3) */
	memset(a, 0, sizeof(a));
	a[0] = 3.0f;
	a[D + 1] = 0.5f;
	memset(b, 0, sizeof(b));
	b[0] = 1.0f;
	b[D + 1] = 7.0f;
	s[0] = log(5.0);
	s[1] = -2;
	e1 = exp(-3.0);
	e2 = exp(-2.0);
	want = log(1 + e1) + log(1 + e2);
	mm_loss_compute(&l, a, b, 2, s, NULL, NULL, NULL);
	mm_loss_compute(&m, a, b, 2, s, NULL, NULL, NULL);
	ok(fabs(l.term - want) < 1e-6 && fabs(l.dscal[1] - (-e1 / (1 + e1) +
	    e2 / (1 + e2))) < 1e-7 && fabs(l.dscal[0] + 5 * e1 / (1 + e1)) <
	    1e-6, "siglip B=2, orthogonal pairs, t 5, b -2: %.7f = sp(-3) + "
	    "sp(-2) = %.7f; d/db %.7f, d/dt' %.7f", l.term, want, l.dscal[1],
	    l.dscal[0]);
	ok(m.term == l.term && m.dscal[0] == l.dscal[0] &&
	    m.dscal[1] == l.dscal[1], "siglip: symmetric changes nothing");

	/* B = 2, u = (e1, e1), v = (e1, -e1), t = 1000, b = 0: two pairs
	 * right by a logit of 1000, two wrong by 1000 (one matched, one
	 * not): loss 2 * 1000 / 2 = 1000, d/db = (1 - 1) / 2 = 0,
	 * d/dt' = (1000 + 1000) / 2; a naive ln(1 + e^1000) overflows */
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	a[0] = a[D] = 1.0f;
	b[0] = 1.0f;
	b[D] = -1.0f;
	s[0] = log(1000.0);
	s[1] = 0;
	mm_loss_compute(&l, a, b, 2, s, NULL, da, db);
	for (i = 0; i < 2 * D; i++)
		if (!isfinite(da[i]) || !isfinite(db[i]))
			break;
	ok(fabs(l.term - 1000) < 1e-9 && fabs(l.dscal[1]) < 1e-12 &&
	    fabs(l.dscal[0] - 1000) < 1e-9 && i == 2 * D, "siglip at logits "
	    "+-1000: loss %.9g, d/db %.3g, d/dt' %.9g, finite gradients",
	    l.term, l.dscal[1], l.dscal[0]);
	mm_loss_free(&l);
	mm_loss_free(&m);
}

/* |got - want| relative to |want| */
static double
rel1(double got, double want)
{
	return fabs(got - want) / (fabs(want) > 1e-12 ? fabs(want) : 1e-12);
}

/* PyTorch's values in double (tests/ref/siglip_ref.py): 8 pairs, 4 dims,
 * at the paper's start and at a middle setting, with cos (beta 0, 0.5)
 * and kl (beta 0.3); everything within 1e-6 relative. */
static void
golden_siglip(void)
{
	static const char *const set[] = { "init", "mid" };
	static const char *const reg[] = { "cos.b0", "cos.b0.5", "kl.b0.3" };
	struct mm_loss l;
	float a[64], b[64], ak[64], bk[64], da[64], db[64];
	const double *w, *sc;
	double e, ev, worst_v = 0, worst_g = 0, worst_s = 0;
	char tag[64], key[80];
	int si, ri, n;

	if (ref_load("siglip.txt") != 0) {
		ok(0, "tests/ref/siglip.txt loads");
		return;
	}
	ref_floats("a", a, 32);
	ref_floats("b", b, 32);
	ref_floats("ak", ak, 64);
	ref_floats("bk", bk, 64);
	for (si = 0; si < 2; si++)
		for (ri = 0; ri < 3; ri++) {
			int kl = ri == 2;
			double beta = ri == 0 ? 0 : ri == 1 ? 0.5 : 0.3;

			n = kl ? 64 : 32;
			snprintf(tag, sizeof(tag), "%s.%s", set[si], reg[ri]);
			snprintf(key, sizeof(key), "%s.scalars", set[si]);
			sc = ref_get(key, NULL);
			mm_loss_init(&l, 8, 4, MM_OBJ_SIGLIP, kl ? MM_REG_KL :
			    MM_REG_COS, 0, beta);
			mm_loss_compute(&l, kl ? ak : a, kl ? bk : b, 8, sc, NULL,
			    da, db);
			snprintf(key, sizeof(key), "%s.loss", tag);
			w = ref_get(key, NULL);
			ev = w ? rel1(l.loss, w[0]) : 1;
			if (w && rel1(l.term, w[1]) > ev)
				ev = rel1(l.term, w[1]);
			if (w && rel1(l.regval, w[2]) > ev)
				ev = rel1(l.regval, w[2]);
			ok(ev < 1e-6, "siglip %s: loss %.7f, SigLIP %.7f, reg "
			    "%.7f as PyTorch (rel %.1e)", tag, l.loss, l.term,
			    l.regval, ev);
			snprintf(key, sizeof(key), "%s.da", tag);
			w = ref_get(key, NULL);
			e = w ? relerr(da, w, n) : 1;
			snprintf(key, sizeof(key), "%s.db", tag);
			w = ref_get(key, NULL);
			if (!w || relerr(db, w, n) > e)
				e = w ? relerr(db, w, n) : 1;
			ok(e < 1e-6, "siglip %s: d/da, d/db as PyTorch (rel %.1e)",
			    tag, e);
			if (e > worst_g)
				worst_g = e;
			if (ev > worst_v)
				worst_v = ev;
			snprintf(key, sizeof(key), "%s.dscal", tag);
			w = ref_get(key, NULL);
			e = w ? rel1(l.dscal[0], w[0]) : 1;
			if (w && rel1(l.dscal[1], w[1]) > e)
				e = rel1(l.dscal[1], w[1]);
			ok(e < 1e-6, "siglip %s: d/dt' %.7f, d/db %.7f as PyTorch "
			    "(rel %.1e)", tag, l.dscal[0], l.dscal[1], e);
			if (e > worst_s)
				worst_s = e;
			mm_loss_free(&l);
		}
	diag("siglip vs PyTorch, worst relative error: values %.2e, "
	    "gradients %.2e, scalar gradients %.2e", worst_v, worst_g, worst_s);
	ref_free();
}

int
main(void)
{
	struct mm_loss l;
	float a[N * D], b[N * D];
	double T = 0.5, want, lse;
	const double Tgc[1] = { 0.3 }, sgc[2] = { 0.7, -1.5 };
	int i;

	plan(37 + 5 + 4 + 4 + 8 + 4 + 18 + 3 + 6);
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

	gradcheck(MM_OBJ_INFONCE, Tgc, MM_REG_COS, 0, 0.7, "cos");
	gradcheck(MM_OBJ_INFONCE, Tgc, MM_REG_COS, 1, 0.5, "cos symmetric");
	gradcheck(MM_OBJ_INFONCE, Tgc, MM_REG_KL, 0, 0.3, "kl");
	gradcheck(MM_OBJ_INFONCE, Tgc, MM_REG_KL, 1, 0.3, "kl symmetric");
	gradcheck(MM_OBJ_SIGLIP, sgc, MM_REG_COS, 0, 0.7, "siglip cos");
	gradcheck(MM_OBJ_SIGLIP, sgc, MM_REG_KL, 0, 0.3, "siglip kl");
	golden();
	siglip_closed();
	golden_siglip();
	tables();
	for (i = 0; mm_objective_get(i); i++) {
		objective_part(i, 0);
		objective_part(i, 1);
	}
	for (i = 0; mm_regulariser_get(i); i++)
		regulariser_part(i);
	return done_testing();
}
