/*
 * pairs.h - paired samples as the encoders take them: the 'images'
 * tensor (u8 (N, C, H, W)) and the 'pair' tensor (f32 (N, D)) of a paired
 * stream (see mmib-stream(5)), held whole in memory or seen one batch at a
 * time, and gathered into float rows for a model.
 */
#ifndef MM_PAIRS_H
#define MM_PAIRS_H

#include <stdint.h>

#include "meta.h"
#include "stream.h"

/* Which tensors a view needs. */
#define MM_PAIRS_IMAGES 1
#define MM_PAIRS_PAIR   2

struct mm_pairs {
	int64_t N;
	int C, H, W;            /* 0 when there are no images */
	int D;                  /* 0 when there are no pair vectors */
	uint8_t *img;           /* (N, C, H, W) or NULL */
	float *pair;            /* (N, D) or NULL */
	int F;                  /* 0 when there are no classes */
	int32_t *cls;           /* mm_pairs_load: 'classes' (N, F) when every
	                           batch has it as i32, else NULL */
	struct mm_meta meta;    /* mm_pairs_load: the stream's metadata */
	int owned;              /* img and pair are ours to free */
};

void mm_pairs_init(struct mm_pairs *d);
void mm_pairs_free(struct mm_pairs *d);

/* Read every batch of rd into d (after mm_pairs_init): both tensors are
 * required in every batch, with one image shape and one D throughout,
 * and every pair value finite; the metadata is that of the first batch.
 * 'classes' is kept too when the first batch has it as i32 (N, F): then
 * every batch must have it with that F (values unchecked here).
 * 0, or MM_EMISSING / MM_EFORMAT / MM_ENUM / MM_ENOMEM with a detail that
 * does not repeat the stream's name, or the reader's error. */
int mm_pairs_load(struct mm_pairs *d, struct mm_reader *rd);

/* Point d at the tensors of one batch (no copy; valid while b is):
 * those named in need (MM_PAIRS_IMAGES | MM_PAIRS_PAIR) must be present
 * with the right dtype and rank; others are taken when present and
 * well-formed, else left absent.  MM_EMISSING / MM_EFORMAT. */
int mm_pairs_view(struct mm_pairs *d, struct mm_batch *b, int need);

/* Rows idx[0..n) of d: images as float into x (n, C, H, W), pair vectors
 * into p (n, D); x or p may be NULL to skip that part. */
void mm_pairs_gather(const struct mm_pairs *d, const int64_t *idx, int n,
    float *x, float *p);
/* The same for rows first .. first + n - 1. */
void mm_pairs_slice(const struct mm_pairs *d, int64_t first, int n,
    float *x, float *p);

#endif
