/*
 * conv.c - 3x3 convolution (see conv.h): im2col + sgemm in chunks of
 * output pixels, or the direct kernels of conv-x86.c where they apply,
 * and the convolution fused with its BatchNorm's statistics (forward) and
 * input gradient (backward), sample by sample while the data is in cache.
 */
#include <string.h>

#include "autovec.h"

#include <cblas.h>

#include "cli.h"
#include "nn.h"
#include "conv-x86.h"

#define COL_FLOATS 32768 /* im2col chunk: 128 KiB, stays in L2 */

/* Rows of the im2col chunk for K = 9 Cin columns. */
static size_t
chunk_rows(int Cin)
{
	size_t K = 9 * (size_t)Cin, R = COL_FLOATS / K;

	return R ? R : 1;
}

size_t
mm_conv3x3_scratch(int H, int W, int Cin, int Cout)
{
	size_t K = 9 * (size_t)Cin, C = Cin > Cout ? Cin : Cout;

	/* permuted weight, its gradient, column chunk and its gradient,
	 * one zero-padded sample for the direct kernels, one sample of
	 * output gradient and one formed sample (mm_conv3x3_backward_bn) */
	return 2 * (size_t)Cout * K + 2 * chunk_rows(Cin) * K +
	    (size_t)(H + 2) * (W + 2) * C + (size_t)H * W * Cout +
	    (size_t)H * W * C;
}

static void
copyf(float *dst, const float *src, int n)
{
	int i;

	for (i = 0; i < n; i++)
		dst[i] = src[i];
}

static void
zerof(float *dst, int n)
{
	int i;

	for (i = 0; i < n; i++)
		dst[i] = 0;
}

/* Columns of output pixels [p0, p1): col (p1 - p0, 3, 3, Cin), the
 * (ky, kx, c) order that makes each tap a contiguous copy in NHWC. */
static void
im2col(float *col, const float *inp, size_t p0, size_t p1, int H, int W,
    int Cin, int Ho, int Wo, int stride)
{
	size_t p, HWo = (size_t)Ho * Wo, K = 9 * (size_t)Cin;
	int n, oy, ox, iy, ix, ky, kx, rem;

	for (p = p0; p < p1; p++) {
		float *dst = col + (p - p0) * K;
		n = (int)(p / HWo);
		rem = (int)(p % HWo);
		oy = rem / Wo;
		ox = rem % Wo;
		for (ky = 0; ky < 3; ky++, dst += 3 * Cin) {
			iy = oy * stride - 1 + ky;
			if (iy < 0 || iy >= H) {
				zerof(dst, 3 * Cin);
				continue;
			}
			ix = ox * stride - 1;
			/* row (n, iy) of the input, indexed by x */
			const float *row = inp + ((size_t)n * H + iy) * W * Cin;
			if (ix >= 0 && ix + 2 < W) {
				copyf(dst, row + (size_t)ix * Cin, 3 * Cin);
				continue;
			}
			for (kx = 0; kx < 3; kx++) {
				if (ix + kx < 0 || ix + kx >= W)
					zerof(dst + kx * Cin, Cin);
				else
					copyf(dst + kx * Cin, row +
					    (size_t)(ix + kx) * Cin, Cin);
			}
		}
	}
}

/* dinp += the columns of output pixels [p0, p1) put back in place. */
static void
col2im(float *dinp, const float *col, size_t p0, size_t p1, int H, int W,
    int Cin, int Ho, int Wo, int stride)
{
	size_t p, HWo = (size_t)Ho * Wo, K = 9 * (size_t)Cin;
	int n, oy, ox, iy, ix, ky, kx, rem, c, lo, hi;

	for (p = p0; p < p1; p++) {
		const float *src = col + (p - p0) * K;
		n = (int)(p / HWo);
		rem = (int)(p % HWo);
		oy = rem / Wo;
		ox = rem % Wo;
		ix = ox * stride - 1;
		lo = ix < 0 ? -ix : 0;
		hi = ix + 2 >= W ? W - ix : 3;
		for (ky = 0; ky < 3; ky++, src += 3 * Cin) {
			iy = oy * stride - 1 + ky;
			if (iy < 0 || iy >= H)
				continue;
			float *row = dinp + ((size_t)n * H + iy) * W * Cin;
			for (kx = lo; kx < hi; kx++) {
				float *d = row + (size_t)(ix + kx) * Cin;
				const float *s = src + kx * Cin;
				for (c = 0; c < Cin; c++)
					d[c] += s[c];
			}
		}
	}
}

/* wp (Cout, 3, 3, Cin) from PyTorch's w (Cout, Cin, 3, 3). */
static void
permute_weight(float *wp, const float *w, int Cin, int Cout)
{
	int o, c, t;

	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wp[((size_t)o * 9 + t) * Cin + c] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

/* wp (9, Cin, Cout) from PyTorch's w (Cout, Cin, 3, 3), for the direct
 * kernels. */
static void
direct_weight(float *wp, const float *w, int Cin, int Cout)
{
	int o, c, t;

	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wp[((size_t)t * Cin + c) * Cout + o] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

void
mm_conv3x3_forward(float *out, const float *inp, const float *w, int N,
    int H, int W, int Cin, int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t P = (size_t)N * Ho * Wo, p0, p1;
	float *wp = scratch, *col = scratch + 2 * (size_t)Cout * K;
	float *pad = col + 2 * R * K;

	if (mm_direct_ok(Cout, stride)) {
		direct_weight(wp, w, Cin, Cout);
		mm_direct_forward(out, inp, wp, pad, N, H, W, Cin, Cout, stride,
		    0);
		return;
	}
	permute_weight(wp, w, Cin, Cout);
	for (p0 = 0; p0 < P; p0 = p1) {
		p1 = p0 + R < P ? p0 + R : P;
		im2col(col, inp, p0, p1, H, W, Cin, Ho, Wo, stride);
		/* out (R, Cout) = col (R, K) wp^T (K, Cout) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
		    (int)(p1 - p0), Cout, (int)K, 1.0f, col, (int)K, wp,
		    (int)K, 0.0f, out + p0 * Cout, Cout);
	}
}

void
mm_conv3x3_backward(float *dinp, float *dw, const float *dout,
    const float *inp, const float *w, int N, int H, int W, int Cin,
    int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t P = (size_t)N * Ho * Wo, p0, p1;
	float *wp = scratch, *dwp = wp + (size_t)Cout * K;
	float *col = dwp + (size_t)Cout * K, *dcol = col + R * K;
	float *pad = dcol + R * K;
	int o, c, t;
	int dwd = mm_direct_dw_ok(Cin, Cout, stride);
	int dxd = dinp && mm_direct_ok(Cin, stride);

	memset(dwp, 0, (size_t)Cout * K * sizeof *dwp);
	if (dwd)        /* dwp (9, Cin, Cout) */
		mm_direct_dweight(dwp, inp, dout, pad, N, H, W, Cin, Cout,
		    stride);
	if (dxd) {
		/* from the flipped, transposed weight wp (9, Cout, Cin) */
		mm_conv3x3_weights(wp, w, Cin, Cout, 1);
		mm_direct_dinput(dinp, dout, wp, pad, N, H, W, Cin, Cout,
		    stride, 1);
	} else if (dinp) {
		permute_weight(wp, w, Cin, Cout);
	}
	for (p0 = 0; !(dwd && (!dinp || dxd)) && p0 < P; p0 = p1) {
		p1 = p0 + R < P ? p0 + R : P;
		/* dwp (Cout, K) += dout^T (Cout, R) col (R, K) */
		if (!dwd) {
			im2col(col, inp, p0, p1, H, W, Cin, Ho, Wo, stride);
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
			    Cout, (int)K, (int)(p1 - p0), 1.0f, dout +
			    p0 * Cout, Cout, col, (int)K, 1.0f, dwp, (int)K);
		}
		if (!dinp || dxd)
			continue;
		/* dcol (R, K) = dout (R, Cout) wp (Cout, K) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
		    (int)(p1 - p0), (int)K, Cout, 1.0f, dout + p0 * Cout, Cout,
		    wp, (int)K, 0.0f, dcol, (int)K);
		col2im(dinp, dcol, p0, p1, H, W, Cin, Ho, Wo, stride);
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				dw[((size_t)o * Cin + c) * 9 + t] += dwd ?
				    dwp[((size_t)t * Cin + c) * Cout + o] :
				    dwp[((size_t)o * 9 + t) * Cin + c];
}

void
mm_conv3x3_weights(float *wt, const float *w, int Cin, int Cout, int flip)
{
	int o, c, t;

	if (!flip) {
		direct_weight(wt, w, Cin, Cout);
		return;
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				wt[((size_t)(8 - t) * Cout + o) * Cin + c] =
				    w[((size_t)o * Cin + c) * 9 + t];
}

/* the padded sample's part of the scratch, after the weights and the
 * column buffer (mm_conv3x3_scratch()) */
static float *
direct_pad(float *scratch, int Cin, int Cout)
{
	return scratch + 2 * (size_t)Cout * 9 * Cin + 2 * chunk_rows(Cin) *
	    9 * Cin;
}

/* The direct kernels sample by sample, with the statistics (stats not
 * NULL) while each output is in cache; with b, of the ReLU-BatchNorm
 * output formed while padding (b->res, b->out of the whole batch). */
static void
forward_direct(float *out, double *stats, double *count, const float *inp,
    const struct mm_pad_bn *b, const float *w, const float *wt, int N,
    int H, int W, int Cin, int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n;
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin;
	double part[2 * 256];
	struct mm_pad_bn bs;

	if (!wt) {
		direct_weight(scratch, w, Cin, Cout);
		wt = scratch;
	}
	for (n = 0; n < N; n++) {
		if (b) {
			bs = *b;
			bs.res = b->res ? b->res + n * in : NULL;
			bs.out = b->out ? b->out + n * in : NULL;
		}
		mm_direct_forward_bn(out + n * on, inp + n * in, b ? &bs : NULL,
		    wt, direct_pad(scratch, Cin, Cout), 1, H, W, Cin, Cout,
		    stride, 0);
		if (!stats)
			continue;
		mm_bn_moments(part, out + n * on, (size_t)Ho * Wo, Cout);
		mm_bn_stats_add(stats, count, part, (double)Ho * Wo, Cout);
	}
}

void
mm_conv3x3_forward_stats(float *out, double *stats, double *count,
    const float *inp, const float *w, const float *wt, int N, int H, int W,
    int Cin, int Cout, int stride, float *scratch)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n;
	size_t on = (size_t)Ho * Wo * Cout;
	double part[2 * 256];

	if (!mm_direct_ok(Cout, stride)) {
		mm_conv3x3_forward(out, inp, w, N, H, W, Cin, Cout, stride,
		    scratch);
		for (n = 0; n < N; n++) {
			mm_bn_moments(part, out + n * on, (size_t)Ho * Wo, Cout);
			mm_bn_stats_add(stats, count, part, (double)Ho * Wo,
			    Cout);
		}
		return;
	}
	forward_direct(out, stats, count, inp, NULL, w, wt, N, H, W, Cin,
	    Cout, stride, scratch);
}

void
mm_conv3x3_forward_bn(float *out, double *stats, double *count,
    const float *inp, const struct mm_bn_relu *ibn, const float *w,
    const float *wt, int N, int H, int W, int Cin, int Cout, int stride,
    float *scratch)
{
	float sc[64], sh[64];
	struct mm_pad_bn b;

	if (!mm_direct_ok(Cout, stride) || Cin % 16 || Cin > 64) {
		/* the apply pass of its own, then the convolution */
		if (!ibn->out)
			mm_die("mm_conv3x3_forward_bn: an input formed "
			    "without being stored needs the direct kernels");
		mm_bn_apply(ibn->out, inp, ibn->res, ibn->mean, ibn->rstd,
		    ibn->gamma, ibn->beta, (size_t)N * H * W, Cin, 1);
		if (stats)
			mm_conv3x3_forward_stats(out, stats, count, ibn->out, w,
			    wt, N, H, W, Cin, Cout, stride, scratch);
		else
			mm_conv3x3_forward(out, ibn->out, w, N, H, W, Cin, Cout,
			    stride, scratch);
		return;
	}
	mm_bn_affine(sc, sh, ibn->mean, ibn->rstd, ibn->gamma, ibn->beta,
	    Cin);
	b.sc = sc;
	b.sh = sh;
	b.res = ibn->res;
	b.out = ibn->out;
	forward_direct(out, stats, count, inp, &b, w, wt, N, H, W, Cin, Cout,
	    stride, scratch);
}

const float *
mm_bn_relu_form(float *t, const float *pre, const struct mm_bn_relu *bn,
    size_t off, size_t M, int C)
{
	mm_bn_apply(t, pre + off, bn->res ? bn->res + off : NULL, bn->mean,
	    bn->rstd, bn->gamma, bn->beta, M, C, 1);
	return t;
}

int
mm_conv3x3_bn_direct(int Cin, int Cout, int stride)
{
	return mm_direct_dw_ok(Cin, Cout, stride) && mm_direct_ok(Cin, stride);
}

static void
backward_bn(float *dinp, int add, float *dw, const float *dy,
    const float *out, const struct mm_bn_relu *obn, const float *pre,
    const float *coef, const float *inp, const struct mm_bn_relu *ibn,
    const float *w, const float *wt, int N, int H, int W, int Cin, int Cout,
    int stride, float *scratch, float *tmp, struct mm_bn_gsum *gs,
    const float *gout, const float *gpre)
{
	int Ho = (H - 1) / stride + 1, Wo = (W - 1) / stride + 1, n, o, c, t;
	size_t K = 9 * (size_t)Cin, R = chunk_rows(Cin);
	size_t on = (size_t)Ho * Wo * Cout, in = (size_t)H * W * Cin;
	float *wp = scratch, *dwt = wp + (size_t)Cout * K;
	float *pad = dwt + (size_t)Cout * K + 2 * R * K;
	float *g = pad + (size_t)(H + 2) * (W + 2) * (Cin > Cout ? Cin : Cout);
	float *f = g + (size_t)H * W * Cout;
	const float *x;

	if (!mm_direct_dw_ok(Cin, Cout, stride) || (dinp &&
	    !mm_direct_ok(Cin, stride))) {
		if (obn || ibn)
			mm_die("mm_conv3x3_backward_bn: a formed input or "
			    "output needs the direct kernels");
		mm_bn_grad_apply(tmp, dy, out, pre, coef, (size_t)N * Ho * Wo,
		    Cout, 0);
		if (dinp && !add)
			memset(dinp, 0, (size_t)N * in * sizeof *dinp);
		mm_conv3x3_backward(dinp, dw, tmp, inp, w, N, H, W, Cin, Cout,
		    stride, scratch);
		if (gs)
			mm_bn_gsum_add(gs, dinp, gout, gpre, (size_t)N * in);
		return;
	}
	if (dinp && !wt) {
		mm_conv3x3_weights(wp, w, Cin, Cout, 1);
		wt = wp;
	}
	memset(dwt, 0, (size_t)Cout * K * sizeof *dwt);
	/* sample by sample: g (Ho, Wo, Cout) stays in cache for both
	 * products */
	for (n = 0; n < N; n++) {
		mm_bn_grad_apply(g, dy + n * on, obn ?
		    mm_bn_relu_form(f, pre, obn, n * on, (size_t)Ho * Wo, Cout) : out ? out + n * on : NULL,
		    pre + n * on, coef, (size_t)Ho * Wo, Cout, 0);
		x = ibn ? mm_bn_relu_form(f, inp, ibn, n * in, (size_t)H * W,
		    Cin) : inp + n * in;
		mm_direct_dweight(dwt, x, g, pad, 1, H, W, Cin, Cout, stride);
		if (dinp)
			mm_direct_dinput(dinp + n * in, g, wt, pad, 1, H, W,
			    Cin, Cout, stride, add);
		if (gs)
			mm_bn_gsum_add(gs, dinp + n * in, ibn ? x : gout ?
			    gout + n * in : NULL, gpre + n * in, in);
	}
	for (o = 0; o < Cout; o++)
		for (c = 0; c < Cin; c++)
			for (t = 0; t < 9; t++)
				dw[((size_t)o * Cin + c) * 9 + t] +=
				    dwt[((size_t)t * Cin + c) * Cout + o];
}

void
mm_conv3x3_backward_bn(float *dinp, int add, float *dw, const float *dy,
    const float *out, const struct mm_bn_relu *obn, const float *pre,
    const float *coef, const float *inp, const struct mm_bn_relu *ibn,
    const float *w, const float *wt, int N, int H, int W, int Cin, int Cout,
    int stride, float *scratch, float *tmp)
{
	backward_bn(dinp, add, dw, dy, out, obn, pre, coef, inp, ibn, w, wt, N,
	    H, W, Cin, Cout, stride, scratch, tmp, NULL, NULL, NULL);
}

void
mm_conv3x3_backward_bn_gsum(float *dinp, int add, float *dw,
    const float *dy, const float *out, const struct mm_bn_relu *obn,
    const float *pre, const float *coef, const float *inp,
    const struct mm_bn_relu *ibn, const float *w, const float *wt, int N,
    int H, int W, int Cin, int Cout, int stride, float *scratch, float *tmp,
    struct mm_bn_gsum *gs, const float *gout, const float *gpre)
{
	backward_bn(dinp, add, dw, dy, out, obn, pre, coef, inp, ibn, w, wt, N,
	    H, W, Cin, Cout, stride, scratch, tmp, gs, gout, gpre);
}
