/*
 * encoder.c - the mlp, mlp-flatten and CIFAR ResNet encoders (encoder.h)
 * assembled from the layers of nn.h.
 *
 * An encoder is built in two passes over the same description: the first
 * counts parameters, buffers and activations, the second carves the
 * allocated blocks into named pointers, so parameters, gradients, buffers
 * and activations each live in one contiguous allocation.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "encoder.h"
#include "err.h"
#include "nn.h"

enum { K_MLP, K_RESNET };
#define NAMELEN 48
#define SPECLEN 256
#define MAXHIDDEN 64

/* A Linear layer, optionally followed by BatchNorm1d + ReLU (mlp). */
struct dense {
	int Din, Dout, bn;
	float *w, *b, *dw, *db;                /* (Dout, Din), (Dout) */
	float *gamma, *beta, *dgamma, *dbeta;  /* (Dout) */
	float *rmean, *rvar, *mean, *rstd;     /* (Dout) */
	float *pre, *post;                     /* (B, Dout) */
	int tlin, tbn;                         /* timer rows */
};

/* conv3x3 + BatchNorm2d (ResNet); input (B, H, W, Cin) NHWC. */
struct unit {
	int Cin, Cout, stride, H, W, Ho, Wo;
	float *w, *dw;                         /* (Cout, Cin, 3, 3) */
	float *gamma, *beta, *dgamma, *dbeta;  /* (Cout) */
	float *rmean, *rvar, *mean, *rstd;     /* (Cout) */
	float *pre, *post;                     /* (B, Ho, Wo, Cout) */
	int tconv, tbn;
};

struct mm_encoder {
	int kind;
	char spec[SPECLEN];
	int C, H, W, din, out_dim, max_batch;
	int nhidden, hidden[MAXHIDDEN];        /* mlp */
	int depth, nblocks;                    /* resnet: 6 nblocks + 2 */

	/* building */
	int pass;
	size_t nparams, nbufs, nacts;
	float *params, *grads, *bufs, *acts;
	int nviews;
	struct mm_tensor_view *views;
	char (*names)[NAMELEN];
	int ntimers;
	char (*tnames)[NAMELEN];
	const char **tptr;
	double *tf, *tb;

	/* mlp: nhidden blocks then the output layer; resnet: the output
	 * layer only (dense[0]) */
	int ndense;
	struct dense *dense;
	/* resnet: stem unit then two per block */
	int nunits;
	struct unit *units;
	int tin, tpool;
	float *xin;            /* (B, Din) copy (mlp), (B, H, W, C) (resnet) */
	float *pooled, *dpooled; /* (B, 64) */
	float *out;            /* (B, out_dim) */
	float *g[4];           /* gradient work buffers, gsize floats each */
	size_t gsize;
	float *scratch;        /* conv scratch */
	size_t nscratch;
	int lastN, last_train;
};

/* ---- building ---- */

/* Register a parameter (is_param 1) or buffer tensor; returns its storage
 * (NULL in the counting pass) and its gradient through *grad. */
static float *
reg(struct mm_encoder *e, float **grad, int is_param, int ndim,
    int64_t d0, int64_t d1, int64_t d2, int64_t d3, const char *fmt, ...)
{
	int64_t shape[4] = { d0, d1, d2, d3 }, count = 1;
	struct mm_tensor_view *v;
	float *p = NULL;
	va_list ap;
	int i;

	for (i = 0; i < ndim; i++)
		count *= shape[i];
	if (e->pass == 1) {
		v = &e->views[e->nviews];
		va_start(ap, fmt);
		vsnprintf(e->names[e->nviews], NAMELEN, fmt, ap);
		va_end(ap);
		v->name = e->names[e->nviews];
		v->ndim = ndim;
		for (i = 0; i < 4; i++)
			v->shape[i] = i < ndim ? shape[i] : 0;
		v->count = count;
		v->is_param = is_param;
		if (is_param) {
			p = e->params + e->nparams;
			if (grad)
				*grad = e->grads + e->nparams;
		} else {
			p = e->bufs + e->nbufs;
		}
		v->data = p;
	}
	if (is_param)
		e->nparams += count;
	else
		e->nbufs += count;
	e->nviews++;
	return p;
}

static float *
act(struct mm_encoder *e, size_t count)
{
	float *p = e->pass == 1 ? e->acts + e->nacts : NULL;

	/* keep every buffer 64-byte aligned */
	e->nacts += (count + 15) & ~(size_t)15;
	return p;
}

static int
timer(struct mm_encoder *e, const char *name)
{
	if (e->pass == 1)
		snprintf(e->tnames[e->ntimers], NAMELEN, "%s", name);
	return e->ntimers++;
}

static void
need_g(struct mm_encoder *e, size_t n)
{
	if (n > e->gsize)
		e->gsize = n;
}

static void
build_dense(struct mm_encoder *e, struct dense *d, int Din, int Dout,
    int bn, const char *lin, const char *bnname)
{
	size_t B = e->max_batch;

	d->Din = Din;
	d->Dout = Dout;
	d->bn = bn;
	d->w = reg(e, &d->dw, 1, 2, Dout, Din, 0, 0, "%s.weight", lin);
	d->b = reg(e, &d->db, 1, 1, Dout, 0, 0, 0, "%s.bias", lin);
	d->tlin = timer(e, lin);
	d->pre = act(e, B * Dout);
	need_g(e, B * Dout);
	if (!bn)
		return;
	d->gamma = reg(e, &d->dgamma, 1, 1, Dout, 0, 0, 0, "%s.weight", bnname);
	d->beta = reg(e, &d->dbeta, 1, 1, Dout, 0, 0, 0, "%s.bias", bnname);
	d->rmean = reg(e, NULL, 0, 1, Dout, 0, 0, 0, "%s.running_mean", bnname);
	d->rvar = reg(e, NULL, 0, 1, Dout, 0, 0, 0, "%s.running_var", bnname);
	d->tbn = timer(e, bnname);
	d->mean = act(e, Dout);
	d->rstd = act(e, Dout);
	d->post = act(e, B * Dout);
}

static void
build_unit(struct mm_encoder *e, struct unit *u, int Cin, int Cout,
    int stride, int H, int W, const char *conv, const char *bn)
{
	size_t B = e->max_batch, n, s;

	u->Cin = Cin;
	u->Cout = Cout;
	u->stride = stride;
	u->H = H;
	u->W = W;
	u->Ho = (H - 1) / stride + 1;
	u->Wo = (W - 1) / stride + 1;
	u->w = reg(e, &u->dw, 1, 4, Cout, Cin, 3, 3, "%s.weight", conv);
	u->tconv = timer(e, conv);
	u->gamma = reg(e, &u->dgamma, 1, 1, Cout, 0, 0, 0, "%s.weight", bn);
	u->beta = reg(e, &u->dbeta, 1, 1, Cout, 0, 0, 0, "%s.bias", bn);
	u->rmean = reg(e, NULL, 0, 1, Cout, 0, 0, 0, "%s.running_mean", bn);
	u->rvar = reg(e, NULL, 0, 1, Cout, 0, 0, 0, "%s.running_var", bn);
	u->tbn = timer(e, bn);
	u->mean = act(e, Cout);
	u->rstd = act(e, Cout);
	n = B * u->Ho * u->Wo * Cout;
	u->pre = act(e, n);
	u->post = act(e, n);
	need_g(e, n);
	need_g(e, B * H * W * Cin);
	s = mm_conv3x3_scratch(Cin, Cout);
	if (s > e->nscratch)
		e->nscratch = s;
}

/* One pass over the architecture (see the file comment). */
static void
build(struct mm_encoder *e)
{
	char a[NAMELEN], b[NAMELEN];
	int i, j, s, H, W, Cin, Cout, stride, u;
	size_t B = e->max_batch;

	e->nparams = e->nbufs = e->nacts = 0;
	e->nviews = e->ntimers = 0;
	e->gsize = e->nscratch = 0;
	if (e->kind == K_MLP) {
		int Din = e->din;
		e->xin = act(e, B * e->din);
		for (i = 0; i < e->nhidden; i++) {
			snprintf(a, sizeof a, "net.%d", 3 * i);
			snprintf(b, sizeof b, "net.%d", 3 * i + 1);
			build_dense(e, &e->dense[i], Din, e->hidden[i], 1, a, b);
			Din = e->hidden[i];
		}
		snprintf(a, sizeof a, "net.%d", 3 * e->nhidden);
		build_dense(e, &e->dense[i], Din, e->out_dim, 0, a, NULL);
		e->out = e->dense[i].pre;
	} else {
		e->tin = timer(e, "input");
		e->xin = act(e, B * e->C * e->H * e->W);
		H = e->H;
		W = e->W;
		build_unit(e, &e->units[0], e->C, 16, 1, H, W, "conv1", "bn1");
		u = 1;
		Cin = 16;
		for (s = 0; s < 3; s++) {
			Cout = 16 << s;
			for (j = 0; j < e->nblocks; j++) {
				stride = s > 0 && j == 0 ? 2 : 1;
				snprintf(a, sizeof a, "layer%d.%d.conv1", s + 1, j);
				snprintf(b, sizeof b, "layer%d.%d.bn1", s + 1, j);
				build_unit(e, &e->units[u], Cin, Cout, stride, H,
				    W, a, b);
				H = e->units[u].Ho;
				W = e->units[u].Wo;
				u++;
				snprintf(a, sizeof a, "layer%d.%d.conv2", s + 1, j);
				snprintf(b, sizeof b, "layer%d.%d.bn2", s + 1, j);
				build_unit(e, &e->units[u], Cout, Cout, 1, H, W,
				    a, b);
				u++;
				Cin = Cout;
			}
		}
		e->tpool = timer(e, "avgpool");
		e->pooled = act(e, B * 64);
		e->dpooled = act(e, B * 64);
		build_dense(e, &e->dense[0], 64, e->out_dim, 0, "linear", NULL);
		e->out = e->dense[0].pre;
	}
	for (i = 0; i < 4; i++)
		e->g[i] = act(e, e->gsize);
	e->scratch = act(e, e->nscratch);
}

/* ---- spec ---- */

static int
parse_int(const char **s, int *v)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(*s, &end, 10);
	if (end == *s || errno || x < 1 || x > 1 << 20)
		return -1;
	*v = (int)x;
	*s = end;
	return 0;
}

static int
parse_spec(struct mm_encoder *e, const char *spec, int out_dim)
{
	const char *s = spec;
	size_t len;

	if (!strncmp(s, "mlp-flatten", 11) || !strncmp(s, "mlp", 3)) {
		len = !strncmp(s, "mlp-flatten", 11) ? 11 : 3;
		e->kind = K_MLP;
		s += len;
		e->nhidden = 0;
		if (*s == ':') {
			s++;
			while (*s && *s != '/') {
				if (e->nhidden == MAXHIDDEN)
					return mm_err(MM_EINVAL, "encoder "
					    "\"%s\": more than %d hidden "
					    "layers", spec, MAXHIDDEN);
				if (parse_int(&s, &e->hidden[e->nhidden++]))
					return mm_err(MM_EINVAL, "encoder "
					    "\"%s\": bad hidden size", spec);
				if (*s == ',')
					s++;
				else if (*s && *s != '/')
					return mm_err(MM_EINVAL, "encoder "
					    "\"%s\": expected ',' or '/'", spec);
			}
		}
		snprintf(e->spec, SPECLEN, "%.*s:", (int)len, spec);
	} else if (!strncmp(s, "resnet", 6)) {
		e->kind = K_RESNET;
		s += 6;
		if (parse_int(&s, &e->depth) || e->depth < 8 ||
		    (e->depth - 2) % 6)
			return mm_err(MM_EINVAL, "encoder \"%s\": depth must "
			    "be 6n+2 (20, 32, 44, 56, 110, ...)", spec);
		e->nblocks = (e->depth - 2) / 6;
		snprintf(e->spec, SPECLEN, "resnet%d", e->depth);
	} else {
		return mm_err(MM_EINVAL, "unknown encoder \"%s\" (mlp:..., "
		    "mlp-flatten:..., resnetN)", spec);
	}
	e->out_dim = out_dim;
	if (*s == '/') {
		s++;
		if (parse_int(&s, &e->out_dim))
			return mm_err(MM_EINVAL, "encoder \"%s\": bad output "
			    "size", spec);
	}
	if (*s)
		return mm_err(MM_EINVAL, "encoder \"%s\": trailing \"%s\"",
		    spec, s);
	if (e->out_dim < 1)
		return mm_err(MM_EINVAL, "encoder \"%s\": output size not "
		    "given", spec);
	return 0;
}

static void
canonical(struct mm_encoder *e)
{
	size_t n = strlen(e->spec);
	int i;

	for (i = 0; e->kind == K_MLP && i < e->nhidden; i++)
		n += snprintf(e->spec + n, SPECLEN - n, "%s%d", i ? "," : "",
		    e->hidden[i]);
	snprintf(e->spec + n, SPECLEN - n, "/%d", e->out_dim);
}

/* ---- public ---- */

int
mm_encoder_create(struct mm_encoder **ep, const char *spec, int C, int H,
    int W, int out_dim, int max_batch)
{
	struct mm_encoder *e;
	int rc;

	*ep = NULL;
	if (C < 1 || H < 1 || W < 1 || max_batch < 1 ||
	    (double)C * H * W > INT_MAX / 16)
		return mm_err(MM_EINVAL, "encoder input %dx%dx%d, batch %d: "
		    "bad size", C, H, W, max_batch);
	e = calloc(1, sizeof *e);
	if (!e)
		return mm_err(MM_ENOMEM, "encoder: out of memory");
	if ((rc = parse_spec(e, spec, out_dim)) < 0) {
		free(e);
		return rc;
	}
	canonical(e);
	e->C = C;
	e->H = H;
	e->W = W;
	e->din = C * H * W;
	e->max_batch = max_batch;
	if (e->kind == K_MLP) {
		e->ndense = e->nhidden + 1;
	} else {
		e->ndense = 1;
		e->nunits = 1 + 6 * e->nblocks;
	}
	e->dense = calloc(e->ndense, sizeof *e->dense);
	e->units = e->nunits ? calloc(e->nunits, sizeof *e->units) : NULL;
	if (!e->dense || (e->nunits && !e->units))
		goto nomem;
	e->pass = 0;
	build(e);
	e->views = calloc(e->nviews, sizeof *e->views);
	e->names = calloc(e->nviews, sizeof *e->names);
	e->tnames = calloc(e->ntimers, sizeof *e->tnames);
	e->tptr = calloc(e->ntimers, sizeof *e->tptr);
	e->tf = calloc(e->ntimers, sizeof *e->tf);
	e->tb = calloc(e->ntimers, sizeof *e->tb);
	e->params = calloc(e->nparams, sizeof *e->params);
	e->grads = calloc(e->nparams, sizeof *e->grads);
	e->bufs = calloc(e->nbufs ? e->nbufs : 1, sizeof *e->bufs);
	if (posix_memalign((void **)&e->acts, 64, e->nacts * sizeof(float)))
		e->acts = NULL;
	if (!e->views || !e->names || !e->tnames || !e->tptr || !e->tf ||
	    !e->tb || !e->params || !e->grads || !e->bufs || !e->acts)
		goto nomem;
	memset(e->acts, 0, e->nacts * sizeof(float));
	e->pass = 1;
	build(e);
	for (int i = 0; i < e->ntimers; i++)
		e->tptr[i] = e->tnames[i];
	*ep = e;
	return 0;
nomem:
	mm_encoder_free(e);
	return mm_err(MM_ENOMEM, "encoder %s for batch %d: out of memory",
	    spec, max_batch);
}

void
mm_encoder_free(struct mm_encoder *e)
{
	if (!e)
		return;
	free(e->views);
	free(e->names);
	free(e->tnames);
	free(e->tptr);
	free(e->tf);
	free(e->tb);
	free(e->params);
	free(e->grads);
	free(e->bufs);
	free(e->acts);
	free(e->dense);
	free(e->units);
	free(e);
}

static void
fill_uniform(float *p, int64_t n, float bound, struct mm_rng *rng)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = (2 * mm_rng_float(rng) - 1) * bound;
}

static void
fill_normal(float *p, int64_t n, float std, struct mm_rng *rng)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = (float)(mm_rng_normal(rng) * std);
}

static void
fill(float *p, int64_t n, float v)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = v;
}

/* PyTorch's defaults: Linear weight kaiming_uniform_(a = sqrt 5), i.e.
 * U(+-1/sqrt(fan_in)), bias U(+-1/sqrt(fan_in)); the ResNet draws conv and
 * linear weights from kaiming_normal_ (fan_in, gain sqrt 2), as the CIFAR
 * ResNet reference code does; BatchNorm weight 1, bias 0, running mean 0,
 * running variance 1.  Tensors are drawn in state_dict order. */
void
mm_encoder_init(struct mm_encoder *e, struct mm_rng *rng)
{
	struct mm_tensor_view *v;
	const char *suf;
	int i, fan_in;

	for (i = 0; i < e->nviews; i++) {
		v = &e->views[i];
		suf = strrchr(v->name, '.') + 1;
		fan_in = v->ndim >= 2 ? (int)(v->count / v->shape[0]) : 0;
		if (!strcmp(suf, "running_mean")) {
			fill(v->data, v->count, 0);
		} else if (!strcmp(suf, "running_var")) {
			fill(v->data, v->count, 1);
		} else if (v->ndim >= 2) {
			if (e->kind == K_RESNET)
				fill_normal(v->data, v->count,
				    (float)sqrt(2.0 / fan_in), rng);
			else
				fill_uniform(v->data, v->count,
				    (float)(1 / sqrt((double)fan_in)), rng);
		} else if (i > 0 && v->ndim == 1 &&
		    e->views[i - 1].ndim == 2 && !strcmp(suf, "bias")) {
			/* Linear bias: U(+-1/sqrt(fan_in)) */
			fan_in = (int)e->views[i - 1].shape[1];
			fill_uniform(v->data, v->count,
			    (float)(1 / sqrt((double)fan_in)), rng);
		} else if (!strcmp(suf, "weight")) {
			fill(v->data, v->count, 1);        /* BN gamma */
		} else {
			fill(v->data, v->count, 0);        /* BN beta */
		}
	}
}

int
mm_encoder_out_dim(const struct mm_encoder *e)
{
	return e->out_dim;
}

int
mm_encoder_max_batch(const struct mm_encoder *e)
{
	return e->max_batch;
}

const char *
mm_encoder_spec(const struct mm_encoder *e)
{
	return e->spec;
}

size_t
mm_encoder_nparams(const struct mm_encoder *e)
{
	return e->nparams;
}

float *
mm_encoder_params(struct mm_encoder *e)
{
	return e->params;
}

float *
mm_encoder_grads(struct mm_encoder *e)
{
	return e->grads;
}

void
mm_encoder_zero_grad(struct mm_encoder *e)
{
	memset(e->grads, 0, e->nparams * sizeof *e->grads);
}

int
mm_encoder_tensors(struct mm_encoder *e, struct mm_tensor_view **v)
{
	*v = e->views;
	return e->nviews;
}

double
mm_encoder_flops(const struct mm_encoder *e)
{
	double f = 0;
	int i;

	for (i = 0; i < e->ndense; i++)
		f += 2.0 * e->dense[i].Din * e->dense[i].Dout;
	for (i = 0; i < e->nunits; i++) {
		const struct unit *u = &e->units[i];
		f += 2.0 * u->Ho * u->Wo * u->Cout * 9.0 * u->Cin;
	}
	return f;
}

int
mm_encoder_times(const struct mm_encoder *e, const char **names,
    double *fwd, double *bwd, int cap)
{
	int i;

	for (i = 0; i < e->ntimers && i < cap; i++) {
		if (names)
			names[i] = e->tptr[i];
		if (fwd)
			fwd[i] = e->tf[i];
		if (bwd)
			bwd[i] = e->tb[i];
	}
	return e->ntimers;
}

void
mm_encoder_times_reset(struct mm_encoder *e)
{
	memset(e->tf, 0, e->ntimers * sizeof *e->tf);
	memset(e->tb, 0, e->ntimers * sizeof *e->tb);
}

/* ---- forward ---- */

static void
zero(float *p, size_t n)
{
	memset(p, 0, n * sizeof *p);
}

static void
dense_forward(struct mm_encoder *e, struct dense *d, const float *x, int N,
    int train)
{
	double t = mm_now(), t2;

	mm_linear_forward(d->pre, x, d->w, d->b, N, d->Din, d->Dout);
	t2 = mm_now();
	e->tf[d->tlin] += t2 - t;
	if (!d->bn)
		return;
	mm_batchnorm_forward(d->post, d->mean, d->rstd, d->pre, d->gamma,
	    d->beta, d->rmean, d->rvar, N, d->Dout, train, 1);
	e->tf[d->tbn] += mm_now() - t2;
}

static void
unit_conv(struct mm_encoder *e, struct unit *u, const float *x, int N)
{
	double t = mm_now();

	mm_conv3x3_forward(u->pre, x, u->w, N, u->H, u->W, u->Cin, u->Cout,
	    u->stride, e->scratch);
	e->tf[u->tconv] += mm_now() - t;
}

static const float *
resnet_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	struct unit *u1, *u2;
	const float *in;
	double t = mm_now();
	size_t M;
	int b;

	mm_nchw_to_nhwc(e->xin, x, N, e->C, e->H * e->W);
	e->tf[e->tin] += mm_now() - t;
	u1 = &e->units[0];
	unit_conv(e, u1, e->xin, N);
	t = mm_now();
	mm_batchnorm_forward(u1->post, u1->mean, u1->rstd, u1->pre, u1->gamma,
	    u1->beta, u1->rmean, u1->rvar, (size_t)N * u1->Ho * u1->Wo,
	    u1->Cout, train, 1);
	e->tf[u1->tbn] += mm_now() - t;
	in = u1->post;
	for (b = 0; b < 3 * e->nblocks; b++) {
		u1 = &e->units[1 + 2 * b];
		u2 = u1 + 1;
		unit_conv(e, u1, in, N);
		t = mm_now();
		M = (size_t)N * u1->Ho * u1->Wo;
		mm_batchnorm_forward(u1->post, u1->mean, u1->rstd, u1->pre,
		    u1->gamma, u1->beta, u1->rmean, u1->rvar, M, u1->Cout,
		    train, 1);
		e->tf[u1->tbn] += mm_now() - t;
		unit_conv(e, u2, u1->post, N);
		t = mm_now();
		mm_batchnorm_forward(u2->post, u2->mean, u2->rstd, u2->pre,
		    u2->gamma, u2->beta, u2->rmean, u2->rvar, M, u2->Cout,
		    train, 0);
		mm_shortcut_forward(u2->post, in, N, u1->H, u1->W, u1->Cin,
		    u1->Cout, u1->stride);
		mm_relu_forward(u2->post, u2->post, M * u2->Cout);
		e->tf[u2->tbn] += mm_now() - t;
		in = u2->post;
	}
	t = mm_now();
	u2 = &e->units[e->nunits - 1];
	mm_avgpool_forward(e->pooled, in, N, u2->Ho * u2->Wo, u2->Cout);
	e->tf[e->tpool] += mm_now() - t;
	dense_forward(e, &e->dense[0], e->pooled, N, train);
	return e->out;
}

const float *
mm_encoder_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	const float *in;
	int i;

	if (N < 1 || N > e->max_batch) {
		mm_err(MM_EINVAL, "encoder forward: batch of %d rows (1..%d)",
		    N, e->max_batch);
		return NULL;
	}
	e->lastN = N;
	e->last_train = train;
	if (e->kind == K_RESNET)
		return resnet_forward(e, x, N, train);
	/* keep the input for the first layer's weight gradient */
	memcpy(e->xin, x, (size_t)N * e->din * sizeof *x);
	in = e->xin;
	for (i = 0; i < e->ndense; i++) {
		dense_forward(e, &e->dense[i], in, N, train);
		in = e->dense[i].bn ? e->dense[i].post : e->dense[i].pre;
	}
	return e->out;
}

/* ---- backward ---- */

static void
dense_backward(struct mm_encoder *e, struct dense *d, float *dx,
    const float *x, const float *dy, int N)
{
	double t = mm_now();

	mm_linear_backward(dx, d->dw, d->db, dy, x, d->w, N, d->Din, d->Dout);
	e->tb[d->tlin] += mm_now() - t;
}

/* dx += backward of bn(conv(x)) given d(bn output) dy, masked by the
 * fused ReLU when relu; tmp holds the BatchNorm input gradient. */
static void
unit_backward(struct mm_encoder *e, struct unit *u, float *dx,
    const float *x, const float *dy, int relu, float *tmp, int N)
{
	size_t M = (size_t)N * u->Ho * u->Wo;
	double t = mm_now(), t2;

	zero(tmp, M * u->Cout);
	mm_batchnorm_backward(tmp, u->dgamma, u->dbeta, dy,
	    relu ? u->post : NULL, u->pre, u->mean, u->rstd, u->gamma, M,
	    u->Cout);
	t2 = mm_now();
	e->tb[u->tbn] += t2 - t;
	mm_conv3x3_backward(dx, u->dw, tmp, x, u->w, N, u->H, u->W, u->Cin,
	    u->Cout, u->stride, e->scratch);
	e->tb[u->tconv] += mm_now() - t2;
}

static void
resnet_backward(struct mm_encoder *e, const float *dy)
{
	struct unit *u1, *u2;
	float *G = e->g[0], *DX = e->g[1], *DH = e->g[2], *T = e->g[3], *sw;
	const float *in;
	size_t n;
	int N = e->lastN, b;
	double t;

	zero(e->dpooled, (size_t)N * 64);
	dense_backward(e, &e->dense[0], e->dpooled, e->pooled, dy, N);
	t = mm_now();
	u2 = &e->units[e->nunits - 1];
	n = (size_t)N * u2->Ho * u2->Wo * u2->Cout;
	zero(G, n);
	mm_avgpool_backward(G, e->dpooled, N, u2->Ho * u2->Wo, u2->Cout);
	e->tb[e->tpool] += mm_now() - t;
	for (b = 3 * e->nblocks - 1; b >= 0; b--) {
		u1 = &e->units[1 + 2 * b];
		u2 = u1 + 1;
		in = b ? e->units[2 * b].post : e->units[0].post;
		t = mm_now();
		/* G: gradient of the block output; mask by its ReLU */
		n = (size_t)N * u2->Ho * u2->Wo * u2->Cout;
		mm_relu_mask(G, u2->post, n);
		zero(DX, (size_t)N * u1->H * u1->W * u1->Cin);
		mm_shortcut_backward(DX, G, N, u1->H, u1->W, u1->Cin,
		    u1->Cout, u1->stride);
		e->tb[u2->tbn] += mm_now() - t;
		zero(DH, n);
		unit_backward(e, u2, DH, u1->post, G, 0, T, N);
		unit_backward(e, u1, DX, in, DH, 1, T, N);
		sw = G;
		G = DX;
		DX = sw;
	}
	unit_backward(e, &e->units[0], NULL, e->xin, G, 1, T, N);
}

void
mm_encoder_backward(struct mm_encoder *e, const float *dy)
{
	struct dense *d;
	float *dpost, *dpre;
	int N = e->lastN, i;
	double t;

	if (!e->last_train || N < 1)
		return;
	if (e->kind == K_RESNET) {
		resnet_backward(e, dy);
		return;
	}
	/* g[0], g[1] alternate as the gradient of a block output; g[2] is
	 * the gradient of a Linear output before its BatchNorm */
	dpost = e->g[0];
	dpre = e->g[2];
	for (i = e->ndense - 1; i >= 0; i--) {
		d = &e->dense[i];
		const float *x = i ? e->dense[i - 1].post : e->xin;
		const float *g = dy;
		if (d->bn) {
			t = mm_now();
			zero(dpre, (size_t)N * d->Dout);
			mm_batchnorm_backward(dpre, d->dgamma, d->dbeta, dpost,
			    d->post, d->pre, d->mean, d->rstd, d->gamma, N,
			    d->Dout);
			e->tb[d->tbn] += mm_now() - t;
			g = dpre;
		}
		dpost = dpost == e->g[0] ? e->g[1] : e->g[0];
		if (i)
			zero(dpost, (size_t)N * d->Din);
		dense_backward(e, d, i ? dpost : NULL, x, g, N);
	}
}
