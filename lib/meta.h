/*
 * meta.h - the metadata of a stream: ordered UTF-8 "key=value" lines, the
 * body of an 'S' record.  Keys are [A-Za-z0-9_.-]+; values run to the end
 * of the line.  Setting an existing key replaces its value in place.
 *
 * Keys every paired stream carries (written by mmib-gen, kept by filters):
 *   dataset=dsprites            factors=shape,scale,orientation,posX,posY
 *   cardinalities=3,6,40,32,32  essence=shape,scale   nuisance=orientation,...
 *   channels=1 height=64 width=64 seed=1 part=train ...
 * A filter copies the upstream keys and adds its own (tool=, version=, ...).
 */
#ifndef MM_META_H
#define MM_META_H

#include <stddef.h>

struct mm_meta {
	int n, cap;
	char **key, **val;
};

void mm_meta_init(struct mm_meta *m);
void mm_meta_free(struct mm_meta *m);
void mm_meta_clear(struct mm_meta *m);
/* Parse an S body (len bytes, need not be NUL-terminated); keys are added
 * to m (replacing equal keys).  MM_EFORMAT on a line without '=' or with a
 * bad key, MM_ENOMEM. */
int mm_meta_parse(struct mm_meta *m, const char *body, size_t len);
/* Serialise to a malloc'd buffer of "key=value\n" lines. */
int mm_meta_format(const struct mm_meta *m, char **out, size_t *len);
const char *mm_meta_get(const struct mm_meta *m, const char *key);
int mm_meta_set(struct mm_meta *m, const char *key, const char *val);
int mm_meta_setf(struct mm_meta *m, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 3, 4)))
#endif
	;
int mm_meta_copy(struct mm_meta *dst, const struct mm_meta *src);

/* The factor description of a paired stream, from the keys above. */
#define MM_MAXFACTORS 16
struct mm_factors {
	int F;                          /* number of factors */
	char name[MM_MAXFACTORS][32];
	int card[MM_MAXFACTORS];        /* cardinality K of each factor */
	int essence[MM_MAXFACTORS];     /* 1 essence (shown to modality 2), 0 nuisance */
};
/* Fill f from factors=, cardinalities= and essence=; MM_EMISSING /
 * MM_EFORMAT with a detail naming the key. */
int mm_meta_factors(const struct mm_meta *m, struct mm_factors *f);
/* Index of a factor by name, or -1. */
int mm_factors_find(const struct mm_factors *f, const char *name);

#endif
