/*
 * loss.h - the training objective of mmib: a contrastive objective between
 * the two modalities plus beta times an alignment regulariser.  Both are
 * parts chosen by name from two tables (loss.c): the objectives
 * ("infonce", one-sided or symmetric; "siglip") and the regularisers
 * ("cos", "kl").
 *
 * Let a (N, Da) and b (N, Da) be the raw outputs of the image and factor
 * encoders for a batch of N pairs.  The regulariser decides what the
 * encoders emit and how it becomes codes:
 *
 * reg = cos (Da = D): u_i = a_i / |a_i|, v_i = b_i / |b_i|.
 * reg = kl (Da = 2 D): each encoder emits a Gaussian, the first D
 *   columns its mean mu, the last D its log-variance lv.  In training
 *   (rng given) the codes are reparameterised samples
 *   z = mu + exp(lv / 2) * e, e ~ N(0, I) drawn from rng, image rows first,
 *   row by row; in evaluation (rng NULL) z = mu.  u, v normalise z.
 * In either case the first D columns of a row are its evaluation code.
 *
 * objective = infonce, scalar T > 0 (the temperature, "temperature"):
 *   S_ij = u_i . v_j / T, the similarities of images i and factors j.
 *   InfoNCE (image -> factor) = -(ln N + mean_i (S_ii - logsumexp_j S_ij))
 *   symmetric: the mean of that and the factor -> image form (logsumexp
 *   over i of S_ij for each column j).
 *   d/dT = -sum_ij G_ij S_ij / T with G = dInfoNCE/dS.
 * objective = siglip, scalars t' ("logit_scale", start ln 10) and b
 *   ("logit_bias", start -10), both learnt, of any sign (Zhai et al.
 *   2023, sigmoid loss for language-image pre-training):
 *   z_ij = t u_i . v_j + b with t = exp(t'), y_ij = +1 if i = j else -1,
 *   SigLIP = -(1/N) sum_ij ln sigma(y_ij z_ij)
 *          =  (1/N) sum_ij softplus(-y_ij z_ij),
 *   softplus(x) = ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|) (stable for
 *   any logit).  G_ij = dSigLIP/dz_ij = -y_ij sigma(-y_ij z_ij) / N;
 *   d/dt' = sum_ij G_ij (z_ij - b), d/db = sum_ij G_ij, du = t G v,
 *   dv = t G^T u.  Every pair is its own binary decision, so the loss is
 *   symmetric in the two modalities by construction: "symmetric" changes
 *   nothing.  A run's temperature T (mmib-train --temperature) is the
 *   inverse scale, t' = -ln T (t = 1 / T; the start T = 0.1).
 * reg = cos: R = 1 - mean_i u_i . v_i
 * reg = kl:  R = mean_i KL(N(mu_a,i, e^lv_a,i) || N(mu_b,i, e^lv_b,i)),
 *     the KL of diagonal Gaussians summed over the D dimensions:
 *     1/2 sum_d [lv_b - lv_a + (e^lv_a + (mu_a - mu_b)^2) / e^lv_b - 1]
 *     (the bound on I(Z1; X1) of the paper, with p2 as the variational
 *     marginal), on the raw means (not normalised).
 *   loss = objective + beta R.
 *
 * Every reduction runs in double; the matrix products use sgemm.
 *
 * Writing a part.  An objective or a regulariser is one file (loss-*.c)
 * defining one const struct below, and one line in a table of loss.c
 * (lib/README.objectives gives the whole recipe).  The driver,
 * mm_loss_compute, runs the parts in this order:
 *   reg->codes      z_a, z_b (N, D) from a, b (may draw from rng)
 *                   u, v = rows of z_a, z_b over their norms nu, nv
 *   obj->forward    the objective's value from u, v and its scalars
 *   reg->value      R
 *                   loss = objective + beta R
 *   obj->backward   d loss / d scalar, and when asked du, dv (overwrite)
 *   reg->code_grad  adds beta dR/du, beta dR/dv (NULL: R ignores u, v)
 *                   du, dv back through the normalisation: dz_a, dz_b
 *   reg->input_grad da, db (N, Da) from dz_a, dz_b plus beta dR/da, db
 * An objective declares the trained scalars it needs (at most
 * MM_LOSS_MAXSCALARS, e.g. a temperature and a bias); the model stores,
 * saves ("<name>" tensors), optimises and logs them by that declaration.
 */
#ifndef MM_LOSS_H
#define MM_LOSS_H

#include <stddef.h>

#include "rng.h"

#define MM_LOSS_MAXSCALARS 4

/* Indices into the tables: the default objective, and the regularisers
 * that the tests and the model's defaults name. */
enum { MM_OBJ_INFONCE = 0, MM_OBJ_SIGLIP = 1 };
enum { MM_REG_COS = 0, MM_REG_KL = 1 };

/* How a temperature T sets a scalar (mm_objective_temperature): it does
 * not, the scalar is T, or the scalar is the log-scale -ln T. */
enum { MM_TEMP_NONE = 0, MM_TEMP_SELF = 1, MM_TEMP_NEGLOG = 2 };

/* A trained scalar of an objective. */
struct mm_scalar {
	const char *name;          /* tensor record, log column, and the key
	                              model.learn_<name> */
	const char *abbrev;        /* in the progress line ("T") */
	double init;               /* starting value */
	int learnt;                /* learnt unless the run fixes it */
	int positive;              /* must stay > 0 (else the run diverged) */
	int temp;                  /* MM_TEMP_*: what a temperature sets */
};

struct mm_loss;

struct mm_objective {
	const char *name;          /* model.objective=, the log column */
	int nscalars;
	const struct mm_scalar *scalars;
	/* bytes of scratch for batches of max_batch rows of D dims */
	size_t (*work)(int max_batch, int D);
	/* the objective's value from l->u, l->v (N, D) and scalars s */
	double (*forward)(struct mm_loss *l, int N, const double *s);
	/* l->dscal[k] = d loss / d s[k]; with codes, l->du, l->dv = d loss /
	 * du, dv (N, D); may reuse what forward left in l */
	void (*backward)(struct mm_loss *l, int N, const double *s, int codes);
};

struct mm_regulariser {
	const char *name;          /* model.reg=, --reg */
	int width;                 /* Da / D: encoder columns per code dim */
	size_t (*work)(int max_batch, int D);
	void (*codes)(struct mm_loss *l, const float *a, const float *b,
	    int N, struct mm_rng *rng, const float **za, const float **zb);
	double (*value)(struct mm_loss *l, const float *a, const float *b,
	    int N);
	void (*code_grad)(struct mm_loss *l, int N);
	/* overwrite da, db (N, Da) from dz_a = l->du, dz_b = l->dv */
	void (*input_grad)(struct mm_loss *l, const float *a, const float *b,
	    int N, float *da, float *db);
};

struct mm_loss {
	const struct mm_objective *obj;
	const struct mm_regulariser *reg;
	int max_batch, D, symmetric;
	double beta;
	/* results of the last mm_loss_compute */
	double loss, term, regval; /* term: the objective's value */
	double dscal[MM_LOSS_MAXSCALARS]; /* d loss / d obj->scalars[k] */
	/* scratch, allocated once for max_batch rows */
	float *u, *v;              /* (N, D) normalised codes */
	float *nu, *nv;            /* (N) norms of z_a, z_b */
	float *S;                  /* (N, N) pairwise scores, then dL/dS */
	float *du, *dv;            /* (N, D) */
	void *objwork, *regwork;   /* the parts' own scratch */
};

/* The tables: member i, or NULL past the end. */
const struct mm_objective *mm_objective_get(int i);
const struct mm_regulariser *mm_regulariser_get(int i);
/* Index of a name; MM_EINVAL ("'x' is not cos or kl") when unknown. */
int mm_objective_parse(const char *s);
int mm_reg_parse(const char *s);
/* Name of member i (i must be valid). */
const char *mm_objective_name(int obj);
const char *mm_reg_name(int reg);
/* Index of the scalar called name of objective obj, or -1. */
int mm_objective_scalar(int obj, const char *name);
/* Index of the scalar of objective obj that a temperature T > 0 sets
 * (infonce: T itself; siglip: t' = -ln T), its value for T in *value;
 * -1 when no scalar is a temperature. */
int mm_objective_temperature(int obj, double T, double *value);

int mm_loss_init(struct mm_loss *l, int max_batch, int D, int obj, int reg,
    int symmetric, double beta);
void mm_loss_free(struct mm_loss *l);
/* Columns the encoders must emit: D (cos) or 2 D (kl). */
int mm_loss_in_dim(const struct mm_loss *l);

/* Loss of N <= max_batch pairs with the objective's scalars s (T for
 * infonce; t', b for siglip); fills l->loss, term, regval, dscal and returns l->loss.  When
 * da and db are not NULL they receive (overwrite) the gradients with
 * respect to a and b, (N, Da) each.  rng: see above.  Returns NaN (never
 * stops) on non-finite inputs; callers check. */
double mm_loss_compute(struct mm_loss *l, const float *a, const float *b,
    int N, const double *s, struct mm_rng *rng, float *da, float *db);

#endif
