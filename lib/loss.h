/*
 * loss.h - the training objective of mmib: InfoNCE between the two
 * modalities plus beta times an alignment regulariser.
 *
 * Let a (N, Da) and b (N, Da) be the raw outputs of the image and factor
 * encoders for a batch of N pairs, and T > 0 the temperature.
 *
 * reg = MM_REG_COS (Da = D): u_i = a_i / |a_i|, v_i = b_i / |b_i|.
 * reg = MM_REG_KL (Da = 2 D): each encoder emits a Gaussian, the first D
 *   columns its mean mu, the last D its log-variance lv.  In training
 *   (rng given) the codes are reparameterised samples
 *   z = mu + exp(lv / 2) * e, e ~ N(0, I) drawn from rng, image rows first,
 *   row by row; in evaluation (rng NULL) z = mu.  u, v normalise z.
 *
 * S_ij = u_i . v_j / T, the similarities of images i and factors j.
 *   InfoNCE (image -> factor) = -(ln N + mean_i (S_ii - logsumexp_j S_ij))
 *   symmetric: the mean of that and the factor -> image form (logsumexp
 *   over i of S_ij for each column j).
 *   MM_REG_COS: R = 1 - mean_i u_i . v_i
 *   MM_REG_KL:  R = mean_i KL(N(mu_a,i, e^lv_a,i) || N(mu_b,i, e^lv_b,i)),
 *     the KL of diagonal Gaussians summed over the D dimensions:
 *     1/2 sum_d [lv_b - lv_a + (e^lv_a + (mu_a - mu_b)^2) / e^lv_b - 1]
 *     (the bound on I(Z1; X1) of the paper, with p2 as the variational
 *     marginal), on the raw means (not normalised).
 *   loss = InfoNCE + beta R.
 *
 * Every reduction runs in double; the matrix product uses sgemm.
 */
#ifndef MM_LOSS_H
#define MM_LOSS_H

#include "rng.h"

enum { MM_REG_COS = 0, MM_REG_KL = 1 };

struct mm_loss {
	int max_batch, D, reg, symmetric;
	double beta;
	/* results of the last mm_loss_compute */
	double loss, infonce, regval;
	double dT;                 /* d loss / d T */
	/* scratch, allocated once for max_batch rows */
	float *z_a, *z_b;          /* (N, D) codes before normalisation */
	float *e_a, *e_b;          /* (N, D) noise of the kl samples */
	float *u, *v;              /* (N, D) normalised codes */
	float *nu, *nv;            /* (N) norms of z_a, z_b */
	float *S;                  /* (N, N) similarities, then dL/dS */
	float *du, *dv;            /* (N, D) */
	double *rowbuf;            /* (N) */
};

/* Name of a regulariser ("cos", "kl") and back (-1 if unknown). */
const char *mm_reg_name(int reg);
int mm_reg_parse(const char *s);

int mm_loss_init(struct mm_loss *l, int max_batch, int D, int reg,
    int symmetric, double beta);
void mm_loss_free(struct mm_loss *l);
/* Columns the encoders must emit: D (cos) or 2 D (kl). */
int mm_loss_in_dim(const struct mm_loss *l);

/* Loss of N <= max_batch pairs; fills l->loss, infonce, regval, dT and
 * returns l->loss.  When da and db are not NULL they receive (overwrite)
 * the gradients with respect to a and b, (N, Da) each.  rng: see above.
 * Returns NaN (never stops) on non-finite inputs; callers check. */
double mm_loss_compute(struct mm_loss *l, const float *a, const float *b,
    int N, double T, struct mm_rng *rng, float *da, float *db);

#endif
