/*
 * t-gen.c - datasets: grid sizes, mixed radix, sampling, pairing, the
 * renderers' sanity, and (through bin/mmib-gen) disjoint train/test parts
 * and pair vectors that agree with the classes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gen.h"
#include "stream.h"
#include "tap.h"

#define NPX 4096

static const struct mm_dataset *DS, *S3, *MP;

static void
t_registry(void)
{
	int32_t cls[MM_MAXFACTORS];
	struct mm_rng r;
	int i, okrt = 1;

	is_int(DS->rows, 737280, "dsprites grid 737,280");
	is_int(S3->rows, 480000, "shapes3d grid 480,000");
	is_int(MP->rows, 1036800, "mpi3d grid 1,036,800");
	ok(mm_gen_find("nosuch") == NULL, "unknown dataset: NULL");
	is_int(mm_gen_factor(DS, "posY"), 4, "posY is factor 4");
	mm_gen_classes(DS, 1, cls);
	ok(cls[4] == 1 && cls[3] == 0 && cls[0] == 0, "last factor fastest");
	mm_gen_classes(DS, 737279, cls);
	ok(cls[0] == 2 && cls[1] == 5 && cls[2] == 39 && cls[3] == 31 &&
	    cls[4] == 31, "last row: every class at its maximum");
	mm_rng_seed(&r, 5);
	for (i = 0; i < 1000; i++) {
		int64_t row = (int64_t)mm_rng_below(&r, (uint64_t)MP->rows);
		mm_gen_classes(MP, row, cls);
		okrt &= mm_gen_row(MP, cls) == row;
	}
	ok(okrt, "row -> classes -> row round trip (mpi3d, 1000 rows)");
	cls[0] = 6;
	is_int(mm_gen_row(MP, cls), -1, "class out of range: -1");
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
t_sample(void)
{
	int64_t a[5000], b[5000], c[5000];
	struct mm_rng r;
	int i, distinct = 1, range = 1;

	mm_rng_seed(&r, 1);
	ok(mm_gen_sample(&r, 737280, 5000, a) == 0, "sample 5000 rows");
	mm_rng_seed(&r, 1);
	mm_gen_sample(&r, 737280, 5000, b);
	ok(memcmp(a, b, sizeof a) == 0, "same seed, same rows, same order");
	mm_rng_seed(&r, 2);
	mm_gen_sample(&r, 737280, 5000, b);
	ok(memcmp(a, b, sizeof a) != 0, "another seed, other rows");
	memcpy(c, a, sizeof a);
	qsort(c, 5000, sizeof *c, cmp64);
	for (i = 0; i < 5000; i++) {
		range &= c[i] >= 0 && c[i] < 737280;
		if (i)
			distinct &= c[i] != c[i - 1];
	}
	ok(range && distinct, "rows distinct and in range");
	mm_rng_seed(&r, 3);
	mm_gen_sample(&r, 100, 100, c);
	qsort(c, 100, sizeof *c, cmp64);
	for (i = 0, distinct = 1; i < 100; i++)
		distinct &= c[i] == i;
	ok(distinct, "n = grid draws a permutation of the grid");
	ok(mm_gen_sample(&r, 100, 101, c) == MM_EINVAL, "n > grid refused");
}

static void
t_pairing(void)
{
	int e[MM_MAXFACTORS], e2[MM_MAXFACTORS], f, n, diff = 0, s;
	int32_t cls[MM_MAXFACTORS] = { 1, 4, 17, 0, 31 };
	float pair[200];
	struct mm_rng r;

	ok(mm_gen_pair_missing(DS, "posX", e) == 0 && e[3] == 0 &&
	    e[0] + e[1] + e[2] + e[4] == 4, "--missing posX: all but posX");
	is_int(mm_gen_pair_dim(DS, e), 3 + 6 + 40 + 32, "pair dim 81");
	ok(mm_gen_pair_missing(DS, "colour", e) == MM_EINVAL,
	    "unknown factor refused");
	ok(strstr(mm_errmsg(), "unknown factor 'colour' for dsprites") != NULL,
	    "message names the factor: %s", mm_errmsg());
	ok(mm_gen_pair_list(DS, "scale,posY", e) == 0 && e[1] && e[4] &&
	    !e[0] && !e[2] && !e[3], "--essence scale,posY");
	ok(mm_gen_pair_list(DS, "scale,", e) == MM_EINVAL, "trailing comma");
	ok(mm_gen_pair_list(DS, "", e) == MM_EINVAL, "empty list");
	mm_gen_pair_list(DS, "shape,orientation,posY", e);
	mm_gen_pair_row(DS, e, cls, pair);
	n = mm_gen_pair_dim(DS, e);
	{
		float sum = 0;
		for (f = 0; f < n; f++)
			sum += pair[f];
		ok(sum == 3 && pair[1] == 1 && pair[3 + 17] == 1 &&
		    pair[3 + 40 + 31] == 1, "one-hot codes concatenated in "
		    "factor order");
	}
	for (s = 0; s < 200; s++) {
		int k = 0;
		mm_rng_seed(&r, (uint64_t)s);
		mm_gen_pair_random(S3, &r, e);
		mm_rng_seed(&r, (uint64_t)s);
		mm_gen_pair_random(S3, &r, e2);
		for (f = 0; f < S3->F; f++)
			k += e[f];
		if (k < 1 || memcmp(e, e2, sizeof(int) * S3->F) != 0)
			break;
		diff += k;
	}
	ok(s == 200, "random split: seeded, at least one essence factor");
	is_double(diff / 200.0, 3.0, 0.1, "random split: about half the "
	    "factors on average");
	/* --split K: every proper non-empty essence once, in a fixed order */
	{
		static char seen[1 << 6];
		int64_t k, n = mm_gen_split_count(S3), bad = 0;
		int m;
		memset(seen, 0, sizeof seen);
		for (k = 1; k <= n; k++) {
			if (mm_gen_pair_split(S3, k, e) < 0) {
				bad++;
				continue;
			}
			for (m = 0, f = 0; f < S3->F; f++)
				m |= e[f] << f;
			bad += m == 0 || m == (1 << S3->F) - 1 || seen[m]++;
		}
		ok(n == 62 && bad == 0, "distinct splits: shapes3d has 62, "
		    "each proper non-empty essence once (%lld bad)",
		    (long long)bad);
		mm_gen_pair_split(S3, 5, e);
		mm_gen_pair_split(S3, 5, e2);
		ok(memcmp(e, e2, sizeof(int) * S3->F) == 0 && e[0] == 1 &&
		    e[1] == 1 && e[2] == 1 && e[3] == 1 && e[4] == 0 &&
		    e[5] == 0, "distinct splits: split 5 is fixed "
		    "(floor_hue, wall_hue, object_hue, scale)");
		ok(mm_gen_pair_split(S3, n + 1, e) == MM_EINVAL &&
		    strstr(mm_errmsg(), "shapes3d has 62 distinct") != NULL &&
		    mm_gen_pair_split(S3, 0, e) == MM_EINVAL,
		    "distinct splits: 0 or more than exist is refused, the "
		    "message gives the count");
	}
}

/* area and centroid of the set pixels */
static void
moments(const uint8_t *img, double *area, double *cx, double *cy)
{
	int i;

	*area = *cx = *cy = 0;
	for (i = 0; i < NPX; i++)
		if (img[i]) {
			*area += 1;
			*cx += i % 64 + 0.5;
			*cy += i / 64 + 0.5;
		}
	if (*area > 0) {
		*cx /= *area;
		*cy /= *area;
	}
}

static void
t_dsprites(void)
{
	void *ctx = mm_dsprites_init();
	uint8_t img[NPX];
	int32_t cls[5];
	double a[6], cx, cy, cx2, cy2, a2;
	int s, i, binary = 1, grows = 1, shape;

	for (shape = 0; shape < 3; shape++)
		for (s = 0; s < 6; s++) {
			cls[0] = shape;
			cls[1] = s;
			cls[2] = 0;
			cls[3] = cls[4] = 16;
			mm_dsprites_render(ctx, cls, img);
			for (i = 0; i < NPX; i++)
				binary &= img[i] <= 1;
			moments(img, &a[s], &cx, &cy);
			if (s)
				grows &= a[s] > a[s - 1];
		}
	ok(binary, "dsprites: values 0/1");
	ok(grows, "dsprites: area grows with scale (every shape)");
	/* square at scale 1: side 19 px, area 361 */
	cls[0] = 0;
	cls[1] = 5;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a2, &cx, &cy);
	is_double(a2, 361, 0.06, "square at scale 1: ~19x19 px (%g)", a2);
	cls[3] = 0;
	cls[4] = 0;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a2, &cx, &cy);
	cls[3] = 31;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a2, &cx2, &cy2);
	ok(cx2 - cx > 35 && fabs(cy2 - cy) < 0.5, "centroid follows posX "
	    "(%.1f -> %.1f)", cx, cx2);
	cls[4] = 31;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a2, &cx, &cy);
	ok(cy - cy2 > 35 && fabs(cx - cx2) < 0.5, "centroid follows posY "
	    "(%.1f -> %.1f)", cy2, cy);
	/* rotation about the centre: the centroid stays, the area stays */
	cls[0] = 1;
	cls[3] = cls[4] = 16;
	cls[2] = 0;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a2, &cx, &cy);
	cls[2] = 10;
	mm_dsprites_render(ctx, cls, img);
	moments(img, &a[0], &cx2, &cy2);
	ok(fabs(cx - cx2) < 0.6 && fabs(cy - cy2) < 0.6 &&
	    fabs(a2 - a[0]) < 0.08 * a2, "rotation about the sprite centre");
	{
		uint8_t img2[NPX];
		cls[2] = 0;
		mm_dsprites_render(ctx, cls, img);
		cls[2] = 10;
		mm_dsprites_render(ctx, cls, img2);
		ok(memcmp(img, img2, NPX) != 0, "orientation changes the ellipse");
	}
	mm_dsprites_free(ctx);
}

/* mask of pixels that differ between two RGB images */
static int
diffmask(const uint8_t *a, const uint8_t *b, uint8_t *m)
{
	int i, c, n = 0;

	for (i = 0; i < NPX; i++) {
		m[i] = 0;
		for (c = 0; c < 3; c++)
			if (abs(a[c * NPX + i] - b[c * NPX + i]) > 2)
				m[i] = 1;
		n += m[i];
	}
	return n;
}

static void
t_shapes3d(void)
{
	void *ctx = mm_shapes3d_init();
	static uint8_t a[3 * NPX], b[3 * NPX];
	uint8_t mf[NPX], mw[NPX], mo[NPX];
	int32_t cls[6] = { 0, 3, 6, 4, 1, 7 };
	int nf, nw, no, ov = 0, i, lowf = 0, highw = 0, shape;
	double ar, cx, cy;

	mm_shapes3d_render(ctx, cls, a);
	cls[0] = 5;
	mm_shapes3d_render(ctx, cls, b);
	nf = diffmask(a, b, mf);
	cls[0] = 0;
	cls[1] = 8;
	mm_shapes3d_render(ctx, cls, b);
	nw = diffmask(a, b, mw);
	cls[1] = 3;
	cls[2] = 1;
	mm_shapes3d_render(ctx, cls, b);
	no = diffmask(a, b, mo);
	for (i = 0; i < NPX; i++) {
		ov += (mf[i] && mw[i]) + (mf[i] && mo[i]) + (mw[i] && mo[i]);
		lowf += mf[i] && i / 64 >= 32;
		highw += mw[i] && i / 64 < 32;
	}
	ok(nf > 800 && nw > 800 && no > 50, "each hue changes pixels "
	    "(floor %d, wall %d, object %d)", nf, nw, no);
	ok(ov < 0.05 * (nf + nw + no), "each hue changes only its own region "
	    "(%d shared edge pixels)", ov);
	ok(lowf > 0.8 * nf && highw > 0.8 * nw, "floor below, wall above");
	moments(mo, &ar, &cx, &cy);
	ok(fabs(cx - 32) < 6 && cy > 24 && cy < 52, "object near the centre "
	    "(%.1f, %.1f)", cx, cy);
	/* scale grows the object; shapes differ; azimuth moves the view */
	{
		int n1, n2;
		cls[3] = 0;
		mm_shapes3d_render(ctx, cls, a);
		cls[2] = 6;
		mm_shapes3d_render(ctx, cls, b);
		n1 = diffmask(a, b, mo);
		cls[3] = 7;
		mm_shapes3d_render(ctx, cls, a);
		cls[2] = 1;
		mm_shapes3d_render(ctx, cls, b);
		n2 = diffmask(a, b, mo);
		ok(n2 > 1.4 * n1, "object area grows with scale (%d -> %d)",
		    n1, n2);
	}
	for (shape = 1, i = 1; shape < 4; shape++) {
		cls[4] = 0;
		mm_shapes3d_render(ctx, cls, a);
		cls[4] = shape;
		mm_shapes3d_render(ctx, cls, b);
		i &= diffmask(a, b, mo) > 20;
	}
	ok(i, "the four shapes differ");
	cls[5] = 0;
	mm_shapes3d_render(ctx, cls, a);
	cls[5] = 14;
	mm_shapes3d_render(ctx, cls, b);
	ok(diffmask(a, b, mo) > 500, "orientation moves the view");
	/* shaded, not flat: the floor has many grey levels */
	{
		int seen[256] = {0}, lv = 0;
		for (i = 48 * 64; i < NPX; i++)
			seen[a[i]] = 1;  /* red channel of the floor rows */
		for (i = 0; i < 256; i++)
			lv += seen[i];
		ok(lv >= 8, "floor is shaded (%d levels)", lv);
	}
	mm_shapes3d_free(ctx);
}

/* centroid of the object: pixels that change with its colour */
static void
mpi_obj(void *ctx, int32_t *cls, double *cx, double *cy, double *area)
{
	static uint8_t a[3 * NPX], b[3 * NPX];
	uint8_t m[NPX];
	int keep = cls[0];

	cls[0] = 0;
	mm_mpi3d_render(ctx, cls, a);
	cls[0] = 3;
	mm_mpi3d_render(ctx, cls, b);
	cls[0] = keep;
	diffmask(a, b, m);
	moments(m, area, cx, cy);
}

static void
t_mpi3d(void)
{
	void *ctx = mm_mpi3d_init();
	int32_t cls[7] = { 0, 5, 1, 1, 0, 20, 20 };
	double x0, y0, a0, x1, y1, a1;

	mpi_obj(ctx, cls, &x0, &y0, &a0);
	cls[5] = 0;
	mpi_obj(ctx, cls, &x1, &y1, &a1);
	ok(a0 > 30 && fabs(x1 - x0) > 8 && fabs(y1 - y0) < 0.5 *
	    fabs(x1 - x0), "horizontal axis moves the object sideways "
	    "(%.1f,%.1f -> %.1f,%.1f)", x0, y0, x1, y1);
	cls[5] = 39;
	mpi_obj(ctx, cls, &x1, &y1, &a1);
	{
		double xl = x1;
		cls[5] = 0;
		mpi_obj(ctx, cls, &x1, &y1, &a1);
		ok(x1 < x0 && x0 < xl, "horizontal axis: one side to the "
		    "other through the middle (%.1f < %.1f < %.1f)", x1, x0,
		    xl);
	}
	cls[5] = 20;
	cls[6] = 0;
	mpi_obj(ctx, cls, &x1, &y1, &a1);
	ok(y0 - y1 > 8 && fabs(x1 - x0) < 0.5 * (y0 - y1), "vertical axis "
	    "moves the object up and down (%.1f,%.1f -> %.1f,%.1f)", x0, y0,
	    x1, y1);
	cls[6] = 20;
	cls[2] = 0;
	mpi_obj(ctx, cls, &x1, &y1, &a1);
	ok(a1 < 0.8 * a0, "small object is smaller (%g < %g)", a1, a0);
	cls[2] = 1;
	cls[3] = 0;
	mpi_obj(ctx, cls, &x1, &y1, &a1);
	cls[3] = 2;
	mpi_obj(ctx, cls, &x0, &y0, &a0);
	ok(y0 - y1 > 4, "camera height shifts the scene (%.1f -> %.1f)",
	    y1, y0);
	{
		static uint8_t a[3 * NPX], b[3 * NPX];
		uint8_t m[NPX];
		int s, differ = 1;
		cls[1] = 0;
		mm_mpi3d_render(ctx, cls, a);
		for (s = 1; s < 6; s++) {
			cls[1] = s;
			mm_mpi3d_render(ctx, cls, b);
			differ &= diffmask(a, b, m) > 5;
		}
		ok(differ, "the six object shapes differ");
		cls[4] = 2;
		mm_mpi3d_render(ctx, cls, b);
		ok(diffmask(a, b, m) > 3000, "background colour changes the "
		    "backdrop");
	}
	mm_mpi3d_free(ctx);
}

/* Read a part through bin/mmib-gen: rows (by mixed radix) and checks. */
static int64_t
read_part(const char *args, int64_t *rows, int64_t cap, int *pair_ok)
{
	char cmd[1024];
	const char *top = getenv("MMIB_TOP");
	FILE *p;
	struct mm_reader *r;
	struct mm_batch b;
	int64_t n = 0, i;
	int rc, f;

	snprintf(cmd, sizeof cmd, "%s/bin/mmib-gen %s", top ? top : ".", args);
	if ((p = popen(cmd, "r")) == NULL)
		return -1;
	r = mm_reader_open(p, "mmib-gen");
	mm_batch_init(&b);
	*pair_ok = 1;
	while ((rc = mm_reader_batch(r, &b)) == 1) {
		struct mm_record *c = mm_batch_get(&b, "classes");
		struct mm_record *pr = mm_batch_get(&b, "pair");
		const int32_t *cl;
		const float *pv;
		if (!c || !pr || c->dtype != MM_I32 || pr->dtype != MM_F32)
			break;
		cl = c->data;
		pv = pr->data;
		for (i = 0; i < b.rows && n < cap; i++, n++) {
			const int32_t *ci = cl + i * c->shape[1];
			const float *pi = pv + i * pr->shape[1];
			int off = 0;
			rows[n] = mm_gen_row(DS, ci);
			/* pairs of these runs: essence shape,posX,posY */
			for (f = 0; f < 5; f++) {
				if (f == 1 || f == 2)
					continue;
				*pair_ok &= pi[off + ci[f]] == 1.0f;
				off += DS->card[f];
			}
			*pair_ok &= off == pr->shape[1];
		}
	}
	mm_batch_free(&b);
	mm_reader_close(r);
	if (pclose(p) != 0 || rc != 0)
		return -1;
	return n;
}

static void
t_parts(void)
{
	static int64_t tr[2000], te[2000], all[2000];
	int64_t ntr, nte, nall, i;
	int p1, p2, p3, disjoint = 1, same = 1;
	const char *a = "-d dsprites -n 2000 -s 11 --batch 300 "
	    "--essence shape,posX,posY";
	char args[512];

	snprintf(args, sizeof args, "%s --part train", a);
	ntr = read_part(args, tr, 2000, &p1);
	snprintf(args, sizeof args, "%s --part test", a);
	nte = read_part(args, te, 2000, &p2);
	snprintf(args, sizeof args, "%s --part all", a);
	nall = read_part(args, all, 2000, &p3);
	ok(ntr == 1500 && nte == 500 && nall == 2000, "parts 1500 + 500 = "
	    "2000 (%lld, %lld, %lld)", (long long)ntr, (long long)nte,
	    (long long)nall);
	ok(p1 && p2 && p3, "pair = one-hot of the essence classes");
	if (ntr != 1500 || nte != 500 || nall != 2000) {
		skip(2, "parts not read");
		return;
	}
	for (i = 0; i < 1500; i++)
		same &= tr[i] == all[i];
	for (i = 0; i < 500; i++)
		same &= te[i] == all[1500 + i];
	ok(same, "--part all = train then test, same rows, same order");
	qsort(tr, 1500, sizeof *tr, cmp64);
	qsort(te, 500, sizeof *te, cmp64);
	for (i = 0; i < 500; i++)
		disjoint &= bsearch(&te[i], tr, 1500, sizeof *tr, cmp64) == NULL;
	ok(disjoint, "train and test parts are disjoint");
}

int
main(void)
{
	plan(54);
	DS = mm_gen_find("dsprites");
	S3 = mm_gen_find("shapes3d");
	MP = mm_gen_find("mpi3d");
	t_registry();
	t_sample();
	t_pairing();
	t_dsprites();
	t_shapes3d();
	t_mpi3d();
	t_parts();
	return done_testing();
}
