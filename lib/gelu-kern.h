/*
 * gelu-kern.h - the GELU element loops of vit-layers.c at one SIMD level:
 * a template that vit-layers.c includes once per level (portable, AVX2,
 * AVX-512F), after vphi(), as bn-slices.c does with bn-kern.h.  Every level
 * does the same operations on every element in the same order and only
 * the vector width differs; -std=c99 keeps them from being contracted into
 * fused multiply-adds, so the levels give the same bits.  Not a header of
 * its own.  The includer defines K(name) and KATTR.
 */

/* out = x Phi(x) */
static KATTR void
K(gelu_fwd)(float *out, const float *inp, size_t n)
{
	float g;
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = inp[i] * vphi(inp[i], &g);
}

/* dinp += dout (Phi(x) + x phi(x)) */
static KATTR void
K(gelu_bwd)(float *dinp, const float *dout, const float *inp, size_t n)
{
	const float c = 0.398942280401432678f;  /* 1 / sqrt(2 pi) */
	float x, cdf, g;
	size_t i;

	for (i = 0; i < n; i++) {
		x = inp[i];
		cdf = vphi(x, &g);
		dinp[i] += dout[i] * (cdf + x * c * g);
	}
}
