/*
 * align-null.c - the permutation null of the alignment metrics (see
 * align.h): random row permutations, permuted rows and neighbour lists,
 * and the summary of the null values.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "align.h"
#include "rng.h"

void
mm_align_perm(struct mm_rng *rng, int64_t N, int32_t *perm, int32_t *inv)
{
	int64_t i;

	for (i = 0; i < N; i++)
		perm[i] = (int32_t)i;
	/* Fisher-Yates, from the top */
	for (i = N - 1; i > 0; i--) {
		int64_t j = (int64_t)mm_rng_below(rng, (uint64_t)i + 1);
		int32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < N; i++)
		inv[perm[i]] = (int32_t)i;
}

void
mm_align_perm_rows(const float *B, int64_t N, int D, const int32_t *perm,
    float *Bp)
{
	int64_t i;

	for (i = 0; i < N; i++)
		memcpy(Bp + i * D, B + (int64_t)perm[i] * D, sizeof(float) * D);
}

void
mm_align_perm_lists(const int32_t *nn, int64_t N, int k, const int32_t *perm,
    const int32_t *inv, int32_t *nnp)
{
	int64_t i;
	int t;

	/* row i of B' is row perm[i] of B; B's row j is row inv[j] of B' */
	for (i = 0; i < N; i++)
		for (t = 0; t < k; t++)
			nnp[i * k + t] = inv[nn[(int64_t)perm[i] * k + t]];
}

void
mm_align_null_summary(double obs, const double *null, int P,
    struct mm_align_null *s)
{
	double sum = 0.0, ss = 0.0;
	int i, ge = 0;

	for (i = 0; i < P; i++)
		sum += null[i];
	s->mean = sum / P;
	for (i = 0; i < P; i++) {
		ss += (null[i] - s->mean) * (null[i] - s->mean);
		ge += null[i] >= obs;
	}
	s->sd = P > 1 ? sqrt(ss / (P - 1)) : NAN;
	s->p = isnan(obs) || isnan(s->mean) ? NAN : (1.0 + ge) / (1.0 + P);
	s->calibrated = obs - s->mean;
}
