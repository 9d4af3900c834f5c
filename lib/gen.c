/*
 * gen.c - dataset registry, mixed radix, sampling, pairing, metadata and
 * image sources (renderer or published file) for mmib-gen.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "err.h"
#include "gen.h"
#include "h5.h"
#include "pool.h"
#include "stream.h"
#include "source-impl.h"
#include "zip.h"

/* Factor order and cardinalities are those of the published files (see
 * reference/protocol.md); dSprites drops its constant colour latent. */
static struct mm_dataset registry[] = {
	{ "dsprites", 1, 5,
	  { "shape", "scale", "orientation", "posX", "posY" },
	  { 3, 6, 40, 32, 32 }, 0,
	  "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz", 1,
	  mm_dsprites_init, mm_dsprites_render, mm_dsprites_free,
	  MM_GEN_H_PX, MM_GEN_W_PX, NULL, 0, NULL },
	{ "shapes3d", 3, 6,
	  { "floor_hue", "wall_hue", "object_hue", "scale", "shape",
	    "orientation" },
	  { 10, 10, 10, 8, 4, 15 }, 0,
	  "3dshapes.h5", 255,
	  mm_shapes3d_init, mm_shapes3d_render, mm_shapes3d_free,
	  MM_GEN_H_PX, MM_GEN_W_PX, NULL, 0, NULL },
	{ "mpi3d", 3, 7,
	  { "object_color", "object_shape", "object_size", "camera_height",
	    "background_color", "horizontal_axis", "vertical_axis" },
	  { 6, 6, 2, 3, 3, 40, 40 }, 0,
	  "mpi3d_toy.npz", 255,
	  mm_mpi3d_init, mm_mpi3d_render, mm_mpi3d_free,
	  MM_GEN_H_PX, MM_GEN_W_PX, NULL, 0,
	  /* 2: the arm's axes are azimuth and elevation (lib/mpi3d.c) */
	  "render/2" },
};
#define NDS ((int)(sizeof registry / sizeof registry[0]))
static int ready;

static void
count_rows(struct mm_dataset *ds)
{
	int f;

	ds->rows = 1;
	for (f = 0; f < ds->F; f++)
		ds->rows *= ds->card[f];
}

static void
setup(void)
{
	int i;

	if (ready)
		return;
	ready = 1;
	for (i = 0; i < NDS; i++)
		count_rows(&registry[i]);
}

int
mm_gen_shrink(const char *name, const int *card)
{
	int i, f;

	setup();
	for (i = 0; i < NDS; i++) {
		if (strcmp(registry[i].name, name) != 0)
			continue;
		for (f = 0; f < registry[i].F; f++)
			if (card[f] < 1 || card[f] > registry[i].card[f])
				return mm_err(MM_EINVAL, "%s: cardinality %d of "
				    "%s is not in [1, %d]", name, card[f],
				    registry[i].factor[f], registry[i].card[f]);
		memcpy(registry[i].card, card, sizeof(int) * f);
		count_rows(&registry[i]);
		return 0;
	}
	return mm_err(MM_EINVAL, "unknown dataset '%s'", name);
}

int
mm_gen_count(void)
{
	return NDS;
}

const struct mm_dataset *
mm_gen_at(int i)
{
	setup();
	return i >= 0 && i < NDS ? &registry[i] : NULL;
}

const struct mm_dataset *
mm_gen_find(const char *name)
{
	int i;

	setup();
	for (i = 0; i < NDS; i++)
		if (strcmp(registry[i].name, name) == 0)
			return &registry[i];
	return NULL;
}

void
mm_gen_classes(const struct mm_dataset *ds, int64_t row, int32_t *cls)
{
	int f;

	if (ds->classes) {
		memcpy(cls, ds->classes + row * ds->F, sizeof *cls * ds->F);
		return;
	}
	for (f = ds->F - 1; f >= 0; f--) {
		cls[f] = (int32_t)(row % ds->card[f]);
		row /= ds->card[f];
	}
}

int64_t
mm_gen_row(const struct mm_dataset *ds, const int32_t *cls)
{
	int64_t row = 0;
	int f;

	if (ds->classes)
		return -1;
	for (f = 0; f < ds->F; f++) {
		if (cls[f] < 0 || cls[f] >= ds->card[f])
			return -1;
		row = row * ds->card[f] + cls[f];
	}
	return row;
}

int
mm_gen_factor(const struct mm_dataset *ds, const char *name)
{
	int f;

	for (f = 0; f < ds->F; f++)
		if (strcmp(ds->factor[f], name) == 0)
			return f;
	return -1;
}

int
mm_gen_sample(struct mm_rng *rng, int64_t grid, int64_t n, int64_t *rows)
{
	int32_t *perm;
	int64_t i;

	if (grid <= 0 || grid > INT32_MAX || n < 0 || n > grid)
		return mm_err(MM_EINVAL, "cannot draw %lld of %lld rows",
		    (long long)n, (long long)grid);
	if ((perm = malloc(sizeof *perm * grid)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	for (i = 0; i < grid; i++)
		perm[i] = (int32_t)i;
	for (i = 0; i < n; i++) {
		int64_t j = i + (int64_t)mm_rng_below(rng, (uint64_t)(grid - i));
		int32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
		rows[i] = perm[i];
	}
	free(perm);
	return 0;
}

static int
bad_factor(const struct mm_dataset *ds, const char *name)
{
	char list[512] = "";
	int f;

	for (f = 0; f < ds->F; f++) {
		strncat(list, ds->factor[f], sizeof list - strlen(list) - 2);
		if (f + 1 < ds->F)
			strcat(list, ",");
	}
	return mm_err(MM_EINVAL, "unknown factor '%s' for %s (factors: %s)",
	    name, ds->name, list);
}

int
mm_gen_pair_missing(const struct mm_dataset *ds, const char *name,
    int *essence)
{
	int f, j = mm_gen_factor(ds, name);

	if (j < 0)
		return bad_factor(ds, name);
	for (f = 0; f < ds->F; f++)
		essence[f] = f != j;
	return 0;
}

int
mm_gen_pair_list(const struct mm_dataset *ds, const char *list,
    int *essence)
{
	char item[64];
	const char *p = list;
	int f, n = 0;

	for (f = 0; f < ds->F; f++)
		essence[f] = 0;
	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == 0 || l >= sizeof item)
			return mm_err(MM_EINVAL, "bad factor list '%s'", list);
		memcpy(item, p, l);
		item[l] = '\0';
		if ((f = mm_gen_factor(ds, item)) < 0)
			return bad_factor(ds, item);
		if (essence[f])
			return mm_err(MM_EINVAL, "factor '%s' listed twice",
			    item);
		essence[f] = 1;
		n++;
		p += l;
		if (*p == ',' && *++p == '\0')
			return mm_err(MM_EINVAL, "bad factor list '%s'", list);
	}
	if (n == 0)
		return mm_err(MM_EINVAL, "empty essence list");
	return 0;
}

void
mm_gen_pair_random(const struct mm_dataset *ds, struct mm_rng *rng,
    int *essence)
{
	int f, n = 0;

	for (f = 0; f < ds->F; f++)
		n += essence[f] = mm_rng_uniform(rng) < 0.5;
	if (n == 0)
		essence[mm_rng_below(rng, (uint64_t)ds->F)] = 1;
}

int64_t
mm_gen_split_count(const struct mm_dataset *ds)
{
	return ds->F < 2 ? 0 : ((int64_t)1 << ds->F) - 2;
}

int
mm_gen_pair_split(const struct mm_dataset *ds, int64_t k, int *essence)
{
	struct mm_rng rng;
	int64_t count = mm_gen_split_count(ds), *first;
	int f, rc;

	if (count == 0)
		return mm_err(MM_EINVAL, "%s has one factor: no essence/"
		    "nuisance split", ds->name);
	if (k < 1 || k > count)
		return mm_err(MM_EINVAL, "%lld is out of range: %s has %lld "
		    "distinct essence/nuisance splits (1 .. %lld; mmib-gen --splits "
		    "lists them)", (long long)k, ds->name, (long long)count,
		    (long long)count);
	/* the first k entries of the fixed permutation; the k-th is ours */
	if ((first = malloc(sizeof *first * (size_t)k)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	mm_rng_seed(&rng, MM_GEN_SPLIT_SEED);
	if ((rc = mm_gen_sample(&rng, count, k, first)) == 0)
		for (f = 0; f < ds->F; f++)
			essence[f] = (int)(((first[k - 1] + 1) >> f) & 1);
	free(first);
	return rc;
}

int
mm_gen_pair_dim(const struct mm_dataset *ds, const int *essence)
{
	int f, d = 0;

	for (f = 0; f < ds->F; f++)
		if (essence[f])
			d += ds->card[f];
	return d;
}

void
mm_gen_pair_row(const struct mm_dataset *ds, const int *essence,
    const int32_t *cls, float *pair)
{
	int f;

	for (f = 0; f < ds->F; f++) {
		if (!essence[f])
			continue;
		memset(pair, 0, sizeof *pair * ds->card[f]);
		pair[cls[f]] = 1.0f;
		pair += ds->card[f];
	}
}

/* Comma list of the factors with essence[f] == want (all when want < 0). */
static void
join(const struct mm_dataset *ds, const int *essence, int want, int cards,
    char *buf, size_t cap)
{
	int f;
	size_t l = 0;

	buf[0] = '\0';
	for (f = 0; f < ds->F; f++) {
		if (want >= 0 && essence[f] != want)
			continue;
		if (cards)
			l += snprintf(buf + l, cap - l, "%s%d", l ? "," : "",
			    ds->card[f]);
		else
			l += snprintf(buf + l, cap - l, "%s%s", l ? "," : "",
			    ds->factor[f]);
		if (l >= cap)
			l = cap - 1;
	}
}

int
mm_gen_meta(const struct mm_dataset *ds, const int *essence,
    struct mm_meta *m)
{
	char buf[512];
	int rc;

	if ((rc = mm_meta_set(m, "dataset", ds->name)) < 0)
		return rc;
	join(ds, essence, -1, 0, buf, sizeof buf);
	if ((rc = mm_meta_set(m, "factors", buf)) < 0)
		return rc;
	join(ds, essence, -1, 1, buf, sizeof buf);
	if ((rc = mm_meta_set(m, "cardinalities", buf)) < 0)
		return rc;
	join(ds, essence, 1, 0, buf, sizeof buf);
	if ((rc = mm_meta_set(m, "essence", buf)) < 0)
		return rc;
	join(ds, essence, 0, 0, buf, sizeof buf);
	if ((rc = mm_meta_set(m, "nuisance", buf)) < 0)
		return rc;
	if ((rc = mm_meta_setf(m, "channels", "%d", ds->channels)) < 0 ||
	    (rc = mm_meta_setf(m, "height", "%d", ds->height)) < 0 ||
	    (rc = mm_meta_setf(m, "width", "%d", ds->width)) < 0)
		return rc;
	return 0;
}

/* ---------------------------------------------------------------- sources */

/* The file source kinds, sniffed by their first bytes (source-impl.h). */
static const struct mm_source_kind *const file_kinds[] = {
	&mm_src_npz,
	&mm_src_h5,
};
#define NKINDS ((int)(sizeof file_kinds / sizeof file_kinds[0]))

/* One batch to render: pieces of RENDER_PIECE rows handed out in turn. */
#define RENDER_PIECE 16
struct render_job {
	struct mm_source *s;
	const int64_t *rows;
	int64_t k;
	uint8_t *img;           /* (k, C, 64, 64) */
	int next;
};

static void
render_piece(void *arg, int tid)
{
	struct render_job *j = arg;
	const struct mm_dataset *ds = j->s->ds;
	size_t isz = (size_t)ds->channels * MM_GEN_H_PX * MM_GEN_W_PX;
	void *ctx = tid ? j->s->tctx[tid - 1] : j->s->ctx;
	int pieces = (int)((j->k + RENDER_PIECE - 1) / RENDER_PIECE), p;
	int32_t cls[MM_MAXFACTORS];
	int64_t i, end;

	while ((p = mm_pool_next(j->s->pool, &j->next)) < pieces) {
		end = (int64_t)(p + 1) * RENDER_PIECE;
		for (i = (int64_t)p * RENDER_PIECE; i < end && i < j->k; i++) {
			mm_gen_classes(ds, j->rows[i], cls);
			ds->render(ctx, cls, j->img + i * isz);
		}
	}
}

static int
render_read(struct mm_source *s, const int64_t *rows, int64_t k,
    uint8_t *img)
{
	struct render_job j = { s, rows, k, img, 0 };

	mm_pool_run(s->pool, render_piece, &j);
	return 0;
}

static void
render_close(struct mm_source *s)
{
	int t;

	for (t = 0; s->tctx && t < mm_pool_threads(s->pool) - 1; t++)
		if (s->tctx[t])
			s->ds->fini(s->tctx[t]);
	free(s->tctx);
	mm_pool_free(s->pool);
	if (s->ctx && s->ds)
		s->ds->fini(s->ctx);
}

static const struct mm_source_kind render_kind = {
	"render", NULL, NULL, render_read, render_close, NULL,
};

int
mm_source_threads(struct mm_source *s, int T)
{
	int t;

	if (s->kind != &render_kind || T < 2 || s->pool)
		return 0;
	/* without a pool (T = 1, or no threads to be had) the caller
	 * renders alone */
	if (!(s->pool = mm_pool_new(T)))
		return 0;
	T = mm_pool_threads(s->pool);
	if (!(s->tctx = calloc((size_t)T - 1, sizeof *s->tctx)))
		return mm_err(MM_ENOMEM, "out of memory");
	for (t = 0; t < T - 1; t++)
		if (!(s->tctx[t] = s->ds->init()))
			return mm_err(MM_ENOMEM, "out of memory");
	return 0;
}

int
mm_source_render(struct mm_source *s, const struct mm_dataset *ds)
{
	memset(s, 0, sizeof *s);
	s->ds = ds;
	s->seekable = 1;
	s->kind = &render_kind;
	snprintf(s->label, sizeof s->label, "%s renderer", ds->name);
	if ((s->ctx = ds->init()) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	return 0;
}

static int
grid_mismatch(const char *path, const struct mm_dataset *ds, int64_t n)
{
	char buf[128];
	size_t l = 0;
	int f;

	for (f = 0; f < ds->F; f++)
		l += snprintf(buf + l, sizeof buf - l, "%s%d", f ? "x" : "",
		    ds->card[f]);
	return mm_err(MM_ESIZE, "%s: %lld images, but the %s grid has %lld "
	    "(%s): not the published file?", path, (long long)n, ds->name,
	    (long long)ds->rows, buf);
}

/* Check an image array shape: (rows, 64, 64) for one channel, or
 * (rows, 64, 64, C). */
int
mm_src_check_shape(const char *path, const struct mm_dataset *ds, int ndim,
    const int64_t *shape)
{
	int want = ds->channels == 1 ? 3 : 4;

	if (ndim < 3 || ndim > 4 || shape[1] != MM_GEN_H_PX ||
	    shape[2] != MM_GEN_W_PX ||
	    (ndim == 4 && shape[3] != ds->channels) ||
	    (ndim == 3 && ds->channels != 1) || (ndim != want &&
	    !(ndim == 4 && shape[3] == 1)))
		return mm_err(MM_ESIZE, "%s: image array is not (N, 64, 64%s)",
		    path, ds->channels == 1 ? "" : ", 3");
	if (shape[0] != ds->rows)
		return grid_mismatch(path, ds, shape[0]);
	return 0;
}

/* (H, W, C) -> (C, H, W) */
void
mm_src_hwc_to_chw(const uint8_t *src, int C, uint8_t *dst)
{
	int i, c, n = MM_GEN_H_PX * MM_GEN_W_PX;

	if (C == 1) {
		memcpy(dst, src, n);
		return;
	}
	for (i = 0; i < n; i++)
		for (c = 0; c < C; c++)
			dst[(size_t)c * n + i] = src[(size_t)i * C + c];
}

int
mm_source_file(struct mm_source *s, const char *path,
    const struct mm_dataset *ds)
{
	unsigned char magic[8] = {0};
	FILE *f;
	int rc, i;

	memset(s, 0, sizeof *s);
	snprintf(s->label, sizeof s->label, "%s", path);
	if ((f = fopen(path, "rb")) == NULL)
		return mm_err(MM_EIO, "%s: %s", path, strerror(errno));
	if (fread(magic, 1, 8, f) == 0) {
		int bad = ferror(f), e = errno;
		fclose(f);
		if (bad)
			return mm_err(MM_EIO, "%s: %s", path, strerror(e));
		return mm_err(MM_EEMPTY, "%s: empty file", path);
	}
	fclose(f);
	for (i = 0; i < NKINDS && !file_kinds[i]->sniff(magic); i++)
		;
	if (i == NKINDS)
		return mm_err(MM_EFORMAT, "%s: neither an npz (zip) nor an HDF5 "
		    "file", path);
	s->kind = file_kinds[i];
	if ((rc = s->kind->open(s, path, ds)) < 0) {
		mm_source_close(s);
		return rc;
	}
	if ((s->scratch = malloc((size_t)MM_GEN_H_PX * MM_GEN_W_PX *
	    s->ds->channels)) == NULL) {
		mm_source_close(s);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	return 0;
}

int
mm_source_read(struct mm_source *s, const int64_t *rows, int64_t k,
    uint8_t *img)
{
	return s->kind->read(s, rows, k, img);
}

void
mm_source_close(struct mm_source *s)
{
	if (s->kind && s->kind->close)
		s->kind->close(s);
	free(s->scratch);
	memset(s, 0, sizeof *s);
}

/* ---- one run of mmib-gen ---- */

void
mm_gen_defaults(struct mm_gen_config *c)
{
	memset(c, 0, sizeof *c);
	c->part = "all";
	c->n = MM_GEN_SAMPLES;
	c->n_default = 1;
	c->frac = MM_GEN_TRAIN_FRACTION;
	c->batch = 512;
	c->threads = 1;
}

/* mm_err() with the current detail after a prefix (the detail buffer
 * cannot be its own argument). */
static int
prefix_err(int rc, const char *what)
{
	char msg[512];

	snprintf(msg, sizeof msg, "%s", mm_errmsg());
	return mm_err(rc, "%s: %s", what, msg);
}

static int
open_dataset(struct mm_gen_run *g, const struct mm_gen_config *c)
{
	const struct mm_dataset *ds = NULL;
	int rc;

	const struct mm_generic_opts *o = &c->generic;
	int generic = c->dataset && strcmp(c->dataset, "generic") == 0;

	if (c->dataset && !generic &&
	    (ds = mm_gen_find(c->dataset)) == NULL) {
		char names[256] = "";
		int i;
		for (i = 0; i < mm_gen_count(); i++) {
			strcat(names, i ? ", " : "");
			strcat(names, mm_gen_at(i)->name);
		}
		return mm_err(MM_EINVAL, "unknown dataset '%s' (known: %s), "
		    "or generic with --from FILE for your own", c->dataset,
		    names);
	}
	if (!ds && !c->from)
		return mm_err(MM_EINVAL, "no dataset: give -d dsprites|"
		    "shapes3d|mpi3d (see --list) or --from FILE");
	/* a generic file: asked for, named by its options, or holding an
	 * integer labels array (the published files hold none) */
	if (!ds && (generic || o->images || o->labels || o->factor_names ||
	    o->name || mm_source_is_generic(c->from, o->labels)))
		rc = mm_source_generic(&g->src, c->from, o);
	else if (ds && (o->images || o->labels || o->factor_names || o->name))
		return mm_err(MM_EINVAL, "-d %s: --images, --labels, "
		    "--factor-names and --name are for a generic dataset",
		    ds->name);
	else if (c->from)
		rc = mm_source_file(&g->src, c->from, ds);
	else if ((rc = mm_source_render(&g->src, ds)) >= 0 &&
	    (rc = mm_source_threads(&g->src, c->threads)) < 0)
		mm_source_close(&g->src);
	if (rc < 0)
		return rc;  /* the detail names the file */
	g->ds = g->src.ds;
	return 0;
}

static int
choose_pairing(struct mm_gen_run *g, struct mm_rng *pairing)
{
	const struct mm_gen_config *c = &g->cfg;
	int rc, f;

	if (c->missing) {
		if ((rc = mm_gen_pair_missing(g->ds, c->missing,
		    g->essence)) < 0)
			return prefix_err(rc, "--missing");
		snprintf(g->pairing, sizeof g->pairing, "missing:%s",
		    c->missing);
	} else if (c->essence) {
		if ((rc = mm_gen_pair_list(g->ds, c->essence, g->essence)) < 0)
			return prefix_err(rc, "--essence");
		snprintf(g->pairing, sizeof g->pairing, "essence");
	} else if (c->random_split) {
		mm_gen_pair_random(g->ds, pairing, g->essence);
		snprintf(g->pairing, sizeof g->pairing, "random");
	} else if (c->split) {
		if ((rc = mm_gen_pair_split(g->ds, c->split, g->essence)) < 0)
			return prefix_err(rc, "--split");
		snprintf(g->pairing, sizeof g->pairing, "split:%lld/%lld",
		    c->split, (long long)mm_gen_split_count(g->ds));
	} else {
		for (f = 0; f < g->ds->F; f++)
			g->essence[f] = 1;
		snprintf(g->pairing, sizeof g->pairing, "all");
	}
	g->D = mm_gen_pair_dim(g->ds, g->essence);
	return 0;
}

/* The whole grid in order, or a seeded sample split in two. */
static int
choose_rows(struct mm_gen_run *g, struct mm_rng *samp)
{
	const struct mm_gen_config *c = &g->cfg;
	int rc;

	if (c->all) {
		if (strcmp(c->part, "all") != 0)
			return mm_err(MM_EINVAL, "--part %s: -n all streams the "
			    "whole grid, which has no split", c->part);
		g->n = g->ntrain = g->count = g->ds->rows;
		g->first = 0;
		return 0;
	}
	g->n = c->n;
	if (c->n_default && g->ds->classes && g->n > g->ds->rows)
		g->n = g->ds->rows;     /* a file of one's own, smaller */
	if (g->n > g->ds->rows)
		return mm_err(MM_EINVAL, "-n %lld: the %s %s has only %lld "
		    "rows", (long long)g->n, g->ds->name, g->ds->classes ?
		    "dataset" : "grid", (long long)g->ds->rows);
	if ((g->sample = malloc(sizeof *g->sample * g->n)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	if ((rc = mm_gen_sample(samp, g->ds->rows, g->n, g->sample)) < 0)
		return prefix_err(rc, "sampling");
	g->ntrain = (int64_t)floor((double)g->n * c->frac + 1e-9);
	g->first = strcmp(c->part, "test") == 0 ? g->ntrain : 0;
	g->count = strcmp(c->part, "train") == 0 ? g->ntrain :
	    strcmp(c->part, "test") == 0 ? g->n - g->ntrain : g->n;
	if (g->count == 0)
		return mm_err(MM_EINVAL, "--part %s: no rows (-n %lld, "
		    "--train-fraction %g)", c->part, (long long)g->n, c->frac);
	return 0;
}

int
mm_gen_open(struct mm_gen_run *g, const struct mm_gen_config *c)
{
	struct mm_rng root, samp, pairing;
	size_t b;
	int rc;

	memset(g, 0, sizeof *g);
	g->cfg = *c;
	if (strcmp(c->part, "train") && strcmp(c->part, "test") &&
	    strcmp(c->part, "all"))
		return mm_err(MM_EINVAL, "--part: '%s' is not train, test or "
		    "all", c->part);
	if ((c->missing != NULL) + (c->essence != NULL) + c->random_split +
	    (c->split != 0) > 1)
		return mm_err(MM_EINVAL, "--missing, --essence, --random-split "
		    "and --split exclude each other");
	if ((rc = open_dataset(g, c)) < 0)
		return rc;
	g->isz = (size_t)g->ds->channels * g->ds->height * g->ds->width;
	/* one seeded root; sampling and pairing draw from separate children
	 * so a pairing choice never changes which rows are drawn */
	mm_rng_seed(&root, (uint64_t)c->seed);
	mm_rng_split(&root, 1, &samp);
	mm_rng_split(&root, 2, &pairing);
	if ((rc = choose_pairing(g, &pairing)) < 0 ||
	    (rc = choose_rows(g, &samp)) < 0)
		goto fail;

	/* a forward-only file is read in one pass over the whole part */
	g->chunk = c->batch;
	if (!c->all && !g->src.seekable)
		g->chunk = g->count;
	b = (size_t)c->batch;
	rc = mm_err(MM_ENOMEM, "out of memory");
	if ((g->order = malloc(sizeof *g->order * g->chunk)) == NULL ||
	    (g->img = malloc(g->isz * b)) == NULL ||
	    (g->cls = malloc(sizeof *g->cls * g->ds->F * b)) == NULL ||
	    (g->pair = malloc(sizeof *g->pair * (size_t)g->D * b)) == NULL)
		goto fail;
	if (g->src.kind != &render_kind && ((g->pos = malloc(sizeof *g->pos *
	    g->chunk)) == NULL || (g->srows = malloc(sizeof *g->srows *
	    g->chunk)) == NULL || (g->cimg = malloc(g->isz * g->chunk)) ==
	    NULL)) {
		rc = mm_err(MM_ENOMEM, "out of memory (%lld rows of a deflated "
		    "member are read in one pass)", (long long)g->chunk);
		goto fail;
	}
	g->c0 = -g->chunk;
	return 0;
fail:
	mm_gen_close(g);
	return rc;
}

void
mm_gen_limit(struct mm_gen_run *g, int64_t rows)
{
	if (rows < g->count)
		g->count = rows;
}

int
mm_gen_run_meta(const struct mm_gen_run *g, struct mm_meta *m)
{
	const struct mm_gen_config *c = &g->cfg;

	if (mm_gen_meta(g->ds, g->essence, m) < 0 ||
	    mm_meta_setf(m, "seed", "%lld", c->seed) < 0 ||
	    mm_meta_set(m, "part", c->part) < 0 ||
	    mm_meta_setf(m, "rows", "%lld", (long long)g->count) < 0 ||
	    mm_meta_setf(m, "n", "%lld", (long long)g->n) < 0 ||
	    mm_meta_setf(m, "train_fraction", "%g", c->all ? 1.0 : c->frac) < 0 ||
	    mm_meta_setf(m, "train_rows", "%lld", (long long)g->ntrain) < 0 ||
	    mm_meta_set(m, "pairing", g->pairing) < 0 ||
	    mm_meta_set(m, "source", c->from ? "file" : g->ds->render_rev ?
	    g->ds->render_rev : "render") < 0 ||
	    mm_meta_set(m, "order", c->all ? "grid" : "sample") < 0)
		return mm_err(MM_ENOMEM, "out of memory");
	if (g->src.kind->meta)
		return g->src.kind->meta(&g->src, m);
	return 0;
}

/* Sort positions by row so a file is read front to back. */
static const int64_t *sort_rows;

static int
cmp_pos(const void *a, const void *b)
{
	int64_t x = sort_rows[*(const int64_t *)a];
	int64_t y = sort_rows[*(const int64_t *)b];
	return (x > y) - (x < y);
}

/* The rows of the next chunk into order[0..cn); a file source reads
 * them all, in ascending order, into cimg. */
static int
next_chunk(struct mm_gen_run *g)
{
	int64_t i;
	int rc;

	g->c0 += g->chunk;
	g->cn = g->count - g->c0 < g->chunk ? g->count - g->c0 : g->chunk;
	g->done = 0;
	for (i = 0; i < g->cn; i++)
		g->order[i] = g->cfg.all ? g->c0 + i :
		    g->sample[g->first + g->c0 + i];
	if (g->src.kind == &render_kind)
		return 0;
	for (i = 0; i < g->cn; i++)
		g->pos[i] = i;
	sort_rows = g->order;
	qsort(g->pos, g->cn, sizeof *g->pos, cmp_pos);
	for (i = 0; i < g->cn; i++)
		g->srows[i] = g->order[g->pos[i]];
	/* now pos[i] is the chunk slot that holds sorted image i */
	if ((rc = mm_source_read(&g->src, g->srows, g->cn, g->cimg)) < 0)
		return rc;
	return 0;
}

int64_t
mm_gen_next(struct mm_gen_run *g)
{
	const struct mm_dataset *ds = g->ds;
	int64_t i, k, done;
	int rc;

	if (g->done >= g->cn) {
		if (g->c0 + g->chunk >= g->count)
			return 0;
		if ((rc = next_chunk(g)) < 0)
			return rc;
	}
	done = g->done;
	k = g->cn - done < g->cfg.batch ? g->cn - done : g->cfg.batch;
	if (g->src.kind == &render_kind) {
		if ((rc = mm_source_read(&g->src, g->order + done, k,
		    g->img)) < 0)
			return prefix_err(rc, g->src.label);
	} else
		for (i = 0; i < g->cn; i++)
			if (g->pos[i] >= done && g->pos[i] < done + k)
				memcpy(g->img + (g->pos[i] - done) * g->isz,
				    g->cimg + i * g->isz, g->isz);
	for (i = 0; i < k; i++) {
		mm_gen_classes(ds, g->order[done + i], g->cls + i * ds->F);
		mm_gen_pair_row(ds, g->essence, g->cls + i * ds->F,
		    g->pair + i * g->D);
	}
	g->at = g->c0 + done;
	g->k = k;
	g->done = done + k;
	return k;
}

void
mm_gen_close(struct mm_gen_run *g)
{
	if (g->ds)
		mm_source_close(&g->src);
	free(g->sample);
	free(g->order);
	free(g->pos);
	free(g->srows);
	free(g->img);
	free(g->cimg);
	free(g->cls);
	free(g->pair);
	memset(g, 0, sizeof *g);
}
