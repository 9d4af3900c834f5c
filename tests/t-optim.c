/* t-optim.c - Adam, AdamW, SGD with momentum and StepLR against PyTorch
 * (tests/ref/optim.txt) and against a hand-computed first Adam step. */
#include <math.h>
#include <string.h>

#include "optim.h"
#include "tap.h"
#include "util-ref.h"

#define NP 10

int
main(void)
{
	static const char *names[] = { "adam", "adamw", "sgd" };
	static const double lr[] = { 1e-2, 1e-2, 1e-1 };
	static const double wd[] = { 1e-2, 1e-1, 1e-2 };
	struct mm_optim o;
	float p0[NP], g[3][NP], p[NP];
	int k, s, i;

	plan(12);
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
	ref_free();
	return done_testing();
}
