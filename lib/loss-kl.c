/* loss-kl.c - the KL regulariser between the two encoders' diagonal
 * Gaussians; the codes are reparameterised samples (loss.h). */
#include <math.h>
#include <stddef.h>

#include "loss.h"

/* work: z_a, z_b (N, D) the samples, e_a, e_b (N, D) their noise */
static size_t
work(int max_batch, int D)
{
	return 4 * (size_t)max_batch * D * sizeof(float);
}

/* z (N, D) from the (N, 2D) Gaussian outputs x: a sample, or the mean. */
static void
gauss_codes(float *z, float *e, const float *x, int N, int D,
    struct mm_rng *rng)
{
	int i, d;

	for (i = 0; i < N; i++) {
		const float *mu = x + (size_t)i * 2 * D, *lv = mu + D;
		float *zi = z + (size_t)i * D, *ei = e + (size_t)i * D;

		for (d = 0; d < D; d++) {
			ei[d] = rng ? (float)mm_rng_normal(rng) : 0.0f;
			zi[d] = mu[d] + expf(0.5f * lv[d]) * ei[d];
		}
	}
}

static void
codes(struct mm_loss *l, const float *a, const float *b, int N,
    struct mm_rng *rng, const float **za, const float **zb)
{
	size_t nd = (size_t)l->max_batch * l->D;
	float *z_a = l->regwork, *z_b = z_a + nd, *e_a = z_b + nd,
	    *e_b = e_a + nd;

	/* image rows are sampled before factor rows */
	gauss_codes(z_a, e_a, a, N, l->D, rng);
	gauss_codes(z_b, e_b, b, N, l->D, rng);
	*za = z_a;
	*zb = z_b;
}

static double
value(struct mm_loss *l, const float *a, const float *b, int N)
{
	int D = l->D, i, d;
	double reg = 0;

	for (i = 0; i < N; i++) {
		const float *ma = a + (size_t)i * 2 * D, *la = ma + D;
		const float *mb = b + (size_t)i * 2 * D, *lb = mb + D;

		for (d = 0; d < D; d++) {
			double dm = (double)ma[d] - mb[d];

			reg += 0.5 * ((double)lb[d] - la[d] +
			    (exp(la[d]) + dm * dm) / exp(lb[d]) - 1.0);
		}
	}
	return reg / N;
}

/* through the samples z = mu + exp(lv / 2) e, plus beta dKL */
static void
input_grad(struct mm_loss *l, const float *a, const float *b, int N,
    float *da, float *db)
{
	int D = l->D, i, d;
	size_t nd = (size_t)l->max_batch * D;
	const float *e_a = (const float *)l->regwork + 2 * nd, *e_b = e_a + nd;

	for (i = 0; i < N; i++) {
		const float *ma = a + (size_t)i * 2 * D, *la = ma + D;
		const float *mb = b + (size_t)i * 2 * D, *lb = mb + D;
		const float *ea = e_a + (size_t)i * D, *eb = e_b + (size_t)i * D;
		const float *dza = l->du + (size_t)i * D, *dzb = l->dv + (size_t)i * D;
		float *dma = da + (size_t)i * 2 * D, *dla = dma + D;
		float *dmb = db + (size_t)i * 2 * D, *dlb = dmb + D;
		double w = l->beta / N;

		for (d = 0; d < D; d++) {
			double dm = (double)ma[d] - mb[d];
			double vb = exp(lb[d]), va = exp(la[d]);

			dma[d] = (float)(dza[d] + w * dm / vb);
			dmb[d] = (float)(dzb[d] - w * dm / vb);
			dla[d] = (float)(dza[d] * ea[d] * 0.5 * exp(0.5 * la[d]) +
			    w * 0.5 * (va / vb - 1.0));
			dlb[d] = (float)(dzb[d] * eb[d] * 0.5 * exp(0.5 * lb[d]) +
			    w * 0.5 * (1.0 - (va + dm * dm) / vb));
		}
	}
}

const struct mm_regulariser mm_loss_kl = {
	"kl", 2, work, codes, value, NULL, input_grad
};
