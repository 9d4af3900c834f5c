/* t-loss.c - InfoNCE and its regularisers: closed forms and
 * finite-difference checks of every gradient, including d/dT. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "rng.h"
#include "tap.h"

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

int
main(void)
{
	struct mm_loss l;
	float a[N * D], b[N * D];
	double T = 0.5, want, lse;
	int i;

	plan(17);
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
	return done_testing();
}
