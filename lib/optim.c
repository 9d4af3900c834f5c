/* optim.c - Adam, AdamW and SGD with momentum over flat arrays (optim.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "err.h"
#include "optim.h"

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
	o->m = calloc(n ? n : 1, sizeof(float));
	o->v = calloc(n ? n : 1, sizeof(float));
	if (!o->m || !o->v) {
		mm_optim_free(o);
		return mm_err(MM_ENOMEM, "optimiser: out of memory");
	}
	return 0;
}

void
mm_optim_free(struct mm_optim *o)
{
	free(o->m);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void
mm_optim_begin(struct mm_optim *o)
{
	o->step++;
}

void
mm_optim_update(struct mm_optim *o, size_t off, float *p, const float *g,
    size_t n)
{
	float *m = o->m + off, *v = o->v + off;
	float wd = (float)o->weight_decay;
	size_t i;

	if (o->kind == MM_OPT_SGD) {
		float mom = (float)o->momentum, lr = (float)o->lr;
		int first = o->step <= 1;

		for (i = 0; i < n; i++) {
			float gi = g[i] + wd * p[i];

			if (mom != 0.0f) {
				m[i] = first ? gi : mom * m[i] + gi;
				gi = m[i];
			}
			p[i] -= lr * gi;
		}
		return;
	}
	{
		double t = (double)o->step;
		double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
		float b1 = (float)o->beta1, b2 = (float)o->beta2;
		float step = (float)(o->lr / bc1), bc2s = (float)sqrt(bc2);
		float eps = (float)o->eps;
		/* adam: p *= 1, g += wd p;  adamw: p *= 1 - lr wd, g += 0 p */
		int adamw = o->kind == MM_OPT_ADAMW;
		float pd = adamw ? (float)(1.0 - o->lr * o->weight_decay) : 1.0f;
		float gwd = adamw ? 0.0f : wd;
		float ob1 = 1.0f - b1, ob2 = 1.0f - b2;

		i = 0;
#if defined(__SSE2__)
		/* The same operations in the same order, four at a time:
		 * compilers at -O2 leave this loop scalar (sqrtf may set
		 * errno), and it is memory-bound only once vectorised. */
		{
			__m128 PD = _mm_set1_ps(pd), WD = _mm_set1_ps(gwd);
			__m128 B1 = _mm_set1_ps(b1), OB1 = _mm_set1_ps(ob1);
			__m128 B2 = _mm_set1_ps(b2), OB2 = _mm_set1_ps(ob2);
			__m128 BC = _mm_set1_ps(bc2s), EPS = _mm_set1_ps(eps);
			__m128 ST = _mm_set1_ps(step);

			for (; i + 4 <= n; i += 4) {
				__m128 P = _mm_mul_ps(_mm_loadu_ps(p + i), PD);
				__m128 G = _mm_add_ps(_mm_loadu_ps(g + i),
				    _mm_mul_ps(WD, P));
				__m128 M = _mm_add_ps(_mm_mul_ps(B1,
				    _mm_loadu_ps(m + i)), _mm_mul_ps(OB1, G));
				__m128 V = _mm_add_ps(_mm_mul_ps(B2,
				    _mm_loadu_ps(v + i)),
				    _mm_mul_ps(_mm_mul_ps(OB2, G), G));
				__m128 D = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(V), BC),
				    EPS);

				_mm_storeu_ps(m + i, M);
				_mm_storeu_ps(v + i, V);
				_mm_storeu_ps(p + i, _mm_sub_ps(P, _mm_mul_ps(ST,
				    _mm_div_ps(M, D))));
			}
		}
#endif
		for (; i < n; i++) {
			float pi = p[i] * pd, gi = g[i] + gwd * pi;

			m[i] = b1 * m[i] + ob1 * gi;
			v[i] = b2 * v[i] + ob2 * gi * gi;
			p[i] = pi - step * (m[i] / (sqrtf(v[i]) / bc2s + eps));
		}
	}
}

double
mm_steplr(double lr0, int epoch, int step_size, double gamma)
{
	if (step_size <= 0)
		return lr0;
	return lr0 * pow(gamma, epoch / step_size);
}
