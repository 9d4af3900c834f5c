/* loss-cos.c - the cosine regulariser R = 1 - mean_i u_i . v_i on the
 * normalised codes; the encoders emit the codes themselves (loss.h). */
#include <stddef.h>
#include <string.h>

#include "loss.h"

static size_t
work(int max_batch, int D)
{
	(void)max_batch;
	(void)D;
	return 0;
}

/* the codes are the outputs */
static void
codes(struct mm_loss *l, const float *a, const float *b, int N,
    struct mm_rng *rng, const float **za, const float **zb)
{
	(void)l;
	(void)N;
	(void)rng;
	*za = a;
	*zb = b;
}

static double
value(struct mm_loss *l, const float *a, const float *b, int N)
{
	int D = l->D, i, d;
	double reg = 0;

	(void)a;
	(void)b;
	for (i = 0; i < N; i++) {
		double c = 0;

		for (d = 0; d < D; d++)
			c += (double)l->u[(size_t)i * D + d] *
			    l->v[(size_t)i * D + d];
		reg += c;
	}
	return 1.0 - reg / N;
}

/* du -= beta / N v, dv -= beta / N u */
static void
code_grad(struct mm_loss *l, int N)
{
	float w = (float)(l->beta / N);
	int i;

	if (l->beta == 0)
		return;
	for (i = 0; i < N * l->D; i++) {
		float ui = l->u[i];

		l->du[i] -= w * l->v[i];
		l->dv[i] -= w * ui;
	}
}

static void
input_grad(struct mm_loss *l, const float *a, const float *b, int N,
    float *da, float *db)
{
	(void)a;
	(void)b;
	memcpy(da, l->du, (size_t)N * l->D * sizeof(float));
	memcpy(db, l->dv, (size_t)N * l->D * sizeof(float));
}

const struct mm_regulariser mm_loss_cos = {
	"cos", 1, work, codes, value, code_grad, input_grad
};
