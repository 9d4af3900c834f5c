/*
 * gen.h - the datasets of mmib: a registry of factor grids (names,
 * cardinalities, image geometry), the row <-> class-index mixed radix, one
 * procedural renderer per dataset, sampling without replacement, the
 * essence/nuisance pairing, and image sources (renderer or imported file).
 *
 * Every dataset is a full factorial grid stored in C order: row r of the
 * grid has class indices c[0..F) with the last factor fastest, exactly as
 * in the published .npz/.h5 files, so a row index means the same image
 * whether it is rendered or read from a file.
 */
#ifndef MM_GEN_H
#define MM_GEN_H

#include <stdint.h>
#include <stddef.h>

#include "meta.h"
#include "rng.h"

#define MM_GEN_H_PX 64
#define MM_GEN_W_PX 64

/* A renderer: ctx from init (per-dataset tables, built lazily), one image
 * (C, 64, 64) u8 from the class indices of every factor. */
typedef void *(*mm_render_init_fn)(void);
typedef void (*mm_render_fn)(void *ctx, const int32_t *cls, uint8_t *img);
typedef void (*mm_render_free_fn)(void *ctx);

struct mm_dataset {
	const char *name;
	int channels;                   /* C */
	int F;                          /* factors */
	const char *factor[MM_MAXFACTORS];
	int card[MM_MAXFACTORS];        /* K of each factor */
	int64_t rows;                   /* product of card[] */
	const char *file;               /* name of the published file */
	int pixel_max;                  /* largest stored pixel value (1 or 255) */
	mm_render_init_fn init;
	mm_render_fn render;
	mm_render_free_fn fini;
	/* image geometry (64 x 64 for the built-in grids); a file's own
	 * dataset (lib/src-generic.c) has its own */
	int height, width;
	/* NULL: a full factorial grid, classes from the row index (mixed
	 * radix); else (rows, F) the classes of each row, read from a file */
	const int32_t *classes;
	/* 1 when some factor's classes are not equally frequent (mmib-probe
	 * then measures H(factor) instead of taking ln K) */
	int measured;
	/* the "source" a rendered stream records (part of fp.split, so a
	 * model trained on an older drawing refuses the newer one): NULL for
	 * "render", else the renderer's revision */
	const char *render_rev;
};

/* The registry: count, i-th entry, lookup by name (NULL if unknown). */
int mm_gen_count(void);
const struct mm_dataset *mm_gen_at(int i);
const struct mm_dataset *mm_gen_find(const char *name);

/* Mixed radix, last factor fastest: row -> cls[F], and back (-1 when a
 * class is out of range).  For a dataset with ds->classes, row -> cls is
 * a copy of that row and there is no way back (mm_gen_row is -1). */
void mm_gen_classes(const struct mm_dataset *ds, int64_t row, int32_t *cls);
int64_t mm_gen_row(const struct mm_dataset *ds, const int32_t *cls);
/* Index of a factor by name, or -1. */
int mm_gen_factor(const struct mm_dataset *ds, const char *name);

/* Sampling without replacement: the first n entries of a seeded random
 * permutation of [0, grid) (a partial Fisher-Yates shuffle), into
 * rows[0..n).  Needs a grid-sized scratch array (4 bytes a row). */
int mm_gen_sample(struct mm_rng *rng, int64_t grid, int64_t n, int64_t *rows);

/* Pairing: essence[f] = 1 for a factor shown to modality 2. */
/* "--missing NAME": every factor but one. */
int mm_gen_pair_missing(const struct mm_dataset *ds, const char *name,
    int *essence);
/* "--essence a,b,...": exactly the listed factors (at least one). */
int mm_gen_pair_list(const struct mm_dataset *ds, const char *list,
    int *essence);
/* "--random-split": each factor with probability 1/2; when none joined,
 * one chosen uniformly is moved over. */
void mm_gen_pair_random(const struct mm_dataset *ds, struct mm_rng *rng,
    int *essence);
/* "--split K": the K-th (1-based) of the dataset's distinct essence/nuisance
 * splits, every essence that is neither empty nor all the factors
 * (mm_gen_split_count() = 2^F - 2 of them), in one fixed order: a
 * Fisher-Yates permutation of the bit masks 1 .. 2^F - 2 (bit f = factor
 * f) drawn from MM_GEN_SPLIT_SEED, the same on every machine, so that
 * K = 1, 2, ... never repeats an essence.  MM_EINVAL when K is out of
 * range (the message gives the count) or the dataset has one factor. */
#define MM_GEN_SPLIT_SEED 0x73706c6974ULL     /* "split" */
int64_t mm_gen_split_count(const struct mm_dataset *ds);
int mm_gen_pair_split(const struct mm_dataset *ds, int64_t k, int *essence);
/* Width D of the pair vector: the sum of the essence cardinalities. */
int mm_gen_pair_dim(const struct mm_dataset *ds, const int *essence);
/* One row's pair vector (D floats): the concatenated one-hot codes of the
 * essence factors, in factor order. */
void mm_gen_pair_row(const struct mm_dataset *ds, const int *essence,
    const int32_t *cls, float *pair);

/* The metadata keys a paired stream carries about its dataset: dataset,
 * factors, cardinalities, essence, nuisance, channels, height, width. */
int mm_gen_meta(const struct mm_dataset *ds, const int *essence,
    struct mm_meta *m);

/* ---- renderers (lib/dsprites.c, lib/shapes3d.c, lib/mpi3d.c) ---- */
void *mm_dsprites_init(void);
void mm_dsprites_render(void *ctx, const int32_t *cls, uint8_t *img);
void mm_dsprites_free(void *ctx);
void *mm_shapes3d_init(void);
void mm_shapes3d_render(void *ctx, const int32_t *cls, uint8_t *img);
void mm_shapes3d_free(void *ctx);
void *mm_mpi3d_init(void);
void mm_mpi3d_render(void *ctx, const int32_t *cls, uint8_t *img);
void mm_mpi3d_free(void *ctx);

/* ---- image sources ---- */
/* Where images come from: the renderer, or a published file (npz of
 * dSprites or MPI3D, 3dshapes.h5).  read() fills rows[0..k) (ascending)
 * into img (k, C, 64, 64).  A source that can seek serves any rows
 * cheaply; one that cannot (a deflated npz member) must be read in one
 * forward pass, so the caller asks for all its rows at once. */
struct mm_source_kind;

struct mm_source {
	const struct mm_dataset *ds;
	int seekable;
	int64_t next_row;       /* forward-only sources: rows before this are gone */
	void *ctx;              /* renderer tables */
	struct mm_pool *pool;   /* renderer: threads beyond the caller's, */
	void **tctx;            /* each with its own tables, or NULL */
	const struct mm_source_kind *kind;   /* lib/source-impl.h */
	/* file sources */
	void *file;             /* struct mm_zip_member * or struct mm_h5 * */
	void *zip;              /* struct mm_zip * */
	unsigned char *scratch; /* one stored row (H, W, C) */
	char label[256];
};

/* The renderer of ds. */
int mm_source_render(struct mm_source *s, const struct mm_dataset *ds);
/* Render on T threads (a file source ignores it); an image depends only on
 * its factors, so the output does not depend on T. */
int mm_source_threads(struct mm_source *s, int T);
/* A published file; ds may be NULL to detect the dataset from the file
 * (the npz member names, or the .h5 dataset).  Refuses a file whose row
 * count is not the known grid, naming both. */
int mm_source_file(struct mm_source *s, const char *path,
    const struct mm_dataset *ds);
int mm_source_read(struct mm_source *s, const int64_t *rows, int64_t k,
    uint8_t *img);
void mm_source_close(struct mm_source *s);

/* A user's own dataset (lib/src-generic.c): the member names of its
 * arrays (NULL: "images", "labels", "factor_names") and its name (NULL:
 * the file's base name without extension). */
struct mm_generic_opts {
	const char *images, *labels, *factor_names, *name;
};
/* Open the generic dataset of the .npz or HDF5 file at path: labels
 * (N, F) integers remapped to classes 0..K-1, factor names, images
 * (N, H, W[, C]) or (N, C, H, W), u8 or float in [0, 1].  Each error is
 * one line naming the file and the member at fault. */
int mm_source_generic(struct mm_source *s, const char *path,
    const struct mm_generic_opts *o);
/* 1 when the file at path holds an integer array called labels (NULL:
 * "labels"), the mark of a generic dataset; else 0. */
int mm_source_is_generic(const char *path, const char *labels);

/* For tests of the importers on small fixture files only (no tool calls
 * it): replace the cardinalities of the dataset called name by card[0..F)
 * (each in [1, its present value]), so that small files pass the row-count
 * check.  A stream's cardinalities= key says what was used.  0, or
 * MM_EINVAL. */
int mm_gen_shrink(const char *name, const int *card);

/* ---- one run of mmib-gen: options to rows ---- */

/* The protocol's sampling: 10,000 rows, the first 75 % for training. */
#define MM_GEN_SAMPLES 10000
#define MM_GEN_TRAIN_FRACTION 0.75

struct mm_gen_config {
	const char *dataset;    /* registry name, "generic", or NULL to detect
	                           from `from` */
	const char *from;       /* published file, or NULL to render */
	struct mm_generic_opts generic;  /* a generic file's member names */
	const char *missing;    /* pairings: at most one of these three */
	const char *essence;
	int random_split;
	long long split;        /* --split K (1-based), 0 for none */
	const char *part;       /* "train", "test" or "all" */
	int all;                /* the whole grid in order (no sample, no split) */
	long long n, seed;
	int n_default;          /* n is the default: a dataset file with fewer
	                           rows gives all of them (sampled, split) */
	double frac;            /* training fraction of the sample */
	long batch;             /* rows per batch */
	int threads;            /* rendering threads (1) */
};
/* MM_GEN_SAMPLES rows (n_default 1), MM_GEN_TRAIN_FRACTION, seed 0, batches of 512,
 * part "all", every factor essence, render. */
void mm_gen_defaults(struct mm_gen_config *c);

/* A run: the dataset and its source, the pairing, the rows of the part,
 * and batch by batch their images (k, C, 64, 64) u8, classes (k, F) i32
 * and pair vectors (k, D) f32. */
struct mm_gen_run {
	struct mm_gen_config cfg;
	const struct mm_dataset *ds;
	struct mm_source src;
	int essence[MM_MAXFACTORS];
	int D;                  /* pair width */
	char pairing[600];      /* "missing:NAME", "essence", "random",
				 * "split:K/COUNT", "all" */
	int64_t n, ntrain;      /* sample size, its training rows */
	int64_t first, count;   /* the part: sample[first .. first + count) */
	/* the current batch, after mm_gen_next(): rows at .. at + k of the
	 * part */
	int64_t at, k;
	uint8_t *img;
	int32_t *cls;
	float *pair;
	/* private */
	size_t isz;
	int64_t chunk, c0, cn, done;
	int64_t *sample, *order, *pos, *srows;
	uint8_t *cimg;
};
/* Validate c (messages name the option, e.g. "--part test: no rows"),
 * open the source and draw the sample.  On error g needs no close. */
int mm_gen_open(struct mm_gen_run *g, const struct mm_gen_config *c);
/* Stop after the first rows of the part (fewer rows, same batches). */
void mm_gen_limit(struct mm_gen_run *g, int64_t rows);
/* The run's keys after those of mm_gen_meta(): seed, part, rows, n,
 * train_fraction, train_rows, pairing, source, order. */
int mm_gen_run_meta(const struct mm_gen_run *g, struct mm_meta *m);
/* The next batch into g->k, g->img, g->cls, g->pair: its row count, 0
 * at the end, or an error. */
int64_t mm_gen_next(struct mm_gen_run *g);
void mm_gen_close(struct mm_gen_run *g);

#endif
