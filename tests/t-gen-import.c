/*
 * t-gen-import.c - the importers on fixture files in the real formats,
 * made here: npz (zip) with stored and deflated members, a ZIP64 npz like
 * numpy writes for MPI3D, and an HDF5 file with gzip chunks like
 * 3dshapes.h5.  The real grids are huge, so the test declares small ones
 * through mm_gen_shrink() (see gen.h) before the registry is used.
 * Each fixture row r is filled with bytes (r * 7 + position) so a wrong
 * row, a wrong transpose or a wrong offset shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef MM_HAVE_HDF5
#include <hdf5.h>
#endif

#include "err.h"
#include "gen.h"
#include "h5-array.h"
#include "h5.h"
#include "stream.h"
#include "tap.h"
#include "util-zip.h"

#define NPX 4096

static char dir[256];

/* An npy blob of rows (rows, 64, 64[, C]) u8 with the fixture pattern. */
static int npy_version = 1;     /* format version of the next npy() */

static unsigned char *
npy(int64_t rows, int C, size_t *len)
{
	char hd[128];
	size_t row = (size_t)NPX * C, hl, i;
	unsigned char *b;
	int64_t r;

	if (C == 1)
		snprintf(hd, sizeof hd, "{'descr': '|u1', 'fortran_order': "
		    "False, 'shape': (%lld, 64, 64), }", (long long)rows);
	else
		snprintf(hd, sizeof hd, "{'descr': '|u1', 'fortran_order': "
		    "False, 'shape': (%lld, 64, 64, %d), }", (long long)rows, C);
	/* v1: 2-byte header length; v2: 4 bytes (12-byte prefix) */
	size_t pre = npy_version == 1 ? 10 : 12;
	hl = strlen(hd);
	hl = (pre + hl + 1 + 63) / 64 * 64;
	*len = hl + row * rows;
	b = malloc(*len);
	memcpy(b, "\x93NUMPY", 6);
	b[6] = (unsigned char)npy_version;
	b[7] = 0;
	if (pre == 10)
		p16(b + 8, (unsigned)(hl - 10));
	else
		p32(b + 8, (uint32_t)(hl - 12));
	memset(b + pre, ' ', hl - pre);
	memcpy(b + pre, hd, strlen(hd));
	b[hl - 1] = '\n';
	for (r = 0; r < rows; r++)
		for (i = 0; i < row; i++)
			b[hl + r * row + i] = (unsigned char)(r * 7 + i * 13);
	return b;
}

/* Expected (C, H, W) image of fixture row r stored (H, W, C). */
static int
row_ok(const uint8_t *img, int64_t r, int C)
{
	int i, c;

	for (c = 0; c < C; c++)
		for (i = 0; i < NPX; i++)
			if (img[c * NPX + i] !=
			    (uint8_t)(r * 7 + ((size_t)i * C + c) * 13))
				return 0;
	return 1;
}

static void
t_npz(const char *ds_name, int C, int method, int zip64)
{
	const struct mm_dataset *ds = mm_gen_find(ds_name);
	char path[300];
	size_t len;
	unsigned char *blob = npy(ds->rows, C, &len);
	struct member m[3] = {
		{ "metadata.npy", (const unsigned char *)"pickled junk", 12, 0 },
		{ C == 1 ? "imgs.npy" : "images.npy", blob, len, method },
		{ "latents_classes.npy", (const unsigned char *)"x", 1, 8 },
	};
	struct mm_source s;
	int64_t rows[3] = { 1, 5, ds->rows - 1 };
	static uint8_t img[3 * 3 * NPX];
	int rc;

	snprintf(path, sizeof path, "%s/%s-%d-%d.npz", dir, ds_name, method,
	    zip64);
	write_zip(path, m, 3, zip64);
	rc = mm_source_file(&s, path, NULL);
	ok(rc == 0 && s.ds == ds, "%s npz (%s%s) opens, dataset detected%s%s",
	    ds_name, method ? "deflate" : "stored", zip64 ? ", ZIP64" : "",
	    rc ? ": " : "", rc ? mm_errmsg() : "");
	if (rc) {
		skip(1, "not open");
		free(blob);
		return;
	}
	ok(s.seekable == (method == 0), "seekable only when stored");
	rc = mm_source_read(&s, rows, 3, img);
	ok(rc == 0 && row_ok(img, 1, C) && row_ok(img + C * NPX, 5, C) &&
	    row_ok(img + 2 * C * NPX, ds->rows - 1, C),
	    "rows 1, 5, last read back (H,W,C -> C,H,W)");
	if (method == 0) {
		int64_t r0 = 0;
		ok(mm_source_read(&s, &r0, 1, img) == 0 && row_ok(img, 0, C),
		    "stored member: seek back to row 0");
	} else {
		int64_t r0 = 0;
		ok(mm_source_read(&s, &r0, 1, img) < 0 &&
		    strstr(mm_errmsg(), "deflated") != NULL,
		    "deflated member: going back is refused");
	}
	mm_source_close(&s);

	/* truncated copy: cut the file in half */
	{
		char tp[320];
		FILE *in = fopen(path, "rb"), *out;
		long sz;
		unsigned char *all;
		snprintf(tp, sizeof tp, "%s.trunc", path);
		fseek(in, 0, SEEK_END);
		sz = ftell(in);
		rewind(in);
		all = malloc(sz);
		if (fread(all, 1, sz, in) != (size_t)sz)
			sz = 0;
		fclose(in);
		out = fopen(tp, "wb");
		fwrite(all, 1, sz / 2, out);
		fclose(out);
		rc = mm_source_file(&s, tp, NULL);
		ok(rc < 0, "truncated npz refused: %s", mm_errmsg());
		/* corrupt payload: flip bytes in the middle of the data */
		if (method == 8) {
			size_t k;
			for (k = 200; k < 260; k++)
				all[k] ^= 0x5a;
			out = fopen(tp, "wb");
			fwrite(all, 1, sz, out);
			fclose(out);
			rc = mm_source_file(&s, tp, NULL);
			if (rc == 0) {
				int64_t r = ds->rows - 1;
				rc = mm_source_read(&s, &r, 1, img);
				mm_source_close(&s);
			}
			ok(rc < 0, "corrupt deflate data refused: %s",
			    mm_errmsg());
		}
		/* stored member read whole, front to back: its CRC-32 is
		 * checked, so a changed byte of an image is refused, and
		 * the intact file passes the same check */
		if (method == 0) {
			int64_t k, nr = ds->rows;
			int64_t *all_rows = malloc(nr * sizeof *all_rows);
			uint8_t *imgs = malloc((size_t)nr * C * NPX);
			for (k = 0; k < nr; k++)
				all_rows[k] = k;
			rc = mm_source_file(&s, path, NULL);
			if (rc == 0) {
				rc = mm_source_read(&s, all_rows, nr, imgs);
				mm_source_close(&s);
			}
			ok(rc == 0, "stored npz read whole: CRC-32 agrees%s%s",
			    rc ? ": " : "", rc ? mm_errmsg() : "");
			all[sz / 2] ^= 0x01;  /* inside the images */
			out = fopen(tp, "wb");
			fwrite(all, 1, sz, out);
			fclose(out);
			rc = mm_source_file(&s, tp, NULL);
			if (rc == 0) {
				rc = mm_source_read(&s, all_rows, nr, imgs);
				mm_source_close(&s);
			}
			ok(rc < 0 && strstr(mm_errmsg(), "CRC-32") != NULL,
			    "stored npz with one changed byte refused: %s",
			    mm_errmsg());
			free(all_rows);
			free(imgs);
		}
		free(all);
		unlink(tp);
	}
	free(blob);
}

/* Run mmib-gen's loop (mm_gen_open/next) on --from path with n rows
 * (0: -n all), seed, part and batch, and check every image against the
 * row its classes name: the sort-read-scatter of a chunk keeps rows and
 * images together.  Returns the number of rows checked, -1 on a
 * mismatch, -2 on an error. */
static int64_t
run_from(const char *path, long long n, long long seed, const char *part,
    long batch, int C)
{
	struct mm_gen_config c;
	struct mm_gen_run g;
	int64_t k, i, rows = 0;
	int good = 1;

	mm_gen_defaults(&c);
	c.from = path;
	c.all = n == 0;
	c.n = n;
	c.seed = seed;
	c.part = part;
	c.batch = batch;
	if (mm_gen_open(&g, &c) < 0)
		return -2;
	while ((k = mm_gen_next(&g)) > 0) {
		for (i = 0; i < k; i++, rows++)
			good &= row_ok(g.img + i * C * NPX, mm_gen_row(g.ds,
			    g.cls + i * g.ds->F), C);
		good &= g.k == k && g.at + k <= g.count;
	}
	mm_gen_close(&g);
	if (k < 0)
		return -2;
	return good ? rows : -1;
}

static void
t_grid_mismatch(void)
{
	const struct mm_dataset *ds = mm_gen_find("dsprites");
	char path[300];
	size_t len;
	unsigned char *blob = npy(ds->rows - 1, 1, &len);
	struct member m[1] = { { "imgs.npy", blob, len, 0 } };
	struct mm_source s;
	int rc;

	snprintf(path, sizeof path, "%s/short.npz", dir);
	write_zip(path, m, 1, 0);
	rc = mm_source_file(&s, path, NULL);
	ok(rc == MM_ESIZE && strstr(mm_errmsg(), "grid has 48") != NULL,
	    "wrong row count refused: %s", mm_errmsg());
	rc = mm_source_file(&s, path, mm_gen_find("mpi3d"));
	ok(rc < 0, "dSprites npz given as mpi3d refused: %s", mm_errmsg());
	free(blob);
}

#ifdef MM_HAVE_HDF5
/* path := an HDF5 file (creation and access properties fc, fa) holding
 * 'images', unsigned bytes of dims (4-d; maximum maxd, or NULL) stored
 * with the dataset creation properties pl, written from data.  Returns
 * its chunk index kind, -1 when not chunked. */
static H5D_chunk_index_t
h5_images(const char *path, hid_t fc, hid_t fa, const hsize_t *dims,
    const hsize_t *maxd, hid_t pl, const void *data)
{
	hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fc, fa);
	hid_t sp = H5Screate_simple(4, dims, maxd);
	hid_t d = H5Dcreate2(f, "images", H5T_STD_U8LE, sp, H5P_DEFAULT, pl,
	    H5P_DEFAULT);
	H5D_chunk_index_t idx = (H5D_chunk_index_t)-1;

	H5Dwrite(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
	/* asked of a contiguous dataset, HDF5 prints an error stack */
	if (pl != H5P_DEFAULT && H5Pget_layout(pl) == H5D_CHUNKED &&
	    H5Dget_chunk_index_type(d, &idx) < 0)
		idx = (H5D_chunk_index_t)-1;
	H5Dclose(d);
	H5Sclose(sp);
	H5Fclose(f);
	return idx;
}
#endif

static void
t_h5(void)
{
#ifdef MM_HAVE_HDF5
	const struct mm_dataset *ds = mm_gen_find("shapes3d");
	hsize_t dims[4] = { (hsize_t)ds->rows, 64, 64, 3 };
	hsize_t chunk[4] = { 3, 64, 64, 3 };
	char path[300], tp[320];
	size_t len;
	unsigned char *blob = npy(ds->rows, 3, &len);
	hid_t pl;
	struct mm_source s;
	int64_t rows[4] = { 0, 2, 3, 9 };
	static uint8_t img[4 * 3 * NPX];
	int rc, i, good = 1;

	snprintf(path, sizeof path, "%s/3dshapes.h5", dir);
	pl = H5Pcreate(H5P_DATASET_CREATE);
	H5Pset_chunk(pl, 4, chunk);
	H5Pset_deflate(pl, 4);
	h5_images(path, H5P_DEFAULT, H5P_DEFAULT, dims, NULL, pl,
	    blob + (len - (size_t)ds->rows * 3 * NPX));
	H5Pclose(pl);
	rc = mm_source_file(&s, path, NULL);
	ok(rc == 0 && s.ds == ds, "3dshapes.h5 opens, dataset detected%s%s",
	    rc ? ": " : "", rc ? mm_errmsg() : "");
	rc = rc ? rc : mm_source_read(&s, rows, 4, img);
	for (i = 0; i < 4; i++)
		good &= rc == 0 && row_ok(img + i * 3 * NPX, rows[i], 3);
	ok(good, "h5 rows 0, 2, 3, 9 (two hyperslab runs) read back");
	mm_source_close(&s);
	is_int(run_from(path, 10, 2, "all", 4, 3), 10,
	    "mmib-gen --from h5: 10 rows, each image its row's");
	/* truncated */
	{
		FILE *in = fopen(path, "rb"), *out;
		long sz;
		unsigned char *all;
		fseek(in, 0, SEEK_END);
		sz = ftell(in);
		rewind(in);
		all = malloc(sz);
		if (fread(all, 1, sz, in) != (size_t)sz)
			sz = 0;
		fclose(in);
		snprintf(tp, sizeof tp, "%s.trunc", path);
		out = fopen(tp, "wb");
		fwrite(all, 1, sz / 2, out);
		fclose(out);
		rc = mm_source_file(&s, tp, NULL);
		if (rc == 0) {
			int64_t r = ds->rows - 1;
			rc = mm_source_read(&s, &r, 1, img);
			mm_source_close(&s);
		}
		ok(rc < 0, "truncated h5 refused: %s", mm_errmsg());
		free(all);
		unlink(tp);
	}
	/* the other layouts: contiguous, chunks split across the image
	 * (partial at the edges), shuffle + deflate, raw chunks */
	{
		static const hsize_t cs[3][4] = { { 2, 40, 64, 3 },
		    { 1, 16, 16, 3 }, { 7, 64, 64, 2 } };
		int lay;
		for (lay = 0; lay < 4; lay++) {
			pl = H5Pcreate(H5P_DATASET_CREATE);
			if (lay > 0) {
				H5Pset_chunk(pl, 4, cs[lay - 1]);
				if (lay == 1)
					H5Pset_shuffle(pl);
				if (lay != 2)
					H5Pset_deflate(pl, 1);
			}
			h5_images(path, H5P_DEFAULT, H5P_DEFAULT, dims, NULL,
			    pl, blob + (len - (size_t)ds->rows * 3 * NPX));
			H5Pclose(pl);
			rc = mm_source_file(&s, path, NULL);
			rc = rc ? rc : mm_source_read(&s, rows, 4, img);
			good = 1;
			for (i = 0; i < 4; i++)
				good &= rc == 0 && row_ok(img + i * 3 * NPX,
				    rows[i], 3);
			if (rc == 0)
				mm_source_close(&s);
			ok(good, "h5 layout %d (%s) read back%s%s", lay,
			    lay == 0 ? "contiguous" : lay == 1 ?
			    "partial chunks, shuffle, deflate" : lay == 2 ?
			    "raw 16x16 chunks" : "chunks of 7 rows, 2 channels",
			    rc ? ": " : "", rc ? mm_errmsg() : "");
		}
	}
	free(blob);
#else
	skip(8, "built without HDF5");
#endif
}

/*
 * Every kind of chunk index HDF5 1.10 writes (the version 1 B-tree of the
 * default file format; with the latest format a fixed array, an
 * extensible array for an unlimited first dimension, a single chunk),
 * and a file that starts with a user block (chunk addresses then count
 * from its end), reads back through mm_h5_read, which reads the chunks'
 * bytes itself (h5-chunk.h): 10 rows of 8 x 8 x 3 bytes.
 */
static void
t_h5_index(void)
{
#ifdef MM_HAVE_HDF5
	static const struct {
		const char *name;
		int latest, unlim, c0;
		H5D_chunk_index_t idx;
		hsize_t ub;
	} k[5] = { { "version 1 B-tree", 0, 0, 3, H5D_CHUNK_IDX_BTREE, 0 },
	    { "fixed array", 1, 0, 3, H5D_CHUNK_IDX_FARRAY, 0 },
	    { "extensible array", 1, 1, 3, H5D_CHUNK_IDX_EARRAY, 0 },
	    { "single chunk", 1, 0, 10, H5D_CHUNK_IDX_SINGLE, 0 },
	    { "version 1 B-tree after a user block of 512 bytes", 0, 0, 3,
	    H5D_CHUNK_IDX_BTREE, 512 } };
	H5D_chunk_index_t got;
	hsize_t dims[4] = { 10, 8, 8, 3 };
	hsize_t maxd[4] = { H5S_UNLIMITED, 8, 8, 3 };
	static uint8_t data[10 * 192], back[10 * 192];
	int64_t rows[10], shape[8];
	char path[300];
	struct mm_h5 *h;
	int i, j, rc, ndim;

	for (i = 0; i < 10 * 192; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (i = 0; i < 10; i++)
		rows[i] = i;
	snprintf(path, sizeof path, "%s/index.h5", dir);
	for (j = 0; j < 5; j++) {
		hsize_t ch[4] = { (hsize_t)k[j].c0, 8, 8, 3 };
		hid_t fa = H5Pcreate(H5P_FILE_ACCESS), fc, pl;
		if (k[j].latest)
			H5Pset_libver_bounds(fa, H5F_LIBVER_LATEST,
			    H5F_LIBVER_LATEST);
		fc = H5Pcreate(H5P_FILE_CREATE);
		if (k[j].ub)
			H5Pset_userblock(fc, k[j].ub);
		pl = H5Pcreate(H5P_DATASET_CREATE);
		H5Pset_chunk(pl, 4, ch);
		H5Pset_deflate(pl, 4);
		got = h5_images(path, fc, fa, dims, k[j].unlim ? maxd : NULL,
		    pl, data);
		H5Pclose(pl);
		H5Pclose(fc);
		H5Pclose(fa);
		memset(back, 0, sizeof back);
		rc = mm_h5_open(path, "images", &h, shape, &ndim);
		if (rc == 0) {
			rc = mm_h5_read(h, rows, 10, back);
			mm_h5_close(h);
		}
		ok(got == k[j].idx && rc == 0 && !memcmp(data, back,
		    sizeof data), "h5 chunk index: %s (type %d) reads back%s%s",
		    k[j].name, (int)got, rc ? ": " : "", rc ? mm_errmsg() : "");
	}
	unlink(path);
#else
	skip(5, "built without HDF5");
#endif
}

/*
 * A file whose chunk index gives one chunk two sizes (a fuzzed input,
 * tests/fuzz/regress/h5/chunk-two-sizes.h5): H5Dget_chunk_storage_size
 * says 768 bytes, the record H5Dread_chunk reads 815, and libhdf5 1.10
 * wrote those past a buffer of the first when it ran in the caller's
 * process.  Read by libhdf5's child process into a buffer that ends at a
 * guard page (h5-chunk.h, t-isolate), H5Dread_chunk fails.  Every row
 * read in turn: the read must stop with that error, not go on.
 */
static void
t_h5_two_sizes(void)
{
#ifdef MM_HAVE_HDF5
	const char *top = getenv("MMIB_TOP");
	char path[600];
	struct mm_h5 *h;
	int64_t shape[8], row = 1, r;
	int ndim, d, rc;
	uint8_t *buf = NULL;

	snprintf(path, sizeof path, "%s/tests/fuzz/regress/h5/"
	    "chunk-two-sizes.h5", top ? top : ".");
	rc = mm_h5_open(path, "images", &h, shape, &ndim);
	ok(rc == 0, "chunk-two-sizes.h5 opens%s%s", rc ? ": " : "",
	    rc ? mm_errmsg() : "");
	if (rc) {
		skip(1, "not opened");
		return;
	}
	for (d = 1; d < ndim; d++)
		row *= shape[d];
	if (row <= 1 << 16)
		buf = malloc((size_t)row);
	for (r = 0, rc = 0; buf && r < shape[0] && rc == 0; r++)
		rc = mm_h5_read(h, &r, 1, buf);
	ok(rc < 0 && strstr(mm_errmsg(), "chunk-two-sizes.h5: reading the "
	    "chunk of rows 1.. failed (corrupt or truncated file?)"),
	    "a chunk with two sizes refused: %s", rc ? mm_errmsg() :
	    "read on");
	free(buf);
	mm_h5_close(h);
	/* chunk-accum.h5: libhdf5 1.10.8's H5Dread_chunk wrote 18,432
	 * bytes into its chunk of 768 (both its sizes agree) */
	snprintf(path, sizeof path, "%s/tests/fuzz/regress/h5/"
	    "chunk-accum.h5", top ? top : ".");
	rc = mm_h5_open(path, "images", &h, shape, &ndim);
	if (rc == 0) {
		buf = malloc((size_t)row);
		for (r = 0; buf && r < shape[0] && rc == 0; r++)
			rc = mm_h5_read(h, &r, 1, buf);
		free(buf);
		mm_h5_close(h);
	}
	ok(rc < 0 && strstr(mm_errmsg(), "chunk-accum.h5: reading the chunk "
	    "of rows 0.. failed (corrupt or truncated file?)"),
	    "chunk-accum.h5 refused: %s", rc ? mm_errmsg() : "read on");
#else
	skip(3, "built without HDF5");
#endif
}

/*
 * mm_h5f_rows (a dataset of one's own, read in libhdf5's child process)
 * writes into the room the caller gives: the rows come back byte for
 * byte into exactly their size, one byte less is refused before anything
 * is read, and the reader serves on after the refusal.
 */
static void
t_h5f_room(void)
{
#ifdef MM_HAVE_HDF5
	hsize_t dims[4] = { 5, 4, 4, 3 };
	uint8_t data[5 * 48], got[2 * 48 + 1];
	char path[300];
	struct mm_h5f *f;
	int i, rc;

	for (i = 0; i < (int)sizeof data; i++)
		data[i] = (uint8_t)(i * 37 + 11);
	snprintf(path, sizeof path, "%s/room.h5", dir);
	h5_images(path, H5P_DEFAULT, H5P_DEFAULT, dims, NULL, H5P_DEFAULT,
	    data);
	if (mm_h5f_open(path, &f) < 0) {
		ok(0, "room.h5 opens: %s", mm_errmsg());
		skip(2, "not opened");
		return;
	}
	memset(got, 0xee, sizeof got);
	rc = mm_h5f_rows(f, "images", 2, 2, MM_U8, got, 2 * 48);
	ok(rc == 0 && memcmp(got, data + 2 * 48, 2 * 48) == 0 &&
	    got[2 * 48] == 0xee, "mm_h5f_rows: rows 2..4 into exactly their "
	    "96 bytes");
	rc = mm_h5f_rows(f, "images", 2, 2, MM_U8, got, 2 * 48 - 1);
	ok(rc == MM_ESIZE && strstr(mm_errmsg(), "room.h5: images: 2 rows do "
	    "not fit in 95 bytes"), "one byte less is refused: %s",
	    rc ? mm_errmsg() : "read");
	rc = mm_h5f_rows(f, "images", 4, 1, MM_U8, got, 48);
	ok(rc == 0 && memcmp(got, data + 4 * 48, 48) == 0, "the reader "
	    "serves on after the refusal");
	mm_h5f_close(f);
	unlink(path);
#else
	skip(3, "built without HDF5");
#endif
}

int
main(void)
{
	const char *tmp = getenv("TMPDIR");

	/* small grids: dsprites 48 rows, mpi3d 16, shapes3d 20 */
	static const int g_dsprites[] = { 3, 2, 2, 2, 2 };
	static const int g_mpi3d[] = { 2, 2, 1, 1, 1, 2, 2 };
	static const int g_shapes3d[] = { 2, 1, 1, 1, 2, 5 };
	static const int g_bad[] = { 4, 2, 2, 2, 2 };

	if (mm_gen_shrink("dsprites", g_dsprites) < 0 ||
	    mm_gen_shrink("mpi3d", g_mpi3d) < 0 ||
	    mm_gen_shrink("shapes3d", g_shapes3d) < 0)
		fprintf(stderr, "Bail out! mm_gen_shrink: %s\n", mm_errmsg());
	snprintf(dir, sizeof dir, "%s/t-gen-import.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		skip_all("no temporary directory");
	plan(59);
	is_int(mm_gen_find("dsprites")->rows, 48, "test grid override");
	ok(mm_gen_shrink("dsprites", g_bad) < 0, "a grid larger than the "
	    "real one is refused: %s", mm_errmsg());
	t_npz("dsprites", 1, 0, 0);
	t_npz("dsprites", 1, 8, 0);
	{
		char path[300];
		int64_t k;
		snprintf(path, sizeof path, "%s/dsprites-8-0.npz", dir);
		k = run_from(path, 40, 3, "train", 7, 1);
		is_int(k, 30, "mmib-gen --from deflated npz: 30 train rows, "
		    "each image its row's");
		k = run_from(path, 0, 0, "all", 5, 1);
		is_int(k, 48, "mmib-gen --from deflated npz -n all: 48 rows");
	}
	t_grid_mismatch();
	t_npz("mpi3d", 3, 0, 1);
	t_npz("mpi3d", 3, 8, 1);
	npy_version = 2;        /* a .npy v2 member (4-byte header length) */
	t_npz("mpi3d", 3, 0, 0);
	npy_version = 1;
	{
		char path[300];
		snprintf(path, sizeof path, "%s/mpi3d-0-1.npz", dir);
		is_int(run_from(path, 12, 5, "test", 2, 3), 3,
		    "mmib-gen --from stored ZIP64 npz: 3 test rows");
	}
	t_h5();
	t_h5_index();
	t_h5_two_sizes();
	t_h5f_room();
	{
		char cmd[600];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			diag("could not remove %s", dir);
	}
	return done_testing();
}
