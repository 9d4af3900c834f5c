/*
 * t-vit.c - the Vision Transformer of lib/vit.c and its layers
 * (lib/vit-layers.c): each layer's backward against central differences
 * and its fast path against a naive loop; the spec, layout and
 * initialisation; independence of the BLAS thread count; and the whole
 * encoder against PyTorch (tests/ref/vit_ref.py, fixtures
 * tests/ref/fixtures/vit-*.npy): output, parameter gradients, one Adam
 * step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "cli.h"
#include "conv.h"
#include "err.h"
#include "optim.h"
#include "pool.h"
#include "rng.h"
#include "stream.h"
#include "tap.h"
#include "util-gradcheck.h"
#include "vit.h"

static struct mm_rng rng;

/* ---- naive references (double accumulation, plain loops) ---- */

static void
naive_layernorm(float *out, const float *x, const float *w, const float *b,
    int M, int D, double eps)
{
	int r, d;

	for (r = 0; r < M; r++) {
		double m = 0, v = 0;

		for (d = 0; d < D; d++)
			m += x[r * D + d];
		m /= D;
		for (d = 0; d < D; d++)
			v += (x[r * D + d] - m) * (x[r * D + d] - m);
		v /= D;
		for (d = 0; d < D; d++)
			out[r * D + d] = (float)((x[r * D + d] - m) /
			    sqrt(v + eps) * w[d] + b[d]);
	}
}

static void
naive_attention(float *out, const float *qkv, int N, int T, int D,
    int heads)
{
	int dh = D / heads, n, h, i, j, d;
	double *s = malloc(T * sizeof *s), mx, z, acc;

	for (n = 0; n < N; n++)
		for (h = 0; h < heads; h++)
			for (i = 0; i < T; i++) {
				const float *q = qkv + ((size_t)n * T + i) * 3 *
				    D + h * dh;
				mx = -INFINITY;
				for (j = 0; j < T; j++) {
					const float *k = qkv + ((size_t)n * T +
					    j) * 3 * D + D + h * dh;
					acc = 0;
					for (d = 0; d < dh; d++)
						acc += (double)q[d] * k[d];
					s[j] = acc / sqrt(dh);
					mx = s[j] > mx ? s[j] : mx;
				}
				z = 0;
				for (j = 0; j < T; j++)
					z += s[j] = exp(s[j] - mx);
				for (d = 0; d < dh; d++) {
					acc = 0;
					for (j = 0; j < T; j++)
						acc += s[j] / z * qkv[((size_t)n *
						    T + j) * 3 * D + 2 * D +
						    h * dh + d];
					out[((size_t)n * T + i) * D + h * dh +
					    d] = (float)acc;
				}
			}
	free(s);
}

/* out (N, np, D): the convolution with kernel = stride = P, plus bias */
static void
naive_patch_conv(float *out, const float *img, const float *w,
    const float *b, int N, int C, int H, int W, int P, int D)
{
	int nw = W / P, np = (H / P) * nw, n, t, o, c, i, j;
	double acc;

	for (n = 0; n < N; n++)
		for (t = 0; t < np; t++)
			for (o = 0; o < D; o++) {
				acc = b[o];
				for (c = 0; c < C; c++)
					for (i = 0; i < P; i++)
						for (j = 0; j < P; j++)
							acc += (double)w[((o *
							    C + c) * P + i) *
							    P + j] * img[(((size_t)
							    n * C + c) * H +
							    (t / nw) * P + i) *
							    W + (t % nw) * P +
							    j];
				out[((size_t)n * np + t) * D + o] = (float)acc;
			}
}

/* ---- layer gradient checks: loss = sum out * R ---- */

struct lctx {
	int kind, N, T, D, heads;
	size_t n_out;
	float *x, *w, *b, *pos, *out, *aux, *aux2, *R;
};
enum { L_LN, L_GELU, L_ATT, L_TOK };

static double
layer_loss(void *p)
{
	struct lctx *c = p;
	size_t M = (size_t)c->N * c->T;

	switch (c->kind) {
	case L_LN:
		mm_layernorm_forward(c->out, c->aux, c->aux2, c->x, c->w, c->b,
		    M, c->D, MM_VIT_LN_EPS);
		break;
	case L_GELU:
		mm_gelu_forward(c->out, c->x, c->n_out);
		break;
	case L_ATT:
		mm_attention_forward(c->out, c->aux, c->x, c->N, c->T, c->D,
		    c->heads);
		break;
	case L_TOK:
		memcpy(c->out, c->aux, c->n_out * sizeof *c->out);
		mm_tokens_forward(c->out, c->w, c->b, c->pos, c->N, c->T, c->D);
		break;
	}
	return gc_dot(c->out, c->R, c->n_out);
}

static void
check(struct lctx *c, float *x, const float *g, size_t n, size_t checks,
    float h, const char *what)
{
	double worst;
	int kinks, fails = gc_check(layer_loss, c, x, g, n, checks, h, 1e-3,
	    1e-2, &worst, &kinks);

	ok(fails == 0 && kinks == 0, "%s: gradcheck (worst %.3f, %d kinks)",
	    what, worst, kinks);
}

static void
test_layernorm(void)
{
	int N = 3, T = 5, D = 37;      /* D not a multiple of the lanes */
	size_t M = (size_t)N * T, n = M * D;
	struct lctx c = { .kind = L_LN, .N = N, .T = T, .D = D, .heads = 1,
	    .n_out = n };
	float *dx = gc_alloc(n), *dw = gc_alloc(D), *db = gc_alloc(D);
	float *ref = gc_alloc(n);

	c.x = gc_alloc(n);
	c.w = gc_alloc(D);
	c.b = gc_alloc(D);
	c.out = gc_alloc(n);
	c.aux = gc_alloc(M);
	c.aux2 = gc_alloc(M);
	c.R = gc_alloc(n);
	gc_fill(c.x, n, 2, &rng);
	for (size_t i = 0; i < n; i++)
		c.x[i] += 3;           /* an offset the mean must remove */
	gc_fill(c.w, D, 1, &rng);
	gc_fill(c.b, D, 1, &rng);
	gc_fill(c.R, n, 1, &rng);
	layer_loss(&c);
	naive_layernorm(ref, c.x, c.w, c.b, (int)M, D, MM_VIT_LN_EPS);
	ok(gc_maxabs(c.out, ref, n) < 2e-6, "layernorm = naive (%.2g)",
	    gc_maxabs(c.out, ref, n));
	/* backward adds: start from ones and subtract them after */
	for (size_t i = 0; i < n; i++)
		dx[i] = 1;
	mm_layernorm_backward(dx, dw, db, c.R, c.x, c.aux, c.aux2, c.w, M, D);
	for (size_t i = 0; i < n; i++)
		dx[i] -= 1;
	check(&c, c.x, dx, n, n, 1e-2f, "layernorm input");
	check(&c, c.w, dw, D, D, 1e-2f, "layernorm weight");
	check(&c, c.b, db, D, D, 1e-2f, "layernorm bias");
	/* a constant row: variance 0, output = bias (eps keeps it finite) */
	for (int d = 0; d < D; d++)
		c.x[d] = 0.25f;
	layer_loss(&c);
	ok(gc_maxabs(c.out, c.b, D) < 1e-6, "layernorm of a constant row is "
	    "its bias");
	free(dx); free(dw); free(db); free(ref);
	free(c.x); free(c.w); free(c.b); free(c.out); free(c.aux);
	free(c.aux2); free(c.R);
}

static void
test_gelu(void)
{
	size_t n = 201, i;
	struct lctx c = { .kind = L_GELU, .N = 1, .T = 1, .D = 1, .heads = 1,
	    .n_out = n };
	float *dx = gc_alloc(n);
	double e = 0, x, y;

	c.x = gc_alloc(n);
	c.out = gc_alloc(n);
	c.R = gc_alloc(n);
	for (i = 0; i < n; i++)
		c.x[i] = -6 + 12.0f * i / (n - 1);
	gc_fill(c.R, n, 1, &rng);
	layer_loss(&c);
	for (i = 0; i < n; i++) {
		x = c.x[i];
		y = 0.5 * x * (1 + erf(x / sqrt(2.0)));
		e = fmax(e, fabs(c.out[i] - y));
	}
	ok(e < 1e-6, "gelu = x Phi(x) in double (%.2g)", e);
	ok(c.out[n / 2] == 0 && fabs(c.out[n - 1] - 6) < 1e-6 &&
	    fabs(c.out[0]) < 1e-7, "gelu(0) = 0, gelu(6) = 6, gelu(-6) = 0");
	mm_gelu_backward(dx, c.R, c.x, n);
	check(&c, c.x, dx, n, n, 1e-3f, "gelu");
	free(dx);
	free(c.x); free(c.out); free(c.R);
}

/* LayerNorm's row loops at every SIMD level of mm_nn_simd(): forward
 * (out, mean, rstd) and backward (dinp, dw, db added to) bit for bit the
 * portable level, for a width of whole 16-lane blocks and one with a
 * tail. */
static void
test_layernorm_levels(size_t M, int D)
{
	size_t n = M * D;
	float *x = gc_alloc(n), *dy = gc_alloc(n), *w = gc_alloc(D);
	float *b = gc_alloc(D), *o[3] = { 0 }, *st[3] = { 0 };
	float *dx[3] = { 0 }, *dwb[3] = { 0 };
	int top = mm_nn_simd(-1), l, same = 1, d;
	size_t i;

	gc_fill(x, n, 3, &rng);
	gc_fill(dy, n, 1, &rng);
	gc_fill(w, D, 1, &rng);
	gc_fill(b, D, 1, &rng);
	for (l = 0; l <= top; l++) {
		o[l] = gc_alloc(n);
		st[l] = gc_alloc(2 * M);
		dx[l] = gc_alloc(n);
		dwb[l] = gc_alloc(2 * (size_t)D);
		for (i = 0; i < n; i++)
			dx[l][i] = 0.25f;
		for (d = 0; d < 2 * D; d++)
			dwb[l][d] = 0.5f;
		mm_nn_simd(l);
		mm_layernorm_forward(o[l], st[l], st[l] + M, x, w, b, M, D,
		    1e-6f);
		mm_layernorm_backward(dx[l], dwb[l], dwb[l] + D, dy, x, st[l],
		    st[l] + M, w, M, D);
		if (l)
			same &= !memcmp(o[0], o[l], n * 4) &&
			    !memcmp(st[0], st[l], 2 * M * 4) &&
			    !memcmp(dx[0], dx[l], n * 4) &&
			    !memcmp(dwb[0], dwb[l], 2 * (size_t)D * 4);
	}
	mm_nn_simd(top);
	ok(same, "layernorm %zux%d forward and backward at levels 1..%d = "
	    "portable, bit for bit", M, D, top);
	for (l = 0; l <= top; l++) {
		free(o[l]); free(st[l]); free(dx[l]); free(dwb[l]);
	}
	free(x); free(dy); free(w); free(b);
}

/* GELU's loops at every SIMD level of mm_nn_simd(): bit for bit the
 * portable level, forward and backward, over a length that leaves a
 * vector tail, with 0, -0, +-inf, NaN, the clamp of e^x at -87 and
 * values far out on both sides. */
static void
test_gelu_levels(void)
{
	static const float special[] = { 0.0f, -0.0f, 1.0f / 0.0f,
	    -1.0f / 0.0f, 0.0f / 0.0f, -87.0f, 87.0f, -200.0f, 200.0f,
	    -13.2f, 1e-30f, -1e-30f, 3.4e38f, -3.4e38f };
	size_t n = 1000 + 13, i, ns = sizeof special / sizeof *special;
	float *x = gc_alloc(n), *dy = gc_alloc(n), *y[3] = { 0 };
	float *dx[3] = { 0 };
	int top = mm_nn_simd(-1), l, same = 1;

	gc_fill(x, n, 8, &rng);
	gc_fill(dy, n, 1, &rng);
	for (i = 0; i < ns; i++)
		x[i * 37] = special[i];
	for (l = 0; l <= top; l++) {
		y[l] = gc_alloc(n);
		dx[l] = gc_alloc(n);
		for (i = 0; i < n; i++)
			dx[l][i] = 0.5f;
		mm_nn_simd(l);
		mm_gelu_forward(y[l], x, n);
		mm_gelu_backward(dx[l], dy, x, n);
		if (l)
			same &= !memcmp(y[0], y[l], n * sizeof *y[0]) &&
			    !memcmp(dx[0], dx[l], n * sizeof *dx[0]);
	}
	mm_nn_simd(top);
	ok(same, "gelu forward and backward at levels 1..%d = portable, bit "
	    "for bit (%zu values, %zu special)", top, n, ns);
	ok(y[0][0] == 0 && y[0][2 * 37] == special[2] &&
	    isnan(y[0][3 * 37]) && y[0][8 * 37] == 200.0f &&
	    fabsf(y[0][7 * 37]) < 1e-37f, "gelu(0) = 0, gelu(inf) = inf, "
	    "gelu(-inf) = NaN (as PyTorch's), gelu(200) = 200, |gelu(-200)| "
	    "< 1e-37");
	for (l = 0; l <= top; l++) {
		free(y[l]);
		free(dx[l]);
	}
	free(x); free(dy);
}

static void
test_attention(int N, int T, int D, int heads)
{
	size_t nq = (size_t)N * T * 3 * D, no = (size_t)N * T * D;
	struct lctx c = { .kind = L_ATT, .N = N, .T = T, .D = D,
	    .heads = heads, .n_out = no };
	float *dq = gc_alloc(nq), *ref = gc_alloc(no), *sc = gc_alloc(T * T);
	double rs = 0;
	int r;

	c.x = gc_alloc(nq);
	c.out = gc_alloc(no);
	c.aux = gc_alloc((size_t)N * heads * T * T);
	c.R = gc_alloc(no);
	gc_fill(c.x, nq, 1.5f, &rng);
	gc_fill(c.R, no, 1, &rng);
	layer_loss(&c);
	naive_attention(ref, c.x, N, T, D, heads);
	ok(gc_maxabs(c.out, ref, no) < 2e-6, "attention N=%d T=%d D=%d "
	    "heads=%d = naive (%.2g)", N, T, D, heads,
	    gc_maxabs(c.out, ref, no));
	for (r = 0; r < N * heads * T; r++) {
		double s = 0;
		for (int j = 0; j < T; j++)
			s += c.aux[(size_t)r * T + j];
		rs = fmax(rs, fabs(s - 1));
	}
	ok(rs < 1e-6, "attention rows sum to 1 (%.2g)", rs);
	mm_attention_backward(dq, c.R, c.x, c.aux, N, T, D, heads, sc);
	check(&c, c.x, dq, nq, 600, 3e-3f, "attention q, k, v");
	free(dq); free(ref); free(sc);
	free(c.x); free(c.out); free(c.aux); free(c.R);
}

static void
test_patches(void)
{
	int N = 2, C = 3, H = 8, W = 12, P = 4, D = 5, np = 6, T = 7;
	int K = C * P * P;
	size_t ni = (size_t)N * C * H * W, nc = (size_t)N * T * K;
	size_t nt = (size_t)N * T * D;
	float *img = gc_alloc(ni), *cols = gc_alloc(nc), *w = gc_alloc(D * K);
	float *b = gc_alloc(D), *ref = gc_alloc((size_t)N * np * D);
	float *x = gc_alloc(nt), *g = gc_alloc(ni), *dc = gc_alloc(nc);
	float *zero = gc_alloc(D), *pos = gc_alloc((size_t)T * D);
	double e = 0;
	int n, t, d, good = 1;

	gc_fill(img, ni, 1, &rng);
	gc_fill(w, D * K, 1, &rng);
	gc_fill(b, D, 1, &rng);
	mm_patch_im2col(cols, img, N, C, H, W, P, 1);
	for (n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			good &= cols[(size_t)n * T * K + k] == 0;
	ok(good, "im2col: each sample's lead row is zero");
	/* the embedding as the encoder forms it: one product of all rows,
	 * then the bias (tokens with zero class token and positions) */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N * T, D, K, 1.0f,
	    cols, K, w, K, 0.0f, x, D);
	mm_tokens_forward(x, zero, b, pos, N, T, D);
	naive_patch_conv(ref, img, w, b, N, C, H, W, P, D);
	for (n = 0; n < N; n++)
		for (t = 0; t < np; t++)
			for (d = 0; d < D; d++)
				e = fmax(e, fabs(x[((size_t)n * T + t + 1) * D +
				    d] - ref[((size_t)n * np + t) * D + d]));
	ok(e < 1e-5, "patch embedding (im2col + sgemm) = naive strided "
	    "convolution on 3x8x12, patch 4 (%.2g)", e);
	/* col2im is the adjoint of im2col: <im2col(img), c> = <img,
	 * col2im(c)> */
	gc_fill(dc, nc, 1, &rng);
	mm_patch_col2im(g, dc, N, C, H, W, P, 1);
	e = fabs(gc_dot(cols, dc, nc) - gc_dot(img, g, ni));
	ok(e < 1e-4, "col2im is the adjoint of im2col (%.2g)", e);
	free(img); free(cols); free(w); free(b); free(ref); free(x); free(g);
	free(dc); free(zero); free(pos);
}

static void
test_tokens(void)
{
	int N = 3, T = 4, D = 6;
	size_t n = (size_t)N * T * D;
	struct lctx c = { .kind = L_TOK, .N = N, .T = T, .D = D, .heads = 1,
	    .n_out = n };
	float *dcls = gc_alloc(D), *db = gc_alloc(D), *dpos = gc_alloc(T * D);

	c.aux = gc_alloc(n);
	c.out = gc_alloc(n);
	c.w = gc_alloc(D);
	c.b = gc_alloc(D);
	c.pos = gc_alloc((size_t)T * D);
	c.R = gc_alloc(n);
	gc_fill(c.aux, n, 1, &rng);
	gc_fill(c.w, D, 1, &rng);
	gc_fill(c.b, D, 1, &rng);
	gc_fill(c.pos, (size_t)T * D, 1, &rng);
	gc_fill(c.R, n, 1, &rng);
	layer_loss(&c);
	ok(c.out[D * T + 2] == c.w[2] + c.pos[2] && c.out[D * T + D + 1] ==
	    (c.aux[D * T + D + 1] + c.b[1]) + c.pos[D + 1],
	    "tokens: class token + pos[0]; patch + bias + pos[t]");
	mm_tokens_backward(dcls, db, dpos, c.R, N, T, D);
	check(&c, c.w, dcls, D, D, 1e-2f, "class token");
	check(&c, c.b, db, D, D, 1e-2f, "patch bias");
	check(&c, c.pos, dpos, (size_t)T * D, (size_t)T * D, 1e-2f,
	    "positional embedding");
	free(dcls); free(db); free(dpos);
	free(c.aux); free(c.out); free(c.w); free(c.b); free(c.pos);
	free(c.R);
}

/* ---- spec, layout, initialisation ---- */

static void
test_spec(void)
{
	static const char *bad[] = { ":", ":patch=0", ":dim=7,heads=2",
	    ":depth=65", ":foo=3", ":patch=4,patch=4", ":patch=4x", "x",
	    ":patch=", ":patch=-1", ":dim=65537", ":patch=4,", "8" };
	struct mm_vit_cfg c;
	const char *end;
	char buf[128];
	size_t i;

	ok(mm_vit_parse(&c, "", &end) == 0 && *end == 0,
	    "\"vit\" alone: the defaults");
	mm_vit_canon(&c, buf, sizeof buf);
	is_str(buf, "vit:patch=8,dim=64,depth=2,heads=2,mlp=128",
	    "defaults in canonical form");
	ok(mm_vit_parse(&c, ":mlp=768,heads=6,depth=12,dim=384,patch=4/384",
	    &end) == 0 && !strcmp(end, "/384"), "any order; stops at '/'");
	mm_vit_canon(&c, buf, sizeof buf);
	is_str(buf, "vit:patch=4,dim=384,depth=12,heads=6,mlp=768",
	    "the paper's tiny_vit, canonical");
	ok(mm_vit_parse(&c, ":dim=96", NULL) == 0 && c.dim == 96 &&
	    c.patch == 8 && c.heads == 2, "one size given, the rest default");
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = mm_vit_parse(&c, bad[i], NULL);
		ok(rc == MM_EINVAL, "\"vit%s\" refused: %s", bad[i],
		    rc ? mm_errmsg() : "accepted");
	}
	mm_vit_parse(&c, "", NULL);
	ok(mm_vit_check(&c, 3, 64, 64) == 0, "patch 8 fits 3x64x64");
	ok(mm_vit_check(&c, 3, 64, 60) == MM_EINVAL &&
	    strstr(mm_errmsg(), "width 60"), "patch 8 on 3x64x60 refused: %s",
	    mm_errmsg());
	ok(mm_vit_check(&c, 1, 4, 8) == MM_EINVAL, "patch larger than the "
	    "image refused: %s", mm_errmsg());
}

static void
test_layout(void)
{
	struct mm_vit_cfg c;
	struct mm_vit_tensor t[160];
	struct mm_vit *v;
	double D = 384, M = 768, T = 257, per, want, fl;
	int n, i, good;
	int64_t tot = 0;

	mm_vit_parse(&c, ":patch=4,dim=384,depth=12,heads=6,mlp=768", NULL);
	n = mm_vit_layout(&c, 1, 64, 64, 384, t, 160);
	is_int(n, 4 + 12 * 12 + 2, "tiny_vit: 150 tensors (no head)");
	is_str(t[0].name, "class_token", "state_dict order: class_token "
	    "first");
	is_str(t[1].name, "conv_proj.weight", "then conv_proj.weight");
	ok(t[1].ndim == 4 && t[1].shape[0] == 384 && t[1].shape[1] == 1 &&
	    t[1].shape[2] == 4 && t[1].shape[3] == 4, "conv_proj.weight "
	    "(384, 1, 4, 4)");
	ok(t[3].ndim == 3 && t[3].shape[1] == 257, "pos_embedding (1, 257, "
	    "384)");
	is_str(t[6].name, "encoder.layers.encoder_layer_0.self_attention."
	    "in_proj_weight", "in_proj_weight name");
	ok(t[6].shape[0] == 3 * 384 && t[6].shape[1] == 384,
	    "in_proj_weight (3D, D)");
	is_str(t[4 + 12 * 12 - 1].name,
	    "encoder.layers.encoder_layer_11.mlp.3.bias", "last block's "
	    "mlp.3.bias");
	is_str(t[n - 1].name, "encoder.ln.bias", "encoder.ln.bias last");
	for (i = 0; i < n; i++)
		tot += t[i].count;
	per = 4 * D + 3 * D * D + 3 * D + D * D + D + 2 * D * M + M + D;
	want = D + D * 16 + D + T * D + 12 * per + 2 * D;
	ok(tot == (int64_t)want && mm_vit_nparams(&c, 1, 64, 64, 384) ==
	    (size_t)want, "tiny_vit: %.0f parameters", want);
	is_int(mm_vit_layout(&c, 1, 64, 64, 64, NULL, 0), n + 2,
	    "an output width other than dim adds heads.head");
	if (mm_vit_create(&v, &c, 1, 64, 64, 384, 1) == 0) {
		fl = mm_vit_flops(v);
		want = 2 * 256 * 16 * D + 12 * (2 * T * D * 3 * D + 4 * T * T *
		    D + 2 * T * D * D + 4 * T * D * M);
		ok(fabs(fl - want) < 1, "tiny_vit: %.3g flops per sample", fl);
		good = v->blk[0].qkv_w == v->params + (size_t)(t[0].count +
		    t[1].count + t[2].count + t[3].count + t[4].count +
		    t[5].count);
		ok(good && v->lnf_b == v->params + v->nparams - 384 &&
		    v->nparams == (size_t)tot, "parameters packed in layout "
		    "order");
		mm_vit_free(v);
	} else {
		skip(2, "no memory for tiny_vit");
	}
}

static void
test_init(void)
{
	struct mm_vit_cfg c;
	struct mm_vit *a, *b;
	struct mm_rng r1, r2;
	double ss, bound, mx;
	size_t k, n;
	int good;

	mm_vit_parse(&c, ":patch=4,dim=96,depth=2,heads=3,mlp=160", NULL);
	if (mm_vit_create(&a, &c, 2, 16, 16, 96, 1) ||
	    mm_vit_create(&b, &c, 2, 16, 16, 40, 1)) {
		printf("Bail out! %s\n", mm_errmsg());
		exit(1);
	}
	mm_rng_seed(&r1, 5);
	mm_rng_seed(&r2, 5);
	mm_vit_init(a, &r1);
	mm_vit_init(b, &r2);
	ok(!memcmp(a->params, b->params, a->nparams * sizeof(float)),
	    "same seed: same weights (the head is drawn last)");
	/* conv_proj: truncated normal, std sqrt(1 / (2 4 4)) */
	n = 96 * 32;
	ss = mx = 0;
	for (k = 0; k < n; k++) {
		ss += (double)a->conv_w[k] * a->conv_w[k];
		mx = fmax(mx, fabs(a->conv_w[k]));
	}
	is_double(sqrt(ss / n), sqrt(1 / 32.0), 0.01, "conv_proj std "
	    "sqrt(1/fan_in)");
	ok(mx <= 2, "conv_proj within the truncation at 2");
	ss = 0;
	for (k = 0; k < 17 * 96; k++)
		ss += (double)a->pos[k] * a->pos[k];
	is_double(sqrt(ss / (17 * 96)), 0.02, 0.002, "pos_embedding std 0.02");
	bound = sqrt(6.0 / (96 + 3 * 96));
	good = 1;
	ss = 0;
	for (k = 0; k < 3 * 96 * 96; k++) {
		good &= fabs(a->blk[1].qkv_w[k]) <= bound;
		ss += (double)a->blk[1].qkv_w[k] * a->blk[1].qkv_w[k];
	}
	ok(good, "in_proj_weight within the xavier bound");
	is_double(sqrt(ss / (3 * 96 * 96)), bound / sqrt(3), 0.002,
	    "in_proj_weight xavier-uniform std");
	bound = 1 / sqrt(96.0);
	good = 1;
	for (k = 0; k < 96 * 96; k++)
		good &= fabs(a->blk[0].proj_w[k]) <= bound;
	for (k = 0; k < 96; k++)
		good &= a->blk[0].proj_b[k] == 0 && a->cls[k] == 0 &&
		    a->conv_b[k] == 0 && a->blk[0].ln1_w[k] == 1 &&
		    a->blk[1].ln2_b[k] == 0 && a->lnf_w[k] == 1;
	for (k = 0; k < 3 * 96; k++)
		good &= a->blk[0].qkv_b[k] == 0;
	ok(good, "out_proj U(1/sqrt D), zero biases and class token, "
	    "LayerNorm 1 and 0");
	mx = 0;
	good = 0;
	for (k = 0; k < 160; k++) {
		mx = fmax(mx, fabs(a->blk[0].fc1_b[k]));
		good += a->blk[0].fc1_b[k] != 0;
	}
	ok(mx < 1e-5 && good > 150, "mlp biases N(0, 1e-6^2)");
	good = 1;
	for (k = 0; k < 40 * 96; k++)
		good &= fabs(b->head_w[k]) <= bound;
	ok(good && b->head_b[0] != 0, "head U(1/sqrt D), not torchvision's "
	    "zeros");
	mm_vit_free(a);
	mm_vit_free(b);
}

/* ---- the whole encoder ---- */

struct vctx {
	struct mm_vit *v;
	const float *x;
	float *R;
	int N;
};

static double
vit_loss(void *p)
{
	struct vctx *c = p;
	const float *y = mm_vit_forward(c->v, c->x, c->N);

	return gc_dot(y, c->R, (size_t)c->N * c->v->out_dim);
}

static void
test_gradcheck(const char *args, int C, int H, int W, int out, int N)
{
	struct mm_vit_cfg c;
	struct mm_vit *v;
	struct vctx ctx;
	size_t nx = (size_t)N * C * H * W, ny, k;
	float *x = gc_alloc(nx), *g;
	double worst;
	int fails, kinks;

	if (mm_vit_parse(&c, args, NULL) || mm_vit_create(&v, &c, C, H, W,
	    out, N)) {
		printf("Bail out! %s: %s\n", args, mm_errmsg());
		exit(1);
	}
	mm_vit_init(v, &rng);
	/* move every parameter off its init (zeros, ones, tiny biases) */
	for (k = 0; k < v->nparams; k++)
		v->params[k] += 0.2f * (2 * mm_rng_float(&rng) - 1);
	gc_fill(x, nx, 1, &rng);
	ny = (size_t)N * out;
	ctx.v = v;
	ctx.x = x;
	ctx.N = N;
	ctx.R = gc_alloc(ny);
	gc_fill(ctx.R, ny, 1, &rng);
	vit_loss(&ctx);
	memset(v->grads, 0, v->nparams * sizeof(float));
	mm_vit_backward(v, ctx.R);
	g = gc_alloc(v->nparams);
	memcpy(g, v->grads, v->nparams * sizeof *g);
	fails = gc_check(vit_loss, &ctx, v->params, g, v->nparams, 500, 1e-3f,
	    2e-3, 2e-2, &worst, &kinks);
	/* the model is smooth: a "kink" (one-sided differences that
	 * disagree) is float rounding of the loss, allowed at 1 in 50 */
	ok(fails == 0 && kinks <= 10, "vit%s on %dx%dx%d, out %d, N=%d: "
	    "parameter gradcheck (worst %.3f, %d kinks of 500)", args, C, H,
	    W, out, N, worst, kinks);
	/* backward adds: a second pass doubles the gradients (after a
	 * forward at the unperturbed parameters again) */
	vit_loss(&ctx);
	mm_vit_backward(v, ctx.R);
	for (k = 0; k < v->nparams; k++)
		g[k] *= 2;
	ok(gc_maxrel(v->grads, g, v->nparams) < 1e-5, "backward adds into "
	    "the gradients");
	free(g);
	free(x);
	free(ctx.R);
	mm_vit_free(v);
}

static void
test_batch(void)
{
	struct mm_vit_cfg c;
	struct mm_vit *v;
	float *x = gc_alloc(4 * 3 * 16 * 16), y1[4 * 64];
	const float *y;

	mm_vit_parse(&c, ":patch=4", NULL);
	if (mm_vit_create(&v, &c, 3, 16, 16, 64, 4)) {
		printf("Bail out! %s\n", mm_errmsg());
		exit(1);
	}
	mm_vit_init(v, &rng);
	gc_fill(x, 4 * 3 * 16 * 16, 1, &rng);
	memcpy(y1, mm_vit_forward(v, x, 4), sizeof y1);
	y = mm_vit_forward(v, x, 1);
	ok(gc_maxabs(y, y1, 64) < 1e-5, "a sample's code does not depend on "
	    "the rest of the batch");
	ok(mm_vit_forward(v, x, 5) == NULL, "batch above max_batch refused: "
	    "%s", mm_errmsg());
	mm_vit_free(v);
	ok(mm_vit_create(&v, &c, 3, 16, 14, 64, 4) == MM_EINVAL && !v,
	    "create refuses a patch that does not divide the image");
	free(x);
}

/* BLAS threads split the outputs of a product, never its sums: 1 and 2
 * threads give the same bits. */
static void
test_threads(void)
{
	struct mm_vit_cfg c;
	struct mm_vit *v[2];
	struct mm_rng r;
	int N = 8, C = 1, H = 32, W = 32, D = 96, k;
	size_t nx = (size_t)N * C * H * W;
	float *x = gc_alloc(nx), *dy = gc_alloc((size_t)N * D), *y[2];

	mm_vit_parse(&c, ":patch=4,dim=96,depth=2,heads=3,mlp=192", NULL);
	gc_fill(x, nx, 1, &rng);
	gc_fill(dy, (size_t)N * D, 1, &rng);
	for (k = 0; k < 2; k++) {
		mm_blas_threads(k + 1);
		if (mm_vit_create(&v[k], &c, C, H, W, D, N)) {
			printf("Bail out! %s\n", mm_errmsg());
			exit(1);
		}
		mm_rng_seed(&r, 42);
		mm_vit_init(v[k], &r);
		y[k] = gc_alloc((size_t)N * D);
		memcpy(y[k], mm_vit_forward(v[k], x, N), (size_t)N * D *
		    sizeof(float));
		mm_vit_backward(v[k], dy);
	}
	mm_blas_threads(1);
	ok(!memcmp(y[0], y[1], (size_t)N * D * sizeof(float)),
	    "outputs equal with 1 and 2 BLAS threads");
	ok(!memcmp(v[0]->grads, v[1]->grads, v[0]->nparams * sizeof(float)),
	    "gradients equal with 1 and 2 BLAS threads");
	for (k = 0; k < 2; k++) {
		mm_vit_free(v[k]);
		free(y[k]);
	}
	free(x);
	free(dy);
}

/* A pool shares the passes out in pieces fixed by the batch: no pool, 2
 * and 3 threads give the same bits, over two steps (gradients added),
 * for a batch of several row groups (T = 65: 4 samples a group, the
 * last one short) and weight gradients of several chunks. */
static void
test_pool(void)
{
	struct mm_vit_cfg c;
	struct mm_vit *v[3];
	struct mm_pool *pool[3];
	struct mm_rng r;
	int N = 7, C = 2, H = 32, W = 32, out = 10, k, s, same_y = 1, same_g;
	size_t nx = (size_t)N * C * H * W, ny = (size_t)N * out;
	float *x = gc_alloc(nx), *dy = gc_alloc(ny), *y[3];

	mm_vit_parse(&c, ":patch=4,dim=48,depth=2,heads=3,mlp=96", NULL);
	gc_fill(x, nx, 1, &rng);
	gc_fill(dy, ny, 1, &rng);
	for (k = 0; k < 3; k++) {
		pool[k] = k ? mm_pool_new(k + 1) : NULL;
		if (mm_vit_create(&v[k], &c, C, H, W, out, N) ||
		    mm_vit_set_pool(v[k], pool[k])) {
			printf("Bail out! %s\n", mm_errmsg());
			exit(1);
		}
		mm_rng_seed(&r, 42);
		mm_vit_init(v[k], &r);
		y[k] = gc_alloc(ny);
		for (s = 0; s < 2; s++) {
			memcpy(y[k], mm_vit_forward(v[k], x, N - s),
			    (N - s) * out * sizeof(float));
			mm_vit_backward(v[k], dy);
		}
	}
	ok(mm_pool_threads(pool[1]) == 2 && mm_pool_threads(pool[2]) == 3,
	    "pools of 2 and 3 threads started");
	for (k = 1; k < 3; k++) {
		same_y &= !memcmp(y[0], y[k], ny * sizeof(float));
		same_g = !memcmp(v[0]->grads, v[k]->grads, v[0]->nparams *
		    sizeof(float));
		ok(same_y && same_g, "no pool and %d threads: outputs and "
		    "gradients bit-identical", k + 1);
	}
	ok(v[0]->group == 4 && (N - 1 + v[0]->group - 1) / v[0]->group == 2,
	    "65 tokens: row groups of 4 samples, 2 groups for 6 samples");
	pool[0] = mm_pool_new(MM_VIT_MAXTHREADS + 1);
	ok(mm_vit_set_pool(v[0], pool[0]) == MM_EINVAL || !pool[0],
	    "a pool above %d threads refused", MM_VIT_MAXTHREADS);
	for (k = 0; k < 3; k++) {
		mm_vit_free(v[k]);
		mm_pool_free(pool[k]);
		free(y[k]);
	}
	free(x);
	free(dy);
}

/* ---- golden values from PyTorch ---- */

static const char *
fixture(const char *cs, const char *what)
{
	static char buf[4096];
	const char *top = getenv("MMIB_TOP");

	snprintf(buf, sizeof buf, "%s%stests/ref/fixtures/vit-%s-%s",
	    top ? top : "", top ? "/" : "", cs, what);
	return buf;
}

/* A float32 .npy fixture (count in *n), or NULL. */
static float *
npy(const char *cs, const char *what, int64_t *n)
{
	const char *path = fixture(cs, what);
	FILE *f = fopen(path, "rb");
	unsigned char *body = NULL;
	long len = -1;
	enum mm_dtype t;
	int ndim, i;
	int64_t shape[MM_MAXDIM], count = 1;
	uint64_t hl;
	float *out = NULL;

	if (f && !fseek(f, 0, SEEK_END) && (len = ftell(f)) > 0 &&
	    !fseek(f, 0, SEEK_SET) && (body = malloc(len)) &&
	    fread(body, 1, len, f) == (size_t)len &&
	    mm_npy_parse(body, len, &t, &ndim, shape, &hl) == 0 &&
	    t == MM_F32) {
		for (i = 0; i < ndim; i++)
			count *= shape[i];
		if ((uint64_t)len >= hl + count * sizeof(float)) {
			out = gc_alloc(count);
			memcpy(out, body + hl, count * sizeof *out);
			*n = count;
		}
	}
	if (!out)
		diag("cannot load %s", path);
	if (f)
		fclose(f);
	free(body);
	return out;
}

/* max |a - b| / max(|b|, floor) */
static double
scaled(const float *a, const float *b, size_t n, double floor)
{
	double m = floor > 1e-30 ? floor : 1e-30;
	size_t i;

	for (i = 0; i < n; i++)
		m = fmax(m, fabs(b[i]));
	return gc_maxabs(a, b, n) / m;
}

static void
golden(const char *cs, const char *args, int C, int H, int W, int N)
{
	struct mm_vit_cfg c;
	struct mm_vit_tensor *t = NULL;
	struct mm_vit *v = NULL;
	struct mm_optim o;
	int64_t ns, nx, nr, ny, ng, na, off, cnt;
	float *st, *x, *R, *yr, *gr, *ad;
	const float *y;
	char line[256], name[200], worst[200] = "";
	int nt, i, good, out, excl = 0;
	double err, gmax = 0, tmax, e;
	size_t k;
	FILE *f;

	st = npy(cs, "state.npy", &ns);
	x = npy(cs, "x.npy", &nx);
	R = npy(cs, "R.npy", &nr);
	yr = npy(cs, "y.npy", &ny);
	gr = npy(cs, "grads.npy", &ng);
	ad = npy(cs, "adam.npy", &na);
	f = fopen(fixture(cs, "names.txt"), "r");
	if (!st || !x || !R || !yr || !gr || !ad || !f) {
		skip(5, "fixtures missing");
		goto out;
	}
	out = (int)(nr / N);
	if (mm_vit_parse(&c, args, NULL) || mm_vit_create(&v, &c, C, H, W,
	    out, N)) {
		printf("Bail out! %s: %s\n", args, mm_errmsg());
		exit(1);
	}
	nt = mm_vit_layout(&c, C, H, W, out, NULL, 0);
	t = calloc(nt, sizeof *t);
	mm_vit_layout(&c, C, H, W, out, t, nt);
	good = 1;
	for (i = 0; i < nt; i++)
		if (!fgets(line, sizeof line, f) || sscanf(line, "%199s %lld",
		    name, (long long *)&cnt) != 2 || strcmp(name, t[i].name) ||
		    cnt != t[i].count) {
			diag("tensor %d: %s vs %s", i, t[i].name, line);
			good = 0;
			break;
		}
	good &= !fgets(line, sizeof line, f);
	ok(good && ns == (int64_t)v->nparams && ng == ns && na == ns &&
	    nx == (int64_t)N * C * H * W && ny == nr, "%s: %d tensors named, "
	    "shaped and ordered as PyTorch's state_dict", cs, nt);
	memcpy(v->params, st, ns * sizeof(float));
	y = mm_vit_forward(v, x, N);
	err = scaled(y, yr, ny, 0);
	ok(err < 1e-5, "%s: output = PyTorch (%.2g)", cs, err);
	mm_vit_backward(v, R);
	/* each tensor on its own scale, floored at 1e-2 of the largest
	 * gradient */
	for (k = 0; k < (size_t)ng; k++)
		gmax = fmax(gmax, fabs(gr[k]));
	err = 0;
	for (i = 0, off = 0; i < nt; off += t[i++].count) {
		e = scaled(v->grads + off, gr + off, t[i].count, 1e-2 * gmax);
		if (e > err) {
			err = e;
			snprintf(worst, sizeof worst, "%s", t[i].name);
		}
	}
	ok(err < 1e-4, "%s: parameter gradients = PyTorch (worst %.2g, %s)",
	    cs, err, worst);
	/* one Adam step from the same gradients.  The first step moves each
	 * parameter by lr g / (|g| + eps), about lr sign(g): elements whose
	 * gradient is rounding noise (the key bias, which softmax ignores)
	 * can flip sign, so elements with |g| below 1e-6 of their tensor's
	 * largest are left out (and counted). */
	if (mm_optim_init(&o, MM_OPT_ADAM, v->nparams, 1e-3, 0, 0)) {
		printf("Bail out! %s\n", mm_errmsg());
		exit(1);
	}
	mm_optim_begin(&o);
	mm_optim_update(&o, 0, v->params, v->grads, v->nparams);
	err = 0;
	for (i = 0, off = 0; i < nt; off += t[i++].count) {
		tmax = 0;
		for (cnt = 0; cnt < t[i].count; cnt++)
			tmax = fmax(tmax, fabs(gr[off + cnt]));
		for (cnt = 0; cnt < t[i].count; cnt++) {
			k = off + cnt;
			if (fabs(gr[k]) < 1e-6 * tmax) {
				excl++;
				continue;
			}
			err = fmax(err, fabs(v->params[k] - ad[k]));
		}
	}
	ok(err < 1e-6, "%s: one Adam step (lr 1e-3) = PyTorch (%.2g; %d "
	    "noise gradients left out)", cs, err, excl);
	ok(excl <= c.dim * c.depth, "%s: no more left out than the key "
	    "biases (%d of %d)", cs, excl, c.dim * c.depth);
	mm_optim_free(&o);
out:
	if (f)
		fclose(f);
	mm_vit_free(v);
	free(t);
	free(st); free(x); free(R); free(yr); free(gr); free(ad);
}

int
main(void)
{
	mm_rng_seed(&rng, 2024);
	mm_blas_threads(1);
	test_layernorm();
	test_gelu();
	test_gelu_levels();
	test_layernorm_levels(37, 192);
	test_layernorm_levels(9, 50);
	test_attention(2, 5, 12, 3);
	test_attention(1, 19, 8, 1);
	test_attention(2, 33, 32, 2);
	test_patches();
	test_tokens();
	test_spec();
	test_layout();
	test_init();
	test_gradcheck(":patch=4,dim=12,depth=2,heads=3,mlp=20", 2, 8, 12, 5,
	    3);
	test_gradcheck(":patch=2,dim=8,depth=1,heads=2,mlp=16", 1, 6, 4, 8,
	    2);
	test_batch();
	test_threads();
	test_pool();
	golden("head", ":patch=4,dim=12,depth=2,heads=3,mlp=20", 2, 8, 12, 3);
	golden("cls", ":patch=2,dim=8,depth=1,heads=2,mlp=16", 1, 8, 8, 2);
	return done_testing();
}
