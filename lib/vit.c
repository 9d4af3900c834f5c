/*
 * vit.c - the Vision Transformer encoder of vit.h: its spec, tensor
 * layout, torchvision's initialisation, and forward and backward passes
 * assembled from the layers of vit-layers.c.
 *
 * Every product over tokens takes a row group of whole samples (ROWS
 * tokens or more) at once: the patch embedding (with a zero row per
 * sample where the class token goes), in_proj, out_proj and both MLP
 * layers are one sgemm per group; attention works per sample and head;
 * weight gradients are sums over fixed token slices.  A pool's threads
 * take these pieces in turn (vit.h, Threads).
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "err.h"
#include "nn.h"
#include "pool.h"
#include "num.h"
#include "vit.h"

#define MAXSIZE 65536
#define ROWS 256               /* tokens of a row group, at least */

/* ---- spec ---- */

static const char *const keys[] = { "patch", "dim", "depth", "heads",
    "mlp" };
#define NKEYS 5

static int *
field(struct mm_vit_cfg *c, int i)
{
	int *f[NKEYS] = { &c->patch, &c->dim, &c->depth, &c->heads, &c->mlp };

	return f[i];
}

int
mm_vit_parse(struct mm_vit_cfg *c, const char *s, const char **end)
{
	static const struct mm_vit_cfg def = MM_VIT_DEFAULTS;
	const char *p = s;
	const char *e;
	int seen = 0, i, max;
	long val;
	size_t len;

	*c = def;
	if (*p == ':') {
		do {
			p++;
			for (i = 0; i < NKEYS; i++) {
				len = strlen(keys[i]);
				if (!strncmp(p, keys[i], len) && p[len] == '=')
					break;
			}
			if (i == NKEYS)
				return mm_err(MM_EINVAL, "vit: expected patch=, "
				    "dim=, depth=, heads= or mlp= at \"%s\"", p);
			if (seen & 1 << i)
				return mm_err(MM_EINVAL, "vit: %s given twice",
				    keys[i]);
			seen |= 1 << i;
			p += len + 1;
			max = i == 2 ? MM_VIT_MAXDEPTH : MAXSIZE;
			if (*p < '0' || *p > '9' ||
			    mm_num_long(p, &e, 1, max, &val) < 0)
				return mm_err(MM_EINVAL, "vit: %s must be an "
				    "integer in 1..%d", keys[i], max);
			*field(c, i) = (int)val;
			p = e;
		} while (*p == ',');
	}
	if (*p && *p != '/')
		return mm_err(MM_EINVAL, "vit: unexpected \"%s\" (expected "
		    "\"vit:key=value,...\")", p);
	if (c->dim % c->heads)
		return mm_err(MM_EINVAL, "vit: heads=%d does not divide dim=%d",
		    c->heads, c->dim);
	if (end)
		*end = p;
	return 0;
}

int
mm_vit_canon(const struct mm_vit_cfg *c, char *buf, size_t cap)
{
	return snprintf(buf, cap, "vit:patch=%d,dim=%d,depth=%d,heads=%d,"
	    "mlp=%d", c->patch, c->dim, c->depth, c->heads, c->mlp);
}

int
mm_vit_check(const struct mm_vit_cfg *c, int C, int H, int W)
{
	double T;

	if (C < 1 || H < 1 || W < 1)
		return mm_err(MM_EINVAL, "vit: bad input %dx%dx%d", C, H, W);
	if (H % c->patch || W % c->patch)
		return mm_err(MM_EINVAL, "vit: patch %d does not divide the "
		    "image %dx%dx%d (%s %d)", c->patch, C, H, W,
		    H % c->patch ? "height" : "width",
		    H % c->patch ? H : W);
	T = 1.0 + (double)(H / c->patch) * (W / c->patch);
	if (T * c->heads * T > INT_MAX || T * 3 * c->dim > INT_MAX ||
	    T * c->mlp > INT_MAX || (double)C * c->patch * c->patch > INT_MAX)
		return mm_err(MM_EINVAL, "vit: %g tokens of %d: too large", T,
		    c->dim);
	return 0;
}

/* ---- layout ----
 * One walk over the tensors in state_dict order serves mm_vit_layout
 * (names and shapes) and mm_vit_setup (pointers into the blocks). */

struct lay {
	struct mm_vit_tensor *t;
	int cap, n;
	size_t off;
	float *params, *grads;     /* NULL: no pointers wanted */
};

static void
add(struct lay *L, float **p, float **g, int ndim, int64_t d0, int64_t d1,
    int64_t d2, int64_t d3, const char *fmt, ...)
{
	int64_t shape[4] = { d0, d1, d2, d3 }, count = 1;
	va_list ap;
	int i;

	for (i = 0; i < ndim; i++)
		count *= shape[i];
	if (L->t && L->n < L->cap) {
		struct mm_vit_tensor *t = &L->t[L->n];

		va_start(ap, fmt);
		vsnprintf(t->name, sizeof t->name, fmt, ap);
		va_end(ap);
		t->ndim = ndim;
		for (i = 0; i < 4; i++)
			t->shape[i] = i < ndim ? shape[i] : 0;
		t->count = count;
	}
	if (L->params) {
		*p = L->params + L->off;
		*g = L->grads + L->off;
	}
	L->off += count;
	L->n++;
}

static void
walk(struct lay *L, const struct mm_vit_cfg *c, int C, int T, int out,
    struct mm_vit *v)
{
	struct mm_vit_block *b;
	int D = c->dim, M = c->mlp, P = c->patch, i;
	const char *pre = "encoder.layers.encoder_layer_";

	add(L, &v->cls, &v->gcls, 3, 1, 1, D, 0, "class_token");
	add(L, &v->conv_w, &v->gconv_w, 4, D, C, P, P, "conv_proj.weight");
	add(L, &v->conv_b, &v->gconv_b, 1, D, 0, 0, 0, "conv_proj.bias");
	add(L, &v->pos, &v->gpos, 3, 1, T, D, 0, "encoder.pos_embedding");
	for (i = 0; i < c->depth; i++) {
		b = &v->blk[i];
		add(L, &b->ln1_w, &b->gln1_w, 1, D, 0, 0, 0, "%s%d.ln_1.weight",
		    pre, i);
		add(L, &b->ln1_b, &b->gln1_b, 1, D, 0, 0, 0, "%s%d.ln_1.bias",
		    pre, i);
		add(L, &b->qkv_w, &b->gqkv_w, 2, 3 * D, D, 0, 0,
		    "%s%d.self_attention.in_proj_weight", pre, i);
		add(L, &b->qkv_b, &b->gqkv_b, 1, 3 * D, 0, 0, 0,
		    "%s%d.self_attention.in_proj_bias", pre, i);
		add(L, &b->proj_w, &b->gproj_w, 2, D, D, 0, 0,
		    "%s%d.self_attention.out_proj.weight", pre, i);
		add(L, &b->proj_b, &b->gproj_b, 1, D, 0, 0, 0,
		    "%s%d.self_attention.out_proj.bias", pre, i);
		add(L, &b->ln2_w, &b->gln2_w, 1, D, 0, 0, 0, "%s%d.ln_2.weight",
		    pre, i);
		add(L, &b->ln2_b, &b->gln2_b, 1, D, 0, 0, 0, "%s%d.ln_2.bias",
		    pre, i);
		add(L, &b->fc1_w, &b->gfc1_w, 2, M, D, 0, 0,
		    "%s%d.mlp.0.weight", pre, i);
		add(L, &b->fc1_b, &b->gfc1_b, 1, M, 0, 0, 0, "%s%d.mlp.0.bias",
		    pre, i);
		add(L, &b->fc2_w, &b->gfc2_w, 2, D, M, 0, 0,
		    "%s%d.mlp.3.weight", pre, i);
		add(L, &b->fc2_b, &b->gfc2_b, 1, D, 0, 0, 0, "%s%d.mlp.3.bias",
		    pre, i);
	}
	add(L, &v->lnf_w, &v->glnf_w, 1, D, 0, 0, 0, "encoder.ln.weight");
	add(L, &v->lnf_b, &v->glnf_b, 1, D, 0, 0, 0, "encoder.ln.bias");
	if (out != D) {
		add(L, &v->head_w, &v->ghead_w, 2, out, D, 0, 0,
		    "heads.head.weight");
		add(L, &v->head_b, &v->ghead_b, 1, out, 0, 0, 0,
		    "heads.head.bias");
	}
}

static int
tokens(const struct mm_vit_cfg *c, int H, int W)
{
	return 1 + (H / c->patch) * (W / c->patch);
}

int
mm_vit_layout(const struct mm_vit_cfg *c, int C, int H, int W, int out_dim,
    struct mm_vit_tensor *t, int cap)
{
	struct lay L = { t, cap, 0, 0, NULL, NULL };
	struct mm_vit tmp;     /* walk needs somewhere to point (unused) */

	walk(&L, c, C, tokens(c, H, W), out_dim, &tmp);
	return L.n;
}

size_t
mm_vit_nparams(const struct mm_vit_cfg *c, int C, int H, int W, int out_dim)
{
	struct lay L = { NULL, 0, 0, 0, NULL, NULL };
	struct mm_vit tmp;

	walk(&L, c, C, tokens(c, H, W), out_dim, &tmp);
	return L.off;
}

/* ---- activations ----
 * Carved like the parameters: one walk counts (base NULL: v's pointers
 * come out NULL) or assigns,
 * each piece rounded up to 16 floats (64 bytes). */

static float *
take(float *base, size_t *off, size_t n)
{
	float *p = base ? base + *off : NULL;

	*off += (n + 15) / 16 * 16;
	return p;
}

static size_t
carve(struct mm_vit *v, const struct mm_vit_cfg *c, int C, int H, int W,
    int out, int B, float *base)
{
	size_t off = 0, BT, D = c->dim, M = c->mlp, np;
	size_t cpp = (size_t)C * c->patch * c->patch;
	int T = tokens(c, H, W), i;
	struct mm_vit_block *b;

	BT = (size_t)B * T;
	v->cols = take(base, &off, BT * C * c->patch * c->patch);
	for (i = 0; i < c->depth; i++) {
		b = &v->blk[i];
		b->x = take(base, &off, BT * D);
		b->ln1 = take(base, &off, BT * D);
		b->mu1 = take(base, &off, BT);
		b->rs1 = take(base, &off, BT);
		b->qkv = take(base, &off, BT * 3 * D);
		b->att = take(base, &off, BT * c->heads * T);
		b->ao = take(base, &off, BT * D);
		b->xm = take(base, &off, BT * D);
		b->ln2 = take(base, &off, BT * D);
		b->mu2 = take(base, &off, BT);
		b->rs2 = take(base, &off, BT);
		b->h = take(base, &off, BT * M);
		b->ha = take(base, &off, BT * M);
	}
	v->xL = take(base, &off, BT * D);
	v->xc = take(base, &off, (size_t)B * D);
	v->lnf = take(base, &off, (size_t)B * D);
	v->muf = take(base, &off, B);
	v->rsf = take(base, &off, B);
	v->out = take(base, &off, (size_t)B * out);
	v->dx = take(base, &off, BT * D);
	v->dln = take(base, &off, BT * D);
	v->dqkv = take(base, &off, BT * 3 * D);
	v->dao = take(base, &off, BT * D);
	v->dh = take(base, &off, BT * M);
	v->dha = take(base, &off, BT * M);
	v->dc = take(base, &off, (size_t)B * D);
	v->dx2 = take(base, &off, BT * D);
	v->scratch = take(base, &off, (size_t)MM_VIT_MAXTHREADS * T * T);
	/* the largest phase of weight gradients: fc2 + fc1 + out_proj, or
	 * in_proj, or conv_proj */
	np = 2 * D * M + D * D + M + 2 * D;
	np = np > 3 * D * D + 3 * D ? np : 3 * D * D + 3 * D;
	np = np > D * cpp ? np : D * cpp;
	v->npart = np;
	v->part = take(base, &off, (size_t)MM_VIT_KSLICES * np);
	v->group = (ROWS + T - 1) / T;
	v->lnp = take(base, &off, (size_t)(B + v->group - 1) / v->group * 2 *
	    D);
	return off;
}

size_t
mm_vit_nacts(const struct mm_vit_cfg *c, int C, int H, int W, int out_dim,
    int max_batch)
{
	struct mm_vit tmp;

	return carve(&tmp, c, C, H, W, out_dim, max_batch, NULL);
}

int
mm_vit_setup(struct mm_vit *v, const struct mm_vit_cfg *c, int C, int H,
    int W, int out_dim, int max_batch, float *params, float *grads,
    float *acts)
{
	struct lay L = { NULL, 0, 0, 0, params, grads };
	int rc;

	memset(v, 0, sizeof *v);
	if ((rc = mm_vit_check(c, C, H, W)) < 0)
		return rc;
	if (out_dim < 1 || max_batch < 1 || c->depth > MM_VIT_MAXDEPTH ||
	    c->dim % c->heads)
		return mm_err(MM_EINVAL, "vit: output %d, batch %d, depth %d, "
		    "%d heads of dim %d: bad size", out_dim, max_batch,
		    c->depth, c->heads, c->dim);
	v->cfg = *c;
	v->C = C;
	v->H = H;
	v->W = W;
	v->T = tokens(c, H, W);
	v->D = c->dim;
	v->M = c->mlp;
	v->heads = c->heads;
	v->out_dim = out_dim;
	v->max_batch = max_batch;
	v->cpp = C * c->patch * c->patch;
	v->head = out_dim != c->dim;
	v->params = params;
	v->grads = grads;
	v->acts = acts;
	walk(&L, c, C, v->T, out_dim, v);
	v->nparams = L.off;
	carve(v, c, C, H, W, out_dim, max_batch, acts);
	return 0;
}

int
mm_vit_create(struct mm_vit **vp, const struct mm_vit_cfg *c, int C, int H,
    int W, int out_dim, int max_batch)
{
	struct mm_vit *v;
	size_t np, na;
	int rc;

	*vp = NULL;
	if ((rc = mm_vit_check(c, C, H, W)) < 0)
		return rc;
	np = mm_vit_nparams(c, C, H, W, out_dim);
	na = mm_vit_nacts(c, C, H, W, out_dim, max_batch > 0 ? max_batch : 1);
	if (!(v = malloc(sizeof *v)))
		return mm_err(MM_ENOMEM, "vit: out of memory");
	float *p = calloc(np, sizeof *p), *g = calloc(np, sizeof *g), *a;
	if (posix_memalign((void **)&a, 64, na * sizeof *a))
		a = NULL;
	if (!p || !g || !a) {
		free(p);
		free(g);
		free(a);
		free(v);
		return mm_err(MM_ENOMEM, "vit: %zu activations: out of memory",
		    na);
	}
	memset(a, 0, na * sizeof *a);
	if ((rc = mm_vit_setup(v, c, C, H, W, out_dim, max_batch, p, g, a))) {
		free(p);
		free(g);
		free(a);
		free(v);
		return rc;
	}
	v->own = 1;
	*vp = v;
	return 0;
}

void
mm_vit_free(struct mm_vit *v)
{
	if (!v)
		return;
	if (v->own) {
		free(v->params);
		free(v->grads);
		free(v->acts);
	}
	free(v);
}

int
mm_vit_set_pool(struct mm_vit *v, struct mm_pool *pool)
{
	if (mm_pool_threads(pool) > MM_VIT_MAXTHREADS)
		return mm_err(MM_EINVAL, "vit: %d threads (at most %d)",
		    mm_pool_threads(pool), MM_VIT_MAXTHREADS);
	v->pool = pool;
	return 0;
}

/* ---- initialisation ---- */

static void
fill(float *p, int64_t n, float val)
{
	while (n--)
		*p++ = val;
}

static void
uniform(float *p, int64_t n, double bound, struct mm_rng *rng)
{
	while (n--)
		*p++ = (float)((2 * mm_rng_uniform(rng) - 1) * bound);
}

static void
normal(float *p, int64_t n, double std, struct mm_rng *rng)
{
	while (n--)
		*p++ = (float)(mm_rng_normal(rng) * std);
}

/* N(0, std^2) redrawn until within [lo, hi] (torch.nn.init.trunc_normal_,
 * whose bounds are absolute, -2 and 2 by default) */
static void
trunc_normal(float *p, int64_t n, double std, double lo, double hi,
    struct mm_rng *rng)
{
	double x;

	while (n--) {
		do
			x = mm_rng_normal(rng) * std;
		while (x < lo || x > hi);
		*p++ = (float)x;
	}
}

/* xavier_uniform_ of a (fan_out, fan_in) weight */
static void
xavier(float *p, int fan_out, int fan_in, struct mm_rng *rng)
{
	uniform(p, (int64_t)fan_out * fan_in, sqrt(6.0 / (fan_in + fan_out)),
	    rng);
}

void
mm_vit_init(struct mm_vit *v, struct mm_rng *rng)
{
	int D = v->D, M = v->M, i;
	struct mm_vit_block *b;

	fill(v->cls, D, 0);
	trunc_normal(v->conv_w, (int64_t)D * v->cpp, sqrt(1.0 / v->cpp), -2,
	    2, rng);
	fill(v->conv_b, D, 0);
	normal(v->pos, (int64_t)v->T * D, 0.02, rng);
	for (i = 0; i < v->cfg.depth; i++) {
		b = &v->blk[i];
		fill(b->ln1_w, D, 1);
		fill(b->ln1_b, D, 0);
		xavier(b->qkv_w, 3 * D, D, rng);
		fill(b->qkv_b, 3 * D, 0);
		uniform(b->proj_w, (int64_t)D * D, 1 / sqrt(D), rng);
		fill(b->proj_b, D, 0);
		fill(b->ln2_w, D, 1);
		fill(b->ln2_b, D, 0);
		xavier(b->fc1_w, M, D, rng);
		normal(b->fc1_b, M, 1e-6, rng);
		xavier(b->fc2_w, D, M, rng);
		normal(b->fc2_b, D, 1e-6, rng);
	}
	fill(v->lnf_w, D, 1);
	fill(v->lnf_b, D, 0);
	if (v->head) {
		uniform(v->head_w, (int64_t)v->out_dim * D, 1 / sqrt(D), rng);
		uniform(v->head_b, v->out_dim, 1 / sqrt(D), rng);
	}
}

/* ---- the pieces of a pass ----
 * A pass is a few phases, each a list of items of up to four kinds that
 * the pool's threads take in turn (mm_pool_next); every item writes its
 * own outputs, so which thread runs it does not matter.  Items are whole
 * row groups (ROWS tokens or more, whole samples), sample-heads, token
 * slices of a weight gradient, and chunks of the slice sums. */

#define KS MM_VIT_KSLICES
#define RCHUNK 4096            /* floats of a chunk of slice sums */

struct job;
typedef void (*item_fn)(struct job *j, int item, int tid);

/* A weight gradient (and its bias's) of a Linear layer or of conv_proj:
 * gw (Dout, Din) += dout^T inp, gb (Dout) += column sums of dout, over
 * the N T tokens, as KS products over fixed token ranges. */
struct prod {
	const float *dout, *inp;   /* (NT, Dout), (NT, Din) */
	float *gw, *gb;            /* gb NULL: no bias */
	int Dout, Din;
	float *part;               /* (KS, len) the slices' sums */
	size_t len;                /* Dout Din (+ Dout with a bias) */
	int nchunk;
};

struct job {
	struct mm_vit *v;
	int N, ngroups, i;         /* batch, its row groups, the block */
	const float *x;            /* the images (forward) */
	float *A, *B;              /* backward: gradients of the block output
	                            * (then input) and of its middle xm */
	int nkind, next;
	item_fn fn[4];
	int n[4];
	int nprod;
	struct prod prod[3];
};

static void
run_items(void *arg, int tid)
{
	struct job *j = arg;
	int total = 0, it, t;

	for (t = 0; t < j->nkind; t++)
		total += j->n[t];
	while ((it = mm_pool_next(j->v->pool, &j->next)) < total) {
		for (t = 0; it >= j->n[t]; t++)
			it -= j->n[t];
		j->fn[t](j, it, tid);
	}
}

/* One phase: n0 items of f0, then n1 of f1 (f1 may be NULL). */
static void
phase(struct job *j, item_fn f0, int n0, item_fn f1, int n1)
{
	j->nkind = f1 ? 2 : 1;
	j->fn[0] = f0;
	j->n[0] = n0;
	j->fn[1] = f1;
	j->n[1] = f1 ? n1 : 0;
	j->next = 0;
	mm_pool_run(j->v->pool, run_items, j);
}

/* Samples n0..n1-1 of row group g. */
static void
group(const struct job *j, int g, int *n0, int *n1)
{
	int G = j->v->group;

	*n0 = g * G;
	*n1 = *n0 + G < j->N ? *n0 + G : j->N;
}

/* ---- forward ---- */

/* out (R, Dout) = res + b + inp w^T, res (R, Dout) or NULL, out may be
 * res: one sgemm over all R rows. */
static void
linear(float *out, const float *res, const float *inp, const float *w,
    const float *b, size_t R, int Din, int Dout)
{
	size_t r;
	int o;

	for (r = 0; r < R; r++) {
		float *y = out + r * Dout;
		const float *z = res ? res + r * Dout : NULL;

		if (z)
			for (o = 0; o < Dout; o++)
				y[o] = z[o] + b[o];
		else
			memcpy(y, b, Dout * sizeof *y);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, Dout, Din,
	    1.0f, inp, Din, w, Din, 1.0f, out, Dout);
}

/* The products run on a one-thread BLAS, restored afterwards: OpenBLAS's
 * threaded driver cuts the sum of a product (k) into blocks other than
 * its one-thread driver does when k is between one and two blocks, so
 * its results would depend on the thread count. */
static int
blas_one(void)
{
	int saved = openblas_get_num_threads();

	if (saved != 1)
		openblas_set_num_threads(1);
	return saved;
}

static void
blas_restore(int saved)
{
	if (saved != 1)
		openblas_set_num_threads(saved);
}

/* ln_1 and in_proj of block i, rows r0 .. r0 + R - 1 */
static void
attn_in(struct mm_vit *v, int i, size_t r0, size_t R)
{
	struct mm_vit_block *b = &v->blk[i];
	int D = v->D;

	mm_layernorm_forward(b->ln1 + r0 * D, b->mu1 + r0, b->rs1 + r0,
	    b->x + r0 * D, b->ln1_w, b->ln1_b, R, D, MM_VIT_LN_EPS);
	linear(b->qkv + r0 * 3 * D, NULL, b->ln1 + r0 * D, b->qkv_w, b->qkv_b,
	    R, D, 3 * D);
}

/* tokens of a row group: patches times conv_proj, class token, position;
 * then block 0's ln_1 and in_proj */
static void
f_embed(struct job *j, int g, int tid)
{
	struct mm_vit *v = j->v;
	int n0, n1, T = v->T, D = v->D;
	size_t r0, R;
	float *xo;

	(void)tid;
	group(j, g, &n0, &n1);
	r0 = (size_t)n0 * T;
	R = (size_t)(n1 - n0) * T;
	mm_patch_im2col(v->cols + r0 * v->cpp, j->x + (size_t)n0 * v->C *
	    v->H * v->W, n1 - n0, v->C, v->H, v->W, v->cfg.patch, 1);
	xo = v->blk[0].x + r0 * D;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, D,
	    v->cpp, 1.0f, v->cols + r0 * v->cpp, v->cpp, v->conv_w, v->cpp,
	    0.0f, xo, D);
	mm_tokens_forward(xo, v->cls, v->conv_b, v->pos, n1 - n0, T, D);
	attn_in(v, 0, r0, R);
}

static void
f_attention(struct job *j, int item, int tid)
{
	struct mm_vit *v = j->v;
	struct mm_vit_block *b = &v->blk[j->i];

	(void)tid;
	mm_attention_forward_one(b->ao, b->att, b->qkv, item / v->heads,
	    item % v->heads, v->T, v->D, v->heads);
}

/* the rest of block i for a row group: out_proj + residual, ln_2, the
 * MLP + residual; then the next block's ln_1 and in_proj */
static void
f_rest(struct job *j, int g, int tid)
{
	struct mm_vit *v = j->v;
	struct mm_vit_block *b = &v->blk[j->i];
	int n0, n1, T = v->T, D = v->D, M = v->M, last;
	size_t r0, R;
	float *xo;

	(void)tid;
	group(j, g, &n0, &n1);
	r0 = (size_t)n0 * T;
	R = (size_t)(n1 - n0) * T;
	last = j->i + 1 == v->cfg.depth;
	linear(b->xm + r0 * D, b->x + r0 * D, b->ao + r0 * D, b->proj_w,
	    b->proj_b, R, D, D);
	mm_layernorm_forward(b->ln2 + r0 * D, b->mu2 + r0, b->rs2 + r0,
	    b->xm + r0 * D, b->ln2_w, b->ln2_b, R, D, MM_VIT_LN_EPS);
	linear(b->h + r0 * M, NULL, b->ln2 + r0 * D, b->fc1_w, b->fc1_b, R,
	    D, M);
	mm_gelu_forward(b->ha + r0 * M, b->h + r0 * M, R * M);
	xo = (last ? v->xL : v->blk[j->i + 1].x) + r0 * D;
	linear(xo, b->xm + r0 * D, b->ha + r0 * M, b->fc2_w, b->fc2_b, R, M,
	    D);
	if (!last)
		attn_in(v, j->i + 1, r0, R);
}

static void
job_init(struct job *j, struct mm_vit *v, int N)
{
	memset(j, 0, sizeof *j);
	j->v = v;
	j->N = N;
	j->ngroups = (N + v->group - 1) / v->group;
}

static const float *
forward(struct mm_vit *v, const float *x, int N)
{
	int D = v->D, i, n;
	struct job j;

	if (N < 1 || N > v->max_batch) {
		mm_err(MM_EINVAL, "vit forward: batch of %d rows (1..%d)", N,
		    v->max_batch);
		return NULL;
	}
	v->lastN = N;
	job_init(&j, v, N);
	j.x = x;
	phase(&j, f_embed, j.ngroups, NULL, 0);
	for (i = 0; i < v->cfg.depth; i++) {
		j.i = i;
		phase(&j, f_attention, N * v->heads, NULL, 0);
		phase(&j, f_rest, j.ngroups, NULL, 0);
	}
	/* the final LayerNorm of the class tokens only (the other rows of
	 * torchvision's encoder.ln are discarded) */
	for (n = 0; n < N; n++)
		memcpy(v->xc + (size_t)n * D, v->xL + (size_t)n * v->T * D,
		    D * sizeof(float));
	mm_layernorm_forward(v->lnf, v->muf, v->rsf, v->xc, v->lnf_w,
	    v->lnf_b, N, D, MM_VIT_LN_EPS);
	if (!v->head)
		return v->lnf;
	linear(v->out, NULL, v->lnf, v->head_w, v->head_b, N, D, v->out_dim);
	return v->out;
}

const float *
mm_vit_forward(struct mm_vit *v, const float *x, int N)
{
	int saved = blas_one();
	const float *y = forward(v, x, N);

	blas_restore(saved);
	return y;
}

/* ---- backward ---- */

static void
zero(float *p, size_t n)
{
	memset(p, 0, n * sizeof *p);
}

/* Block j->i, a row group, from the gradient of its output (A): through
 * the MLP and ln_2 to the gradient of xm (B), then of the attention
 * output (dao); dqkv's rows zeroed for the heads.  ln_2's weight
 * gradient goes to the group's lnp. */
static void
b_mlp(struct job *j, int g, int tid)
{
	struct mm_vit *v = j->v;
	struct mm_vit_block *b = &v->blk[j->i];
	int n0, n1, T = v->T, D = v->D, M = v->M;
	size_t r0, R;
	float *lp = v->lnp + (size_t)g * 2 * D;

	(void)tid;
	group(j, g, &n0, &n1);
	r0 = (size_t)n0 * T;
	R = (size_t)(n1 - n0) * T;
	/* dha (R, M) = dA fc2_w */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, M, D,
	    1.0f, j->A + r0 * D, D, b->fc2_w, M, 0.0f, v->dha + r0 * M, M);
	zero(v->dh + r0 * M, R * M);
	mm_gelu_backward(v->dh + r0 * M, v->dha + r0 * M, b->h + r0 * M,
	    R * M);
	/* dln (R, D) = dh fc1_w */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, D, M,
	    1.0f, v->dh + r0 * M, M, b->fc1_w, D, 0.0f, v->dln + r0 * D, D);
	memcpy(j->B + r0 * D, j->A + r0 * D, R * D * sizeof(float));
	zero(lp, 2 * (size_t)D);
	mm_layernorm_backward(j->B + r0 * D, lp, lp + D, v->dln + r0 * D,
	    b->xm + r0 * D, b->mu2 + r0, b->rs2 + r0, b->ln2_w, R, D);
	/* dao (R, D) = dB proj_w */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, D, D,
	    1.0f, j->B + r0 * D, D, b->proj_w, D, 0.0f, v->dao + r0 * D, D);
	zero(v->dqkv + r0 * 3 * D, R * 3 * D);
}

static void
b_attention(struct job *j, int item, int tid)
{
	struct mm_vit *v = j->v;
	struct mm_vit_block *b = &v->blk[j->i];

	mm_attention_backward_one(v->dqkv, v->dao, b->qkv, b->att,
	    item / v->heads, item % v->heads, v->T, v->D, v->heads,
	    v->scratch + (size_t)tid * v->T * v->T);
}

/* Block j->i, a row group: through in_proj and ln_1 to the gradient of
 * the block input, A = B + ...; ln_1's weight gradient to lnp. */
static void
b_attn_in(struct job *j, int g, int tid)
{
	struct mm_vit *v = j->v;
	struct mm_vit_block *b = &v->blk[j->i];
	int n0, n1, T = v->T, D = v->D;
	size_t r0, R;
	float *lp = v->lnp + (size_t)g * 2 * D;

	(void)tid;
	group(j, g, &n0, &n1);
	r0 = (size_t)n0 * T;
	R = (size_t)(n1 - n0) * T;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, D,
	    3 * D, 1.0f, v->dqkv + r0 * 3 * D, 3 * D, b->qkv_w, D, 0.0f,
	    v->dln + r0 * D, D);
	memcpy(j->A + r0 * D, j->B + r0 * D, R * D * sizeof(float));
	zero(lp, 2 * (size_t)D);
	mm_layernorm_backward(j->A + r0 * D, lp, lp + D, v->dln + r0 * D,
	    b->x + r0 * D, b->mu1 + r0, b->rs1 + r0, b->ln1_w, R, D);
}

/* w, b (D) += the groups' LayerNorm weight gradients, in group order */
static void
ln_total(const struct job *j, float *w, float *b)
{
	int D = j->v->D, g, d;
	const float *lp;

	for (g = 0; g < j->ngroups; g++) {
		lp = j->v->lnp + (size_t)g * 2 * D;
		for (d = 0; d < D; d++) {
			w[d] += lp[d];
			b[d] += lp[D + d];
		}
	}
}

/* Add a weight gradient to the job's products (parts packed in order). */
static void
add_prod(struct job *j, const float *dout, const float *inp, float *gw,
    float *gb, int Dout, int Din)
{
	struct prod *p = &j->prod[j->nprod];

	p->dout = dout;
	p->inp = inp;
	p->gw = gw;
	p->gb = gb;
	p->Dout = Dout;
	p->Din = Din;
	p->len = (size_t)Dout * Din + (gb ? Dout : 0);
	p->nchunk = (int)((p->len + RCHUNK - 1) / RCHUNK);
	p->part = j->nprod ? j->prod[j->nprod - 1].part +
	    KS * j->prod[j->nprod - 1].len : j->v->part;
	j->nprod++;
}

/* Token slice s of product item / KS: its sums into its part. */
static void
b_slice(struct job *j, int item, int tid)
{
	const struct prod *p = &j->prod[item / KS];
	size_t NT = (size_t)j->N * j->v->T, r, r0, r1;
	int s = item % KS, o;
	float *pw = p->part + s * p->len, *pb = pw + (size_t)p->Dout * p->Din;

	(void)tid;
	r0 = NT * s / KS;
	r1 = NT * (s + 1) / KS;
	if (r1 > r0)
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p->Dout,
		    p->Din, (int)(r1 - r0), 1.0f, p->dout + r0 * p->Dout,
		    p->Dout, p->inp + r0 * p->Din, p->Din, 0.0f, pw, p->Din);
	else
		zero(pw, (size_t)p->Dout * p->Din);
	if (!p->gb)
		return;
	zero(pb, p->Dout);
	for (r = r0; r < r1; r++)
		for (o = 0; o < p->Dout; o++)
			pb[o] += p->dout[r * p->Dout + o];
}

/* Chunk item of the products' parts: the slices added in slice order
 * (into slice 0), then into the gradients. */
static void
b_sum(struct job *j, int item, int tid)
{
	const struct prod *p = j->prod;
	size_t k0, k1, k, nw;
	int s;

	(void)tid;
	while (item >= p->nchunk)
		item -= p++->nchunk;
	k0 = (size_t)item * RCHUNK;
	k1 = k0 + RCHUNK < p->len ? k0 + RCHUNK : p->len;
	for (s = 1; s < KS; s++) {
		const float *q = p->part + s * p->len;

		for (k = k0; k < k1; k++)
			p->part[k] += q[k];
	}
	nw = (size_t)p->Dout * p->Din;
	for (k = k0; k < k1; k++) {
		if (k < nw)
			p->gw[k] += p->part[k];
		else
			p->gb[k - nw] += p->part[k];
	}
}

static int
nchunks(const struct job *j)
{
	int n = 0, p;

	for (p = 0; p < j->nprod; p++)
		n += j->prod[p].nchunk;
	return n;
}

/* The job's products: slices, then their sums (f1, n1 join the first
 * phase); the products are emptied. */
static void
products(struct job *j, item_fn f1, int n1)
{
	phase(j, b_slice, KS * j->nprod, f1, n1);
	phase(j, b_sum, nchunks(j), NULL, 0);
	j->nprod = 0;
}

static void
backward(struct mm_vit *v, const float *dy)
{
	int N = v->lastN, T = v->T, D = v->D, i, n;
	size_t NT = (size_t)N * T;
	struct mm_vit_block *b;
	const float *g = dy;
	struct job j;

	if (N < 1)
		return;
	if (v->head) {
		zero(v->dc, (size_t)N * D);
		mm_linear_backward(v->dc, v->ghead_w, v->ghead_b, dy, v->lnf,
		    v->head_w, N, D, v->out_dim);
		g = v->dc;
	}
	/* the class rows' gradient through encoder.ln; every other row of
	 * the last block's output has none */
	zero(v->dln, (size_t)N * D);
	mm_layernorm_backward(v->dln, v->glnf_w, v->glnf_b, g, v->xc, v->muf,
	    v->rsf, v->lnf_w, N, D);
	zero(v->dx, NT * D);
	for (n = 0; n < N; n++)
		memcpy(v->dx + (size_t)n * T * D, v->dln + (size_t)n * D,
		    D * sizeof(float));
	job_init(&j, v, N);
	j.A = v->dx;
	j.B = v->dx2;
	for (i = v->cfg.depth - 1; i >= 0; i--) {
		b = &v->blk[i];
		j.i = i;
		phase(&j, b_mlp, j.ngroups, NULL, 0);
		ln_total(&j, b->gln2_w, b->gln2_b);
		/* the MLP's and out_proj's weights beside the heads; their
		 * sums beside in_proj and ln_1 */
		add_prod(&j, j.A, b->ha, b->gfc2_w, b->gfc2_b, D, v->M);
		add_prod(&j, v->dh, b->ln2, b->gfc1_w, b->gfc1_b, v->M, D);
		add_prod(&j, j.B, b->ao, b->gproj_w, b->gproj_b, D, D);
		phase(&j, b_slice, KS * j.nprod, b_attention, N * v->heads);
		phase(&j, b_sum, nchunks(&j), b_attn_in, j.ngroups);
		j.nprod = 0;
		ln_total(&j, b->gln1_w, b->gln1_b);
		add_prod(&j, v->dqkv, b->ln1, b->gqkv_w, b->gqkv_b, 3 * D, D);
		products(&j, NULL, 0);
	}
	mm_tokens_backward(v->gcls, v->gconv_b, v->gpos, v->dx, N, T, D);
	/* conv_proj.weight (D, C P P) += dx^T cols; the class rows of cols
	 * are zero and add nothing */
	add_prod(&j, v->dx, v->cols, v->gconv_w, NULL, D, v->cpp);
	products(&j, NULL, 0);
}

void
mm_vit_backward(struct mm_vit *v, const float *dy)
{
	int saved = blas_one();

	backward(v, dy);
	blas_restore(saved);
}

double
mm_vit_flops(const struct mm_vit *v)
{
	double T = v->T, D = v->D, M = v->M, f;

	f = 2 * (T - 1) * v->cpp * D;
	f += v->cfg.depth * (2 * T * D * 3 * D + 2 * 2 * T * T * D +
	    2 * T * D * D + 2 * 2 * T * D * M);
	if (v->head)
		f += 2 * D * v->out_dim;
	return f;
}
