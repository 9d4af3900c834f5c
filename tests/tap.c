/* tap.c - TAP output for mmib's C tests. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int planned = -1, run, failed;

void
plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static int
vok(int cond, const char *fmt, va_list ap)
{
	run++;
	if (!cond)
		failed++;
	printf("%sok %d - ", cond ? "" : "not ", run);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return cond;
}

int
ok(int cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

int
is_double(double got, double want, double eps, const char *fmt, ...)
{
	va_list ap;
	double tol = eps * (fabs(want) > 1 ? fabs(want) : 1);
	int cond = !isnan(got) && !isnan(want) && fabs(got - want) <= tol;

	if (isinf(want) && got == want)
		cond = 1;
	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("got %.9g, want %.9g (tolerance %.3g)", got, want, tol);
	return cond;
}

int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	int cond = got == want;

	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("got %lld, want %lld", got, want);
	return cond;
}

int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	int cond = got && want && strcmp(got, want) == 0;

	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("got '%s', want '%s'", got ? got : "(null)",
		    want ? want : "(null)");
	return cond;
}

void
diag(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
skip(int n, const char *why)
{
	while (n-- > 0) {
		run++;
		printf("ok %d # SKIP %s\n", run, why);
	}
	fflush(stdout);
}

void
skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

int
done_testing(void)
{
	if (planned < 0) {
		printf("1..%d\n", run);
		planned = run;
	}
	if (run != planned)
		diag("planned %d tests but ran %d", planned, run);
	fflush(stdout);
	return failed || run != planned ? 1 : 0;
}

void
tap_exit(void)
{
	exit(done_testing());
}
