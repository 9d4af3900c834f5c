/* util-gradcheck.c - see util-gradcheck.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util-gradcheck.h"

int
gc_check(double (*loss)(void *ctx), void *ctx, float *x, const float *grad,
    size_t n, size_t checks, float h, double atol, double rtol, double *worst,
    int *kinks)
{
	size_t k, i, m = n < checks ? n : checks;
	double f0, fp, fm, fd, fdp, fdm, g, err, w = 0;
	float keep;
	int fails = 0, nk = 0;

	f0 = loss(ctx);

	for (k = 0; k < m; k++) {
		/* spread the checked coordinates over the whole array */
		i = m == n ? k : (size_t)((double)k * n / m + (k * 7919) %
		    (n / m > 0 ? n / m : 1));
		if (i >= n)
			i = n - 1;
		keep = x[i];
		x[i] = keep + h;
		fp = loss(ctx);
		x[i] = keep - h;
		fm = loss(ctx);
		x[i] = keep;
		/* the step actually taken, after float rounding */
		fd = (fp - fm) / ((double)(keep + h) - (double)(keep - h));
		fdp = (fp - f0) / ((double)(keep + h) - keep);
		fdm = (f0 - fm) / (keep - (double)(keep - h));
		if (fabs(fdp - fdm) > atol + rtol * fmax(fabs(fdp), fabs(fdm))) {
			nk++;
			continue;
		}
		g = grad[i];
		err = fabs(g - fd) / (atol + rtol * fmax(fabs(g), fabs(fd)));
		if (err > w)
			w = err;
		if (err > 1) {
			if (fails < 5)
				printf("# gradcheck [%zu]: analytic %.6g, "
				    "numeric %.6g\n", i, g, fd);
			fails++;
		}
	}
	if (worst)
		*worst = w;
	if (kinks)
		*kinks = nk;
	return fails;
}

double
gc_dot(const float *a, const float *b, size_t n)
{
	double s = 0;
	size_t i;

	for (i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

void
gc_fill(float *x, size_t n, float a, struct mm_rng *rng)
{
	size_t i;

	for (i = 0; i < n; i++)
		x[i] = (2 * mm_rng_float(rng) - 1) * a;
}

double
gc_maxabs(const float *a, const float *b, size_t n)
{
	double m = 0, d;
	size_t i;

	for (i = 0; i < n; i++) {
		d = fabs((double)a[i] - b[i]);
		if (isnan(d))
			return NAN;
		if (d > m)
			m = d;
	}
	return m;
}

double
gc_maxrel(const float *a, const float *b, size_t n)
{
	double s = 1;
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs(b[i]) > s)
			s = fabs(b[i]);
	return gc_maxabs(a, b, n) / s;
}

float *
gc_alloc(size_t n)
{
	float *p = calloc(n ? n : 1, sizeof *p);

	if (!p) {
		printf("Bail out! out of memory\n");
		exit(1);
	}
	return p;
}
