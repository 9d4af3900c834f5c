/* t-optim.c - Adam, AdamW, SGD with momentum and StepLR against PyTorch
 * (tests/ref/optim.txt) and against a hand-computed first Adam step. */
#include <math.h>
#include <string.h>

#include "cli.h"
#include "conv.h"
#include "optim.h"
#include "rng.h"
#include "tap.h"
#include "util-ref.h"

#define NP 10

/*
 * A large update (many chunks and a ragged end) on T threads, at the
 * vector width of the SIMD level in effect (mm_nn_simd(): 16, 8 or 4
 * floats), against the scalar formula in this file: each element must be
 * bit-identical, as the operations are the same in the same order (no
 * fused multiply-add).
 */
static void
test_threads(int kind, int T)
{
	enum { N = 5 * 16384 + 37 };
	static float p[N], g[N], q[N], m[N], v[N];
	struct mm_optim o;
	struct mm_rng r;
	size_t i;
	int s, bad = 0, threads;

	mm_rng_seed(&r, 7);
	for (i = 0; i < N; i++) {
		p[i] = q[i] = (float)mm_rng_uniform(&r) - 0.5f;
		m[i] = v[i] = 0;
	}
	mm_blas_threads(T);
	mm_optim_init(&o, kind, N, 1e-2, 1e-2, 0.9);
	threads = o.pool ? T : 1;
	mm_blas_threads(1);
	for (s = 1; s <= 3; s++) {
		double bc1 = 1.0 - pow(o.beta1, s), bc2 = 1.0 - pow(o.beta2, s);
		float b1 = (float)o.beta1, b2 = (float)o.beta2;
		float st = (float)(o.lr / bc1), bc = (float)sqrt(bc2);
		float wd = (float)o.weight_decay, lr = (float)o.lr;
		float pd = kind == MM_OPT_ADAMW ? (float)(1.0 - o.lr *
		    o.weight_decay) : 1.0f;
		float gwd = kind == MM_OPT_ADAMW ? 0.0f : wd;

		for (i = 0; i < N; i++)
			g[i] = (float)mm_rng_uniform(&r) - 0.5f;
		mm_optim_begin(&o);
		/* an odd offset: chunks start off the vector alignment */
		mm_optim_update(&o, 0, p, g, 3);
		mm_optim_update(&o, 3, p + 3, g + 3, N - 3);
		for (i = 0; i < N; i++) {
			if (kind == MM_OPT_SGD) {
				float gi = g[i] + wd * q[i];

				m[i] = s == 1 ? gi : 0.9f * m[i] + gi;
				q[i] -= lr * m[i];
				continue;
			}
			float pi = q[i] * pd, gi = g[i] + gwd * pi;

			m[i] = b1 * m[i] + (1.0f - b1) * gi;
			v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
			q[i] = pi - st * (m[i] / (sqrtf(v[i]) / bc + 1e-8f));
		}
	}
	for (i = 0; i < N; i++)
		bad += memcmp(&p[i], &q[i], sizeof *p) != 0 ||
		    memcmp(&o.m[i], &m[i], sizeof *m) != 0;
	ok(bad == 0, "%s on %d thread%s, level %d, %d elements: "
	    "bit-identical to the scalar formula (%d differ)",
	    mm_optim_name(kind), threads, threads > 1 ? "s" : "",
	    mm_nn_simd(-1), N, bad);
	mm_optim_free(&o);
}

int
main(void)
{
	static const char *names[] = { "adam", "adamw", "sgd" };
	static const double lr[] = { 1e-2, 1e-2, 1e-1 };
	static const double wd[] = { 1e-2, 1e-1, 1e-2 };
	struct mm_optim o;
	float p0[NP], g[3][NP], p[NP];
	int k, s, i, top = mm_nn_simd(-1), lv;

	/* Adam and AdamW at every level the CPU has, SGD (scalar) once */
	plan(14 + 4 * (top + 1));
	/* first Adam step without decay moves every weight by lr sign(g) */
	{
		float q[3] = { 1, 2, 3 }, gq[3] = { 0.5f, -2.0f, 1e-3f };

		mm_optim_init(&o, MM_OPT_ADAM, 3, 0.1, 0, 0);
		mm_optim_begin(&o);
		mm_optim_update(&o, 0, q, gq, 3);
		ok(fabs(q[0] - 0.9) < 1e-6 && fabs(q[1] - 2.1) < 1e-6 &&
		    fabs(q[2] - 2.9) < 1e-4, "first Adam step is lr sign(g)");
		mm_optim_free(&o);
	}
	if (!ok(ref_load("optim.txt") == 0, "tests/ref/optim.txt loads"))
		return done_testing();
	ref_floats("p0", p0, NP);
	ref_floats("g0", g[0], NP);
	ref_floats("g1", g[1], NP);
	ref_floats("g2", g[2], NP);
	for (k = 0; k < 3; k++) {
		const double *w = ref_get(names[k], NULL);
		double worst = 0;

		mm_optim_init(&o, mm_optim_parse(names[k]), NP, lr[k], wd[k],
		    k == 2 ? 0.9 : 0);
		memcpy(p, p0, sizeof(p));
		/* the parameters in two blocks, as a model updates them */
		for (s = 0; s < 3; s++) {
			mm_optim_begin(&o);
			mm_optim_update(&o, 0, p, g[s], 4);
			mm_optim_update(&o, 4, p + 4, g[s] + 4, NP - 4);
		}
		for (i = 0; w && i < NP; i++)
			if (fabs(p[i] - w[i]) > worst)
				worst = fabs(p[i] - w[i]);
		ok(w && worst < 1e-6, "%s: three steps as PyTorch (worst %.2e)",
		    names[k], worst);
		is_int(o.step, 3, "%s: step count", names[k]);
		mm_optim_free(&o);
	}
	is_double(mm_steplr(1e-3, 19, 20, 0.3), 1e-3, 1e-12, "StepLR epoch 19");
	is_double(mm_steplr(1e-3, 20, 20, 0.3), 3e-4, 1e-12, "StepLR epoch 20");
	is_double(mm_steplr(1e-3, 45, 20, 0.3), 9e-5, 1e-12, "StepLR epoch 45");
	is_int(mm_optim_parse("rmsprop"), -1, "unknown optimiser refused");
	for (lv = top; lv >= 0; lv--) {
		mm_nn_simd(lv);
		for (k = 0; k < 3; k++) {
			if (k == 2 && lv < top)
				continue;
			test_threads(k, 1);
			test_threads(k, 3);
		}
	}
	mm_nn_simd(top);
	ref_free();
	return done_testing();
}
