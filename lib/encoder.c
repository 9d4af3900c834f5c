/*
 * encoder.c - the encoder interface (encoder.h): the table of kinds, spec
 * dispatch, tensor registration and the public API.  The kinds live in
 * lib/enc-*.c (encoder-impl.h).
 *
 * An encoder is built in two passes over the same description (the kind's
 * build): the first counts parameters, buffers and activations, the second
 * carves the allocated blocks into named pointers, so parameters,
 * gradients, buffers and activations each live in one contiguous
 * allocation, and tensors are named and ordered as PyTorch's state_dict.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn-slices.h"
#include "cli.h"
#include "encoder-impl.h"
#include "err.h"
#include "gemm-bf16.h"
#include "linear-x86.h"
#include "nn.h"
#include "num.h"
#include "pool.h"

/* The kinds, in the order --help lists them. */
static const struct mm_encoder_kind *const kinds[] = {
	&mm_enc_mlp,
	&mm_enc_mlp_flatten,
	&mm_enc_resnet,
	&mm_enc_vit,
};
#define NKINDS ((int)(sizeof kinds / sizeof *kinds))

/* ---- building ---- */

float *
mm_enc_reg(struct mm_encoder *e, float **grad, int is_param, int ndim,
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
		vsnprintf(e->names[e->nviews], MM_ENC_NAMELEN, fmt, ap);
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

float *
mm_enc_act(struct mm_encoder *e, size_t count)
{
	float *p = e->pass == 1 ? e->acts + e->nacts : NULL;

	/* keep every buffer 64-byte aligned */
	e->nacts += (count + 15) & ~(size_t)15;
	return p;
}

int
mm_enc_timer(struct mm_encoder *e, const char *name)
{
	if (e->pass == 1)
		snprintf(e->tnames[e->ntimers], MM_ENC_NAMELEN, "%s", name);
	return e->ntimers++;
}

void
mm_enc_need_g(struct mm_encoder *e, size_t n)
{
	if (n > e->gsize)
		e->gsize = n;
}

void
mm_enc_work(struct mm_encoder *e)
{
	int i;

	for (i = 0; i < 4; i++)
		e->g[i] = mm_enc_act(e, e->gsize);
	e->ework = e->esize ? mm_enc_act(e, e->esize) : NULL;
}

/* One pass of the kind's build (see the file comment). */
static void
build(struct mm_encoder *e, int pass)
{
	e->pass = pass;
	e->nparams = e->nbufs = e->nacts = 0;
	e->nviews = e->ntimers = 0;
	e->gsize = e->esize = 0;
	e->kind->build(e);
}

/* ---- initialisation helpers ---- */

void
mm_enc_uniform(float *p, int64_t n, float bound, struct mm_rng *rng)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = (2 * mm_rng_float(rng) - 1) * bound;
}

void
mm_enc_normal(float *p, int64_t n, float std, struct mm_rng *rng)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = (float)(mm_rng_normal(rng) * std);
}

void
mm_enc_fill(float *p, int64_t n, float v)
{
	int64_t i;

	for (i = 0; i < n; i++)
		p[i] = v;
}

/* ---- the Linear (+ BatchNorm1d + ReLU) layer of every kind ---- */

void
mm_enc_dense_build(struct mm_encoder *e, struct mm_enc_dense *d, int Din,
    int Dout, int bn, const char *lin, const char *bnname)
{
	size_t B = e->max_batch;
	size_t es = mm_linear_eval_scratch((int)B, Din, Dout);

	d->Din = Din;
	d->Dout = Dout;
	d->bn = bn;
	d->w = mm_enc_reg(e, &d->dw, 1, 2, Dout, Din, 0, 0, "%s.weight", lin);
	d->b = mm_enc_reg(e, &d->db, 1, 1, Dout, 0, 0, 0, "%s.bias", lin);
	d->tlin = mm_enc_timer(e, lin);
	d->pre = mm_enc_act(e, B * Dout);
	mm_enc_need_g(e, B * Dout);
	if (es > e->esize)
		e->esize = es;
	if (!bn)
		return;
	d->gamma = mm_enc_reg(e, &d->dgamma, 1, 1, Dout, 0, 0, 0, "%s.weight",
	    bnname);
	d->beta = mm_enc_reg(e, &d->dbeta, 1, 1, Dout, 0, 0, 0, "%s.bias",
	    bnname);
	d->rmean = mm_enc_reg(e, NULL, 0, 1, Dout, 0, 0, 0, "%s.running_mean",
	    bnname);
	d->rvar = mm_enc_reg(e, NULL, 0, 1, Dout, 0, 0, 0, "%s.running_var",
	    bnname);
	d->tbn = mm_enc_timer(e, bnname);
	d->mean = mm_enc_act(e, Dout);
	d->rstd = mm_enc_act(e, Dout);
	d->scale = mm_enc_act(e, Dout);
	d->shift = mm_enc_act(e, Dout);
	d->post = mm_enc_act(e, B * Dout);
}

void
mm_enc_dense_init(struct mm_enc_dense *d, int normal, struct mm_rng *rng)
{
	float bound = (float)(1 / sqrt((double)d->Din));

	if (normal)
		mm_enc_normal(d->w, (int64_t)d->Dout * d->Din,
		    (float)sqrt(2.0 / d->Din), rng);
	else
		mm_enc_uniform(d->w, (int64_t)d->Dout * d->Din, bound, rng);
	mm_enc_uniform(d->b, d->Dout, bound, rng);
	if (!d->bn)
		return;
	mm_enc_fill(d->gamma, d->Dout, 1);
	mm_enc_fill(d->beta, d->Dout, 0);
	mm_enc_fill(d->rmean, d->Dout, 0);
	mm_enc_fill(d->rvar, d->Dout, 1);
}

void
mm_enc_dense_forward(struct mm_encoder *e, struct mm_enc_dense *d,
    const float *x, int N, int train)
{
	double t = mm_now(), t2;

	/* evaluation through the kernel of linear-x86.h: the BatchNorm and
	 * ReLU fold into its store, with mm_bn_apply()'s arithmetic (the
	 * same bits as the two passes below); pre is not written */
	if (e->prec != MM_PREC_BF16 && !train && d->bn &&
	    mm_linear_eval_ok()) {
		struct mm_linear_epi epi;

		mm_bn_eval_stats(d->mean, d->rstd, d->rmean, d->rvar, d->Dout);
		mm_bn_affine(d->scale, d->shift, d->mean, d->rstd, d->gamma,
		    d->beta, d->Dout);
		epi.scale = d->scale;
		epi.shift = d->shift;
		epi.relu = 1;
		mm_linear_eval(e->pool, d->post, x, d->w, d->b, N, d->Din,
		    d->Dout, &epi, e->ework);
		e->tf[d->tlin] += mm_now() - t;
		return;
	}
	/* the bf16 product cannot fail here: mm_encoder_set_precision()
	 * checked the CPU and sized the scratch for every layer */
	if (e->prec == MM_PREC_BF16)
		(void)mm_linear_forward_bf16_pool(e->pool, d->pre, x, d->w,
		    d->b, N, d->Din, d->Dout, e->bf16_work, e->bf16_each);
	else if (!train && mm_linear_eval_ok())
		mm_linear_eval(e->pool, d->pre, x, d->w, d->b, N, d->Din,
		    d->Dout, NULL, e->ework);
	else
		mm_linear_forward_pool(e->pool, d->pre, x, d->w, d->b, N,
		    d->Din, d->Dout);
	t2 = mm_now();
	e->tf[d->tlin] += t2 - t;
	if (!d->bn)
		return;
	mm_batchnorm_forward(d->post, d->mean, d->rstd, d->pre, d->gamma,
	    d->beta, d->rmean, d->rvar, N, d->Dout, train, 1);
	e->tf[d->tbn] += mm_now() - t2;
}

void
mm_enc_dense_backward(struct mm_encoder *e, struct mm_enc_dense *d,
    float *dx, const float *x, const float *dy, int N)
{
	double t = mm_now();

	if (e->prec == MM_PREC_BF16)
		(void)mm_linear_backward_bf16_pool(e->pool, dx, d->dw, d->db,
		    dy, x, d->w, N, d->Din, d->Dout, e->bf16_work,
		    e->bf16_each);
	else
		mm_linear_backward_pool(e->pool, dx, d->dw, d->db, dy, x, d->w,
		    N, d->Din, d->Dout);
	e->tb[d->tlin] += mm_now() - t;
}

/* ---- spec ---- */

int
mm_enc_parse_int(const char **s, int *v)
{
	long x;

	if (mm_num_long(*s, s, 1, 1 << 20, &x) < 0)
		return -1;
	*v = (int)x;
	return 0;
}

/* The kind whose name is the longest prefix of spec, or NULL. */
static const struct mm_encoder_kind *
find_kind(const char *spec)
{
	const struct mm_encoder_kind *k = NULL;
	size_t len, best = 0;
	int i;

	for (i = 0; i < NKINDS; i++) {
		len = strlen(kinds[i]->name);
		if (len > best && !strncmp(spec, kinds[i]->name, len)) {
			k = kinds[i];
			best = len;
		}
	}
	return k;
}

/* "unknown encoder" naming every kind of the table. */
static int
unknown_kind(const char *spec)
{
	char list[MM_ENC_SPECLEN] = "";
	size_t n = 0;
	int i;

	for (i = 0; i < NKINDS; i++)
		n += snprintf(list + n, n < sizeof list ? sizeof list - n : 0,
		    "%s%s", i ? ", " : "", kinds[i]->syntax);
	return mm_err(MM_EINVAL, "unknown encoder \"%s\" (kinds: %s)", spec,
	    list);
}

/* The kind, its part and "/OUT" of spec into e (kind, k, out_dim). */
static int
parse_spec(struct mm_encoder *e, const char *spec, int out_dim)
{
	const char *s;
	int rc;

	if (!(e->kind = find_kind(spec)))
		return unknown_kind(spec);
	s = spec + strlen(e->kind->name);
	if ((rc = e->kind->parse(e, s, &s, spec)) < 0)
		return rc;
	e->out_dim = out_dim;
	if (*s == '/') {
		s++;
		if (mm_enc_parse_int(&s, &e->out_dim))
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

int
mm_encoder_spec_info(const char *spec, struct mm_encoder_info *info)
{
	struct mm_encoder e;
	int rc;

	memset(&e, 0, sizeof e);
	memset(info, 0, sizeof *info);
	/* the output size does not matter here: 1 stands for "given" */
	if ((rc = parse_spec(&e, spec, 1)) == 0) {
		info->kind = e.kind->name;
		info->eval_batch = e.kind->eval_batch;
		info->weight_decay = e.kind->weight_decay;
		e.kind->info(&e, info);
	}
	if (e.kind)
		e.kind->free(&e);
	return rc;
}

const char *
mm_encoder_kind(int i, const char **syntax, const char **help)
{
	if (i < 0 || i >= NKINDS)
		return NULL;
	if (syntax)
		*syntax = kinds[i]->syntax;
	if (help)
		*help = kinds[i]->help;
	return kinds[i]->name;
}

/* ---- public ---- */

int
mm_encoder_create(struct mm_encoder **ep, const char *spec, int C, int H,
    int W, int out_dim, int max_batch)
{
	struct mm_encoder *e;
	size_t n;
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
		if (e->kind)
			e->kind->free(e);
		free(e);
		return rc;
	}
	e->kind->canon(e, e->spec, sizeof e->spec);
	n = strlen(e->spec);
	snprintf(e->spec + n, sizeof e->spec - n, "/%d", e->out_dim);
	e->C = C;
	e->H = H;
	e->W = W;
	e->din = C * H * W;
	e->max_batch = max_batch;
	mm_nn_simd(-1);         /* detect the CPU before threads start */
	if (e->kind->setup && (rc = e->kind->setup(e)) < 0) {
		if (rc != MM_EINVAL)
			goto nomem;
		mm_encoder_free(e);     /* an input the kind cannot take */
		return rc;
	}
	build(e, 0);
	e->views = calloc(e->nviews, sizeof *e->views);
	e->names = calloc(e->nviews, sizeof *e->names);
	e->tnames = calloc(e->ntimers, sizeof *e->tnames);
	e->tptr = calloc(e->ntimers, sizeof *e->tptr);
	e->tf = calloc(e->ntimers, sizeof *e->tf);
	e->tb = calloc(e->ntimers, sizeof *e->tb);
	e->params = calloc(e->nparams, sizeof *e->params);
	e->grads = calloc(e->nparams, sizeof *e->grads);
	e->bufs = calloc(e->nbufs ? e->nbufs : 1, sizeof *e->bufs);
	/* zeroed and 64-byte aligned; calloc takes a large block as fresh
	 * zero pages, so what a run never touches (a precision's unused
	 * buffers) costs neither time nor memory (with huge pages, below,
	 * at most a 2 MiB page at each end of what it touches) */
	e->acts_mem = calloc(e->nacts * sizeof(float) + 64, 1);
	e->acts = e->acts_mem ? (float *)(((uintptr_t)e->acts_mem + 63) &
	    ~(uintptr_t)63) : NULL;
	if (!e->views || !e->names || !e->tnames || !e->tptr || !e->tf ||
	    !e->tb || !e->params || !e->grads || !e->bufs || !e->acts)
		goto nomem;
	mm_huge_pages(e->params, e->nparams * sizeof *e->params);
	mm_huge_pages(e->grads, e->nparams * sizeof *e->grads);
	mm_huge_pages(e->acts_mem, e->nacts * sizeof(float) + 64);
	build(e, 1);
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
	e->kind->free(e);
	mm_pool_free(e->pool);
	free(e->bf16_work);
	free(e->views);
	free(e->names);
	free(e->tnames);
	free(e->tptr);
	free(e->tf);
	free(e->tb);
	free(e->params);
	free(e->grads);
	free(e->bufs);
	free(e->acts_mem);
	free(e);
}

/* Each kind draws its tensors in state_dict order (encoder-impl.h). */
void
mm_encoder_init(struct mm_encoder *e, struct mm_rng *rng)
{
	e->kind->init(e, rng);
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

/* The scratch of the largest Linear layer: the views name every Linear
 * weight "<name>.weight" (Dout, Din), the only 2-d parameters of the
 * kinds with a bf16 path. */
static size_t
bf16_scratch(const struct mm_encoder *e)
{
	size_t s, best = 0;
	int i;

	for (i = 0; i < e->nviews; i++)
		if (e->views[i].is_param && e->views[i].ndim == 2) {
			s = mm_linear_bf16_scratch(e->max_batch,
			    (int)e->views[i].shape[1], (int)e->views[i].shape[0]);
			if (s > best)
				best = s;
		}
	return best;
}

int
mm_encoder_set_precision(struct mm_encoder *e, int prec)
{
	void *w;
	size_t n;

	if (prec == MM_PREC_FP32) {
		e->prec = prec;
		return 0;
	}
	if (prec != MM_PREC_BF16)
		return mm_err(MM_EINVAL, "precision %d unknown", prec);
	if (!e->kind->bf16)
		return mm_err(MM_EUNSUP, "encoder %s: no bf16 path for kind %s "
		    "yet (fp32 only)", e->spec, e->kind->name);
	if (!mm_bf16_level(-1))
		return mm_err(MM_EUNSUP, "bf16 precision: %s",
		    mm_bf16_missing());
	e->bf16_each = bf16_scratch(e);
	n = e->bf16_each * (size_t)mm_pool_threads(e->pool);
	if (n > e->bf16_size) {
		if (!(w = malloc(n)))
			return mm_err(MM_ENOMEM, "encoder %s: out of memory "
			    "for bf16 panels", e->spec);
		free(e->bf16_work);
		e->bf16_work = w;
		e->bf16_size = n;
	}
	e->prec = prec;
	return 0;
}

int
mm_encoder_precision(const struct mm_encoder *e)
{
	return e->prec;
}

int
mm_precision_parse(const char *s, int *prec)
{
	if (!strcmp(s, "fp32"))
		*prec = MM_PREC_FP32;
	else if (!strcmp(s, "bf16"))
		*prec = MM_PREC_BF16;
	else
		return mm_err(MM_EINVAL, "precision \"%s\" (fp32 or bf16)", s);
	return 0;
}

const char *
mm_precision_name(int prec)
{
	return prec == MM_PREC_BF16 ? "bf16" : "fp32";
}

double
mm_encoder_flops(const struct mm_encoder *e)
{
	return e->kind->flops(e);
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

const float *
mm_encoder_forward(struct mm_encoder *e, const float *x, int N, int train)
{
	if (N < 1 || N > e->max_batch) {
		mm_err(MM_EINVAL, "encoder forward: batch of %d rows (1..%d)",
		    N, e->max_batch);
		return NULL;
	}
	e->lastN = N;
	e->last_train = train;
	return e->kind->forward(e, x, N, train);
}

void
mm_encoder_backward(struct mm_encoder *e, const float *dy)
{
	if (!e->last_train || e->lastN < 1)
		return;
	e->kind->backward(e, dy, e->lastN);
}
