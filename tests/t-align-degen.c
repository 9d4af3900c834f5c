/*
 * t-align-degen.c - CKA of degenerate codes: a side whose rows are all
 * equal (or whose columns are all constant) has no variance, its HSIC is
 * 0 and the CKA undefined: NaN, not a ratio of rounding noises.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "align.h"
#include "tap.h"

int
main(void)
{
	enum { N = 200, D = 8 };
	static float A[N * D], B[N * D], C[N * D];
	double cka, ucka;
	uint32_t s = 12345;
	int i, d, nan_all = 1;

	plan(4);
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++) {
			s = s * 1664525u + 1013904223u;
			B[i * D + d] = (float)(s >> 8) / (float)(1 << 24) - 0.5f;
			/* every row the same unit-ish vector */
			A[i * D + d] = 0.1f * (float)(d + 1) + 0.3f;
			/* a near-collapse of the same kind, scaled up */
			C[i * D + d] = 1000.0f * A[i * D + d];
		}
	i = mm_align_cka(A, D, B, D, N, 1, &cka, &ucka);
	ok(i == 0 && isnan(ucka),
	    "unbiased CKA of a constant code is NaN (got %g)", ucka);
	mm_align_cka(B, D, C, D, N, 1, &cka, &ucka);
	ok(isnan(ucka), "... on either side, any scale (got %g)", ucka);
	/* constant columns with nearby values: each column constant */
	for (d = 0; d < D; d++)
		for (i = 0; i < N; i++)
			A[i * D + d] = 0.7f - 0.05f * (float)d;
	for (i = 4; i <= N; i += 49) {
		mm_align_cka(A, D, B, D, i, 1, &cka, &ucka);
		nan_all &= isnan(ucka);
	}
	ok(nan_all, "NaN for N = 4 .. %d", N);
	/* a real code with one constant column keeps its value */
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			C[i * D + d] = d ? B[i * D + d] * (float)d : 0.25f;
	mm_align_cka(B, D, C, D, N, 1, &cka, &ucka);
	ok(isfinite(ucka) && ucka > 0.5 && ucka <= 1.0 + 1e-9,
	    "one constant column among varying ones: a finite CKA (%g)", ucka);
	return done_testing();
}
