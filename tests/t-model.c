/* t-model.c - the model: save/load round trip, architecture checks,
 * gradients of the whole objective through both encoders, a small
 * training run that learns to retrieve pairs, the objective's record and
 * scalars in the file (old files without it), and resuming a checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "err.h"
#include "model.h"
#include "stream.h"
#include "optim.h"
#include "rng.h"
#include "tap.h"
#include "util-ref.h"

/* Synthetic pairs: 16x16 images with a 4x4 bright block at column
 * 2 * cls[0] and row 2 * cls[1]; the pair vector is the one-hot of
 * cls[0] (8 classes), so the row is a nuisance. */
#define S 16
#define K 8

static void
make_pairs(struct mm_rng *r, int n, float *x, float *p, int *lab)
{
	int i, u, v;

	memset(x, 0, (size_t)n * S * S * sizeof(float));
	memset(p, 0, (size_t)n * K * sizeof(float));
	for (i = 0; i < n; i++) {
		int cx = (int)mm_rng_below(r, K), cy = (int)mm_rng_below(r, K);

		for (v = 0; v < 4; v++)
			for (u = 0; u < 4; u++)
				x[(size_t)i * S * S + (2 * cy + v) * S + 2 * cx + u] =
				    1.0f;
		p[i * K + cx] = 1.0f;
		lab[i] = cx;
	}
}

static struct mm_arch
tiny_arch(int reg)
{
	struct mm_arch a;

	memset(&a, 0, sizeof(a));
	strcpy(a.img_spec, "mlp-flatten:32");
	strcpy(a.fac_spec, "mlp:16,8");
	a.code = 8;
	a.C = 1;
	a.H = S;
	a.W = S;
	a.pair_dim = K;
	a.reg = reg;
	a.learn[0] = 1;	/* the temperature */
	return a;
}

static int
same_tensors(struct mm_model *a, struct mm_model *b)
{
	struct mm_tensor_view *va, *vb;
	int k, i, n;

	for (k = 0; k < 2; k++) {
		n = mm_encoder_tensors(k ? a->fac : a->img, &va);
		if (n != mm_encoder_tensors(k ? b->fac : b->img, &vb))
			return 0;
		for (i = 0; i < n; i++)
			if (va[i].count != vb[i].count || memcmp(va[i].data,
			    vb[i].data, va[i].count * sizeof(float)))
				return 0;
	}
	return a->obj == b->obj && !memcmp(a->scal, b->scal, sizeof(a->scal));
}

static void
roundtrip(void)
{
	struct mm_arch a = tiny_arch(MM_REG_COS), b;
	struct mm_model m, l;
	struct mm_optim o;
	struct mm_rng r;
	struct mm_meta meta;
	FILE *f = tmpfile();
	long size;
	int rc;

	mm_rng_seed(&r, 3);
	mm_model_create(&m, &a, 16);
	mm_model_init(&m, &r);
	mm_optim_init(&o, MM_OPT_ADAM, mm_model_nparams(&m), 1e-3, 0, 0);
	o.m[0] = 0.5f;
	o.v[o.n - 1] = 0.25f;
	is_int((long long)mm_model_nparams(&m), (long long)(
	    mm_encoder_nparams(m.img) + mm_encoder_nparams(m.fac) + 1),
	    "parameters: both encoders and the temperature");
	mm_meta_init(&meta);
	mm_meta_set(&meta, "dataset", "synthetic");
	ok(mm_model_save(&m, f, &meta, &o) == 0, "save");
	size = ftell(f);
	rewind(f);
	rc = mm_model_load(&l, f, "tmp", 16);
	ok(rc == 0, "load: %s", rc ? mm_errmsg() : "ok");
	if (rc == 0) {
		ok(same_tensors(&m, &l), "every tensor and T identical after "
		    "the round trip");
		ok(mm_arch_compare(&l.a, &a) == 0, "architecture identical");
		ok(l.opt_m && l.opt_n == o.n && l.opt_m[0] == 0.5f &&
		    l.opt_v[o.n - 1] == 0.25f, "optimiser moments restored");
		is_str(mm_meta_get(&l.meta, "dataset"), "synthetic",
		    "metadata kept");
		mm_model_free(&l);
	} else
		skip(4, "load failed");

	b = a;
	strcpy(b.fac_spec, "mlp:16,16");
	rc = mm_arch_compare(&a, &b);
	ok(rc < 0 && strstr(mm_errmsg(), "mlp:16,8"),
	    "another factor encoder is refused: %s", mm_errmsg());
	b = a;
	b.pair_dim = 9;
	rc = mm_arch_compare(&a, &b);
	ok(rc < 0 && strstr(mm_errmsg(), "pair"),
	    "another pair dimension is refused: %s", mm_errmsg());

	/* a truncated file */
	{
		FILE *g = tmpfile();
		char *buf = malloc(size);

		rewind(f);
		if (fread(buf, 1, size, f) != (size_t)size)
			size = 0;
		fwrite(buf, 1, size / 2, g);
		rewind(g);
		rc = mm_model_load(&l, g, "half", 16);
		ok(rc < 0, "a truncated model is refused: %s", mm_errmsg());
		fclose(g);
		free(buf);
	}
	/* a stream without the model keys */
	{
		FILE *g = tmpfile();
		struct mm_model n2;

		mm_model_save(&m, g, NULL, NULL);
		rewind(g);
		ok(mm_model_load(&n2, g, "plain", 16) == 0, "a model without "
		    "optimiser state loads");
		ok(n2.opt_m == NULL, "... and has no moments");
		mm_model_free(&n2);
		fclose(g);
	}
	fclose(f);
	mm_optim_free(&o);
	mm_meta_free(&meta);
	mm_model_free(&m);
}

/* total loss of the model on (x, p), train-mode forward, fixed noise */
static double
objective(struct mm_model *m, struct mm_loss *l, const float *x,
    const float *p, int n)
{
	struct mm_rng r;
	const float *ya = mm_encoder_forward(m->img, x, n, 1);
	const float *yb = mm_encoder_forward(m->fac, p, n, 1);
	double s[MM_LOSS_MAXSCALARS];

	mm_model_scalars(m, s);
	mm_rng_seed(&r, 5);
	return mm_loss_compute(l, ya, yb, n, s, &r, NULL, NULL);
}

/* d loss / d params of the whole model vs central differences */
static void
gradcheck(int reg)
{
	struct mm_arch a = tiny_arch(reg);
	struct mm_model m;
	struct mm_loss l;
	struct mm_rng r;
	int n = 12, lab[12], k, i;
	float x[12 * S * S], p[12 * K];
	double h = 1e-3;
	int good = 0;

	mm_rng_seed(&r, 11);
	make_pairs(&r, n, x, p, lab);
	for (i = 0; i < n * S * S; i++)
		x[i] += 0.1f * (float)mm_rng_normal(&r);
	mm_model_create(&m, &a, n);
	mm_model_init(&m, &r);
	m.scal[0] = 0.2f;
	mm_loss_init(&l, n, a.code, MM_OBJ_INFONCE, reg, 1, 0.5);
	objective(&m, &l, x, p, n);
	{
		const float *ya = mm_encoder_forward(m.img, x, n, 1);
		const float *yb = mm_encoder_forward(m.fac, p, n, 1);

		double s[MM_LOSS_MAXSCALARS];

		mm_model_scalars(&m, s);
		mm_rng_seed(&r, 5);
		mm_loss_compute(&l, ya, yb, n, s, &r, m.da, m.db);
	}
	mm_encoder_zero_grad(m.img);
	mm_encoder_zero_grad(m.fac);
	mm_encoder_backward(m.img, m.da);
	mm_encoder_backward(m.fac, m.db);
	for (k = 0; k < 2; k++) {
		struct mm_encoder *e = k ? m.fac : m.img;
		float *w = mm_encoder_params(e), *g = mm_encoder_grads(e);
		size_t np = mm_encoder_nparams(e);

		for (i = 0; i < 40; i++) {
			size_t j = (size_t)mm_rng_below(&r, np);
			float keep = w[j];
			double lp, lm, fd;

			w[j] = keep + (float)h;
			lp = objective(&m, &l, x, p, n);
			w[j] = keep - (float)h;
			lm = objective(&m, &l, x, p, n);
			w[j] = keep;
			fd = (lp - lm) / (2 * h);
			if (getenv("DEBUG"))
				diag("%d %zu fd %g an %g", k, j, fd, g[j]);
			good += fabs(fd - g[j]) <= 1e-3 + 1e-2 * fabs(fd);
		}
	}
	/* a ReLU kink inside [w - h, w + h] may spoil a few of them */
	ok(good >= 76, "%s, symmetric: parameter gradients through both "
	    "encoders match finite differences (%d of 80)", mm_reg_name(reg),
	    good);
	mm_loss_free(&l);
	mm_model_free(&m);
}

static void
learns(void)
{
	struct mm_arch a = tiny_arch(MM_REG_COS);
	struct mm_model m;
	struct mm_loss l;
	struct mm_optim o;
	struct mm_rng r;
	enum { NTR = 512, NTE = 256, B = 64 };
	static float x[NTR * S * S], p[NTR * K], zi[NTE * 8], zf[NTE * 8];
	int lab[NTR], i, j, step, hits = 0;
	double first = 0, last = 0, T0;

	mm_rng_seed(&r, 21);
	mm_model_create(&m, &a, B > NTE ? B : NTE);
	mm_model_init(&m, &r);
	m.scal[0] = 0.1f;
	T0 = m.scal[0];
	mm_loss_init(&l, B, a.code, MM_OBJ_INFONCE, MM_REG_COS, 0, 0.0);
	mm_optim_init(&o, MM_OPT_ADAM, mm_model_nparams(&m), 3e-3, 0, 0);
	make_pairs(&r, NTR, x, p, lab);
	for (step = 0; step < 240; step++) {
		int off = (step % (NTR / B)) * B;
		double v = mm_model_train_step(&m, &l, &o, x + (size_t)off * S * S,
		    p + off * K, B, &r);

		if (step < NTR / B)
			first += v / (NTR / B);
		if (step >= 240 - NTR / B)
			last += v / (NTR / B);
	}
	ok(last < first - 1.0, "training loss falls: first epoch %.3f, last "
	    "%.3f", first, last);
	ok(m.scal[0] != T0 && m.scal[0] > 0, "the learnt temperature moved "
	    "(%.4f -> %.4f)", T0, m.scal[0]);
	/* fresh test pairs: the nearest factor code of each image is its own
	 * class far more often than chance (1/8) */
	make_pairs(&r, NTE, x, p, lab);
	mm_model_encode(&m, x, p, NTE, zi, zf);
	for (i = 0; i < NTE; i++) {
		double best = -2;
		int arg = 0, d;

		for (j = 0; j < NTE; j++) {
			double s = 0;

			for (d = 0; d < 8; d++)
				s += zi[i * 8 + d] * zf[j * 8 + d];
			if (s > best) {
				best = s;
				arg = j;
			}
		}
		hits += lab[arg] == lab[i];
	}
	ok(hits > NTE / 2, "recall@1 of the paired class on new data %.2f "
	    "(chance 0.125)", (double)hits / NTE);
	{
		double s = 0;
		int d;

		for (d = 0; d < 8; d++)
			s += zi[d] * zi[d];
		is_double(s, 1.0, 1e-5, "embeddings are unit vectors");
	}
	mm_optim_free(&o);
	mm_loss_free(&l);
	mm_model_free(&m);
}

/* worst |got - want| over the largest |want| (at least floor: the bias of
 * a Linear layer before a BatchNorm has a gradient of rounding noise) */
static double
relerr(const float *got, const double *want, int n, double floor)
{
	double big = floor, worst = 0;
	int i;

	for (i = 0; i < n; i++)
		if (fabs(want[i]) > big)
			big = fabs(want[i]);
	for (i = 0; i < n; i++)
		if (fabs(got[i] - want[i]) > worst)
			worst = fabs(got[i] - want[i]);
	return worst / big;
}

/* One training step of two tiny encoders against PyTorch
 * (tests/ref/train_ref.py: step.mts holds the weights, step.txt the rest). */
static void
golden_step(void)
{
	const char *top = getenv("MMIB_TOP");
	char path[4096], key[300];
	struct mm_model m;
	struct mm_loss l;
	struct mm_optim o;
	struct mm_rng r;
	float x[8 * 36], p[8 * 5];
	const double *w;
	double gworst = 0, aworst = 0;
	FILE *f;
	int k, i, n, rc, missing = 0;

	snprintf(path, sizeof(path), "%s/tests/ref/step.mts", top ? top : ".");
	if (!(f = fopen(path, "rb")) || ref_load("step.txt") != 0) {
		ok(0, "tests/ref/step.mts and step.txt load");
		skip(4, "no fixture");
		return;
	}
	rc = mm_model_load(&m, f, "step.mts", 8);
	fclose(f);
	if (!ok(rc == 0, "PyTorch's model file loads: %s", rc ? mm_errmsg() :
	    "ok")) {
		skip(4, "no model");
		return;
	}
	ref_floats("x", x, 8 * 36);
	ref_floats("p", p, 8 * 5);
	mm_loss_init(&l, 8, 4, MM_OBJ_INFONCE, MM_REG_COS, 0, 0.5);
	mm_optim_init(&o, MM_OPT_ADAM, mm_model_nparams(&m), 1e-2, 1e-4, 0);
	mm_rng_seed(&r, 1);
	mm_model_train_step(&m, &l, &o, x, p, 8, &r);
	w = ref_get("loss", NULL);
	ok(w && fabs(l.loss - w[0]) < 1e-4 * fabs(w[0]) &&
	    fabs(l.regval - w[2]) < 1e-4 * fabs(w[2]),
	    "loss %.6f (InfoNCE %.6f, reg %.6f) as PyTorch", l.loss, l.term,
	    l.regval);
	for (k = 0; k < 2; k++) {
		struct mm_encoder *e = k ? m.fac : m.img;
		struct mm_tensor_view *v;
		float *base = mm_encoder_params(e), *g = mm_encoder_grads(e);

		n = mm_encoder_tensors(e, &v);
		for (i = 0; i < n; i++) {
			double err;

			snprintf(key, sizeof(key), "after.%s.%s", k ? "fac" :
			    "img", v[i].name);
			if (!(w = ref_get(key, NULL))) {
				missing++;
				continue;
			}
			err = relerr(v[i].data, w, (int)v[i].count, 1e-12);
			if (err > aworst)
				aworst = err;
			if (!v[i].is_param)
				continue;
			snprintf(key, sizeof(key), "grad.%s.%s", k ? "fac" : "img",
			    v[i].name);
			if (!(w = ref_get(key, NULL))) {
				missing++;
				continue;
			}
			err = relerr(g + (v[i].data - base), w, (int)v[i].count,
			    0.1);
			if (err > gworst)
				gworst = err;
		}
	}
	w = ref_get("grad.temperature", NULL);
	if (w && fabs(l.dscal[0] - w[0]) / fabs(w[0]) > gworst)
		gworst = fabs(l.dscal[0] - w[0]) / fabs(w[0]);
	ok(!missing && gworst < 1e-4, "every gradient (d/dT too) as PyTorch, "
	    "worst relative %.1e", gworst);
	ok(!missing && aworst < 1e-4, "every weight and BatchNorm statistic "
	    "after one Adam step as PyTorch, worst relative %.1e", aworst);
	w = ref_get("after.temperature", NULL);
	ok(w && fabs(m.scal[0] - w[0]) < 1e-6, "temperature after the step "
	    "%.7f as PyTorch", m.scal[0]);
	mm_optim_free(&o);
	mm_loss_free(&l);
	mm_model_free(&m);
	ref_free();
}

/* Copy the model stream src to dst with the metadata key dropped (val
 * NULL) or set to val: a file as another writer made it. */
static int
rewrite_meta(FILE *src, FILE *dst, const char *key, const char *val)
{
	struct mm_reader *rd = mm_reader_open(src, "src");
	struct mm_writer *w = mm_writer_open(dst, 0);
	struct mm_record rec;
	struct mm_meta mt;
	int rc, i, wrote = 0;

	mm_record_init(&rec);
	mm_meta_init(&mt);
	while ((rc = mm_reader_next(rd, &rec)) > 0 && rec.kind != 'E') {
		if (rec.kind != 'T')
			continue;
		if (!wrote) {
			const struct mm_meta *in = mm_reader_meta(rd);

			for (i = 0; i < in->n; i++)
				if (strcmp(in->key[i], key))
					mm_meta_set(&mt, in->key[i], in->val[i]);
			if (val)
				mm_meta_set(&mt, key, val);
			mm_writer_meta(w, &mt);
			wrote = 1;
		}
		mm_writer_record(w, &rec);
	}
	if (rc >= 0)
		rc = mm_writer_end(w);
	mm_writer_close(w);
	mm_reader_close(rd);
	mm_record_free(&rec);
	mm_meta_free(&mt);
	rewind(dst);
	return rc;
}

/* The objective in the file: its name and scalars are kept; a file from
 * before objectives had names is infonce; an unknown one is refused. */
static void
objective_record(void)
{
	struct mm_arch a = tiny_arch(MM_REG_KL);
	struct mm_model m, l;
	struct mm_rng r;
	FILE *f = tmpfile(), *g = tmpfile(), *h = tmpfile();
	int rc;

	a.learn[0] = 0;
	mm_rng_seed(&r, 4);
	mm_model_create(&m, &a, 8);
	mm_model_init(&m, &r);
	m.scal[0] = 0.25f;
	mm_model_save(&m, f, NULL, NULL);
	rewind(f);
	rc = mm_model_load(&l, f, "f", 8);
	ok(rc == 0 && !strcmp(mm_meta_get(&l.meta, "model.objective"),
	    "infonce") && !strcmp(mm_meta_get(&l.meta, "model.learn_temperature"),
	    "0") && l.a.objective == MM_OBJ_INFONCE && l.a.learn[0] == 0 &&
	    l.scal[0] == 0.25f && same_tensors(&m, &l), "the file records "
	    "model.objective=infonce, model.learn_temperature=0 and the "
	    "temperature 0.25 (%s)", rc ? mm_errmsg() : "ok");
	if (rc == 0)
		mm_model_free(&l);

	rewind(f);
	rewrite_meta(f, g, "model.objective", NULL);
	rc = mm_model_load(&l, g, "old", 8);
	ok(rc == 0 && !mm_meta_get(&l.meta, "model.objective") &&
	    l.a.objective == MM_OBJ_INFONCE && mm_arch_compare(&l.a, &a) == 0 &&
	    same_tensors(&m, &l), "a file without model.objective loads as "
	    "infonce (%s)", rc ? mm_errmsg() : "ok");
	if (rc == 0)
		mm_model_free(&l);

	rewind(f);
	rewrite_meta(f, h, "model.objective", "clip");
	rc = mm_model_load(&l, h, "new", 8);
	ok(rc == MM_EFORMAT && strstr(mm_errmsg(), "model.objective=clip"),
	    "an unknown objective is refused: %s", mm_errmsg());
	fclose(f);
	fclose(g);
	fclose(h);
	mm_model_free(&m);

	/* siglip: both scalars, each with its own learning flag */
	a = tiny_arch(MM_REG_COS);
	a.objective = MM_OBJ_SIGLIP;
	a.learn[0] = 1;
	a.learn[1] = 0;
	f = tmpfile();
	mm_model_create(&m, &a, 8);
	mm_model_init(&m, &r);
	rc = m.scal[0] == (float)log(10.0) && m.scal[1] == -10.0f;
	m.scal[0] = 1.5f;
	m.scal[1] = -3.25f;
	mm_model_save(&m, f, NULL, NULL);
	rewind(f);
	rc = rc && mm_model_load(&l, f, "f", 8) == 0;
	ok(rc && !strcmp(mm_meta_get(&l.meta, "model.objective"), "siglip") &&
	    !strcmp(mm_meta_get(&l.meta, "model.learn_logit_scale"), "1") &&
	    !strcmp(mm_meta_get(&l.meta, "model.learn_logit_bias"), "0") &&
	    l.a.objective == MM_OBJ_SIGLIP && l.a.learn[0] == 1 &&
	    l.a.learn[1] == 0 && l.scal[0] == 1.5f && l.scal[1] == -3.25f &&
	    same_tensors(&m, &l), "a siglip model starts at t' = ln 10, "
	    "b = -10 and keeps logit_scale, logit_bias and their learning");
	if (rc)
		mm_model_free(&l);
	fclose(f);
	mm_model_free(&m);
}

/* Train "epochs" [e0, e1) of NP pairs in batches of 16: the epoch order
 * and the kl samples come from r, as in mmib-train. */
#define NP 64
static void
epochs(struct mm_model *m, struct mm_loss *l, struct mm_optim *o,
    struct mm_rng *r, int e0, int e1, const float *x, const float *p)
{
	static float xb[16 * S * S], pb[16 * K];
	int64_t idx[NP];
	int e, i, j;

	for (e = e0; e < e1; e++) {
		o->lr = mm_steplr(3e-3, e, 1, 0.5);
		for (i = 0; i < NP; i++)
			idx[i] = i;
		mm_rng_shuffle(r, idx, NP);
		for (i = 0; i < NP; i += 16) {
			for (j = 0; j < 16; j++) {
				memcpy(xb + j * S * S, x + idx[i + j] * S * S,
				    S * S * sizeof(float));
				memcpy(pb + j * K, p + idx[i + j] * K,
				    K * sizeof(float));
			}
			mm_model_train_step(m, l, o, xb, pb, 16, r);
		}
	}
}

/* A checkpoint after epoch 1 resumed by mm_ckpt_resume ends, after
 * epoch 3, with the bytes of a straight run; and the refusals. */
static void
resume(void)
{
	struct mm_arch a = tiny_arch(MM_REG_KL), b;
	struct mm_model m, q;
	struct mm_loss l;
	struct mm_optim o, oq;
	struct mm_rng r, rq;
	struct mm_meta meta;
	struct mm_resume want = { NULL, 16, MM_OPT_ADAM, 3e-3, 1e-4, 0 };
	static float x[NP * S * S], p[NP * K];
	int lab[NP], epoch = -1, rc;
	FILE *f = tmpfile(), *g = tmpfile();

	want.arch = &a;
	mm_rng_seed(&r, 8);
	make_pairs(&r, NP, x, p, lab);
	mm_loss_init(&l, 16, a.code, MM_OBJ_INFONCE, MM_REG_KL, 0, 0.5);
	/* the straight run */
	mm_rng_seed(&r, 9);
	mm_model_create(&m, &a, 16);
	mm_model_init(&m, &r);
	mm_optim_init(&o, MM_OPT_ADAM, mm_model_nparams(&m), 3e-3, 1e-4, 0);
	epochs(&m, &l, &o, &r, 0, 1, x, p);
	mm_meta_init(&meta);
	mm_meta_set(&meta, "train.optimizer", "adam");
	mm_ckpt_to_meta(&meta, &o, 1, &r);
	mm_model_save(&m, f, &meta, &o);
	mm_model_save(&m, g, NULL, NULL);
	epochs(&m, &l, &o, &r, 1, 3, x, p);
	/* the resumed one */
	rewind(f);
	mm_rng_seed(&rq, 12345);
	rc = mm_ckpt_resume(f, "ckpt", &want, &q, &oq, &rq, &epoch);
	ok(rc == 0 && epoch == 1 && oq.step == 4, "resume: the checkpoint "
	    "restores epoch %d, step %lld (%s)", epoch, (long long)oq.step,
	    rc ? mm_errmsg() : "ok");
	if (rc == 0) {
		epochs(&q, &l, &oq, &rq, epoch, 3, x, p);
		ok(same_tensors(&m, &q) && oq.step == o.step &&
		    !memcmp(oq.m, o.m, o.n * sizeof(float)) &&
		    !memcmp(oq.v, o.v, o.n * sizeof(float)) &&
		    !memcmp(&rq, &r, sizeof(r)), "resume: the run ends with the "
		    "bytes of the straight run (weights, temperature, moments, "
		    "generator)");
		mm_optim_free(&oq);
		mm_model_free(&q);
	} else
		skip(1, "no resume");

	rewind(g);
	rc = mm_ckpt_resume(g, "plain", &want, &q, &oq, &rq, &epoch);
	ok(rc == MM_EMISSING && strstr(mm_errmsg(), "no optimiser state"),
	    "resume refuses a model without optimiser state: %s", mm_errmsg());
	rewind(f);
	want.optimizer = MM_OPT_SGD;
	rc = mm_ckpt_resume(f, "ckpt", &want, &q, &oq, &rq, &epoch);
	ok(rc < 0 && strstr(mm_errmsg(), "not sgd's"), "resume refuses "
	    "another optimiser: %s", mm_errmsg());
	rewind(f);
	want.optimizer = MM_OPT_ADAM;
	b = a;
	b.learn[0] = 0;
	want.arch = &b;
	rc = mm_ckpt_resume(f, "ckpt", &want, &q, &oq, &rq, &epoch);
	ok(rc < 0 && strstr(mm_errmsg(), "another architecture: temperature "
	    "learnt in the file, fixed asked"), "resume refuses another "
	    "architecture: %s", mm_errmsg());
	fclose(f);
	fclose(g);
	mm_meta_free(&meta);
	mm_optim_free(&o);
	mm_loss_free(&l);
	mm_model_free(&m);
}

int
main(void)
{
	plan(23 + 4 + 5);
	roundtrip();
	gradcheck(MM_REG_COS);
	gradcheck(MM_REG_KL);
	learns();
	golden_step();
	objective_record();
	resume();
	return done_testing();
}
