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
#include <pthread.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

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
	float *scratch;        /* conv scratch, nscratch floats per thread */
	size_t nscratch;
	int lastN, last_train;

	/* resnet parallelism: the batch is cut into NSLICE slices of whole
	 * samples, taken in turn by T threads; sums
	 * over the batch (BatchNorm statistics, weight gradients) are kept
	 * per slice and added in slice order, so results do not depend on
	 * T or on timing */
	int T, blas_saved;
	struct pool *pool;
	double *bsum;          /* (NSLICE, 2, 64) BatchNorm sums */
	float *dwsl;           /* (NSLICE, maxw) conv weight gradients */
	size_t maxw;
	float coef[3 * 64];    /* BatchNorm backward coefficients */
	float *wt;             /* (maxw) the phase's conv weights rearranged */
};

#define NSLICE 16

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
	s = mm_conv3x3_scratch(H, W, Cin, Cout);
	if (s > e->nscratch)
		e->nscratch = s;
	if ((size_t)Cout * Cin * 9 > e->maxw)
		e->maxw = (size_t)Cout * Cin * 9;
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
	e->gsize = e->nscratch = e->maxw = 0;
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
	e->scratch = act(e, e->nscratch * e->T);
	if (e->kind == K_RESNET) {
		e->dwsl = act(e, NSLICE * e->maxw);
		e->wt = act(e, e->maxw);
	}
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

/* ---- thread pool (ResNet) ----
 * T - 1 persistent workers plus the calling thread run one function per
 * phase; the caller waits for all of them.  Phases last milliseconds, so
 * a mutex and two condition variables are cheap enough. */

struct job;
typedef void (*job_fn)(struct mm_encoder *, struct job *, int tid);

struct pool {
	struct mm_encoder *e;
	int T, quit, pending;
	unsigned gen;
	job_fn fn;
	struct job *job;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	pthread_t th[];
};

struct worker_arg {
	struct pool *p;
	int tid;
};

static void *
worker(void *arg)
{
	struct pool *p = ((struct worker_arg *)arg)->p;
	int tid = ((struct worker_arg *)arg)->tid;
	unsigned seen = 0;

	free(arg);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->gen == seen && !p->quit)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		p->fn(p->e, p->job, tid);
		pthread_mutex_lock(&p->mu);
		if (--p->pending == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void
pool_free(struct pool *p, int started)
{
	int i;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < started; i++)
		pthread_join(p->th[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p);
}

/* T threads in all (T - 1 started here); NULL when T < 2 or on failure
 * (then everything runs on the calling thread). */
static struct pool *
pool_new(struct mm_encoder *e, int T)
{
	struct pool *p;
	struct worker_arg *a;
	int i;

	if (T < 2 || !(p = calloc(1, sizeof *p + (T - 1) * sizeof(pthread_t))))
		return NULL;
	p->e = e;
	p->T = T;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	for (i = 0; i < T - 1; i++) {
		if (!(a = malloc(sizeof *a)))
			break;
		a->p = p;
		a->tid = i + 1;
		if (pthread_create(&p->th[i], NULL, worker, a)) {
			free(a);
			break;
		}
	}
	if (i < T - 1) {
		pool_free(p, i);
		return NULL;
	}
	return p;
}

static void
pool_run(struct mm_encoder *e, job_fn fn, struct job *job)
{
	struct pool *p = e->pool;

	if (!p) {
		fn(e, job, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->job = job;
	p->pending = p->T - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	fn(e, job, 0);
	pthread_mutex_lock(&p->mu);
	while (p->pending)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
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
	/* the ResNet spreads slices over its own threads, as many as
	 * the BLAS was given (mm_blas_threads()), each calling a
	 * one-thread sgemm */
	e->T = 1;
	mm_nn_simd(-1);         /* detect the CPU before threads start */
	if (e->kind == K_RESNET) {
		e->T = openblas_get_num_threads();
		e->T = e->T < 1 ? 1 : e->T > NSLICE ? NSLICE : e->T;
	}
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
	if (e->kind == K_RESNET) {
		e->bsum = calloc(NSLICE * 2 * 64, sizeof *e->bsum);
		if (!e->bsum)
			goto nomem;
		e->pool = pool_new(e, e->T);
		if (!e->pool)
			e->T = 1;
	}
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
	pool_free(e->pool, e->pool ? e->pool->T - 1 : 0);
	free(e->bsum);
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

/* ---- ResNet, slice-parallel (see struct mm_encoder) ---- */

enum {
	F_IN, F_CONV, F_APPLY, F_POOL,
	B_POOL, B_TOP, B_GSUM, B_CONV
};

/* One phase: an operation on every slice of the batch. */
struct job {
	int op, N, train;
	const float *x;        /* F_IN: the input (N, C, H, W) */
	struct unit *u;        /* the unit of the phase */
	const float *in;       /* its input (N, H, W, Cin) */
	struct unit *blk;      /* F_APPLY, B_TOP: the block's first unit
	                        * (shortcut geometry) when u ends a block */
	const float *res;      /* F_APPLY: the block input (shortcut) */
	float *dy;             /* B_*: gradient of u's output */
	int relu;              /* ... before u's fused ReLU */
	float *dx;             /* B_CONV: input gradient (N, H, W, Cin) or NULL */
	int dx_add;            /* ... added to (1) or overwritten (0) */
	struct unit *next;     /* B_CONV: then the sums of this unit's
	                        * backward, with dy = dx (ReLU fused) */
	double tconv, tbn;     /* thread 0's own time in each part */
	int next_slice;        /* the next slice to take */
};

static size_t
opix(const struct unit *u)      /* output floats per sample */
{
	return (size_t)u->Ho * u->Wo * u->Cout;
}

static size_t
ipix(const struct unit *u)      /* input floats per sample */
{
	return (size_t)u->H * u->W * u->Cin;
}

/* Slice s of phase j on thread tid; returns the time spent in the
 * BatchNorm parts (for the per-layer table). */
static double
slice_work(struct mm_encoder *e, struct job *j, int s, int tid)
{
	int n0 = (int)((long)j->N * s / NSLICE);
	int n1 = (int)((long)j->N * (s + 1) / NSLICE), n = n1 - n0;
	struct unit *u = j->u, *b = j->blk;
	double *s1 = e->bsum + (size_t)s * 128, *s2 = s1 + 64;
	float *scr = e->scratch + tid * e->nscratch, *T = e->g[3];
	float *dw = e->dwsl + s * e->maxw;
	size_t o = u ? n0 * opix(u) : 0, i = u ? n0 * ipix(u) : 0;
	size_t M = u ? (size_t)n * u->Ho * u->Wo : 0, k, len;
	double t = 0, cnt;

	switch (j->op) {
	case F_IN:
		k = (size_t)e->C * e->H * e->W;
		mm_nchw_to_nhwc(e->xin + n0 * k, j->x + n0 * k, n, e->C,
		    e->H * e->W);
		break;
	case F_CONV:
		if (!j->train) {
			mm_conv3x3_forward(u->pre + o, j->in + i, u->w, n,
			    u->H, u->W, u->Cin, u->Cout, u->stride, scr);
			break;
		}
		/* with the BatchNorm statistics of the slice: s1 (2, Cout) */
		memset(s1, 0, 128 * sizeof *s1);
		cnt = 0;
		mm_conv3x3_forward_stats(u->pre + o, s1, &cnt, j->in + i,
		    u->w, e->wt, n, u->H, u->W, u->Cin, u->Cout, u->stride,
		    scr);
		break;
	case F_APPLY:
		if (!b || (b->stride == 1 && b->Cin == b->Cout)) {
			mm_bn_apply(u->post + o, u->pre + o, b ? j->res + o :
			    NULL, u->mean, u->rstd, u->gamma, u->beta, M,
			    u->Cout, 1);
			break;
		}
		mm_bn_apply(u->post + o, u->pre + o, NULL, u->mean, u->rstd,
		    u->gamma, u->beta, M, u->Cout, 0);
		mm_shortcut_forward(u->post + o, j->res + n0 * ipix(b), n,
		    b->H, b->W, b->Cin, b->Cout, b->stride);
		mm_relu_forward(u->post + o, u->post + o, M * u->Cout);
		break;
	case F_POOL:
		mm_avgpool_forward(e->pooled + (size_t)n0 * u->Cout,
		    j->in + o, n, u->Ho * u->Wo, u->Cout);
		break;
	case B_POOL:
		len = (size_t)n * opix(u);
		memset(j->dy + o, 0, len * sizeof(float));
		mm_avgpool_backward(j->dy + o, e->dpooled +
		    (size_t)n0 * u->Cout, n, u->Ho * u->Wo, u->Cout);
		break;
	case B_TOP:
		/* gradient of the block output, through its ReLU (masked
		 * in place), to the second BatchNorm and the shortcut (dx) */
		len = M * u->Cout;
		mm_bn_grad_sum_mask(s1, s2, j->dy + o, u->post + o, u->pre + o,
		    u->mean, u->rstd, M, u->Cout);
		if (b->stride == 1 && b->Cin == b->Cout) {
			/* identity: dx is dy itself (the caller's buffer
			 * rotation), the first unit's backward adds to it */
			if (j->dx != j->dy)
				memcpy(j->dx + o, j->dy + o,
				    len * sizeof(float));
		} else {
			k = n0 * ipix(b);
			memset(j->dx + k, 0, n * ipix(b) * sizeof(float));
			mm_shortcut_backward(j->dx + k, j->dy + o, n, b->H,
			    b->W, b->Cin, b->Cout, b->stride);
		}
		break;
	case B_GSUM:
		mm_bn_grad_sum(s1, s2, j->dy + o, j->relu ? u->post + o : NULL,
		    u->pre + o, u->mean, u->rstd, M, u->Cout);
		break;
	case B_CONV:
		/* the BatchNorm backward is formed inside, sample by sample
		 * (through T only on the portable path) */
		memset(dw, 0, e->maxw * sizeof *dw);
		mm_conv3x3_backward_bn(j->dx ? j->dx + i : NULL, j->dx_add, dw,
		    j->dy + o, j->relu ? u->post + o : NULL, u->pre + o,
		    e->coef, j->in + i, u->w, j->dx ? e->wt : NULL, n, u->H,
		    u->W, u->Cin, u->Cout, u->stride, scr, T + o);
		if (j->next) {
			struct unit *v = j->next;
			double t2 = mm_now();
			mm_bn_grad_sum(s1, s2, j->dx + i, v->post + i,
			    v->pre + i, v->mean, v->rstd,
			    (size_t)n * v->Ho * v->Wo, v->Cout);
			t += mm_now() - t2;
		}
		break;
	}
	return t;
}

/* Slices are taken in turn from a shared counter, so a thread slowed by
 * other work on its core does fewer of them; a slice's result does not
 * depend on the thread that computes it. */
static int
next_slice(struct mm_encoder *e, struct job *j)
{
	int s;

	if (!e->pool)
		return j->next_slice++;
	pthread_mutex_lock(&e->pool->mu);
	s = j->next_slice++;
	pthread_mutex_unlock(&e->pool->mu);
	return s;
}

static void
run_slices(struct mm_encoder *e, struct job *j, int tid)
{
	double t = mm_now(), tbn = 0;
	int s;

	while ((s = next_slice(e, j)) < NSLICE)
		tbn += slice_work(e, j, s, tid);
	if (tid == 0) {
		j->tbn = tbn;
		j->tconv = mm_now() - t - tbn;
	}
}

/* Run phase op; its wall time goes to timer rows ic and ib (< 0: none)
 * in the proportion of thread 0's own time in each part. */
static void
phase(struct mm_encoder *e, struct job *j, int op, int ic, int ib, int fwd)
{
	double t = mm_now(), w, f;
	double *tm = fwd ? e->tf : e->tb;

	j->op = op;
	j->tconv = j->tbn = 0;
	j->next_slice = 0;
	pool_run(e, run_slices, j);
	w = mm_now() - t;
	f = j->tconv + j->tbn > 0 ? j->tconv / (j->tconv + j->tbn) : 1;
	if (ic < 0)
		f = 0;
	if (ic >= 0)
		tm[ic] += w * f;
	if (ib >= 0)
		tm[ib] += w * (1 - f);
}

/* The per-slice BatchNorm sums added in slice order: t1, t2 (C). */
static void
bn_total(struct mm_encoder *e, double *t1, double *t2, int C)
{
	int s, c;

	for (c = 0; c < C; c++) {
		t1[c] = t2[c] = 0;
		for (s = 0; s < NSLICE; s++) {
			t1[c] += e->bsum[s * 128 + c];
			t2[c] += e->bsum[s * 128 + 64 + c];
		}
	}
}

/* u->dw += the per-slice weight gradients added in slice order. */
static void
dw_total(struct mm_encoder *e, struct unit *u)
{
	size_t n = (size_t)u->Cout * u->Cin * 9, k;
	const float *d = e->dwsl;
	float t;
	int s;

	for (k = 0; k < n; k++) {
		t = d[k];
		for (s = 1; s < NSLICE; s++)
			t += d[s * e->maxw + k];
		u->dw[k] += t;
	}
}

/* bn(conv(in)) (+ shortcut of res when blk), then ReLU */
static void
unit_forward(struct mm_encoder *e, struct job *j, struct unit *u,
    const float *in, struct unit *blk, const float *res)
{
	double st[128], cnt = 0;
	size_t M = (size_t)j->N * u->Ho * u->Wo;
	int s, c;

	j->u = u;
	j->in = in;
	if (j->train)
		mm_conv3x3_weights(e->wt, u->w, u->Cin, u->Cout, 0);
	phase(e, j, F_CONV, u->tconv, u->tbn, 1);
	if (j->train) {
		/* merge the slices' (mean, squared deviations) in order */
		memset(st, 0, sizeof st);
		for (s = 0; s < NSLICE; s++)
			mm_bn_stats_add(st, &cnt, e->bsum + s * 128,
			    (double)((long)j->N * (s + 1) / NSLICE -
			    (long)j->N * s / NSLICE) * u->Ho * u->Wo, u->Cout);
		for (c = 0; c < u->Cout; c++)
			u->mean[c] = (float)st[c];
		mm_bn_var(u->rstd, u->rmean, u->rvar, u->mean, st + u->Cout,
		    M, u->Cout);
	} else {
		mm_bn_eval_stats(u->mean, u->rstd, u->rmean, u->rvar, u->Cout);
	}
	j->blk = blk;
	j->res = res;
	phase(e, j, F_APPLY, -1, u->tbn, 1);
}

/* The one-thread BLAS inside the phases (each thread calls its own);
 * the caller's setting is restored afterwards. */
static void
blas_serial(struct mm_encoder *e, int on)
{
	if (!e->pool)
		return;
	if (on) {
		e->blas_saved = openblas_get_num_threads();
		openblas_set_num_threads(1);
	} else {
		openblas_set_num_threads(e->blas_saved);
	}
}

static const float *
resnet_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	struct unit *u1, *u2;
	struct job j;
	const float *in;
	int b;

	blas_serial(e, 1);
	memset(&j, 0, sizeof j);
	j.N = N;
	j.train = train;
	j.x = x;
	phase(e, &j, F_IN, e->tin, -1, 1);
	unit_forward(e, &j, &e->units[0], e->xin, NULL, NULL);
	in = e->units[0].post;
	for (b = 0; b < 3 * e->nblocks; b++) {
		u1 = &e->units[1 + 2 * b];
		u2 = u1 + 1;
		unit_forward(e, &j, u1, in, NULL, NULL);
		unit_forward(e, &j, u2, u1->post, u1, in);
		in = u2->post;
	}
	j.u = &e->units[e->nunits - 1];
	j.in = in;
	phase(e, &j, F_POOL, e->tpool, -1, 1);
	dense_forward(e, &e->dense[0], e->pooled, N, train);
	blas_serial(e, 0);
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

/* The B_CONV phase of j.u, with its weights rearranged once for all
 * slices when an input gradient is wanted. */
static void
conv_phase(struct mm_encoder *e, struct job *j, int ic, int ib, int fwd)
{
	struct unit *u = j->u;

	if (j->dx)
		mm_conv3x3_weights(e->wt, u->w, u->Cin, u->Cout, 1);
	phase(e, j, B_CONV, ic, ib, fwd);
}

/* coef and dgamma, dbeta of u from the summed slices */
static void
unit_coef(struct mm_encoder *e, struct unit *u, int N)
{
	double t1[64], t2[64];

	bn_total(e, t1, t2, u->Cout);
	mm_bn_grad_coef(e->coef, u->dgamma, u->dbeta, t1, t2, u->mean,
	    u->rstd, u->gamma, (size_t)N * u->Ho * u->Wo, u->Cout);
}

static void
resnet_backward(struct mm_encoder *e, const float *dy)
{
	struct unit *u0 = &e->units[0], *u1, *u2;
	float *G = e->g[0], *DX = e->g[1], *DH = e->g[2], *sw;
	struct job j;
	int N = e->lastN, b;

	blas_serial(e, 1);
	memset(e->dpooled, 0, (size_t)N * 64 * sizeof(float));
	dense_backward(e, &e->dense[0], e->dpooled, e->pooled, dy, N);
	memset(&j, 0, sizeof j);
	j.N = N;
	j.u = &e->units[e->nunits - 1];
	j.dy = G;
	phase(e, &j, B_POOL, e->tpool, -1, 0);
	for (b = 3 * e->nblocks - 1; b >= 0; b--) {
		u1 = &e->units[1 + 2 * b];
		u2 = u1 + 1;
		/* G: gradient of the block output; DX: of its input, which
		 * for an identity shortcut starts as G (after the ReLU) and
		 * can share its buffer: G is not read after u2's backward */
		if (u1->stride == 1 && u1->Cin == u1->Cout)
			DX = G;
		j.u = u2;
		j.blk = u1;
		j.dy = G;
		j.dx = DX;
		j.relu = 0;
		phase(e, &j, B_TOP, -1, u2->tbn, 0);
		unit_coef(e, u2, N);
		j.in = u1->post;
		j.dx = DH;
		j.dx_add = 0;
		j.next = u1;
		conv_phase(e, &j, u2->tconv, u2->tbn, 0);
		dw_total(e, u2);
		unit_coef(e, u1, N);
		j.u = u1;
		j.in = b ? e->units[2 * b].post : u0->post;
		j.dy = DH;
		j.relu = 1;
		j.dx = DX;
		j.dx_add = 1;
		j.next = NULL;
		conv_phase(e, &j, u1->tconv, u1->tbn, 0);
		dw_total(e, u1);
		sw = G;
		G = DX;
		DX = sw != G ? sw : e->g[1] != G ? e->g[1] : e->g[0];
	}
	j.u = u0;
	j.dy = G;
	j.relu = 1;
	phase(e, &j, B_GSUM, -1, u0->tbn, 0);
	unit_coef(e, u0, N);
	j.in = e->xin;
	j.dx = NULL;
	conv_phase(e, &j, u0->tconv, u0->tbn, 0);
	dw_total(e, u0);
	blas_serial(e, 0);
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
