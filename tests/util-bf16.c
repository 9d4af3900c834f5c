/* util-bf16.c - see util-bf16.h */
#include <string.h>

#include "gemm-bf16.h"
#include "rng.h"
#include "util-bf16.h"

static void
draw(struct mm_rng *r, float *x, int n, float scale)
{
	int i;

	for (i = 0; i < n; i++)
		x[i] = (2 * mm_rng_float(r) - 1) * scale;
}

int
util_bf16_probe(struct mm_rng *r, int n)
{
	float a[2], b[2], c1, c2;
	int i, same = 0, k = mm_bf16_kernel(-1);

	mm_bf16_kernel(MM_BF16_DP);
	for (i = 0; i < n; i++) {
		draw(r, a, 2, 4);
		draw(r, b, 2, 4);
		draw(r, &c1, 1, 8);
		c2 = c1;
		mm_gemm_bf16(0, 0, 1, 1, 2, a, 2, b, 1, 1, &c1, 1, NULL);
		mm_gemm_bf16_ref(0, 0, 1, 1, 2, a, 2, b, 1, 1, &c2, 1);
		same += !memcmp(&c1, &c2, sizeof c1);
	}
	mm_bf16_kernel(k);
	return same;
}
