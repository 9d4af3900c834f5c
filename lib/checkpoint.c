/* checkpoint.c - save the position of a training run and resume it
 * (checkpoint.h). */
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"
#include "err.h"
#include "num.h"

int
mm_ckpt_to_meta(struct mm_meta *m, const struct mm_optim *o, int epoch,
    const struct mm_rng *r)
{
	int rc = 0;

	rc |= mm_meta_setf(m, "train.epoch", "%d", epoch);
	rc |= mm_meta_setf(m, "train.step", "%lld", (long long)o->step);
	rc |= mm_meta_setf(m, "train.rng", "%016llx,%016llx,%016llx,%016llx",
	    (unsigned long long)r->s[0], (unsigned long long)r->s[1],
	    (unsigned long long)r->s[2], (unsigned long long)r->s[3]);
	return rc ? mm_err(MM_ENOMEM, "checkpoint: out of memory") : 0;
}

static int
rng_from_meta(const struct mm_meta *m, struct mm_rng *r)
{
	const char *s = mm_meta_get(m, "train.rng");
	unsigned long long v[4];
	int i;

	if (!s || sscanf(s, "%llx,%llx,%llx,%llx", &v[0], &v[1], &v[2],
	    &v[3]) != 4)
		return -1;
	for (i = 0; i < 4; i++)
		r->s[i] = v[i];
	return 0;
}

int
mm_ckpt_load(FILE *f, const char *label, const struct mm_arch *a,
    int max_batch, struct mm_model *m)
{
	char why[256];
	int rc;

	if ((rc = mm_model_load(m, f, label, max_batch)) < 0)
		return rc;
	if ((rc = mm_arch_compare(&m->a, a)) < 0) {
		snprintf(why, sizeof(why), "%s", mm_errmsg());
		mm_model_free(m);
		return mm_err(rc, "another architecture: %s", why);
	}
	return 0;
}

/* Position of the run in m's metadata: step and epoch, and the generator
 * into r. */
static int
position(const struct mm_meta *m, long *step, long *epoch,
    struct mm_rng *r)
{
	const char *s;

	if (!(s = mm_meta_get(m, "train.step")) ||
	    mm_num_long(s, NULL, 0, 0x7fffffffffffffffL, step) < 0 ||
	    !(s = mm_meta_get(m, "train.epoch")) ||
	    mm_num_long(s, NULL, 0, 1000000, epoch) < 0 ||
	    rng_from_meta(m, r) < 0)
		return mm_err(MM_EMISSING, "checkpoint lacks train.step, "
		    "train.epoch or train.rng");
	return 0;
}

int
mm_ckpt_resume(FILE *f, const char *label, const struct mm_resume *w,
    struct mm_model *m, struct mm_optim *o, struct mm_rng *rng, int *epoch)
{
	const char *kind;
	struct mm_rng r;
	long step, ep;
	int rc;

	if ((rc = mm_ckpt_load(f, label, w->arch, w->max_batch, m)) < 0)
		return rc;
	kind = mm_meta_get(&m->meta, "train.optimizer");
	if ((rc = mm_optim_init(o, w->optimizer, mm_model_nparams(m), w->lr,
	    w->weight_decay, w->momentum)) < 0)
		goto fail;
	if (!m->opt_m)
		rc = mm_err(MM_EMISSING, "no optimiser state to resume from "
		    "(written without --checkpoint)");
	else if (m->opt_n != o->n)
		rc = mm_err(MM_EINVAL, "optimiser state of %zu values, the "
		    "model has %zu", m->opt_n, o->n);
	else if (strcmp(kind ? kind : "", mm_optim_name(w->optimizer)))
		rc = mm_err(MM_EINVAL, "optimiser state is not %s's",
		    mm_optim_name(w->optimizer));
	else
		rc = position(&m->meta, &step, &ep, &r);
	if (rc < 0) {
		mm_optim_free(o);
		goto fail;
	}
	memcpy(o->m, m->opt_m, o->n * sizeof(float));
	memcpy(o->v, m->opt_v, o->n * sizeof(float));
	o->step = step;
	*rng = r;
	*epoch = (int)ep;
	return 0;
fail:
	mm_model_free(m);
	return rc;
}
