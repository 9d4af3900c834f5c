/* loss-siglip.c - SigLIP's pairwise sigmoid loss over cosine similarities
 * with a learnt log-scale and bias (Zhai et al. 2023; loss.h gives the
 * math).  Every pair (i, j) of the batch is one binary decision, so the
 * loss is symmetric in images and factors by construction and ignores
 * l->symmetric. */
#include <math.h>
#include <stddef.h>

#include <cblas.h>

#include "loss.h"

/* t' = ln t starts at ln 10, b at -10: the paper's values, which keep the
 * N^2 - N negatives from swamping the first steps.  --temperature T sets
 * t' = -ln T (t = 1 / T). */
static const struct mm_scalar scalars[] = {
	{ "logit_scale", "t'", 2.302585092994045684, 1, 0, MM_TEMP_NEGLOG },
	{ "logit_bias", "b", -10.0, 1, 0, MM_TEMP_NONE },
};

/* ln(1 + e^x) without overflow for large x or loss of digits for very
 * negative x. */
static double
softplus(double x)
{
	return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

/* 1 / (1 + e^-x), exp of a non-positive number only. */
static double
sigmoid(double x)
{
	double e;

	if (x >= 0)
		return 1 / (1 + exp(-x));
	e = exp(x);
	return e / (1 + e);
}

/* no scratch of its own: the cosines, then dL/dz, stay in l->S */
static size_t
work(int max_batch, int D)
{
	(void)max_batch;
	(void)D;
	return 0;
}

static double
forward(struct mm_loss *l, int N, const double *s)
{
	int D = l->D, i, j;
	double t = exp(s[0]), b = s[1], sum = 0;
	const float *S = l->S;

	/* S = u v^T, the cosines (N, N); the logits t S + b in double, so
	 * that t' and b act exactly */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, D,
	    1.0f, l->u, D, l->v, D, 0.0f, l->S, N);
	/* -ln sigma(y z) = softplus(-y z), y = +1 on the diagonal */
	for (i = 0; i < N; i++)
		for (j = 0; j < N; j++) {
			double z = t * S[(size_t)i * N + j] + b;

			sum += softplus(i == j ? -z : z);
		}
	return sum / N;
}

static void
backward(struct mm_loss *l, int N, const double *s, int codes)
{
	int D = l->D, i, j;
	double t = exp(s[0]), b = s[1], gt = 0, gb = 0;
	float *S = l->S;

	/* dL/dz_ij = -y sigma(-y z) / N, in place over S; dz/dt' = t c_ij
	 * and dz/db = 1 */
	for (i = 0; i < N; i++) {
		float *Si = S + (size_t)i * N;

		for (j = 0; j < N; j++) {
			double tc = t * Si[j], z = tc + b, g;

			g = i == j ? -sigmoid(-z) : sigmoid(z);
			g /= N;
			gt += g * tc;
			gb += g;
			Si[j] = (float)g;
		}
	}
	l->dscal[0] = gt;
	l->dscal[1] = gb;
	if (!codes)
		return;
	/* du = t G v, dv = t G^T u */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, N,
	    (float)t, S, N, l->v, D, 0.0f, l->du, D);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, N,
	    (float)t, S, N, l->u, D, 0.0f, l->dv, D);
}

const struct mm_objective mm_loss_siglip = {
	"siglip", 2, scalars, work, forward, backward
};
