/* t-loss.c - InfoNCE and its regularisers: closed forms and
 * finite-difference checks of every gradient, including d/dT. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "rng.h"
#include "tap.h"
#include "util-ref.h"

#define N 6
#define D 5

/* loss at (a, b, T) with the kl noise drawn from a fixed seed */
static double
eval(struct mm_loss *l, const float *a, const float *b, double T)
{
	struct mm_rng r;

	mm_rng_seed(&r, 99);
	return mm_loss_compute(l, a, b, N, T, &r, NULL, NULL);
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
	if (mm_loss_init(&l, N, D, reg, symmetric, beta) != 0) {
		ok(0, "%s: init", what);
		return;
	}
	mm_rng_seed(&r, 99);
	mm_loss_compute(&l, a, b, N, T, &r, da, db);
	dT = l.dT;
	ok(isfinite(l.loss) && l.infonce > 0, "%s: loss %.6f finite, InfoNCE "
	    "%.6f > 0", what, l.loss, l.infonce);
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
			mm_loss_init(&l, 8, 4, MM_REG_COS, sym, beta);
			mm_loss_compute(&l, a, b, 8, 0.2, NULL, da, db);
			snprintf(key, sizeof(key), "%s.loss", tag);
			w = ref_get(key, NULL);
			ok(w && fabs(l.loss - w[0]) < 1e-4 * fabs(w[0]) &&
			    fabs(l.infonce - w[1]) < 1e-4 * fabs(w[1]) &&
			    fabs(l.regval - w[2]) < 1e-4 * fabs(w[2]) + 1e-7,
			    "%s: loss %.6f InfoNCE %.6f reg %.6f as PyTorch",
			    tag, l.loss, l.infonce, l.regval);
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
			ok(w && fabs(l.dT - w[0]) < 1e-4 * fabs(w[0]),
			    "%s: d/dT %.6f as PyTorch", tag, l.dT);
			mm_loss_free(&l);
		}
	ref_floats("ak", a, 64);
	ref_floats("bk", b, 64);
	mm_loss_init(&l, 8, 4, MM_REG_KL, 0, 0.3);
	mm_loss_compute(&l, a, b, 8, 0.2, NULL, da, db);
	w = ref_get("kl.loss", NULL);
	ok(w && fabs(l.loss - w[0]) < 1e-4 * fabs(w[0]) &&
	    fabs(l.regval - w[2]) < 1e-4 * fabs(w[2]),
	    "kl: loss %.6f, KL %.6f as PyTorch", l.loss, l.regval);
	w = ref_get("kl.da", NULL);
	ok(w && relerr(da, w, 64) < 1e-4, "kl: d/da as PyTorch");
	w = ref_get("kl.db", NULL);
	ok(w && relerr(db, w, 64) < 1e-4, "kl: d/db as PyTorch");
	w = ref_get("kl.dT", NULL);
	ok(w && fabs(l.dT - w[0]) < 1e-4 * fabs(w[0]), "kl: d/dT as PyTorch");
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

	plan(37);
	/* orthonormal identical pairs: S_ii = 1/T, S_ij = 0 */
	memset(a, 0, sizeof(a));
	for (i = 0; i < N; i++)
		a[i * D + i % D] = 2.0f;	/* rows 0 and 5 share a direction */
	memcpy(b, a, sizeof(a));
	mm_loss_init(&l, N, D, MM_REG_COS, 0, 1.0);
	mm_loss_compute(&l, a, b, N, T, NULL, NULL, NULL);
	want = 0;
	for (i = 0; i < N; i++) {
		int twin = i == 0 || i == 5;

		lse = log((twin ? 2 : 1) * exp(1 / T) + (twin ? N - 2 : N - 1));
		want += 1 / T - lse;
	}
	want = -(log(N) + want / N);
	is_double(l.infonce, want, 1e-6, "InfoNCE closed form %.6f", want);
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
		mm_loss_init(&l, N, D, MM_REG_KL, 0, 1.0);
		mm_loss_compute(&l, ga, gb, N, T, NULL, NULL, NULL);
		is_double(l.regval, 0, 1e-7, "kl of equal Gaussians is 0");
		for (i = 0; i < N * 2 * D; i++)
			if (i % (2 * D) < D)
				gb[i] += 1.0f;
		mm_loss_compute(&l, ga, gb, N, T, NULL, NULL, NULL);
		is_double(l.regval, D / 2.0, 1e-6, "kl of unit-shifted means "
		    "is D/2");
		mm_loss_free(&l);
	}

	gradcheck(MM_REG_COS, 0, 0.7, "cos");
	gradcheck(MM_REG_COS, 1, 0.5, "cos symmetric");
	gradcheck(MM_REG_KL, 0, 0.3, "kl");
	gradcheck(MM_REG_KL, 1, 0.3, "kl symmetric");
	golden();
	return done_testing();
}
