/* loss.c - the tables of objectives and regularisers, and the driver that
 * runs their parts in order (see loss.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "loss.h"
#include "nn.h"

/* The tables: one line per member (defined in loss-<name>.c). */
extern const struct mm_objective mm_loss_infonce, mm_loss_siglip;
extern const struct mm_regulariser mm_loss_cos, mm_loss_kl;

static const struct mm_objective *const objectives[] = {
	&mm_loss_infonce,            /* MM_OBJ_INFONCE */
	&mm_loss_siglip,             /* MM_OBJ_SIGLIP */
};
static const struct mm_regulariser *const regularisers[] = {
	&mm_loss_cos,                /* MM_REG_COS */
	&mm_loss_kl,                 /* MM_REG_KL */
};
#define NOBJ ((int)(sizeof(objectives) / sizeof(objectives[0])))
#define NREG ((int)(sizeof(regularisers) / sizeof(regularisers[0])))

const struct mm_objective *
mm_objective_get(int i)
{
	return i >= 0 && i < NOBJ ? objectives[i] : NULL;
}

const struct mm_regulariser *
mm_regulariser_get(int i)
{
	return i >= 0 && i < NREG ? regularisers[i] : NULL;
}

const char *
mm_objective_name(int obj)
{
	return objectives[obj]->name;
}

const char *
mm_reg_name(int reg)
{
	return regularisers[reg]->name;
}

/* Index of s among n names (name(i)), else MM_EINVAL with "'s' is not
 * a, b or c". */
static int
find(const char *s, int n, const char *(*name)(int))
{
	char list[256];
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, name(i)))
			return i;
	list[0] = '\0';
	for (i = 0; i < n && len < sizeof(list); i++)
		len += snprintf(list + len, sizeof(list) - len, "%s%s",
		    i == 0 ? "" : i == n - 1 ? " or " : ", ", name(i));
	return mm_err(MM_EINVAL, "'%s' is not %s", s, list);
}

int
mm_objective_parse(const char *s)
{
	return find(s, NOBJ, mm_objective_name);
}

int
mm_reg_parse(const char *s)
{
	return find(s, NREG, mm_reg_name);
}

int
mm_objective_scalar(int obj, const char *name)
{
	const struct mm_objective *o = mm_objective_get(obj);
	int k;

	for (k = 0; o && k < o->nscalars; k++)
		if (!strcmp(o->scalars[k].name, name))
			return k;
	return -1;
}

int
mm_objective_temperature(int obj, double T, double *value)
{
	const struct mm_objective *o = mm_objective_get(obj);
	int k;

	for (k = 0; o && k < o->nscalars; k++)
		switch (o->scalars[k].temp) {
		case MM_TEMP_SELF:
			*value = T;
			return k;
		case MM_TEMP_NEGLOG:
			*value = -log(T);
			return k;
		}
	return -1;
}

int
mm_loss_init(struct mm_loss *l, int max_batch, int D, int obj, int reg,
    int symmetric, double beta)
{
	size_t nd = (size_t)max_batch * D, n = max_batch;

	memset(l, 0, sizeof(*l));
	if (max_batch < 1 || D < 1 || !mm_objective_get(obj) ||
	    !mm_regulariser_get(reg))
		return mm_err(MM_EINVAL, "loss: bad batch %d, dim %d, objective "
		    "%d or reg %d", max_batch, D, obj, reg);
	l->obj = objectives[obj];
	l->reg = regularisers[reg];
	l->max_batch = max_batch;
	l->D = D;
	l->symmetric = symmetric;
	l->beta = beta;
	l->u = malloc(nd * sizeof(float));
	l->v = malloc(nd * sizeof(float));
	l->du = malloc(nd * sizeof(float));
	l->dv = malloc(nd * sizeof(float));
	l->nu = malloc(n * sizeof(float));
	l->nv = malloc(n * sizeof(float));
	l->S = malloc(n * n * sizeof(float));
	l->objwork = malloc(l->obj->work(max_batch, D) + 1);
	l->regwork = malloc(l->reg->work(max_batch, D) + 1);
	if (!l->u || !l->v || !l->du || !l->dv || !l->nu || !l->nv || !l->S ||
	    !l->objwork || !l->regwork) {
		mm_loss_free(l);
		return mm_err(MM_ENOMEM, "loss: out of memory");
	}
	return 0;
}

void
mm_loss_free(struct mm_loss *l)
{
	free(l->u);
	free(l->v);
	free(l->du);
	free(l->dv);
	free(l->nu);
	free(l->nv);
	free(l->S);
	free(l->objwork);
	free(l->regwork);
	memset(l, 0, sizeof(*l));
}

int
mm_loss_in_dim(const struct mm_loss *l)
{
	return l->reg->width * l->D;
}

/* dz = (du - u (u . du)) / norm, in place over du. */
static void
l2norm_back(float *du, const float *u, const float *norm, int N, int D)
{
	int i, d;

	for (i = 0; i < N; i++) {
		float *g = du + (size_t)i * D;
		const float *ui = u + (size_t)i * D;
		double dot = 0;

		for (d = 0; d < D; d++)
			dot += (double)ui[d] * g[d];
		for (d = 0; d < D; d++)
			g[d] = (float)((g[d] - ui[d] * dot) / norm[i]);
	}
}

double
mm_loss_compute(struct mm_loss *l, const float *a, const float *b,
    int N, const double *s, struct mm_rng *rng, float *da, float *db)
{
	const struct mm_objective *ob = l->obj;
	const struct mm_regulariser *rg = l->reg;
	const float *za, *zb;
	int grads = da && db, blas;

	rg->codes(l, a, b, N, rng, &za, &zb);
	mm_l2norm_forward(l->u, l->nu, za, N, l->D);
	mm_l2norm_forward(l->v, l->nv, zb, N, l->D);
	/* the objective's products (N, N, D) on one BLAS thread: small,
	 * and on more they would round by the thread count (nn.h) */
	blas = mm_blas_one();
	l->term = ob->forward(l, N, s);
	l->regval = rg->value(l, a, b, N);
	l->loss = l->term + l->beta * l->regval;
	ob->backward(l, N, s, grads);
	mm_blas_restore(blas);
	if (!grads)
		return l->loss;
	if (rg->code_grad)
		rg->code_grad(l, N);
	l2norm_back(l->du, l->u, l->nu, N, l->D);
	l2norm_back(l->dv, l->v, l->nv, N, l->D);
	rg->input_grad(l, a, b, N, da, db);
	return l->loss;
}
