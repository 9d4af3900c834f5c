/*
 * emb.c - embedding tables: a whole mmib-encode stream (z_img, z_fac,
 * classes and the factor metadata) read into memory for the analysers.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emb.h"
#include "err.h"
#include "le.h"
#include "prov.h"
#include "stream.h"

void
mm_emb_init(struct mm_emb *e)
{
	memset(e, 0, sizeof *e);
	mm_meta_init(&e->meta);
}

void
mm_emb_free(struct mm_emb *e)
{
	mm_meta_free(&e->meta);
	free(e->z_img);
	free(e->z_fac);
	free(e->classes);
	mm_emb_init(e);
}

/* Room in *buf (rows of rowbytes, *cap of them) for need rows, doubling. */
static int
grow(void **buf, int64_t need, int64_t *cap, size_t rowbytes)
{
	int64_t nc = *cap ? *cap : 1024;
	void *p;

	if (need <= *cap)
		return 0;
	while (nc < need)
		nc *= 2;
	if (!(p = realloc(*buf, (size_t)nc * rowbytes)))
		return mm_err(MM_ENOMEM, "out of memory reading embeddings");
	*buf = p;
	*cap = nc;
	return 0;
}

/* Append the rows of tensor rec to *buf (rows so far: have). */
static int
append_rows(void **buf, int64_t have, int64_t *cap, const struct mm_record
    *rec, size_t rowbytes)
{
	int64_t rows = mm_record_rows(rec);
	int rc;

	if (rows == 0)
		return 0;   /* an empty batch: nothing to copy (data may be NULL) */
	if ((rc = grow(buf, have + rows, cap, rowbytes)) < 0)
		return rc;
	memcpy((char *)*buf + (size_t)have * rowbytes, rec->data,
	    (size_t)rows * rowbytes);
	return 0;
}

/* Append the rows of an i64 (rows, F) tensor to the i32 table *buf,
 * refusing values beyond the i32 range. */
static int
append_i64(int32_t **buf, int64_t have, int64_t *cap,
    const struct mm_record *rec, int F)
{
	int64_t rows = mm_record_rows(rec), i;
	const unsigned char *p = rec->data;
	int rc;

	if (rows == 0)
		return 0;
	if ((rc = grow((void **)buf, have + rows, cap, sizeof(int32_t) * F)) < 0)
		return rc;
	for (i = 0; i < rows * F; i++) {
		int64_t v = (int64_t)mm_le64(p + 8 * i);
		if (v < INT32_MIN || v > INT32_MAX)
			return mm_err(MM_EFORMAT, "'classes' value %lld does "
			    "not fit 32 bits", (long long)v);
		(*buf)[have * F + i] = (int32_t)v;
	}
	return 0;
}

/* Check a tensor of the batch: dtype, 2-d, and the same width as before. */
static int
check_tensor(const struct mm_record *t, enum mm_dtype want, int *width)
{
	if (t->dtype != want)
		return mm_err(MM_EDTYPE, "tensor '%s' is %s, expected %s",
		    t->name, mm_dtype_name(t->dtype),
		    mm_dtype_name(want));
	if (t->ndim != 2 || t->shape[1] < 1 || t->shape[1] > 1 << 20)
		return mm_err(MM_ESIZE, "tensor '%s' must be (N, D) with "
		    "D >= 1", t->name);
	if (*width && *width != (int)t->shape[1])
		return mm_err(MM_ESIZE, "tensor '%s' changes width from "
		    "%d to %lld between batches", t->name, *width,
		    (long long)t->shape[1]);
	*width = (int)t->shape[1];
	return 0;
}

int
mm_emb_read(struct mm_emb *e, FILE *f, const char *label, int flags)
{
	int need_classes = flags & MM_EMB_CLASSES,
	    factors = !(flags & MM_EMB_NOFACTORS);
	struct mm_reader *rd;
	struct mm_batch b;
	int64_t capi = 0, capf = 0, capc = 0;
	int rc, nb = 0, have_img = -1, have_fac = -1, have_cls = -1;

	mm_emb_free(e);
	if (!(rd = mm_reader_open(f, label)))
		return mm_err(MM_ENOMEM, "out of memory");
	mm_batch_init(&b);
	while ((rc = mm_reader_batch(rd, &b)) > 0) {
		struct mm_record *ti = mm_batch_get(&b, "z_img");
		struct mm_record *tf = mm_batch_get(&b, "z_fac");
		struct mm_record *tc = factors ?
		    mm_batch_get(&b, "classes") : NULL;

		if (nb > 0 && b.new_segment && !(flags & MM_EMB_ANYMODEL) &&
		    (rc = mm_prov_check_segment(&e->meta,
		    mm_reader_meta(rd))) < 0)
			goto out;
		if (nb == 0) {
			if ((rc = mm_meta_copy(&e->meta, mm_reader_meta(rd))) < 0)
				goto out;
			if (factors &&
			    (rc = mm_meta_factors(&e->meta, &e->fac)) < 0)
				goto out;
			have_img = ti != NULL;
			have_fac = tf != NULL;
			have_cls = tc != NULL;
			if (!ti && !tf) {
				rc = mm_err(MM_EMISSING, "no 'z_img' or "
				    "'z_fac' tensor: not an embedding stream "
				    "(run mmib-encode first?)");
				goto out;
			}
			if (need_classes && !tc) {
				rc = mm_err(MM_EMISSING, "no 'classes' "
				    "tensor");
				goto out;
			}
		}
		if ((ti != NULL) != have_img || (tf != NULL) != have_fac ||
		    (tc != NULL) != have_cls) {
			rc = mm_err(MM_EFORMAT, "batch %u lacks a tensor "
			    "that batch 0 has (or has one it lacks)", (unsigned)b.index);
			goto out;
		}
		nb++;
		if (ti) {
			if ((rc = check_tensor(ti, MM_F32, &e->Dimg)) < 0 ||
			    (rc = append_rows((void **)&e->z_img, e->N, &capi,
			    ti, sizeof(float) * e->Dimg)) < 0)
				goto out;
		}
		if (tf) {
			if ((rc = check_tensor(tf, MM_F32, &e->Dfac)) < 0 ||
			    (rc = append_rows((void **)&e->z_fac, e->N, &capf,
			    tf, sizeof(float) * e->Dfac)) < 0)
				goto out;
		}
		if (tc) {
			/* classes are i32; i64 (numpy's default integer) is
			 * narrowed here, each value checked below */
			if ((rc = check_tensor(tc, tc->dtype == MM_I64 ? MM_I64 :
			    MM_I32, &e->F)) < 0)
				goto out;
			if (e->F != e->fac.F) {
				rc = mm_err(MM_ESIZE, "'classes' has %d "
				    "columns but the metadata names %d factors",
				    e->F, e->fac.F);
				goto out;
			}
			if (tc->dtype == MM_I64)
				rc = append_i64(&e->classes, e->N, &capc, tc, e->F);
			else
				rc = append_rows((void **)&e->classes, e->N,
				    &capc, tc, sizeof(int32_t) * e->F);
			if (rc < 0)
				goto out;
		}
		e->N += b.rows;
	}
	if (rc < 0)
		goto out;
	if (e->N == 0) {
		rc = mm_err(MM_EEMPTY, "no embeddings (no rows)");
		goto out;
	}
	/* values: finite embeddings, classes within the cardinalities */
	{
		int64_t i, j;
		for (i = 0; i < e->N * e->Dimg; i++)
			if (!isfinite(e->z_img[i])) {
				rc = mm_err(MM_ENUM, "z_img row %lld holds a "
				    "non-finite value", (long long)(i / e->Dimg));
				goto out;
			}
		for (i = 0; i < e->N * e->Dfac; i++)
			if (!isfinite(e->z_fac[i])) {
				rc = mm_err(MM_ENUM, "z_fac row %lld holds a "
				    "non-finite value", (long long)(i / e->Dfac));
				goto out;
			}
		for (i = 0; e->classes && i < e->N; i++)
			for (j = 0; j < e->F; j++) {
				int32_t v = e->classes[i * e->F + j];
				if (v < 0 || v >= e->fac.card[j]) {
					rc = mm_err(MM_EFORMAT, "row %lld: "
					    "class %d of factor %s outside "
					    "[0, %d)", (long long)i,
					    (int)v, e->fac.name[j],
					    e->fac.card[j]);
					goto out;
				}
			}
	}
	rc = 0;
out:
	mm_batch_free(&b);
	mm_reader_close(rd);
	if (rc < 0)
		mm_emb_free(e);
	return rc;
}

int
mm_emb_match(const struct mm_emb *tr, const struct mm_emb *te)
{
	int i;

	if (tr->fac.F != te->fac.F)
		return mm_err(MM_EFORMAT, "train and test name %d and %d "
		    "factors", tr->fac.F, te->fac.F);
	for (i = 0; i < tr->fac.F; i++) {
		if (strcmp(tr->fac.name[i], te->fac.name[i]) ||
		    tr->fac.card[i] != te->fac.card[i])
			return mm_err(MM_EFORMAT, "factor %d differs between "
			    "train (%s, %d classes) and test (%s, %d classes)",
			    i + 1, tr->fac.name[i], tr->fac.card[i],
			    te->fac.name[i], te->fac.card[i]);
		if (tr->fac.essence[i] != te->fac.essence[i])
			return mm_err(MM_EFORMAT, "factor %s is essence in one "
			    "and nuisance in the other", tr->fac.name[i]);
	}
	if ((tr->z_img != NULL) != (te->z_img != NULL) ||
	    (tr->z_fac != NULL) != (te->z_fac != NULL))
		return mm_err(MM_EFORMAT, "train and test hold different "
		    "embeddings (z_img/z_fac)");
	if (tr->Dimg != te->Dimg || tr->Dfac != te->Dfac)
		return mm_err(MM_EFORMAT, "embedding widths differ between "
		    "train (z_img %d, z_fac %d) and test (z_img %d, z_fac %d)",
		    tr->Dimg, tr->Dfac, te->Dimg, te->Dfac);
	return 0;
}
