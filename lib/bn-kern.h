/*
 * bn-kern.h - the element loops of the flat ("lane") BatchNorm, and the
 * row pieces of its column-block paths, of
 * bn-slices.c at one SIMD level: a template that bn-slices.c includes once
 * per level (portable, AVX2, AVX-512F), so that every level does the same
 * operations on every element in the same order and only the vector width
 * differs.  Each loop is elementwise or sums lane by lane (part[k] += ...),
 * never across lanes, and the library is built with -std=c99 (no
 * contraction into fused multiply-adds), so the levels give bit-identical
 * results.  Not a header of its own.
 *
 * The includer defines K(name), the level's name for a function, and
 * KATTR, its attributes.  All arrays hold len floats; the per-channel ones
 * (mu, rs, sc, sh, kl, al, bl) are replicated over the lanes (lapply
 * also serves the other widths one row's block of channels at a time,
 * sc and sh then that block's own).  The sums
 * (part, p1, p2) are restrict: GCC vectorises those loops only so.
 */

/* part += x */
static KATTR void
K(lsum)(float *restrict part, const float *x, size_t len)
{
	size_t k;

	for (k = 0; k < len; k++)
		part[k] += x[k];
}

/* part += (x - mu)^2 */
static KATTR void
K(lsq)(float *restrict part, const float *x, const float *mu, size_t len)
{
	size_t k;
	float v;

	for (k = 0; k < len; k++) {
		v = x[k] - mu[k];
		part[k] += v * v;
	}
}

/* p1 += g, p2 += g xhat with g = dy, masked by out > 0 when out; with
 * gw (then out too), g is masked in place: gw = g.  With h, x is the
 * values of x16 (bf16, widened exactly as they are read): lgrad() and
 * lgrad16() below, h a constant in each. */
static inline __attribute__((always_inline)) KATTR void
K(lgrad_x)(float *restrict p1, float *restrict p2, const float *x,
    const uint16_t *x16, const float *dy, float *gw, const float *out,
    const float *mu, const float *rs, size_t len, const int h)
{
	size_t k;
	float xh, gm;

#define XV(k) (h ? bf16_value(x16[k]) : x[k])
	if (gw)
		for (k = 0; k < len; k++) {
			gm = out[k] > 0 ? gw[k] : 0;
			gw[k] = gm;
			xh = (XV(k) - mu[k]) * rs[k];
			p1[k] += gm;
			p2[k] += gm * xh;
		}
	else if (out)
		for (k = 0; k < len; k++) {
			gm = dy[k] * (float)(out[k] > 0);
			xh = (XV(k) - mu[k]) * rs[k];
			p1[k] += gm;
			p2[k] += gm * xh;
		}
	else
		for (k = 0; k < len; k++) {
			xh = (XV(k) - mu[k]) * rs[k];
			p1[k] += dy[k];
			p2[k] += dy[k] * xh;
		}
#undef XV
}

static KATTR void
K(lgrad)(float *restrict p1, float *restrict p2, const float *x,
    const float *dy, float *gw, const float *out, const float *mu,
    const float *rs, size_t len)
{
	K(lgrad_x)(p1, p2, x, NULL, dy, gw, out, mu, rs, len, 0);
}

/* lgrad() with x in bf16: the bits of lgrad() on the widened values,
 * without a widened copy */
static KATTR void
K(lgrad16)(float *restrict p1, float *restrict p2, const uint16_t *x,
    const float *dy, float *gw, const float *out, const float *mu,
    const float *rs, size_t len)
{
	K(lgrad_x)(p1, p2, NULL, x, dy, gw, out, mu, rs, len, 1);
}

/* y = x sc + sh (+ r when r), then max(., 0) when relu */
static KATTR void
K(lapply)(float *y, const float *x, const float *r, const float *sc,
    const float *sh, size_t len, int relu)
{
	size_t k;
	float v;

	if (r && relu)
		for (k = 0; k < len; k++) {
			v = x[k] * sc[k] + sh[k] + r[k];
			y[k] = v > 0 ? v : 0;
		}
	else if (r)
		for (k = 0; k < len; k++)
			y[k] = x[k] * sc[k] + sh[k] + r[k];
	else if (relu)
		for (k = 0; k < len; k++) {
			v = x[k] * sc[k] + sh[k];
			y[k] = v > 0 ? v : 0;
		}
	else
		for (k = 0; k < len; k++)
			y[k] = x[k] * sc[k] + sh[k];
}

/* d (=, or += when add) kl dy (masked by out > 0 when out) + al x + bl */
static KATTR void
K(lgapply)(float *d, const float *dy, const float *out, const float *x,
    const float *kl, const float *al, const float *bl, size_t len, int add)
{
	size_t k;

	if (out && add)
		for (k = 0; k < len; k++)
			d[k] += kl[k] * dy[k] * (float)(out[k] > 0) +
			    al[k] * x[k] + bl[k];
	else if (out)
		for (k = 0; k < len; k++)
			d[k] = kl[k] * dy[k] * (float)(out[k] > 0) +
			    al[k] * x[k] + bl[k];
	else if (add)
		for (k = 0; k < len; k++)
			d[k] += kl[k] * dy[k] + al[k] * x[k] + bl[k];
	else
		for (k = 0; k < len; k++)
			d[k] = kl[k] * dy[k] + al[k] * x[k] + bl[k];
}

/*
 * The row pieces of the column-block paths (channels past the lanes, or
 * rows ld apart): mu, rs, k, a, b are one block's own per-channel values
 * and g is dy masked by out > 0 by selection (so an inf or NaN dy where
 * out <= 0 counts as 0).
 */

/* p1 += g, p2 += g xhat (out not NULL: without a mask, lgrad's loop is
 * the same) */
static KATTR void
K(cgrad)(float *restrict p1, float *restrict p2, const float *x,
    const float *dy, const float *out, const float *mu, const float *rs,
    size_t len)
{
	size_t k;
	float g, xh;

	for (k = 0; k < len; k++) {
		g = out[k] > 0 ? dy[k] : 0;
		xh = (x[k] - mu[k]) * rs[k];
		p1[k] += g;
		p2[k] += g * xh;
	}
}

/* d = (d when add, else 0) + (k g + a x + b) */
static KATTR void
K(cgapply)(float *d, const float *dy, const float *out, const float *x,
    const float *kc, const float *ac, const float *bc, size_t len, int add)
{
	size_t k;
	float g;

	if (out && add)
		for (k = 0; k < len; k++) {
			g = out[k] > 0 ? dy[k] : 0;
			d[k] += kc[k] * g + ac[k] * x[k] + bc[k];
		}
	else if (out)
		for (k = 0; k < len; k++) {
			g = out[k] > 0 ? dy[k] : 0;
			d[k] = 0.0f + (kc[k] * g + ac[k] * x[k] + bc[k]);
		}
	else if (add)
		for (k = 0; k < len; k++)
			d[k] += kc[k] * dy[k] + ac[k] * x[k] + bc[k];
	else
		for (k = 0; k < len; k++)
			d[k] = 0.0f + (kc[k] * dy[k] + ac[k] * x[k] + bc[k]);
}

static const struct bn_kern K(kern) = {
	K(lsum), K(lsq), K(lgrad), K(lgrad16), K(lapply), K(lgapply),
	K(cgrad), K(cgapply)
};
