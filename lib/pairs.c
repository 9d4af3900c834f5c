/* pairs.c - paired samples in memory and as batch views (see pairs.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "pairs.h"

void
mm_pairs_init(struct mm_pairs *d)
{
	memset(d, 0, sizeof *d);
	mm_meta_init(&d->meta);
}

void
mm_pairs_free(struct mm_pairs *d)
{
	if (d->owned) {
		free(d->img);
		free(d->pair);
		free(d->cls);
	}
	mm_meta_free(&d->meta);
	mm_pairs_init(d);
}

/* The well-formed 'images' (u8, 4-d) and 'pair' (f32, 2-d) of b. */
static int
tensors(struct mm_batch *b, int need, struct mm_record **im,
    struct mm_record **pr)
{
	*im = mm_batch_get(b, "images");
	*pr = mm_batch_get(b, "pair");
	if ((need & MM_PAIRS_IMAGES) && !*im)
		return mm_err(MM_EMISSING, "batch %u has no 'images' tensor",
		    b->index);
	if ((need & MM_PAIRS_PAIR) && !*pr)
		return mm_err(MM_EMISSING, "batch %u has no 'pair' tensor",
		    b->index);
	if (*im && ((*im)->dtype != MM_U8 || (*im)->ndim != 4)) {
		if (need & MM_PAIRS_IMAGES)
			return mm_err(MM_EFORMAT, "'images' must be u8 (N, C, "
			    "H, W)");
		*im = NULL;
	}
	if (*pr && ((*pr)->dtype != MM_F32 || (*pr)->ndim != 2)) {
		if (need & MM_PAIRS_PAIR)
			return mm_err(MM_EFORMAT, "'pair' must be f32 (N, D)");
		*pr = NULL;
	}
	return 0;
}

int
mm_pairs_view(struct mm_pairs *d, struct mm_batch *b, int need)
{
	struct mm_record *im, *pr;
	int rc;

	d->N = 0;
	d->C = d->H = d->W = d->D = 0;
	d->img = NULL;
	d->pair = NULL;
	d->F = 0;
	d->cls = NULL;
	d->owned = 0;
	if ((rc = tensors(b, need, &im, &pr)) < 0)
		return rc;
	d->N = b->rows;
	if (im) {
		d->C = (int)im->shape[1];
		d->H = (int)im->shape[2];
		d->W = (int)im->shape[3];
		d->img = im->data;
	}
	if (pr) {
		int64_t i, n = (int64_t)d->N * pr->shape[1];
		d->D = (int)pr->shape[1];
		d->pair = pr->data;
		for (i = 0; i < n; i++)
			if (!isfinite(d->pair[i]))
				return mm_err(MM_ENUM, "batch %u: 'pair' row "
				    "%lld is not finite", (unsigned)b->index,
				    (long long)(i / d->D));
	}
	return 0;
}

int
mm_pairs_load(struct mm_pairs *d, struct mm_reader *rd)
{
	struct mm_batch b;
	struct mm_record *im, *pr, *cl;
	int64_t cap = 0, i;
	int rc;

	d->owned = 1;
	mm_batch_init(&b);
	while ((rc = mm_reader_batch(rd, &b)) > 0) {
		int64_t n = b.rows;
		size_t chw;
		void *q;

		if (!mm_batch_get(&b, "images") || !mm_batch_get(&b, "pair")) {
			rc = mm_err(MM_EMISSING, "batch %u lacks the '%s' tensor "
			    "(not a paired stream from mmib-gen?)", b.index,
			    mm_batch_get(&b, "images") ? "pair" : "images");
			break;
		}
		if ((rc = tensors(&b, MM_PAIRS_IMAGES | MM_PAIRS_PAIR, &im,
		    &pr)) < 0)
			break;
		cl = mm_batch_get(&b, "classes");
		if (cl && (cl->dtype != MM_I32 || cl->ndim != 2 ||
		    cl->shape[0] != n || cl->shape[1] < 1 ||
		    cl->shape[1] > MM_MAXFACTORS))
			cl = NULL;
		if (d->N == 0 && cap == 0) {
			d->F = cl ? (int)cl->shape[1] : 0;
			d->C = (int)im->shape[1];
			d->H = (int)im->shape[2];
			d->W = (int)im->shape[3];
			d->D = (int)pr->shape[1];
			if ((rc = mm_meta_copy(&d->meta,
			    mm_reader_meta(rd))) < 0)
				break;
		} else if (im->shape[1] != d->C || im->shape[2] != d->H ||
		    im->shape[3] != d->W || pr->shape[1] != d->D) {
			rc = mm_err(MM_EFORMAT, "batch %u changes the image or "
			    "pair shape", b.index);
			break;
		}
		if (d->F && (!cl || cl->shape[1] != d->F)) {
			rc = mm_err(MM_EFORMAT, "batch %u lacks the 'classes' "
			    "(i32, %d columns) of batch 0", b.index, d->F);
			break;
		}
		chw = (size_t)d->C * d->H * d->W;
		if (d->N + n > cap) {
			cap = 2 * (d->N + n);
			if ((q = realloc(d->img, (size_t)cap * chw)) != NULL)
				d->img = q;
			if (q && (q = realloc(d->pair, (size_t)cap * d->D *
			    sizeof(float))) != NULL)
				d->pair = q;
			if (q && d->F && (q = realloc(d->cls, (size_t)cap *
			    d->F * sizeof(int32_t))) != NULL)
				d->cls = q;
			if (!q) {
				rc = mm_err(MM_ENOMEM, "out of memory");
				break;
			}
		}
		memcpy(d->img + (size_t)d->N * chw, im->data, im->size);
		memcpy(d->pair + (size_t)d->N * d->D, pr->data, pr->size);
		if (d->F)
			memcpy(d->cls + (size_t)d->N * d->F, cl->data, cl->size);
		for (i = 0; i < n * d->D; i++)
			if (!isfinite(d->pair[(size_t)d->N * d->D + i])) {
				rc = mm_err(MM_ENUM, "'pair' row %lld is not "
				    "finite", (long long)(d->N + i / d->D));
				break;
			}
		if (rc < 0)
			break;
		d->N += n;
	}
	mm_batch_free(&b);
	return rc < 0 ? rc : 0;
}

void
mm_pairs_gather(const struct mm_pairs *d, const int64_t *idx, int n,
    float *x, float *p)
{
	size_t chw = (size_t)d->C * d->H * d->W, k;
	int i;

	for (i = 0; i < n; i++) {
		if (x) {
			const uint8_t *s = d->img + (size_t)idx[i] * chw;

			for (k = 0; k < chw; k++)
				x[i * chw + k] = s[k];
		}
		if (p)
			memcpy(p + (size_t)i * d->D, d->pair + (size_t)idx[i] *
			    d->D, d->D * sizeof(float));
	}
}

void
mm_pairs_slice(const struct mm_pairs *d, int64_t first, int n, float *x,
    float *p)
{
	size_t chw = (size_t)d->C * d->H * d->W, k;

	if (x) {
		const uint8_t *s = d->img + (size_t)first * chw;

		for (k = 0; k < (size_t)n * chw; k++)
			x[k] = s[k];
	}
	if (p)
		memcpy(p, d->pair + (size_t)first * d->D,
		    (size_t)n * d->D * sizeof(float));
}
