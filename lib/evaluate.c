/* evaluate.c - probes and alignment of a model between epochs
 * (evaluate.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "align.h"
#include "cli.h"
#include "err.h"
#include "evaluate.h"

/* The table of one stream: its factors, room for the embeddings (z_fac
 * only with fac), and a copy of its classes checked against the factors. */
static int
table(struct mm_emb *t, const struct mm_pairs *d, const struct mm_factors *f,
    int code, int fac, const char *what)
{
	int64_t i;
	int j;

	mm_emb_init(t);
	if (!d->cls || d->F != f->F)
		return mm_err(MM_EMISSING, "the %s stream has no 'classes' "
		    "tensor of its %d factors (not from mmib-gen?)", what, f->F);
	for (i = 0; i < d->N; i++)
		for (j = 0; j < f->F; j++) {
			int32_t v = d->cls[i * f->F + j];
			if (v < 0 || v >= f->card[j])
				return mm_err(MM_EFORMAT, "%s row %lld: class "
				    "%d of factor %s outside [0, %d)", what,
				    (long long)i,
				    (int)v, f->name[j], f->card[j]);
		}
	t->fac = *f;
	t->N = d->N;
	t->F = f->F;
	t->Dimg = code;
	t->Dfac = fac ? code : 0;
	t->z_img = malloc((size_t)d->N * code * sizeof(float));
	t->z_fac = fac ? malloc((size_t)d->N * code * sizeof(float)) : NULL;
	t->classes = malloc((size_t)d->N * f->F * sizeof(int32_t));
	if (!t->z_img || (fac && !t->z_fac) || !t->classes)
		return mm_err(MM_ENOMEM, "out of memory");
	memcpy(t->classes, d->cls, (size_t)d->N * f->F * sizeof(int32_t));
	return 0;
}

int
mm_eval_init(struct mm_eval *e, const struct mm_model *m,
    const struct mm_pairs *train, const struct mm_pairs *test, int threads)
{
	const struct mm_arch *a = &m->a;
	struct mm_encoder_info ii, fi;
	struct mm_factors tf;
	int rc, j, n = 0;

	memset(e, 0, sizeof *e);
	mm_emb_init(&e->tr);
	mm_emb_init(&e->te);
	e->train = train;
	e->test = test;
	e->threads = threads > 0 ? threads : 1;
	mm_probe_defaults(&e->popt);
	if ((rc = mm_meta_factors(&train->meta, &e->fac)) < 0 ||
	    (rc = mm_meta_factors(&test->meta, &tf)) < 0)
		return rc;
	if (test->N < 4)
		return mm_err(MM_ESIZE, "%lld test rows: alignment needs at "
		    "least 4", (long long)test->N);
	for (j = 0; j < e->fac.F; j++)
		n += e->want[j] = e->fac.card[j] >= 2;
	if (!n)
		return mm_err(MM_EFORMAT, "no factor of 2 or more classes to "
		    "probe");
	/* mmib-encode's chunk: the model file loaded for evaluation */
	if ((rc = mm_encoder_spec_info(a->img_spec, &ii)) < 0 ||
	    (rc = mm_encoder_spec_info(a->fac_spec, &fi)) < 0)
		return rc;
	e->chunk = ii.eval_batch < fi.eval_batch ? ii.eval_batch :
	    fi.eval_batch;
	/* the products of a batch of n rows need not round as those of
	 * another n, nor bf16 as fp32: an fp32 copy of the model built for
	 * mmib-encode's chunk when the trained one differs */
	if (e->chunk > m->max_batch ||
	    mm_encoder_precision(m->img) != MM_PREC_FP32 ||
	    mm_encoder_precision(m->fac) != MM_PREC_FP32) {
		if ((rc = mm_model_create(&e->copy, a, e->chunk)) < 0)
			goto fail;
		e->has_copy = 1;
	}
	if ((rc = table(&e->tr, train, &e->fac, a->code, 0,
	    "training")) < 0 ||
	    (rc = table(&e->te, test, &tf, a->code, 1, "test")) < 0)
		goto fail;
	/* the probes read the test classes by the training factors */
	for (j = 0; j < tf.F || j < e->fac.F; j++)
		if (tf.F != e->fac.F || strcmp(tf.name[j], e->fac.name[j]) ||
		    tf.card[j] != e->fac.card[j] ||
		    tf.essence[j] != e->fac.essence[j]) {
			rc = mm_err(MM_EFORMAT, "the test stream's factors "
			    "(or their roles) differ from the training "
			    "stream's");
			goto fail;
		}
	e->x = malloc((size_t)e->chunk * a->C * a->H * a->W * sizeof(float));
	e->p = malloc((size_t)e->chunk * a->pair_dim * sizeof(float));
	e->nn_img = malloc((size_t)test->N * sizeof(int32_t));
	e->nn_fac = malloc((size_t)test->N * sizeof(int32_t));
	if (!e->x || !e->p || !e->nn_img || !e->nn_fac) {
		rc = mm_err(MM_ENOMEM, "out of memory");
		goto fail;
	}
	return 0;
fail:
	mm_eval_free(e);
	return rc;
}

void
mm_eval_free(struct mm_eval *e)
{
	mm_emb_free(&e->tr);
	mm_emb_free(&e->te);
	free(e->x);
	free(e->p);
	free(e->nn_img);
	free(e->nn_fac);
	if (e->has_copy)
		mm_model_free(&e->copy);
	e->has_copy = 0;
	e->x = e->p = NULL;
	e->nn_img = e->nn_fac = NULL;
}

int
mm_eval_due(int every, int epoch, int epochs)
{
	return every > 0 && (epoch % every == 0 || epoch == epochs);
}

/* Every parameter and buffer of src into dst (the same spec). */
static void
copy_tensors(struct mm_encoder *dst, struct mm_encoder *src)
{
	struct mm_tensor_view *vd, *vs;
	int i, n = mm_encoder_tensors(dst, &vd);

	mm_encoder_tensors(src, &vs);
	for (i = 0; i < n; i++)
		memcpy(vd[i].data, vs[i].data, (size_t)vs[i].count *
		    sizeof(float));
}

/* z_img (and with zf z_fac) of every row of d, chunk rows at a time. */
static void
embed(struct mm_eval *e, struct mm_model *m, const struct mm_pairs *d,
    float *zi, float *zf)
{
	int64_t i;
	int code = m->a.code;

	for (i = 0; i < d->N; i += e->chunk) {
		int n = (int)(d->N - i < e->chunk ? d->N - i : e->chunk);

		mm_pairs_slice(d, i, n, e->x, zf ? e->p : NULL);
		mm_model_encode(m, e->x, zf ? e->p : NULL, n,
		    zi + (size_t)i * code, zf ? zf + (size_t)i * code : NULL);
	}
}

int
mm_eval_run(struct mm_eval *e, struct mm_model *m, int epoch)
{
	struct mm_probe_fit fit[MM_PROBE_NMOD * MM_MAXFACTORS];
	struct mm_probe_group g[2 * MM_PROBE_NMOD];
	int use[MM_PROBE_NMOD] = { 1, 0 };
	int j, n, ng, code = m->a.code, rc;
	int64_t N = e->te.N;
	double t0 = mm_now(), unb;
	int blas = openblas_get_num_threads();

	e->epoch = 0;
	if (e->has_copy) {
		copy_tensors(e->copy.img, m->img);
		copy_tensors(e->copy.fac, m->fac);
		m = &e->copy;
	}
	/* an mlp's products on more BLAS threads round otherwise (a ResNet
	 * or ViT runs its own threads, whatever this says): one thread, as
	 * mmib-encode -t 1 */
	openblas_set_num_threads(1);
	embed(e, m, e->train, e->tr.z_img, NULL);
	embed(e, m, e->test, e->te.z_img, e->te.z_fac);
	openblas_set_num_threads(blas);

	if ((n = mm_probe_emb(&e->tr, &e->te, use, e->want, &e->popt,
	    e->threads, fit)) < 0)
		return n;
	for (j = 0; j < MM_MAXFACTORS; j++)
		e->nmi[j] = NAN;
	for (j = 0; j < n; j++)
		if (fit[j].r.status == 0)
			e->nmi[fit[j].factor] = fit[j].r.nmi;
	e->ess_nmi = e->nui_nmi = NAN;
	ng = mm_probe_groups(fit, n, g);
	for (j = 0; j < ng; j++)
		if (g[j].mod == 0)
			*(g[j].essence ? &e->ess_nmi : &e->nui_nmi) = g[j].nmi;

	if ((rc = mm_align_cka(e->te.z_img, code, e->te.z_fac, code, N,
	    e->threads, &e->cka, &unb)) < 0 ||
	    (rc = mm_align_knn(e->te.z_img, N, code, 1, e->threads,
	    e->nn_img)) < 0 ||
	    (rc = mm_align_knn(e->te.z_fac, N, code, 1, e->threads,
	    e->nn_fac)) < 0)
		return rc;
	e->mutual_knn1 = mm_align_mutual_knn(e->nn_img, e->nn_fac, N, 1);
	e->seconds = mm_now() - t0;
	e->epoch = epoch;
	return 0;
}

void
mm_eval_log_header(FILE *f, const struct mm_eval *e)
{
	int j;

	for (j = 0; j < e->fac.F; j++)
		fprintf(f, "\timg_%s_nmi", e->fac.name[j]);
	fprintf(f, "\timg_ess_nmi\timg_nui_nmi\tcka\tmutual_knn1\teval_seconds");
}

/* "\t" and v with prec decimals, or "\tNA" when v is not finite. */
static void
value(FILE *f, double v, int prec)
{
	if (isfinite(v))
		fprintf(f, "\t%.*f", prec, v);
	else
		fprintf(f, "\tNA");
}

void
mm_eval_log_values(FILE *f, const struct mm_eval *e, int epoch)
{
	int j, have = e->epoch > 0 && e->epoch == epoch;

	for (j = 0; j < e->fac.F; j++)
		value(f, have ? e->nmi[j] : NAN, 6);
	value(f, have ? e->ess_nmi : NAN, 6);
	value(f, have ? e->nui_nmi : NAN, 6);
	value(f, have ? e->cka : NAN, 8);
	value(f, have ? e->mutual_knn1 : NAN, 8);
	value(f, have ? e->seconds : NAN, 3);
}
