/*
 * emb.h - embedding tables read from an mmib-encode stream, shared by
 * mmib-probe and mmib-align.
 */
#ifndef MM_EMB_H
#define MM_EMB_H

#include <stdint.h>
#include <stdio.h>

#include "meta.h"

struct mm_emb {
	struct mm_meta meta;
	struct mm_factors fac;  /* from the metadata */
	int64_t N;
	int Dimg, Dfac, F;      /* 0 when the tensor is absent */
	float *z_img;           /* (N, Dimg) or NULL */
	float *z_fac;           /* (N, Dfac) or NULL */
	int32_t *classes;       /* (N, F) or NULL */
};
void mm_emb_init(struct mm_emb *e);
void mm_emb_free(struct mm_emb *e);
/* Flags of mm_emb_read. */
#define MM_EMB_CLASSES 1    /* 'classes' required */
#define MM_EMB_NOFACTORS 2  /* no factor metadata needed: 'classes' and the
                               factor keys are neither read nor checked */
#define MM_EMB_ANYMODEL 4   /* accept segments of different models (model.fp,
                               prov.h); without it they are refused */

/* Read a whole embedding stream from f (label names it for the reader;
 * error details do not repeat it).
 * Requires factor metadata (unless MM_EMB_NOFACTORS), at least one of
 * z_img / z_fac (f32, 2-d), consistent shapes across batches, finite
 * values; classes, when present, must be i32 (N, F) within the
 * cardinalities.  A segment whose model.fp differs from the first's is
 * refused (MM_EINVAL, mm_prov_check_segment) unless MM_EMB_ANYMODEL. */
int mm_emb_read(struct mm_emb *e, FILE *f, const char *label, int flags);
/* Whether a test table fits a training table: the same factors (names,
 * cardinalities, roles), the same embeddings present, the same widths.
 * 0, or MM_EFORMAT with a detail naming what differs. */
int mm_emb_match(const struct mm_emb *tr, const struct mm_emb *te);

#endif
