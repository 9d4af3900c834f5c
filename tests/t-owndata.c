/*
 * t-owndata.c - a user's own factor dataset (lib/src-generic.c): a small
 * dataset made here, 32 x 32 RGB, three factors of 4, 3 and 5 classes
 * drawn with unequal probabilities, labels that do not start at 0, not a
 * full factorial grid; the same in other layouts and dtypes, and broken
 * variants.  Without arguments: TAP tests of the source.  With
 * "--write DIR": only write the files into DIR (tests/owndata.t runs the
 * tools on them); exit 0, or 2 when HDF5 is not built in (own.h5 then
 * missing).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef MM_HAVE_HDF5
#include <hdf5.h>
#endif

#include "err.h"
#include "gen.h"
#include "probe.h"
#include "tap.h"
#include "util-zip.h"

#define NR 480
#define SZ 32
#define NF 3

static const char *fnames[NF] = { "color", "size", "pos" };
static const int64_t sizes[3] = { -1, 0, 5 };
static int64_t lab[NR][NF];
static uint8_t img[NR][SZ][SZ][3];        /* (NR, H, W, C) */

/* A fixed LCG: the dataset is the same everywhere. */
static uint32_t lcg = 12345;
static double
uni(void)
{
	lcg = lcg * 1664525u + 1013904223u;
	return (lcg >> 8) / 16777216.0;
}

static int
pick(const double *p, int k)
{
	double u = uni(), c = 0;
	int i;

	for (i = 0; i < k - 1; i++)
		if (u < (c += p[i]))
			return i;
	return k - 1;
}

static void
make(void)
{
	static const double pc[4] = { 0.5, 0.25, 0.15, 0.1 };
	static const double ps[3] = { 0.6, 0.3, 0.1 };
	static const double pp[5] = { 0.1, 0.3, 0.2, 0.25, 0.15 };
	static const uint8_t rgb[4][3] = { { 230, 20, 20 }, { 20, 230, 20 },
	    { 20, 20, 230 }, { 230, 230, 20 } };
	int i, y, x, c;

	for (i = 0; i < NR; i++) {
		int col = pick(pc, 4), sz = pick(ps, 3), pos = pick(pp, 5);
		int side = 4 + 3 * sz, x0 = 2 + 5 * pos, y0 = 10;

		lab[i][0] = 10 + col;           /* 10..13 */
		lab[i][1] = sizes[sz];          /* -1, 0, 5 */
		lab[i][2] = 1 + pos;            /* 1..5 */
		for (y = 0; y < SZ; y++)
			for (x = 0; x < SZ; x++)
				for (c = 0; c < 3; c++) {
					int in = y >= y0 && y < y0 + side &&
					    x >= x0 && x < x0 + side;
					img[i][y][x][c] = (uint8_t)(in ?
					    rgb[col][c] : (int)(uni() * 40));
				}
	}
}

/* A .npy blob: v1 header for descr and shape, then len bytes of data. */
static unsigned char *
npyb(const char *descr, int nd, const int64_t *shape, const void *data,
    size_t len, size_t *out)
{
	char h[256], sh[128] = "";
	size_t l = 0, hl;
	unsigned char *b;
	int i;

	for (i = 0; i < nd; i++)
		l += snprintf(sh + l, sizeof sh - l, "%lld%s",
		    (long long)shape[i], nd == 1 ? "," : i + 1 < nd ? ", " : "");
	l = snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, "
	    "'shape': (%s), }", descr, sh);
	hl = (10 + l + 1 + 63) / 64 * 64;
	b = malloc(hl + len + 1);
	memcpy(b, "\x93NUMPY\x01\x00", 8);
	p16(b + 8, (unsigned)(hl - 10));
	memset(b + 10, ' ', hl - 10);
	memcpy(b + 10, h, l);
	b[hl - 1] = '\n';
	if (len)
		memcpy(b + hl, data, len);
	*out = hl + len;
	return b;
}

/* Up to 8 arrays into one npz. */
struct arr {
	const char *name, *descr;
	int nd;
	int64_t shape[4];
	const void *data;
	size_t len;
};

static void
npz(const char *dir, const char *file, const struct arr *a, int n,
    int method)
{
	struct member m[8];
	char path[512], names[8][64];
	unsigned char *blob[8];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof names[i], "%s.npy", a[i].name);
		blob[i] = npyb(a[i].descr, a[i].nd, a[i].shape, a[i].data,
		    a[i].len, &m[i].len);
		m[i].name = names[i];
		m[i].data = blob[i];
		m[i].method = method;
	}
	snprintf(path, sizeof path, "%s/%s", dir, file);
	write_zip(path, m, n, 0);
	for (i = 0; i < n; i++)
		free(blob[i]);
}

/* UTF-32 names, 8 characters wide. */
static void
u32names(const char *const *s, int n, uint32_t *out)
{
	int i, j;

	memset(out, 0, sizeof *out * 8 * n);
	for (i = 0; i < n; i++)
		for (j = 0; s[i][j] && j < 8; j++)
			out[i * 8 + j] = (unsigned char)s[i][j];
}

static int
write_all(const char *dir)
{
	static const char *cnames[4] = { "red", "green", "blue", "yellow" };
	static uint32_t fn[NF * 8], cn[4 * 8];
	static float chw[NR][3][SZ][SZ];
	static double grey[NR][SZ][SZ];
	static double lf[NR][NF];
	static int64_t one[NR][NF], flat[NR];
	size_t isz = sizeof img, lsz = sizeof lab;
	int i, y, x, c;

	make();
	u32names(fnames, NF, fn);
	u32names(cnames, 4, cn);
	for (i = 0; i < NR; i++) {
		for (c = 0; c < 3; c++)
			for (y = 0; y < SZ; y++)
				for (x = 0; x < SZ; x++)
					chw[i][c][y][x] = img[i][y][x][c] / 255.0f;
		for (y = 0; y < SZ; y++)
			for (x = 0; x < SZ; x++)
				grey[i][y][x] = img[i][y][x][0] / 255.0;
		for (c = 0; c < NF; c++) {
			lf[i][c] = (double)lab[i][c];
			one[i][c] = c == 1 ? 7 : lab[i][c];
		}
		flat[i] = lab[i][0];
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR, SZ, SZ, 3 }, img, isz },
			{ "labels", "<i8", 2, { NR, NF }, lab, lsz },
			{ "factor_names", "<U8", 1, { NF }, fn, sizeof fn },
			{ "class_names_color", "<U8", 1, { 4 }, cn, sizeof cn },
		};
		npz(dir, "own.npz", a, 4, 0);
	}
	{       /* float (NR, C, H, W), other member names, deflated */
		struct arr a[] = {
			{ "x", "<f4", 4, { NR, 3, SZ, SZ }, chw, sizeof chw },
			{ "y", "<i8", 2, { NR, NF }, lab, lsz },
		};
		npz(dir, "own-chw.npz", a, 2, 8);
	}
	{       /* float64 grey (NR, H, W) */
		struct arr a[] = {
			{ "images", "<f8", 3, { NR, SZ, SZ }, grey, sizeof grey },
			{ "labels", "<i8", 2, { NR, NF }, lab, lsz },
		};
		npz(dir, "own-grey.npz", a, 2, 0);
	}
	/* broken variants: each names its member in the error */
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR - 1, SZ, SZ, 3 }, img,
			    isz / NR * (NR - 1) },
			{ "labels", "<i8", 2, { NR, NF }, lab, lsz },
		};
		npz(dir, "bad-n.npz", a, 2, 0);
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR, SZ, SZ, 3 }, img, isz },
			{ "labels", "<f8", 2, { NR, NF }, lf, sizeof lf },
		};
		npz(dir, "bad-float.npz", a, 2, 0);
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR, SZ, SZ, 3 }, img, isz },
			{ "labels", "<i8", 2, { NR, NF }, one, sizeof one },
		};
		npz(dir, "bad-one.npz", a, 2, 0);
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { 0, SZ, SZ, 3 }, img, 0 },
			{ "labels", "<i8", 2, { 0, NF }, lab, 0 },
		};
		npz(dir, "bad-empty.npz", a, 2, 0);
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR, 0, SZ, 3 }, img, 0 },
			{ "labels", "<i8", 2, { NR, NF }, lab, lsz },
		};
		npz(dir, "bad-zero.npz", a, 2, 0);
	}
	{
		struct arr a[] = {
			{ "images", "|u1", 4, { NR, SZ, SZ, 3 }, img, isz },
			{ "labels", "<i8", 1, { NR }, flat, sizeof flat },
		};
		npz(dir, "bad-rank.npz", a, 2, 0);
	}
	{
		grey[NR / 2][3][4] = NAN;
		struct arr a[] = {
			{ "images", "<f8", 3, { NR, SZ, SZ }, grey, sizeof grey },
			{ "labels", "<i8", 2, { NR, NF }, lab, lsz },
		};
		npz(dir, "bad-nan.npz", a, 2, 0);
		grey[NR / 2][3][4] = 0;
	}
#ifdef MM_HAVE_HDF5
	{
		char path[512];
		hsize_t di[4] = { NR, SZ, SZ, 3 }, dl[2] = { NR, NF }, dn[1] = { NF };
		hid_t f, sp, d, st;
		char fixed[NF][8];

		snprintf(path, sizeof path, "%s/own.h5", dir);
		f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
		sp = H5Screate_simple(4, di, NULL);
		d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT,
		    H5P_DEFAULT, H5P_DEFAULT);
		H5Dwrite(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    img);
		H5Dclose(d);
		H5Sclose(sp);
		sp = H5Screate_simple(2, dl, NULL);
		d = H5Dcreate2(f, "labels", H5T_STD_I16LE, sp, H5P_DEFAULT,
		    H5P_DEFAULT, H5P_DEFAULT);
		H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    lab);
		H5Dclose(d);
		H5Sclose(sp);
		memset(fixed, 0, sizeof fixed);
		for (i = 0; i < NF; i++)
			strcpy(fixed[i], fnames[i]);
		st = H5Tcopy(H5T_C_S1);
		H5Tset_size(st, 8);
		sp = H5Screate_simple(1, dn, NULL);
		d = H5Dcreate2(f, "factor_names", st, sp, H5P_DEFAULT,
		    H5P_DEFAULT, H5P_DEFAULT);
		H5Dwrite(d, st, H5S_ALL, H5S_ALL, H5P_DEFAULT, fixed);
		H5Dclose(d);
		H5Sclose(sp);
		H5Tclose(st);
		H5Fclose(f);
	}
	return 0;
#else
	return 2;
#endif
}

/* ---------------------------------------------------------------- tests */

static char dir[256];

static int
open_src(struct mm_source *s, const char *file, const char *images,
    const char *labels)
{
	struct mm_generic_opts o = { images, labels, NULL, NULL };
	char path[512];

	snprintf(path, sizeof path, "%s/%s", dir, file);
	return mm_source_generic(s, path, &o);
}

static void
t_open(void)
{
	struct mm_source s, t;
	const struct mm_dataset *ds;
	static uint8_t a[NR * 3 * SZ * SZ], b[NR * 3 * SZ * SZ];
	int64_t rows[NR], i;
	int32_t cls[NF];
	int good = 1, rc, f, y, x, c;

	rc = open_src(&s, "own.npz", NULL, NULL);
	ok(rc == 0, "own.npz opens%s%s", rc ? ": " : "", rc ? mm_errmsg() : "");
	if (rc)
		return;
	ds = s.ds;
	ok(ds->F == 3 && ds->card[0] == 4 && ds->card[1] == 3 &&
	    ds->card[2] == 5 && ds->rows == NR, "3 factors of 4, 3, 5 classes, "
	    "%d rows", NR);
	ok(strcmp(ds->factor[0], "color") == 0 && strcmp(ds->factor[2],
	    "pos") == 0, "factor names from factor_names");
	ok(strcmp(ds->name, "own") == 0, "dataset named by the file: %s",
	    ds->name);
	ok(ds->channels == 3 && ds->height == SZ && ds->width == SZ &&
	    ds->measured, "32 x 32 RGB, marginals measured");
	for (i = 0; i < NR; i++) {
		mm_gen_classes(ds, i, cls);
		good &= cls[0] == lab[i][0] - 10 && cls[2] == lab[i][2] - 1 &&
		    sizes[cls[1]] == lab[i][1];
		rows[i] = i;
	}
	ok(good, "classes are the ranks of the stored labels");
	ok(mm_gen_row(ds, cls) == -1, "no mixed radix for a file's classes");
	rc = mm_source_read(&s, rows, NR, a);
	for (i = 0; i < NR && rc == 0; i++)
		for (c = 0; c < 3; c++)
			for (y = 0; y < SZ; y++)
				for (x = 0; x < SZ; x++)
					good &= a[((i * 3 + c) * SZ + y) * SZ + x]
					    == img[i][y][x][c];
	ok(rc == 0 && good, "images (N, H, W, C) read as (N, C, H, W)");
	rc = open_src(&t, "own-chw.npz", "x", "y");
	ok(rc == 0 && t.ds->channels == 3 && !t.seekable,
	    "float (N, C, H, W), deflated, other member names%s%s",
	    rc ? ": " : "", rc ? mm_errmsg() : "");
	rc = rc ? rc : mm_source_read(&t, rows, NR, b);
	ok(rc == 0 && memcmp(a, b, sizeof a) == 0,
	    "float images x / 255 come back as the u8 ones");
	if (t.kind)
		mm_source_close(&t);
	rc = open_src(&t, "own-grey.npz", NULL, NULL);
	ok(rc == 0 && t.ds->channels == 1 && strcmp(t.ds->factor[1],
	    "factor1") == 0, "float64 (N, H, W): one channel, factors named "
	    "factor0..");
	if (rc == 0)
		mm_source_close(&t);
#ifdef MM_HAVE_HDF5
	{
		struct mm_generic_opts o = { NULL, NULL, NULL, NULL };
		char path[512];
		snprintf(path, sizeof path, "%s/own.h5", dir);
		rc = mm_source_generic(&t, path, &o);
		good = rc == 0 && t.ds->F == 3;
		for (f = 0; good && f < NF; f++)
			good &= t.ds->card[f] == ds->card[f] &&
			    strcmp(t.ds->factor[f], ds->factor[f]) == 0;
		rc = good ? mm_source_read(&t, rows, NR, b) : -1;
		ok(good && rc == 0 && memcmp(a, b, sizeof a) == 0,
		    "own.h5: the same dataset as own.npz%s%s", rc ? ": " : "",
		    rc ? mm_errmsg() : "");
		ok(mm_source_is_generic(path, NULL), "own.h5 is recognised");
		if (t.kind)
			mm_source_close(&t);
	}
#else
	(void)f;
	skip(2, "built without HDF5");
#endif
	mm_source_close(&s);
}

static void
t_bad(void)
{
	static const struct { const char *file, *want; } c[] = {
		{ "bad-n.npz", "images has 479 rows but the labels 480" },
		{ "bad-float.npz", "labels: float elements" },
		{ "bad-one.npz", "labels: column 1 has a single value" },
		{ "bad-empty.npz", "labels: empty array" },
		{ "bad-zero.npz", "images: images of 0 size" },
		{ "bad-rank.npz", "labels: a 1-d array" },
	};
	struct mm_source s;
	static uint8_t a[NR * SZ * SZ];
	int64_t r = NR / 2;
	size_t i;
	int rc;

	for (i = 0; i < sizeof c / sizeof c[0]; i++) {
		rc = open_src(&s, c[i].file, NULL, NULL);
		ok(rc < 0 && strstr(mm_errmsg(), c[i].want) != NULL &&
		    !strchr(mm_errmsg(), '\n'), "%s refused: %s", c[i].file,
		    mm_errmsg());
	}
	rc = open_src(&s, "bad-nan.npz", NULL, NULL);
	if (rc == 0) {
		rc = mm_source_read(&s, &r, 1, a);
		mm_source_close(&s);
	}
	ok(rc == MM_ENUM && strstr(mm_errmsg(), "images: image 240 holds nan"),
	    "NaN in a float image refused when read: %s", mm_errmsg());
}

static void
t_entropy(void)
{
	static const int32_t y[] = { 0, 0, 1, 2, 0, 0, 2, 1 };
	char path[512];

	is_double(mm_probe_entropy(y, 8, 3), -(0.5 * log(0.5) +
	    0.5 * log(0.25)), 1e-15, "entropy of {1/2, 1/4, 1/4}");
	is_double(mm_probe_entropy(y, 2, 3), 0.0, 0.0, "one class: 0");
	snprintf(path, sizeof path, "%s/own.npz", dir);
	ok(mm_source_is_generic(path, NULL) == 1, "own.npz is recognised");
	snprintf(path, sizeof path, "%s/own-chw.npz", dir);
	ok(mm_source_is_generic(path, NULL) == 0 &&
	    mm_source_is_generic(path, "y") == 1,
	    "... by its labels array, whatever its name");
}

int
main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	int h5;

	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		mkdir(argv[2], 0777);
		return write_all(argv[2]);
	}
	snprintf(dir, sizeof dir, "%s/t-owndata.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 1;
	plan(24);
	h5 = write_all(dir);
	t_open();
	t_bad();
	t_entropy();
	(void)h5;
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return done_testing();
}
