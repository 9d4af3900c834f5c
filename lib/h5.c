/*
 * h5.c - row reader for HDF5 datasets (see h5.h).
 *
 * libhdf5 trusts what a file says about its raw data: a corrupt chunk
 * index or a deflate stream longer than its chunk has made H5Dread write
 * past the caller's buffer.  So libhdf5 is asked for metadata (type,
 * shape, layout, filters), each answer checked before use, and the raw
 * bytes go into buffers sized from those checked answers:
 *   contiguous  the dataset's file extent, checked against the file size,
 *               read here with fseek/fread;
 *   chunked     each chunk's stored bytes read by H5Dread_chunk into a
 *               buffer of their size that ends at a guard page
 *               (h5-chunk.h), inflated here by zlib into exactly one
 *               chunk (a stream that is longer or shorter is refused);
 *               filters other than deflate and shuffle (a no-op on 1-byte
 *               elements) are refused.
 * Compact, virtual and external layouts are refused.  A batch of sorted
 * rows is served chunk band by chunk band, each chunk inflated once per
 * batch.
 *
 * All of it runs in a child process (isolate.h), the caller's mm_h5 only
 * passing requests: libhdf5 1.10 can still crash while it parses a
 * corrupt file's metadata (tests/fuzz/regress/h5/), and then only the
 * child dies and the call returns a one-line error.
 */
#define _DEFAULT_SOURCE 1      /* MAP_ANONYMOUS (h5-chunk.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "h5.h"

#ifdef MM_HAVE_HDF5
#include <hdf5.h>
#include <zlib.h>

#include "h5-chunk.h"
#include "isolate.h"

/* Largest row, chunk and stored chunk accepted: far above 3dshapes.h5's
 * (12 KiB rows, chunks of a few rows), far below what would hurt. */
#define ROW_MAX ((uint64_t)1 << 28)
#define CHUNK_MAX ((uint64_t)1 << 28)

struct h5r {
	hid_t file, dset;
	FILE *raw;                      /* contiguous: the file itself */
	int ndim, chunked;
	int deflate;                    /* pipeline index of deflate, or -1 */
	hsize_t dims[8], cdims[8];      /* dataset, chunk (chunked) */
	uint64_t rowbytes;              /* product of dims[1..] */
	uint64_t cbytes;                /* product of cdims */
	uint64_t offset;                /* contiguous: file address */
	uint8_t *chunk;                 /* (cbytes) one inflated chunk */
	struct mm_h5_gbuf zbuf;         /* stored bytes of one chunk */
	char *path;
	char label[256];
};

static void h5r_close(struct h5r *h);

int
mm_h5_available(void)
{
	return 1;
}

/* The product of n dims into *out, refusing a zero or anything above
 * max. */
static int
product(const hsize_t *d, int n, uint64_t max, uint64_t *out)
{
	uint64_t p = 1;
	int i;

	for (i = 0; i < n; i++) {
		if (d[i] == 0 || d[i] > max || p > max / d[i])
			return -1;
		p *= d[i];
	}
	*out = p;
	return 0;
}

/* The file at path opened for reading its raw bytes, its size in
 * *fsize; NULL when it cannot be. */
static FILE *
raw_open(const char *path, uint64_t *fsize)
{
	FILE *raw = fopen(path, "rb");
	off_t n;

	if (raw && (fseeko(raw, 0, SEEK_END) != 0 || (n = ftello(raw)) < 0)) {
		fclose(raw);
		raw = NULL;
	}
	if (raw)
		*fsize = (uint64_t)n;
	return raw;
}

/* The layout of h->dset: contiguous in the file, or chunked with
 * deflate/shuffle only; anything else refused. */
static int
layout(struct h5r *h, const char *dset)
{
	hid_t pl;
	H5D_layout_t lay;
	int nf, i, rc = 0;
	uint64_t total;

	if ((pl = H5Dget_create_plist(h->dset)) < 0)
		return mm_err(MM_EFORMAT, "%s: dataset '%s': no creation "
		    "properties (corrupt?)", h->label, dset);
	lay = H5Pget_layout(pl);
	if (H5Pget_external_count(pl) != 0)
		rc = mm_err(MM_EUNSUP, "%s: dataset '%s' is stored in external "
		    "files", h->label, dset);
	else if (lay == H5D_CONTIGUOUS) {
		haddr_t off = H5Dget_offset(h->dset);
		hsize_t st = H5Dget_storage_size(h->dset);
		uint64_t fsize = 0;

		if (product(h->dims, h->ndim, (uint64_t)1 << 46, &total) < 0 ||
		    off == HADDR_UNDEF || st != total)
			rc = mm_err(MM_EFORMAT, "%s: dataset '%s': its storage "
			    "does not hold its %d-d shape (corrupt?)", h->label,
			    dset, h->ndim);
		else if (!(h->raw = raw_open(h->path, &fsize)) ||
		    off > fsize || total > fsize - off)
			rc = mm_err(MM_EFORMAT, "%s: dataset '%s' lies beyond "
			    "the end of the file (truncated?)", h->label, dset);
		h->offset = off;
	} else if (lay == H5D_CHUNKED) {
		h->chunked = 1;
		h->deflate = -1;
		if (H5Pget_chunk(pl, h->ndim, h->cdims) != h->ndim ||
		    product(h->cdims, h->ndim, CHUNK_MAX, &h->cbytes) < 0)
			rc = mm_err(MM_EFORMAT, "%s: dataset '%s': bad chunk "
			    "shape (rank or size)", h->label, dset);
		nf = H5Pget_nfilters(pl);
		if (rc == 0 && (nf < 0 || nf > 8))
			rc = mm_err(MM_EFORMAT, "%s: dataset '%s': bad filter "
			    "pipeline", h->label, dset);
		for (i = 0; rc == 0 && i < nf; i++) {
			unsigned flags, cd[8];
			size_t ncd = 8;
			char name[64];
			H5Z_filter_t id = H5Pget_filter2(pl, (unsigned)i, &flags,
			    &ncd, cd, sizeof name, name, NULL);

			if (id == H5Z_FILTER_DEFLATE)
				h->deflate = i;
			else if (id != H5Z_FILTER_SHUFFLE)
				rc = mm_err(MM_EUNSUP, "%s: dataset '%s': filter "
				    "%d is not supported (deflate and shuffle "
				    "are)", h->label, dset, (int)id);
		}
		if (rc == 0 && !(h->chunk = malloc(h->cbytes)))
			rc = mm_err(MM_ENOMEM, "out of memory");
	} else
		rc = mm_err(MM_EUNSUP, "%s: dataset '%s' has a %s layout "
		    "(contiguous and chunked are read)", h->label, dset,
		    lay == H5D_COMPACT ? "compact" : "virtual or unknown");
	H5Pclose(pl);
	return rc;
}

static int
h5r_open(const char *path, const char *dset, struct h5r **out,
    int64_t *shape, int *ndim)
{
	struct h5r *h;
	hid_t type, space;
	int i, rc;

	*out = NULL;
	/* HDF5 prints its error stack by default; we report our own line */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if ((h = calloc(1, sizeof *h)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	h->file = h->dset = -1;
	snprintf(h->label, sizeof h->label, "%s", path);
	if (!(h->path = strdup(path))) {
		free(h);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	if (H5Fis_hdf5(path) <= 0) {
		rc = mm_err(MM_EFORMAT, "%s: not a readable HDF5 file "
		    "(missing, truncated or corrupt)", path);
		goto fail;
	}
	if ((h->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		rc = mm_err(MM_EFORMAT, "%s: cannot open as HDF5 (truncated "
		    "or corrupt?)", path);
		goto fail;
	}
	if (H5Lexists(h->file, dset, H5P_DEFAULT) <= 0 ||
	    (h->dset = H5Dopen2(h->file, dset, H5P_DEFAULT)) < 0) {
		rc = mm_err(MM_EMISSING, "%s: no dataset '%s'", path, dset);
		goto fail;
	}
	type = H5Dget_type(h->dset);
	if (type < 0 || H5Tget_class(type) != H5T_INTEGER ||
	    H5Tget_size(type) != 1 || H5Tget_sign(type) != H5T_SGN_NONE) {
		if (type >= 0)
			H5Tclose(type);
		rc = mm_err(MM_EDTYPE, "%s: dataset '%s' is not uint8", path,
		    dset);
		goto fail;
	}
	H5Tclose(type);
	if ((space = H5Dget_space(h->dset)) < 0) {
		rc = mm_err(MM_EFORMAT, "%s: dataset '%s' has no dataspace",
		    path, dset);
		goto fail;
	}
	h->ndim = H5Sget_simple_extent_ndims(space);
	if (h->ndim < 1 || h->ndim > 8 ||
	    H5Sget_simple_extent_dims(space, h->dims, NULL) != h->ndim) {
		H5Sclose(space);
		rc = mm_err(MM_ESIZE, "%s: dataset '%s' has %d dimensions",
		    path, dset, h->ndim);
		goto fail;
	}
	H5Sclose(space);
	if (h->dims[0] == 0 || h->dims[0] > (hsize_t)1 << 40 ||
	    product(h->dims + 1, h->ndim - 1, ROW_MAX, &h->rowbytes) < 0) {
		rc = mm_err(MM_ESIZE, "%s: dataset '%s': impossible shape "
		    "(an empty or oversized dimension)", path, dset);
		goto fail;
	}
	if ((rc = layout(h, dset)) < 0)
		goto fail;
	for (i = 0; i < h->ndim; i++)
		shape[i] = (int64_t)h->dims[i];
	*ndim = h->ndim;
	*out = h;
	return 0;
fail:
	h5r_close(h);
	return rc;
}

/* Chunk (band, the chunk offset off[1..]) into h->chunk, inflated. */
static int
load_chunk(struct h5r *h, const hsize_t *off)
{
	const uint8_t *zbuf;
	hsize_t stored;
	uint32_t mask = 0;
	z_stream z;
	int zr;

	/* deflate expands incompressible data by a few bytes per 16 KiB */
	zr = mm_h5_chunk_read(h->dset, off, h->cbytes + h->cbytes / 64 + 1024,
	    &h->zbuf, &zbuf, &stored, &mask);
	if (zr < 0)
		return mm_h5_chunk_error(zr, h->label, off[0], stored,
		    h->cbytes);
	if (stored == 0) {
		/* never written: HDF5's fill value, 0 for u8 */
		memset(h->chunk, 0, h->cbytes);
		return 0;
	}
	/* a set bit of mask: that filter was skipped for this chunk; the
	 * shuffle of 1-byte elements is the identity either way */
	if (h->deflate < 0 || (mask >> h->deflate & 1)) {
		if (stored != h->cbytes)
			return mm_err(MM_EFORMAT, "%s: an unfiltered chunk of "
			    "%llu bytes, %llu expected", h->label,
			    (unsigned long long)stored,
			    (unsigned long long)h->cbytes);
		memcpy(h->chunk, zbuf, h->cbytes);
		return 0;
	}
	memset(&z, 0, sizeof z);
	if (inflateInit(&z) != Z_OK)
		return mm_err(MM_ENOMEM, "out of memory (zlib)");
	z.next_in = (Bytef *)zbuf;
	z.avail_in = (uInt)stored;
	z.next_out = h->chunk;
	z.avail_out = (uInt)h->cbytes;
	zr = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (zr != Z_STREAM_END || z.total_out != h->cbytes)
		return mm_err(MM_EFORMAT, "%s: the chunk of rows %llu.. does "
		    "not inflate to its %llu bytes (corrupt?)", h->label,
		    (unsigned long long)off[0],
		    (unsigned long long)h->cbytes);
	return 0;
}

/* Copy the part of the inflated chunk at off that falls in row r (of the
 * dataset) into dst, a (rowbytes) row.  Dimensions 1.. are walked
 * recursively; the last one is a contiguous run. */
static void
copy_part(const struct h5r *h, const hsize_t *off, int d,
    const uint8_t *src, uint8_t *dst, uint64_t sstride, uint64_t dstride)
{
	hsize_t n = h->cdims[d];
	hsize_t i;

	if (off[d] + n > h->dims[d])
		n = h->dims[d] - off[d];
	sstride /= h->cdims[d];
	dstride /= h->dims[d];
	dst += off[d] * dstride;
	if (d == h->ndim - 1) {
		memcpy(dst, src, n);
		return;
	}
	for (i = 0; i < n; i++)
		copy_part(h, off, d + 1, src + i * sstride, dst + i * dstride,
		    sstride, dstride);
}

/* Rows rows[i..j) of one chunk band (same rows[]/cdims[0]) into out. */
static int
read_band(struct h5r *h, const int64_t *rows, int64_t i, int64_t j,
    uint8_t *out)
{
	hsize_t off[8] = {0};
	uint64_t cstride = h->cbytes / h->cdims[0];
	int64_t r;
	int d, rc;

	off[0] = (hsize_t)rows[i] / h->cdims[0] * h->cdims[0];
	for (;;) {
		if ((rc = load_chunk(h, off)) < 0)
			return rc;
		for (r = i; r < j; r++) {
			const uint8_t *src = h->chunk +
			    ((hsize_t)rows[r] - off[0]) * cstride;

			if (h->ndim == 1)
				out[r] = *src;
			else
				copy_part(h, off, 1, src, out +
				    (uint64_t)r * h->rowbytes, cstride,
				    h->rowbytes);
		}
		/* next chunk of the band: an odometer over dims 1.. */
		for (d = h->ndim - 1; d >= 1; d--) {
			off[d] += h->cdims[d];
			if (off[d] < h->dims[d])
				break;
			off[d] = 0;
		}
		if (d < 1)
			return 0;
	}
}

static int
h5r_read(struct h5r *h, const int64_t *rows, int64_t k, uint8_t *out)
{
	int64_t i, j;
	int rc;

	for (i = 0; i < k; i++)
		if (rows[i] < 0 || (hsize_t)rows[i] >= h->dims[0] ||
		    (i && rows[i] <= rows[i - 1]))
			return mm_err(MM_EINVAL, "%s: row %lld out of range or "
			    "out of order", h->label, (long long)rows[i]);
	for (i = 0; i < k; i = j) {
		if (!h->chunked) {
			/* a run of consecutive rows, one read */
			for (j = i + 1; j < k && rows[j] == rows[j - 1] + 1; j++)
				;
			if (fseeko(h->raw, (off_t)(h->offset +
			    (uint64_t)rows[i] * h->rowbytes), SEEK_SET) != 0 ||
			    fread(out + (uint64_t)i * h->rowbytes, 1,
			    (size_t)((uint64_t)(j - i) * h->rowbytes), h->raw) !=
			    (size_t)((uint64_t)(j - i) * h->rowbytes))
				return mm_err(MM_EIO, "%s: reading rows %lld.. "
				    "failed (truncated?)", h->label,
				    (long long)rows[i]);
			continue;
		}
		for (j = i + 1; j < k && (hsize_t)rows[j] / h->cdims[0] ==
		    (hsize_t)rows[i] / h->cdims[0]; j++)
			;
		if ((rc = read_band(h, rows, i, j, out)) < 0)
			return rc;
	}
	return 0;
}

static void
h5r_close(struct h5r *h)
{
	if (!h)
		return;
	if (h->raw)
		fclose(h->raw);
	if (h->dset >= 0)
		H5Dclose(h->dset);
	if (h->file >= 0)
		H5Fclose(h->file);
	free(h->chunk);
	mm_h5_gbuf_free(&h->zbuf);
	free(h->path);
	free(h);
}

/* ---- the reader above, run in a child process (isolate.h) ---- */

enum { OP_OPEN, OP_READ };

/* The child's reader (the process's own in a fuzzing build). */
struct serve {
	struct h5r *r;
};

struct mm_h5 {
	struct mm_iso *iso;
	struct serve st;
	uint64_t rowbytes;
};

/* OP_OPEN: in "path\0dset\0", out int32 ndim, int64 shape[8];
 * OP_READ: in int64 rows[k], out k rows. */
static int64_t
serve(void *arg, int op, const void *in, size_t inlen, void *out,
    size_t outcap)
{
	struct serve *st = arg;
	const char *path = in;
	int64_t shape[8] = {0};
	int32_t nd;
	int ndim = 0, rc;

	if (op == OP_OPEN) {
		if ((rc = h5r_open(path, path + strlen(path) + 1, &st->r,
		    shape, &ndim)) < 0)
			return rc;
		nd = ndim;
		memcpy(out, &nd, sizeof nd);
		memcpy((char *)out + sizeof nd, shape, sizeof shape);
		return (int64_t)(sizeof nd + sizeof shape);
	}
	if ((rc = h5r_read(st->r, in, (int64_t)(inlen / sizeof(int64_t)),
	    out)) < 0)
		return rc;
	return (int64_t)outcap;
}

int
mm_h5_open(const char *path, const char *dset, struct mm_h5 **out,
    int64_t *shape, int *ndim)
{
	struct mm_h5 *h;
	size_t lp = strlen(path) + 1, ld = strlen(dset) + 1;
	char *in, res[sizeof(int32_t) + 8 * sizeof(int64_t)];
	int32_t nd;
	int rc, i;

	*out = NULL;
	if (!(h = calloc(1, sizeof *h)) || !(in = malloc(lp + ld))) {
		free(h);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	memcpy(in, path, lp);
	memcpy(in + lp, dset, ld);
	if ((rc = mm_iso_start(&h->iso, path, "libhdf5", serve, &h->st)) < 0 ||
	    (rc = mm_iso_call(h->iso, OP_OPEN, in, lp + ld, res, sizeof res,
	    NULL)) < 0) {
		free(in);
		mm_h5_close(h);
		return rc;
	}
	free(in);
	memcpy(&nd, res, sizeof nd);
	if (nd < 1 || nd > 8) {
		mm_h5_close(h);
		return mm_err(MM_EIO, "%s: its reader answered %d dimensions",
		    path, (int)nd);
	}
	memcpy(shape, res + sizeof nd, nd * sizeof *shape);
	/* as h5r_open checked: 1..8 dimensions, rows of at most ROW_MAX */
	h->rowbytes = 1;
	for (i = 1; i < nd; i++)
		h->rowbytes *= (uint64_t)shape[i];
	*ndim = nd;
	*out = h;
	return 0;
}

int
mm_h5_read(struct mm_h5 *h, const int64_t *rows, int64_t k, uint8_t *out)
{
	return mm_iso_call(h->iso, OP_READ, rows, (size_t)k * sizeof *rows,
	    out, (size_t)((uint64_t)k * h->rowbytes), NULL);
}

void
mm_h5_close(struct mm_h5 *h)
{
	if (!h)
		return;
	mm_iso_stop(h->iso);
	h5r_close(h->st.r);     /* (a fuzzing build's reader: in process) */
	free(h);
}

#else /* !MM_HAVE_HDF5 */

int
mm_h5_available(void)
{
	return 0;
}

int
mm_h5_open(const char *path, const char *dset, struct mm_h5 **out,
    int64_t *shape, int *ndim)
{
	(void)dset;
	(void)shape;
	(void)ndim;
	*out = NULL;
	return mm_err(MM_EUNSUP, "%s: built without HDF5", path);
}

int
mm_h5_read(struct mm_h5 *h, const int64_t *rows, int64_t k, uint8_t *out)
{
	(void)h;
	(void)rows;
	(void)k;
	(void)out;
	return mm_err(MM_EUNSUP, "built without HDF5");
}

void
mm_h5_close(struct mm_h5 *h)
{
	(void)h;
}

#endif
