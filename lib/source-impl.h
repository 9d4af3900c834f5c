/*
 * source-impl.h - inside lib/ only: the image source kinds of mmib-gen.
 *
 * A source kind is one file (lib/src-<kind>.c) ending in a
 * const struct mm_source_kind and one line in file_kinds[] of lib/gen.c.
 * mm_source_file() reads a file's first 8 bytes and opens it with the
 * first kind whose sniff() accepts them.
 *   open   fill s->ds (detect the dataset when ds is NULL, else check it
 *          fits), s->seekable and the kind's state (s->file, s->zip);
 *          refuse a file whose image array is not the dataset's grid
 *          (mm_src_check_shape)
 *   read   rows[0..k) (ascending) into img (k, C, 64, 64); s->scratch
 *          holds one stored row (64, 64, C); s->next_row is for
 *          forward-only sources
 *   close  release the kind's state (s->scratch is freed by the caller)
 *   meta   (may be NULL) keys of its own after those of mm_gen_meta()
 * A kind that needs more than a path to open (the generic kind, opened by
 * mm_source_generic() with its member names) has no sniff and no open.
 */
#ifndef MM_SOURCE_IMPL_H
#define MM_SOURCE_IMPL_H

#include <stdint.h>

#include "gen.h"

struct mm_source_kind {
	const char *name;
	int (*sniff)(const unsigned char *magic);      /* 8 bytes */
	int (*open)(struct mm_source *s, const char *path,
	    const struct mm_dataset *ds);
	int (*read)(struct mm_source *s, const int64_t *rows, int64_t k,
	    uint8_t *img);
	void (*close)(struct mm_source *s);
	int (*meta)(const struct mm_source *s, struct mm_meta *m);
};

extern const struct mm_source_kind mm_src_npz, mm_src_h5, mm_src_generic;

/* An image array shape that fits ds: (rows, 64, 64) for one channel, or
 * (rows, 64, 64, C), with rows the grid's; else MM_ESIZE naming path. */
int mm_src_check_shape(const char *path, const struct mm_dataset *ds,
    int ndim, const int64_t *shape);
/* One image (H, W, C) -> (C, H, W). */
void mm_src_hwc_to_chw(const uint8_t *src, int C, uint8_t *dst);

#endif
