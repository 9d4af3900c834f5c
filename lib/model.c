/* model.c - encoders + the objective's scalars, training step, save/load
 * (model.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "model.h"
#include "nn.h"
#include "num.h"
#include "stream.h"

int
mm_spec_split(const char *spec, char *base, size_t cap, int *out)
{
	const char *slash = strchr(spec, '/');
	size_t len = slash ? (size_t)(slash - spec) : strlen(spec);
	long v;

	*out = 0;
	if (len == 0 || len >= cap)
		return mm_err(MM_EINVAL, "bad encoder spec \"%s\"", spec);
	memcpy(base, spec, len);
	base[len] = '\0';
	if (slash) {
		if (mm_num_long(slash + 1, NULL, 1, 1 << 20, &v) < 0)
			return mm_err(MM_EINVAL, "bad output size in encoder "
			    "spec \"%s\"", spec);
		*out = (int)v;
	}
	return 0;
}

/* "model.learn_<name>" of scalar k (a static buffer). */
static const char *
learn_key(const struct mm_objective *ob, int k)
{
	static char key[80];

	snprintf(key, sizeof(key), "model.learn_%s", ob->scalars[k].name);
	return key;
}

int
mm_arch_to_meta(const struct mm_arch *a, struct mm_meta *m)
{
	const struct mm_objective *ob = mm_objective_get(a->objective);
	struct mm_encoder_info ii;
	int rc = 0, k;

	if ((rc = mm_encoder_spec_info(a->img_spec, &ii)) < 0)
		return rc;
	rc |= mm_meta_set(m, "model.image_encoder", a->img_spec);
	rc |= mm_meta_set(m, "model.image_kind", ii.kind);
	rc |= mm_meta_setf(m, "model.image_depth", "%d", ii.depth);
	rc |= mm_meta_set(m, "model.factor_encoder", a->fac_spec);
	rc |= mm_meta_setf(m, "model.code_size", "%d", a->code);
	rc |= mm_meta_setf(m, "model.channels", "%d", a->C);
	rc |= mm_meta_setf(m, "model.height", "%d", a->H);
	rc |= mm_meta_setf(m, "model.width", "%d", a->W);
	rc |= mm_meta_setf(m, "model.pair_dim", "%d", a->pair_dim);
	rc |= mm_meta_set(m, "model.objective", ob->name);
	rc |= mm_meta_set(m, "model.reg", mm_reg_name(a->reg));
	for (k = 0; k < ob->nscalars; k++)
		rc |= mm_meta_setf(m, learn_key(ob, k), "%d", a->learn[k]);
	return rc ? mm_err(MM_ENOMEM, "model metadata: out of memory") : 0;
}

static int
meta_int(const struct mm_meta *m, const char *key, int min, int max,
    int *out)
{
	const char *s = mm_meta_get(m, key);
	long v;

	if (!s)
		return mm_err(MM_EMISSING, "model metadata lacks %s", key);
	if (mm_num_long(s, NULL, min, max, &v) < 0)
		return mm_err(MM_EFORMAT, "model metadata: %s=%s is not an "
		    "integer in [%d, %d]", key, s, min, max);
	*out = (int)v;
	return 0;
}

static int
meta_str(const struct mm_meta *m, const char *key, char *out, size_t cap)
{
	const char *s = mm_meta_get(m, key);

	if (!s)
		return mm_err(MM_EMISSING, "model metadata lacks %s", key);
	if (strlen(s) >= cap || !*s)
		return mm_err(MM_EFORMAT, "model metadata: bad %s", key);
	strcpy(out, s);
	return 0;
}

int
mm_arch_from_meta(struct mm_arch *a, const struct mm_meta *m)
{
	char reg[16], obj[32] = "infonce";
	const struct mm_objective *ob;
	int rc, k;

	memset(a, 0, sizeof(*a));
	if ((rc = meta_str(m, "model.image_encoder", a->img_spec,
	    sizeof(a->img_spec))) ||
	    (rc = meta_str(m, "model.factor_encoder", a->fac_spec,
	    sizeof(a->fac_spec))) ||
	    (rc = meta_int(m, "model.code_size", 1, 1 << 16, &a->code)) ||
	    (rc = meta_int(m, "model.channels", 1, 64, &a->C)) ||
	    (rc = meta_int(m, "model.height", 1, 4096, &a->H)) ||
	    (rc = meta_int(m, "model.width", 1, 4096, &a->W)) ||
	    (rc = meta_int(m, "model.pair_dim", 1, 1 << 20, &a->pair_dim)) ||
	    (rc = meta_str(m, "model.reg", reg, sizeof(reg))) ||
	    (mm_meta_get(m, "model.objective") &&
	    (rc = meta_str(m, "model.objective", obj, sizeof(obj)))))
		return rc;
	if ((a->reg = mm_reg_parse(reg)) < 0)
		return mm_err(MM_EFORMAT, "model metadata: unknown model.reg=%s",
		    reg);
	/* files without model.objective predate the table: infonce */
	if ((a->objective = mm_objective_parse(obj)) < 0)
		return mm_err(MM_EFORMAT, "model metadata: unknown "
		    "model.objective=%s", obj);
	ob = mm_objective_get(a->objective);
	for (k = 0; k < ob->nscalars; k++)
		if ((rc = meta_int(m, learn_key(ob, k), 0, 1, &a->learn[k])))
			return rc;
	return 0;
}

int
mm_arch_compare(const struct mm_arch *f, const struct mm_arch *w)
{
	const struct mm_objective *ob;
	int k;

	if (strcmp(f->img_spec, w->img_spec))
		return mm_err(MM_EINVAL, "image encoder %s in the file, %s asked",
		    f->img_spec, w->img_spec);
	if (strcmp(f->fac_spec, w->fac_spec))
		return mm_err(MM_EINVAL, "factor encoder %s in the file, %s "
		    "asked", f->fac_spec, w->fac_spec);
	if (f->code != w->code)
		return mm_err(MM_EINVAL, "code size %d in the file, %d asked",
		    f->code, w->code);
	if (f->C != w->C || f->H != w->H || f->W != w->W)
		return mm_err(MM_EINVAL, "images %dx%dx%d in the file, %dx%dx%d "
		    "in the data", f->C, f->H, f->W, w->C, w->H, w->W);
	if (f->pair_dim != w->pair_dim)
		return mm_err(MM_EINVAL, "pair dimension %d in the file, %d in "
		    "the data", f->pair_dim, w->pair_dim);
	if (f->reg != w->reg)
		return mm_err(MM_EINVAL, "regulariser %s in the file, %s asked",
		    mm_reg_name(f->reg), mm_reg_name(w->reg));
	if (f->objective != w->objective)
		return mm_err(MM_EINVAL, "objective %s in the file, %s asked",
		    mm_objective_name(f->objective),
		    mm_objective_name(w->objective));
	ob = mm_objective_get(f->objective);
	for (k = 0; k < ob->nscalars; k++)
		if (f->learn[k] != w->learn[k])
			return mm_err(MM_EINVAL, "%s %s in the file, %s asked",
			    ob->scalars[k].name, f->learn[k] ? "learnt" : "fixed",
			    w->learn[k] ? "learnt" : "fixed");
	return 0;
}

int
mm_model_out_dim(const struct mm_model *m)
{
	return mm_regulariser_get(m->a.reg)->width * m->a.code;
}

int
mm_model_create(struct mm_model *m, const struct mm_arch *a, int max_batch)
{
	int out, rc, k;

	memset(m, 0, sizeof(*m));
	mm_meta_init(&m->meta);
	if (!mm_objective_get(a->objective) || !mm_regulariser_get(a->reg))
		return mm_err(MM_EINVAL, "model: objective %d or regulariser "
		    "%d unknown", a->objective, a->reg);
	m->a = *a;
	m->max_batch = max_batch;
	m->obj = mm_objective_get(a->objective);
	for (k = 0; k < m->obj->nscalars; k++)
		m->scal[k] = (float)m->obj->scalars[k].init;
	out = mm_model_out_dim(m);
	if (strchr(a->img_spec, '/') || strchr(a->fac_spec, '/'))
		return mm_err(MM_EINVAL, "model: encoder specs carry no /OUT "
		    "(the code size is separate)");
	if ((rc = mm_encoder_create(&m->img, a->img_spec, a->C, a->H, a->W,
	    out, max_batch)) < 0 ||
	    (rc = mm_encoder_create(&m->fac, a->fac_spec, a->pair_dim, 1, 1,
	    out, max_batch)) < 0) {
		mm_model_free(m);
		return rc;
	}
	m->da = malloc((size_t)max_batch * out * sizeof(float));
	m->db = malloc((size_t)max_batch * out * sizeof(float));
	if (!m->da || !m->db) {
		mm_model_free(m);
		return mm_err(MM_ENOMEM, "model: out of memory");
	}
	return 0;
}

void
mm_model_init(struct mm_model *m, struct mm_rng *rng)
{
	int k;

	mm_encoder_init(m->img, rng);
	mm_encoder_init(m->fac, rng);
	for (k = 0; k < m->obj->nscalars; k++)
		m->scal[k] = (float)m->obj->scalars[k].init;
}

void
mm_model_free(struct mm_model *m)
{
	if (m->img)
		mm_encoder_free(m->img);
	if (m->fac)
		mm_encoder_free(m->fac);
	free(m->da);
	free(m->db);
	free(m->opt_m);
	free(m->opt_v);
	mm_meta_free(&m->meta);
	memset(m, 0, sizeof(*m));
}

size_t
mm_model_nparams(const struct mm_model *m)
{
	size_t n = mm_encoder_nparams(m->img) + mm_encoder_nparams(m->fac);
	int k;

	for (k = 0; k < m->obj->nscalars; k++)
		n += m->a.learn[k] != 0;
	return n;
}

void
mm_model_scalars(const struct mm_model *m, double *s)
{
	int k;

	for (k = 0; k < m->obj->nscalars; k++)
		s[k] = m->scal[k];
}

int
mm_model_scalars_meta(const struct mm_model *m, struct mm_meta *meta,
    const char *prefix)
{
	char key[80];
	int k, rc = 0;

	for (k = 0; k < m->obj->nscalars; k++) {
		snprintf(key, sizeof(key), "%s%s", prefix, m->obj->scalars[k].name);
		rc |= mm_meta_setf(meta, key, "%.9g", m->scal[k]);
	}
	return rc ? mm_err(MM_ENOMEM, "model metadata: out of memory") : 0;
}

/* u8 -> float happens in the caller; here x is already float. */
double
mm_model_train_step(struct mm_model *m, struct mm_loss *l,
    struct mm_optim *o, const float *x, const float *p, int N,
    struct mm_rng *rng)
{
	const float *ya, *yb;
	size_t ni = mm_encoder_nparams(m->img), nf = mm_encoder_nparams(m->fac);
	size_t off = ni + nf;
	double loss, s[MM_LOSS_MAXSCALARS];
	int k;

	ya = mm_encoder_forward(m->img, x, N, 1);
	yb = mm_encoder_forward(m->fac, p, N, 1);
	mm_model_scalars(m, s);
	loss = mm_loss_compute(l, ya, yb, N, s, rng, m->da, m->db);
	if (!isfinite(loss))
		return loss;
	for (k = 0; k < m->obj->nscalars; k++)
		if (m->a.learn[k] && !isfinite(l->dscal[k]))
			return loss;
	mm_encoder_zero_grad(m->img);
	mm_encoder_zero_grad(m->fac);
	mm_encoder_backward(m->img, m->da);
	mm_encoder_backward(m->fac, m->db);
	mm_optim_begin(o);
	mm_optim_update(o, 0, mm_encoder_params(m->img),
	    mm_encoder_grads(m->img), ni);
	mm_optim_update(o, ni, mm_encoder_params(m->fac),
	    mm_encoder_grads(m->fac), nf);
	/* the learnt scalars follow the encoders, in declaration order */
	for (k = 0; k < m->obj->nscalars; k++)
		if (m->a.learn[k]) {
			float g = (float)l->dscal[k];

			mm_optim_update(o, off++, &m->scal[k], &g, 1);
		}
	return loss;
}

double
mm_model_eval_loss(struct mm_model *m, struct mm_loss *l, const float *x,
    const float *p, int N)
{
	const float *ya = mm_encoder_forward(m->img, x, N, 0);
	const float *yb = mm_encoder_forward(m->fac, p, N, 0);
	double s[MM_LOSS_MAXSCALARS];

	mm_model_scalars(m, s);
	return mm_loss_compute(l, ya, yb, N, s, NULL, NULL, NULL);
}

void
mm_model_encode(struct mm_model *m, const float *x, const float *p, int N,
    float *zi, float *zf)
{
	int out = mm_model_out_dim(m);

	if (x && zi)
		mm_l2norm_rows(zi, NULL, mm_encoder_forward(m->img, x, N, 0),
		    N, m->a.code, out);
	if (p && zf)
		mm_l2norm_rows(zf, NULL, mm_encoder_forward(m->fac, p, N, 0),
		    N, m->a.code, out);
}

static int
write_views(struct mm_writer *w, struct mm_encoder *e, const char *prefix)
{
	struct mm_tensor_view *v;
	char name[MM_MAXNAME + 1];
	int n = mm_encoder_tensors(e, &v), i, rc;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "%s.%s", prefix, v[i].name);
		if ((rc = mm_writer_tensor(w, name, 0, MM_F32, v[i].ndim,
		    v[i].shape, v[i].data)) < 0)
			return rc;
	}
	return 0;
}

int
mm_model_save(struct mm_model *m, FILE *f, const struct mm_meta *meta,
    const struct mm_optim *o)
{
	struct mm_writer *w;
	struct mm_meta mt;
	int64_t one = 1, n;
	int rc, k;

	mm_meta_init(&mt);
	if ((meta && (rc = mm_meta_copy(&mt, meta)) < 0) ||
	    (rc = mm_arch_to_meta(&m->a, &mt)) < 0) {
		mm_meta_free(&mt);
		return rc;
	}
	if (!(w = mm_writer_open(f, 0))) {
		mm_meta_free(&mt);
		return mm_err(MM_ENOMEM, "model: out of memory");
	}
	rc = mm_writer_meta(w, &mt);
	if (rc >= 0)
		rc = write_views(w, m->img, "img");
	if (rc >= 0)
		rc = write_views(w, m->fac, "fac");
	for (k = 0; k < m->obj->nscalars && rc >= 0; k++)
		rc = mm_writer_tensor(w, m->obj->scalars[k].name, 0, MM_F32, 1,
		    &one, &m->scal[k]);
	if (rc >= 0 && o) {
		n = (int64_t)o->n;
		rc = mm_writer_tensor(w, "optim.m", 0, MM_F32, 1, &n, o->m);
		if (rc >= 0)
			rc = mm_writer_tensor(w, "optim.v", 0, MM_F32, 1, &n, o->v);
	}
	if (rc >= 0)
		rc = mm_writer_end(w);
	if (mm_writer_close(w) < 0 && rc >= 0)
		rc = MM_EIO;
	mm_meta_free(&mt);
	return rc < 0 ? rc : 0;
}

/* Find name ("img.x") among the views of both encoders. */
static struct mm_tensor_view *
find_view(struct mm_model *m, const char *name, int *slot)
{
	struct mm_tensor_view *v;
	int n, i, base = 0, k;

	for (k = 0; k < 2; k++) {
		struct mm_encoder *e = k ? m->fac : m->img;
		const char *pre = k ? "fac." : "img.";

		n = mm_encoder_tensors(e, &v);
		if (!strncmp(name, pre, 4))
			for (i = 0; i < n; i++)
				if (!strcmp(name + 4, v[i].name)) {
					*slot = base + i;
					return &v[i];
				}
		base += n;
	}
	return NULL;
}

static int
take_moments(float **dst, const struct mm_record *r, size_t *n)
{
	if (r->dtype != MM_F32 || r->ndim != 1)
		return mm_err(MM_EFORMAT, "tensor %s: want a f32 vector", r->name);
	if (*n && *n != (size_t)r->count)
		return mm_err(MM_ESIZE, "optim.m and optim.v differ in size");
	*n = (size_t)r->count;
	free(*dst);
	if (!(*dst = malloc(*n * sizeof(float) + 1)))
		return mm_err(MM_ENOMEM, "model: out of memory");
	memcpy(*dst, r->data, *n * sizeof(float));
	return 0;
}

/* The smaller default evaluation batch of the two encoders' kinds. */
static int
eval_batch(const struct mm_arch *a, int *max_batch)
{
	struct mm_encoder_info ii, fi;
	int rc;

	if ((rc = mm_encoder_spec_info(a->img_spec, &ii)) < 0 ||
	    (rc = mm_encoder_spec_info(a->fac_spec, &fi)) < 0)
		return rc;
	*max_batch = ii.eval_batch < fi.eval_batch ? ii.eval_batch :
	    fi.eval_batch;
	return 0;
}

int
mm_model_load(struct mm_model *m, FILE *f, const char *label, int max_batch)
{
	struct mm_reader *rd;
	struct mm_record rec;
	struct mm_arch a;
	char *seen = NULL;
	int rc, built = 0, have = 0, nviews = 0, i, slot, k;
	struct mm_tensor_view *v;

	memset(m, 0, sizeof(*m));
	mm_meta_init(&m->meta);
	if (!(rd = mm_reader_open(f, label)))
		return mm_err(MM_ENOMEM, "model: out of memory");
	mm_record_init(&rec);
	while ((rc = mm_reader_next(rd, &rec)) > 0) {
		if (rec.kind == 'E')
			break;
		if (rec.kind != 'T')
			continue;
		if (!built) {
			struct mm_meta keep;

			if ((rc = mm_arch_from_meta(&a, mm_reader_meta(rd))) < 0)
				goto out;
			if (max_batch <= 0 &&
			    (rc = eval_batch(&a, &max_batch)) < 0)
				goto out;
			if ((rc = mm_model_create(m, &a, max_batch)) < 0)
				goto out;
			mm_meta_init(&keep);
			if ((rc = mm_meta_copy(&keep, mm_reader_meta(rd))) < 0)
				goto out;
			m->meta = keep;
			built = 1;
			nviews = mm_encoder_tensors(m->img, &v) +
			    mm_encoder_tensors(m->fac, &v);
			if (!(seen = calloc(nviews + 1, 1))) {
				rc = mm_err(MM_ENOMEM, "model: out of memory");
				goto out;
			}
		}
		if ((k = mm_objective_scalar(a.objective, rec.name)) >= 0) {
			if (rec.dtype != MM_F32 || rec.count != 1) {
				rc = mm_err(MM_EFORMAT, "%s: %s is not one f32",
				    label, rec.name);
				goto out;
			}
			memcpy(&m->scal[k], rec.data, sizeof(float));
			have |= 1 << k;
			continue;
		}
		if (!strcmp(rec.name, "optim.m") || !strcmp(rec.name, "optim.v")) {
			if ((rc = take_moments(rec.name[6] == 'm' ? &m->opt_m :
			    &m->opt_v, &rec, &m->opt_n)) < 0)
				goto out;
			continue;
		}
		if (!(v = find_view(m, rec.name, &slot))) {
			rc = mm_err(MM_EFORMAT, "%s: unexpected tensor %s for "
			    "this architecture", label, rec.name);
			goto out;
		}
		if (rec.dtype != MM_F32 || rec.ndim != v->ndim ||
		    (int64_t)rec.count != v->count) {
			rc = mm_err(MM_ESIZE, "%s: tensor %s has the wrong dtype "
			    "or shape", label, rec.name);
			goto out;
		}
		for (i = 0; i < v->ndim; i++)
			if (rec.shape[i] != v->shape[i]) {
				rc = mm_err(MM_ESIZE, "%s: tensor %s has the wrong "
				    "shape", label, rec.name);
				goto out;
			}
		memcpy(v->data, rec.data, v->count * sizeof(float));
		seen[slot] = 1;
	}
	if (rc < 0)
		goto out;
	if (!built) {
		rc = mm_err(MM_EMISSING, "%s: no model tensors (not a model "
		    "file?)", label);
		goto out;
	}
	for (i = 0; i < nviews; i++)
		if (!seen[i]) {
			struct mm_tensor_view *vi;
			int ni = mm_encoder_tensors(m->img, &vi), img = i < ni;

			if (!img)
				mm_encoder_tensors(m->fac, &vi);
			rc = mm_err(MM_EMISSING, "%s: tensor %s.%s is missing",
			    label, img ? "img" : "fac", vi[img ? i : i - ni].name);
			goto out;
		}
	for (k = 0; k < m->obj->nscalars; k++)
		if (!(have & 1 << k)) {
			rc = mm_err(MM_EMISSING, "%s: no %s tensor", label,
			    m->obj->scalars[k].name);
			goto out;
		}
	if ((m->opt_m == NULL) != (m->opt_v == NULL)) {
		rc = mm_err(MM_EMISSING, "%s: optimiser state incomplete", label);
		goto out;
	}
	rc = 0;
out:
	free(seen);
	mm_record_free(&rec);
	mm_reader_close(rd);
	if (rc < 0 && built)
		mm_model_free(m);
	else if (rc < 0)
		mm_meta_free(&m->meta);
	return rc;
}
