/* prov.c - fingerprints of a stream's origin and the checks that refuse
 * mixing origins (prov.h). */
#include <stdio.h>
#include <string.h>

#include "encoder.h"
#include "err.h"
#include "prov.h"

uint64_t
mm_prov_hash(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* h continued by "key=value\n" of each key (absent: "key\n"). */
static uint64_t
hash_keys(uint64_t h, const struct mm_meta *m, const char *const *keys)
{
	const char *v;

	for (; *keys; keys++) {
		h = mm_prov_hash(h, *keys, strlen(*keys));
		if ((v = mm_meta_get(m, *keys)) != NULL) {
			h = mm_prov_hash(h, "=", 1);
			h = mm_prov_hash(h, v, strlen(v));
		}
		h = mm_prov_hash(h, "\n", 1);
	}
	return h;
}

static int
set_hex(struct mm_meta *m, const char *key, uint64_t h)
{
	return mm_meta_setf(m, key, "%016llx", (unsigned long long)h);
}

int
mm_prov_data(struct mm_meta *m)
{
	static const char *const pairing[] = { "dataset", "factors",
	    "cardinalities", "essence", "channels", "height", "width", NULL };
	static const char *const split[] = { "pairing", "seed", "n",
	    "train_fraction", "train_rows", "order", "source", NULL };
	static const char *const data[] = { "part", "rows", NULL };
	uint64_t h;

	if (!mm_meta_get(m, "dataset") || !mm_meta_get(m, "factors"))
		return 0;
	h = hash_keys(MM_PROV_SEED, m, pairing);
	if (set_hex(m, "fp.pairing", h) < 0)
		return mm_err(MM_ENOMEM, "out of memory");
	h = hash_keys(h, m, split);
	if (set_hex(m, "fp.split", h) < 0)
		return mm_err(MM_ENOMEM, "out of memory");
	h = hash_keys(h, m, data);
	if (set_hex(m, "fp.data", h) < 0)
		return mm_err(MM_ENOMEM, "out of memory");
	return 0;
}

void
mm_prov_model(const struct mm_model *m, char *hex)
{
	uint64_t h = MM_PROV_SEED;

	h = mm_prov_hash(h, mm_encoder_params((struct mm_encoder *)m->img),
	    mm_encoder_nparams(m->img) * sizeof(float));
	h = mm_prov_hash(h, mm_encoder_params((struct mm_encoder *)m->fac),
	    mm_encoder_nparams(m->fac) * sizeof(float));
	h = mm_prov_hash(h, m->scal, (size_t)m->obj->nscalars * sizeof(float));
	snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

int
mm_prov_known(const struct mm_meta *m, const char *key)
{
	return mm_meta_get(m, key) ? 0 : mm_err(MM_EMISSING, "no %s "
	    "(written by an older mmib?)", key);
}

/* m's value of key, or "?" for messages */
static const char *
value(const struct mm_meta *m, const char *key)
{
	const char *v = mm_meta_get(m, key);

	return v ? v : "?";
}

/* "dsprites essence=shape,scale seed=5 part=test" of m, into buf. */
static const char *
describe(const struct mm_meta *m, char *buf, size_t size)
{
	snprintf(buf, size, "%s essence=%s seed=%s part=%s",
	    value(m, "dataset"), value(m, "essence"), value(m, "seed"),
	    value(m, "part"));
	return buf;
}

/* 1 when both carry key with different values. */
static int
differ(const struct mm_meta *a, const struct mm_meta *b, const char *key)
{
	const char *x = mm_meta_get(a, key), *y = mm_meta_get(b, key);

	return x && y && strcmp(x, y) != 0;
}

int
mm_prov_check_encode(const struct mm_meta *model, const struct mm_meta *data)
{
	char a[256], b[256];

	if (differ(model, data, "fp.pairing"))
		return mm_err(MM_EINVAL, "the model was trained on %s, the "
		    "data is %s (another dataset or pairing)",
		    describe(model, a, sizeof a), describe(data, b, sizeof b));
	return 0;
}

int
mm_prov_check_test(const struct mm_meta *train, const struct mm_meta *test)
{
	char a[256], b[256];

	if (differ(train, test, "fp.split"))
		return mm_err(MM_EINVAL, "not a held-out part of the "
		    "training data's split: %s for training, %s to test",
		    describe(train, a, sizeof a), describe(test, b, sizeof b));
	if (mm_meta_get(train, "fp.data") && !differ(train, test, "fp.data"))
		return mm_err(MM_EINVAL, "the test data is the training data "
		    "(%s)", describe(test, b, sizeof b));
	return 0;
}

int
mm_prov_check_probe(const struct mm_meta *train, const struct mm_meta *test)
{
	char a[256], b[256];

	if (differ(train, test, "model.fp"))
		return mm_err(MM_EINVAL, "embeddings of two models (model.fp "
		    "%s from %s, %s from %s)", value(train, "model.fp"),
		    value(train, "model.file"), value(test, "model.fp"),
		    value(test, "model.file"));
	if (differ(train, test, "fp.split"))
		return mm_err(MM_EINVAL, "embeddings of two splits: %s, %s",
		    describe(train, a, sizeof a), describe(test, b, sizeof b));
	return 0;
}

int
mm_prov_check_segment(const struct mm_meta *first, const struct mm_meta *next)
{
	if (differ(first, next, "model.fp"))
		return mm_err(MM_EINVAL, "segments from two models (model.fp "
		    "%s from %s, then %s from %s): one stream, one model",
		    value(first, "model.fp"), value(first, "model.file"),
		    value(next, "model.fp"), value(next, "model.file"));
	return 0;
}

int
mm_prov_check_resume(const struct mm_meta *ckpt, const struct mm_meta *run)
{
	/* the data's keys compared when a side lacks fp.data */
	static const char *const data[] = { "dataset", "factors", "essence",
	    "seed", "part", "rows", "n", NULL };
	const char *const *k;
	char a[256], b[256], opt[64];
	int i, j;

	for (i = 0; i < run->n; i++) {
		const char *key = run->key[i], *was;

		if (strncmp(key, "train.", 6) || !strcmp(key, "train.epoch") ||
		    !strcmp(key, "train.step") || !strcmp(key, "train.rng") ||
		    !(was = mm_meta_get(ckpt, key)) ||
		    !strcmp(was, run->val[i]))
			continue;
		/* train.batch_size -> --batch-size */
		snprintf(opt, sizeof opt, "--%s", key + 6);
		for (j = 2; opt[j]; j++)
			if (opt[j] == '_')
				opt[j] = '-';
		return mm_err(MM_EINVAL, "%s (%s): %s in the checkpoint, %s "
		    "now; a resumed run keeps its settings", opt, key, was,
		    run->val[i]);
	}
	if (mm_meta_get(ckpt, "fp.data") && mm_meta_get(run, "fp.data")) {
		if (differ(ckpt, run, "fp.data"))
			return mm_err(MM_EINVAL, "training data: %s in the "
			    "checkpoint, %s now", describe(ckpt, a, sizeof a),
			    describe(run, b, sizeof b));
		return 0;
	}
	for (k = data; *k; k++)
		if (differ(ckpt, run, *k))
			return mm_err(MM_EINVAL, "training data: %s=%s in the "
			    "checkpoint, %s now", *k, mm_meta_get(ckpt, *k),
			    mm_meta_get(run, *k));
	return 0;
}
