/*
 * tap.h - a small Test Anything Protocol helper for mmib's C tests.
 * plan(n) first (or done_testing() last); the process exits non-zero when
 * any test failed or the plan was not met (see tap_exit()).
 */
#ifndef MM_TAP_H
#define MM_TAP_H

void plan(int n);
/* ok(cond, fmt, ...): one test; returns cond. */
int ok(int cond, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;
/* |got - want| <= eps * max(1, |want|) (relative above 1, absolute below). */
int is_double(double got, double want, double eps, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 4, 5)))
#endif
	;
int is_int(long long got, long long want, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
int is_str(const char *got, const char *want, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
void diag(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Record n skipped tests with a reason. */
void skip(int n, const char *why);
/* Skip the whole file: "1..0 # SKIP why", exit 0. */
void skip_all(const char *why);
/* Print the plan if none was given; return the exit status. */
int done_testing(void);
/* Exit with done_testing()'s status. */
void tap_exit(void);

#endif
