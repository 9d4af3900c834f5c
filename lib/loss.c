/* loss.c - InfoNCE with cosine or KL regulariser (see loss.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "loss.h"
#include "nn.h"

const char *
mm_reg_name(int reg)
{
	return reg == MM_REG_KL ? "kl" : "cos";
}

int
mm_reg_parse(const char *s)
{
	if (strcmp(s, "cos") == 0)
		return MM_REG_COS;
	if (strcmp(s, "kl") == 0)
		return MM_REG_KL;
	return -1;
}

int
mm_loss_init(struct mm_loss *l, int max_batch, int D, int reg,
    int symmetric, double beta)
{
	size_t nd = (size_t)max_batch * D, n = max_batch;

	memset(l, 0, sizeof(*l));
	if (max_batch < 1 || D < 1 || (reg != MM_REG_COS && reg != MM_REG_KL))
		return mm_err(MM_EINVAL, "loss: bad batch %d, dim %d or reg %d",
		    max_batch, D, reg);
	l->max_batch = max_batch;
	l->D = D;
	l->reg = reg;
	l->symmetric = symmetric;
	l->beta = beta;
	l->z_a = malloc(nd * sizeof(float));
	l->z_b = malloc(nd * sizeof(float));
	l->e_a = malloc(nd * sizeof(float));
	l->e_b = malloc(nd * sizeof(float));
	l->u = malloc(nd * sizeof(float));
	l->v = malloc(nd * sizeof(float));
	l->du = malloc(nd * sizeof(float));
	l->dv = malloc(nd * sizeof(float));
	l->nu = malloc(n * sizeof(float));
	l->nv = malloc(n * sizeof(float));
	l->S = malloc(n * n * sizeof(float));
	l->rowbuf = malloc(2 * n * sizeof(double));
	if (!l->z_a || !l->z_b || !l->e_a || !l->e_b || !l->u || !l->v ||
	    !l->du || !l->dv || !l->nu || !l->nv || !l->S || !l->rowbuf) {
		mm_loss_free(l);
		return mm_err(MM_ENOMEM, "loss: out of memory");
	}
	return 0;
}

void
mm_loss_free(struct mm_loss *l)
{
	free(l->z_a);
	free(l->z_b);
	free(l->e_a);
	free(l->e_b);
	free(l->u);
	free(l->v);
	free(l->du);
	free(l->dv);
	free(l->nu);
	free(l->nv);
	free(l->S);
	free(l->rowbuf);
	memset(l, 0, sizeof(*l));
}

int
mm_loss_in_dim(const struct mm_loss *l)
{
	return l->reg == MM_REG_KL ? 2 * l->D : l->D;
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
    int N, double T, struct mm_rng *rng, float *da, float *db)
{
	int D = l->D, i, j, d, kl = l->reg == MM_REG_KL;
	const float *za = a, *zb = b;
	float *S = l->S;
	double *lse_r = l->rowbuf, *lse_c = l->rowbuf + N;
	double nce_r = 0, nce_c = 0, reg = 0, gs = 0, wr, wc;

	if (kl) {
		/* image rows are sampled before factor rows */
		gauss_codes(l->z_a, l->e_a, a, N, D, rng);
		gauss_codes(l->z_b, l->e_b, b, N, D, rng);
		za = l->z_a;
		zb = l->z_b;
	}
	mm_l2norm_forward(l->u, l->nu, za, N, D);
	mm_l2norm_forward(l->v, l->nv, zb, N, D);
	/* S = u v^T / T, (N, N) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, D,
	    (float)(1.0 / T), l->u, D, l->v, D, 0.0f, S, N);

	/* logsumexp of every row and (if symmetric) every column */
	for (i = 0; i < N; i++) {
		const float *Si = S + (size_t)i * N;
		double m = Si[0], s = 0;

		for (j = 1; j < N; j++)
			if (Si[j] > m)
				m = Si[j];
		for (j = 0; j < N; j++)
			s += exp(Si[j] - m);
		lse_r[i] = m + log(s);
		nce_r += Si[i] - lse_r[i];
	}
	if (l->symmetric) {
		for (j = 0; j < N; j++) {
			double m = S[j], s = 0;

			for (i = 1; i < N; i++)
				if (S[(size_t)i * N + j] > m)
					m = S[(size_t)i * N + j];
			for (i = 0; i < N; i++)
				s += exp(S[(size_t)i * N + j] - m);
			lse_c[j] = m + log(s);
			nce_c += S[(size_t)j * N + j] - lse_c[j];
		}
		l->infonce = -(log((double)N) + 0.5 * (nce_r + nce_c) / N);
	} else
		l->infonce = -(log((double)N) + nce_r / N);

	if (kl) {
		for (i = 0; i < N; i++) {
			const float *ma = a + (size_t)i * 2 * D, *la = ma + D;
			const float *mb = b + (size_t)i * 2 * D, *lb = mb + D;

			for (d = 0; d < D; d++) {
				double dm = (double)ma[d] - mb[d];

				reg += 0.5 * ((double)lb[d] - la[d] +
				    (exp(la[d]) + dm * dm) / exp(lb[d]) - 1.0);
			}
		}
		reg /= N;
	} else {
		for (i = 0; i < N; i++) {
			double c = 0;

			for (d = 0; d < D; d++)
				c += (double)l->u[(size_t)i * D + d] *
				    l->v[(size_t)i * D + d];
			reg += c;
		}
		reg = 1.0 - reg / N;
	}
	l->regval = reg;
	l->loss = l->infonce + l->beta * reg;

	/* dL/dS in place: rows (P - I) / N, columns likewise; and
	 * dL/dT = -sum_ij G_ij S_ij / T. */
	wr = l->symmetric ? 0.5 / N : 1.0 / N;
	wc = 0.5 / N;
	for (i = 0; i < N; i++) {
		float *Si = S + (size_t)i * N;

		for (j = 0; j < N; j++) {
			double s = Si[j], g;

			g = wr * (exp(s - lse_r[i]) - (i == j));
			if (l->symmetric)
				g += wc * (exp(s - lse_c[j]) - (i == j));
			gs += g * s;
			Si[j] = (float)g;
		}
	}
	l->dT = -gs / T;
	if (!da || !db)
		return l->loss;

	/* du = G v / T, dv = G^T u / T */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, N,
	    (float)(1.0 / T), S, N, l->v, D, 0.0f, l->du, D);
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, D, N,
	    (float)(1.0 / T), S, N, l->u, D, 0.0f, l->dv, D);
	if (!kl && l->beta != 0) {
		float w = (float)(l->beta / N);

		for (i = 0; i < N * D; i++) {
			float ui = l->u[i];

			l->du[i] -= w * l->v[i];
			l->dv[i] -= w * ui;
		}
	}
	l2norm_back(l->du, l->u, l->nu, N, D);
	l2norm_back(l->dv, l->v, l->nv, N, D);
	if (!kl) {
		memcpy(da, l->du, (size_t)N * D * sizeof(float));
		memcpy(db, l->dv, (size_t)N * D * sizeof(float));
		return l->loss;
	}
	/* through the samples z = mu + exp(lv / 2) e, plus beta dKL */
	for (i = 0; i < N; i++) {
		const float *ma = a + (size_t)i * 2 * D, *la = ma + D;
		const float *mb = b + (size_t)i * 2 * D, *lb = mb + D;
		const float *ea = l->e_a + (size_t)i * D, *eb = l->e_b + (size_t)i * D;
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
	return l->loss;
}
