/* loss-infonce.c - InfoNCE over cosine similarities with a temperature,
 * one-sided (image -> factor) or symmetric (loss.h gives the math). */
#include <math.h>
#include <stddef.h>

#include <cblas.h>

#include "loss.h"

static const struct mm_scalar scalars[] = {
	{ "temperature", "T", 0.07, 1, 1, MM_TEMP_SELF },
};

/* work: logsumexp of every row and every column, (2 N) doubles */
static size_t
work(int max_batch, int D)
{
	(void)D;
	return 2 * (size_t)max_batch * sizeof(double);
}

static double
forward(struct mm_loss *l, int N, const double *s)
{
	int D = l->D, i, j;
	double T = s[0], nce_r = 0, nce_c = 0;
	double *lse_r = l->objwork, *lse_c = lse_r + N;
	float *S = l->S;

	/* S = u v^T / T, (N, N) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, D,
	    (float)(1.0 / T), l->u, D, l->v, D, 0.0f, S, N);

	/* logsumexp of every row and (if symmetric) every column */
	for (i = 0; i < N; i++) {
		const float *Si = S + (size_t)i * N;
		double m = Si[0], e = 0;

		for (j = 1; j < N; j++)
			if (Si[j] > m)
				m = Si[j];
		for (j = 0; j < N; j++)
			e += exp(Si[j] - m);
		lse_r[i] = m + log(e);
		nce_r += Si[i] - lse_r[i];
	}
	if (!l->symmetric)
		return -(log((double)N) + nce_r / N);
	for (j = 0; j < N; j++) {
		double m = S[j], e = 0;

		for (i = 1; i < N; i++)
			if (S[(size_t)i * N + j] > m)
				m = S[(size_t)i * N + j];
		for (i = 0; i < N; i++)
			e += exp(S[(size_t)i * N + j] - m);
		lse_c[j] = m + log(e);
		nce_c += S[(size_t)j * N + j] - lse_c[j];
	}
	return -(log((double)N) + 0.5 * (nce_r + nce_c) / N);
}

static void
backward(struct mm_loss *l, int N, const double *s, int codes)
{
	int D = l->D, i, j;
	double T = s[0], gs = 0, wr, wc;
	const double *lse_r = l->objwork, *lse_c = lse_r + N;
	float *S = l->S;

	/* dL/dS in place: rows (P - I) / N, columns likewise; and
	 * dL/dT = -sum_ij G_ij S_ij / T. */
	wr = l->symmetric ? 0.5 / N : 1.0 / N;
	wc = 0.5 / N;
	for (i = 0; i < N; i++) {
		float *Si = S + (size_t)i * N;

		for (j = 0; j < N; j++) {
			double sij = Si[j], g;

			g = wr * (exp(sij - lse_r[i]) - (i == j));
			if (l->symmetric)
				g += wc * (exp(sij - lse_c[j]) - (i == j));
			gs += g * sij;
			Si[j] = (float)g;
		}
	}
	l->dscal[0] = -gs / T;
	if (!codes)
		return;
	/* du = G v / T, dv = G^T u / T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, N,
	    (float)(1.0 / T), S, N, l->v, D, 0.0f, l->du, D);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, N,
	    (float)(1.0 / T), S, N, l->u, D, 0.0f, l->dv, D);
}

const struct mm_objective mm_loss_infonce = {
	"infonce", 1, scalars, work, forward, backward
};
