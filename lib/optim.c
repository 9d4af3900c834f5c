/* optim.c - Adam, AdamW and SGD with momentum over flat arrays (optim.h):
 * elementwise, so a large update is shared out over threads in chunks
 * with results independent of their number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <cblas.h>

#include "conv.h"
#include "err.h"
#include "nn.h"
#include "optim.h"
#include "pool.h"

const char *
mm_optim_name(int kind)
{
	switch (kind) {
	case MM_OPT_ADAMW: return "adamw";
	case MM_OPT_SGD: return "sgd";
	default: return "adam";
	}
}

int
mm_optim_parse(const char *s)
{
	if (strcmp(s, "adam") == 0)
		return MM_OPT_ADAM;
	if (strcmp(s, "adamw") == 0)
		return MM_OPT_ADAMW;
	if (strcmp(s, "sgd") == 0)
		return MM_OPT_SGD;
	return -1;
}

int
mm_optim_init(struct mm_optim *o, int kind, size_t n, double lr,
    double weight_decay, double momentum)
{
	memset(o, 0, sizeof(*o));
	if (kind < MM_OPT_ADAM || kind > MM_OPT_SGD)
		return mm_err(MM_EINVAL, "optimiser: unknown kind %d", kind);
	o->kind = kind;
	o->n = n;
	o->lr = lr;
	o->beta1 = 0.9;
	o->beta2 = 0.999;
	o->eps = 1e-8;
	o->weight_decay = weight_decay;
	o->momentum = momentum;
	/* as many threads as the BLAS was given (mm_blas_threads()) */
	o->pool = mm_pool_new(openblas_get_num_threads());
	o->m = calloc(n ? n : 1, sizeof(float));
	o->v = calloc(n ? n : 1, sizeof(float));
	if (!o->m || !o->v) {
		mm_optim_free(o);
		return mm_err(MM_ENOMEM, "optimiser: out of memory");
	}
	mm_huge_pages(o->m, (n ? n : 1) * sizeof(float));
	mm_huge_pages(o->v, (n ? n : 1) * sizeof(float));
	return 0;
}

void
mm_optim_free(struct mm_optim *o)
{
	mm_pool_free(o->pool);
	free(o->m);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void
mm_optim_begin(struct mm_optim *o)
{
	o->step++;
}

/* The constants of one Adam/AdamW step. */
struct adam_k {
	float pd, gwd, b1, ob1, b2, ob2, bc2s, eps, step;
	int level;      /* the SIMD level of the step (mm_nn_simd()) */
};

/*
 * Adam on elements [0, n): the same operations in the same order at every
 * width, so that each element's result does not depend on the width nor
 * on where a chunk starts (mul, add, div and sqrt round exactly; no fused
 * multiply-add).  Compilers at -O2 leave the scalar loop scalar (sqrtf may
 * set errno), and it is memory-bound only once vectorised.
 */
static void
adam_tail(float *p, const float *g, float *m, float *v, size_t i, size_t n,
    const struct adam_k *k)
{
	for (; i < n; i++) {
		float pi = p[i] * k->pd, gi = g[i] + k->gwd * pi;

		m[i] = k->b1 * m[i] + k->ob1 * gi;
		v[i] = k->b2 * v[i] + k->ob2 * gi * gi;
		p[i] = pi - k->step * (m[i] / (sqrtf(v[i]) / k->bc2s + k->eps));
	}
}

#if defined(__x86_64__) && defined(__GNUC__)
#define MM_OPT_X86 1
/* The vector loop for one width: VF its type, VP(op) its intrinsics. */
#define ADAM_BODY \
	VF PD = VP(set1)(k->pd), WD = VP(set1)(k->gwd); \
	VF B1 = VP(set1)(k->b1), OB1 = VP(set1)(k->ob1); \
	VF B2 = VP(set1)(k->b2), OB2 = VP(set1)(k->ob2); \
	VF BC = VP(set1)(k->bc2s), EPS = VP(set1)(k->eps); \
	VF ST = VP(set1)(k->step); \
	size_t i = 0; \
	for (; i + VL <= n; i += VL) { \
		VF P = VP(mul)(VP(loadu)(p + i), PD); \
		VF G = VP(add)(VP(loadu)(g + i), VP(mul)(WD, P)); \
		VF M = VP(add)(VP(mul)(B1, VP(loadu)(m + i)), VP(mul)(OB1, G)); \
		VF V = VP(add)(VP(mul)(B2, VP(loadu)(v + i)), \
		    VP(mul)(VP(mul)(OB2, G), G)); \
		VF D = VP(add)(VP(div)(VP(sqrt)(V), BC), EPS); \
		VP(storeu)(m + i, M); \
		VP(storeu)(v + i, V); \
		VP(storeu)(p + i, VP(sub)(P, VP(mul)(ST, VP(div)(M, D)))); \
	} \
	adam_tail(p, g, m, v, i, n, k);

__attribute__((target("avx512f"))) static void
adam_512(float *p, const float *g, float *m, float *v, size_t n,
    const struct adam_k *k)
{
#define VF __m512
#define VP(op) _mm512_##op##_ps
#define VL 16
	ADAM_BODY
#undef VF
#undef VP
#undef VL
}

__attribute__((target("avx"))) static void
adam_256(float *p, const float *g, float *m, float *v, size_t n,
    const struct adam_k *k)
{
#define VF __m256
#define VP(op) _mm256_##op##_ps
#define VL 8
	ADAM_BODY
#undef VF
#undef VP
#undef VL
}

static void
adam_128(float *p, const float *g, float *m, float *v, size_t n,
    const struct adam_k *k)
{
#define VF __m128
#define VP(op) _mm_##op##_ps
#define VL 4
	ADAM_BODY
#undef VF
#undef VP
#undef VL
}
#endif

static void
adam(float *p, const float *g, float *m, float *v, size_t n,
    const struct adam_k *k)
{
#ifdef MM_OPT_X86
	/* the width of the SIMD level in effect (mm_nn_simd(): MMIB_SIMD
	 * holds it down with the other kernels); the same bits at each */
	if (k->level >= 2)
		adam_512(p, g, m, v, n, k);
	else if (k->level == 1)
		adam_256(p, g, m, v, n, k);
	else
		adam_128(p, g, m, v, n, k);
#else
	adam_tail(p, g, m, v, 0, n, k);
#endif
}

static void
sgd(float *p, const float *g, float *m, size_t n, float wd, float mom,
    float lr, int first)
{
	size_t i;

	for (i = 0; i < n; i++) {
		float gi = g[i] + wd * p[i];

		if (mom != 0.0f) {
			m[i] = first ? gi : mom * m[i] + gi;
			gi = m[i];
		}
		p[i] -= lr * gi;
	}
}

/* One update shared out over the pool in chunks of CHUNK elements. */
#define CHUNK 16384
struct job {
	struct mm_optim *o;
	float *p, *m, *v;
	const float *g;
	size_t n;
	int next, items;
	struct adam_k k;
	float wd, mom, lr;
	int first;
};

static void
run_chunk(const struct job *j, size_t i)
{
	size_t c = j->n - i < CHUNK ? j->n - i : CHUNK;

	if (j->o->kind == MM_OPT_SGD)
		sgd(j->p + i, j->g + i, j->m + i, c, j->wd, j->mom, j->lr,
		    j->first);
	else
		adam(j->p + i, j->g + i, j->m + i, j->v + i, c, &j->k);
}

static void
run_chunks(void *arg, int tid)
{
	struct job *j = arg;
	int c;

	(void)tid;
	while ((c = mm_pool_next(j->o->pool, &j->next)) < j->items)
		run_chunk(j, (size_t)c * CHUNK);
}

void
mm_optim_update(struct mm_optim *o, size_t off, float *p, const float *g,
    size_t n)
{
	struct job j;

	memset(&j, 0, sizeof j);
	j.o = o;
	j.p = p;
	j.g = g;
	j.m = o->m + off;
	j.v = o->v + off;
	j.n = n;
	j.wd = (float)o->weight_decay;
	if (o->kind == MM_OPT_SGD) {
		j.mom = (float)o->momentum;
		j.lr = (float)o->lr;
		j.first = o->step <= 1;
	} else {
		double t = (double)o->step;
		double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
		/* adam: p *= 1, g += wd p;  adamw: p *= 1 - lr wd, g += 0 p */
		int adamw = o->kind == MM_OPT_ADAMW;

		j.k.b1 = (float)o->beta1;
		j.k.b2 = (float)o->beta2;
		j.k.step = (float)(o->lr / bc1);
		j.k.bc2s = (float)sqrt(bc2);
		j.k.eps = (float)o->eps;
		j.k.pd = adamw ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f;
		j.k.gwd = adamw ? 0.0f : j.wd;
		j.k.ob1 = 1.0f - j.k.b1;
		j.k.ob2 = 1.0f - j.k.b2;
		j.k.level = mm_nn_simd(-1);
	}
	if (!o->pool || n < 2 * CHUNK) {
		if (o->kind == MM_OPT_SGD)
			sgd(p, g, j.m, n, j.wd, j.mom, j.lr, j.first);
		else
			adam(p, g, j.m, j.v, n, &j.k);
		return;
	}
	j.items = (int)((n + CHUNK - 1) / CHUNK);
	mm_pool_run(o->pool, run_chunks, &j);
}

double
mm_steplr(double lr0, int epoch, int step_size, double gamma)
{
	if (step_size <= 0)
		return lr0;
	return lr0 * pow(gamma, epoch / step_size);
}
