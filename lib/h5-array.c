/*
 * h5-array.c - named arrays of an HDF5 file (see h5-array.h), read with
 * HDF5's own type conversion: the caller names the native type it wants
 * and HDF5 widens, narrows or converts the stored elements.  As in h5.c,
 * libhdf5 runs in a child process (isolate.h), so that its crash on a
 * corrupt file is an error of the call, not the end of the caller.
 */
#define _DEFAULT_SOURCE 1      /* MAP_ANONYMOUS (h5-chunk.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "h5-array.h"

#ifdef MM_HAVE_HDF5
#include <hdf5.h>
#include <zlib.h>

#include "h5-chunk.h"
#include "isolate.h"

struct h5a {
	hid_t file;
	char label[256];
};

static int
h5a_open(const char *path, struct h5a **out)
{
	struct h5a *f;

	*out = NULL;
	/* HDF5 prints its error stack by default; we report our own line */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if (H5Fis_hdf5(path) <= 0)
		return mm_err(MM_EFORMAT, "%s: not a readable HDF5 file "
		    "(missing, truncated or corrupt)", path);
	if ((f = calloc(1, sizeof *f)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	snprintf(f->label, sizeof f->label, "%s", path);
	if ((f->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		free(f);
		return mm_err(MM_EFORMAT, "%s: cannot open as HDF5 (truncated "
		    "or corrupt?)", path);
	}
	*out = f;
	return 0;
}

static void
h5a_close(struct h5a *f)
{
	if (!f)
		return;
	H5Fclose(f->file);
	free(f);
}

static int
h5a_has(struct h5a *f, const char *name)
{
	hid_t d;

	if (H5Lexists(f->file, name, H5P_DEFAULT) <= 0 ||
	    (d = H5Dopen2(f->file, name, H5P_DEFAULT)) < 0)
		return 0;
	H5Dclose(d);
	return 1;
}

static hid_t
open_dset(struct h5a *f, const char *name)
{
	if (!h5a_has(f, name)) {
		mm_err(MM_EMISSING, "%s: no dataset '%s'", f->label, name);
		return -1;
	}
	return H5Dopen2(f->file, name, H5P_DEFAULT);
}

static int
h5a_info(struct h5a *f, const char *name, char *kind, int *isz,
    int *ndim, int64_t *shape)
{
	hsize_t dims[8];
	hid_t d, t, sp;
	int n, i;

	if ((d = open_dset(f, name)) < 0)
		return MM_EMISSING;
	t = H5Dget_type(d);
	sp = H5Dget_space(d);
	*isz = (int)H5Tget_size(t);
	switch (H5Tget_class(t)) {
	case H5T_INTEGER:
		*kind = H5Tget_sign(t) == H5T_SGN_NONE ? 'u' : 'i';
		break;
	case H5T_FLOAT:
		*kind = 'f';
		break;
	case H5T_STRING:
		*kind = 's';
		break;
	case H5T_ENUM:
		*kind = *isz == 1 ? 'b' : '?';
		break;
	default:
		*kind = '?';
	}
	n = H5Sget_simple_extent_ndims(sp);
	if (n >= 0 && n <= 8)
		H5Sget_simple_extent_dims(sp, dims, NULL);
	H5Sclose(sp);
	H5Tclose(t);
	H5Dclose(d);
	if (n < 0 || n > 8)
		return mm_err(MM_ESIZE, "%s: dataset '%s' has %d dimensions",
		    f->label, name, n);
	*ndim = n;
	for (i = 0; i < n; i++)
		shape[i] = (int64_t)dims[i];
	return 0;
}

/* Check the stored chunks of chunked dataset d that rows first ..
 * first + n touch before H5Dread sees them: libhdf5 trusts the chunk
 * shape of the layout message, so a chunk shape larger than what the
 * stored deflate streams inflate to has made H5Dread read past its
 * buffers (tests/fuzz/regress/h5/).  Each such chunk is inflated here
 * (as lib/h5.c does) and must give exactly one chunk of elements; an
 * unfiltered chunk must hold exactly that many bytes; filters other
 * than deflate and shuffle (which keeps the length) are refused.
 * Contiguous datasets are left to H5Dread.  0, or an error. */
static int
check_chunks(struct h5a *f, const char *name, hid_t d, int nd,
    const hsize_t *dims, int64_t first, int64_t n)
{
	hsize_t cd[8], off[8], stored;
	uint64_t cbytes;
	uint8_t *c = NULL;
	const uint8_t *z;
	struct mm_h5_gbuf zg = { NULL, 0, 0 };
	hid_t pl, t;
	int nf, i, defl = -1, rc = 0;

	if ((pl = H5Dget_create_plist(d)) < 0)
		return mm_err(MM_EFORMAT, "%s: %s: no creation properties "
		    "(corrupt?)", f->label, name);
	if (H5Pget_layout(pl) != H5D_CHUNKED) {
		H5Pclose(pl);
		return 0;
	}
	t = H5Dget_type(d);
	cbytes = t < 0 ? 0 : H5Tget_size(t);
	if (t >= 0)
		H5Tclose(t);
	if (H5Pget_chunk(pl, nd, cd) != nd)
		cbytes = 0;
	for (i = 0; i < nd && cbytes; i++)
		if (cd[i] == 0 || cd[i] > ((uint64_t)1 << 28) / cbytes)
			cbytes = 0;
		else
			cbytes *= cd[i];
	if (cbytes == 0)
		rc = mm_err(MM_EFORMAT, "%s: %s: bad chunk shape (rank or "
		    "size)", f->label, name);
	nf = rc ? 0 : H5Pget_nfilters(pl);
	if (nf < 0 || nf > 8)
		rc = mm_err(MM_EFORMAT, "%s: %s: bad filter pipeline",
		    f->label, name);
	for (i = 0; rc == 0 && i < nf; i++) {
		unsigned flags, cdv[8];
		size_t ncd = 8;
		char fname[64];
		H5Z_filter_t id = H5Pget_filter2(pl, (unsigned)i, &flags, &ncd,
		    cdv, sizeof fname, fname, NULL);

		if (id == H5Z_FILTER_DEFLATE)
			defl = i;
		else if (id != H5Z_FILTER_SHUFFLE)
			rc = mm_err(MM_EUNSUP, "%s: %s: filter %d is not "
			    "supported (deflate and shuffle are)", f->label,
			    name, (int)id);
	}
	H5Pclose(pl);
	if (rc == 0 && !(c = malloc(cbytes)))
		rc = mm_err(MM_ENOMEM, "out of memory");
	/* every chunk of the bands that hold rows first .. first + n */
	for (i = 0; i < nd; i++)
		off[i] = 0;
	if (rc == 0)
		off[0] = (hsize_t)first / cd[0] * cd[0];
	while (rc == 0 && off[0] < (hsize_t)(first + n)) {
		uint32_t mask = 0;
		z_stream zs;
		int zr;

		zr = mm_h5_chunk_read(d, off, cbytes + cbytes / 64 + 1024, &zg,
		    &z, &stored, &mask);
		if (zr < 0) {
			char who[600];
			snprintf(who, sizeof who, "%s: %s", f->label, name);
			rc = mm_h5_chunk_error(zr, who, off[0], stored,
			    cbytes);
		}
		else if (stored > 0) {
			if (defl < 0 || (mask >> defl & 1)) {
				if (stored != cbytes)
					rc = mm_err(MM_EFORMAT, "%s: %s: an "
					    "unfiltered chunk of %llu bytes, "
					    "%llu expected", f->label, name,
					    (unsigned long long)stored,
					    (unsigned long long)cbytes);
			} else {
				memset(&zs, 0, sizeof zs);
				if (inflateInit(&zs) != Z_OK)
					rc = mm_err(MM_ENOMEM, "out of memory "
					    "(zlib)");
				zs.next_in = (Bytef *)z;
				zs.avail_in = (uInt)stored;
				zs.next_out = c;
				zs.avail_out = (uInt)cbytes;
				zr = rc ? Z_OK : inflate(&zs, Z_FINISH);
				if (rc == 0)
					inflateEnd(&zs);
				if (rc == 0 && (zr != Z_STREAM_END ||
				    zs.total_out != cbytes))
					rc = mm_err(MM_EFORMAT, "%s: %s: the "
					    "chunk of rows %llu.. does not "
					    "inflate to its %llu bytes "
					    "(corrupt?)", f->label, name,
					    (unsigned long long)off[0],
					    (unsigned long long)cbytes);
			}
		}
		/* the next chunk offset, last dimension fastest */
		for (i = nd - 1; i >= 0; i--) {
			off[i] += cd[i];
			if (i == 0 || off[i] < dims[i])
				break;
			off[i] = 0;
		}
	}
	mm_h5_gbuf_free(&zg);
	free(c);
	return rc;
}

static int
h5a_rows(struct h5a *f, const char *name, int64_t first, int64_t n,
    enum mm_dtype as, void *out, size_t cap)
{
	hsize_t start[8] = {0}, count[8];
	uint64_t need = as == MM_U8 ? 1 : 8;
	hid_t d, sp, mem, mt;
	herr_t st;
	int nd, i, rc;

	if (n <= 0)
		return 0;
	mt = as == MM_U8 ? H5T_NATIVE_UCHAR : as == MM_I64 ? H5T_NATIVE_INT64 :
	    H5T_NATIVE_DOUBLE;
	if ((d = open_dset(f, name)) < 0)
		return MM_EMISSING;
	sp = H5Dget_space(d);
	nd = H5Sget_simple_extent_ndims(sp);
	if (nd < 1 || nd > 8) {
		H5Sclose(sp);
		H5Dclose(d);
		return mm_err(MM_ESIZE, "%s: dataset '%s' has %d dimensions",
		    f->label, name, nd);
	}
	H5Sget_simple_extent_dims(sp, count, NULL);
	if (first < 0 || (hsize_t)(first + n) > count[0]) {
		H5Sclose(sp);
		H5Dclose(d);
		return mm_err(MM_EINVAL, "%s: %s: rows %lld..%lld out of range",
		    f->label, name, (long long)first, (long long)(first + n));
	}
	/* the rows' bytes in the type asked for, within cap */
	for (i = 1; i < nd && need <= cap; i++)
		need = count[i] && need > cap / count[i] ? cap + 1 :
		    need * count[i];
	if (need > cap || (uint64_t)n > cap / need) {
		H5Sclose(sp);
		H5Dclose(d);
		return mm_err(MM_ESIZE, "%s: %s: %lld rows do not fit in %zu "
		    "bytes", f->label, name, (long long)n, cap);
	}
	if ((rc = check_chunks(f, name, d, nd, count, first, n)) < 0) {
		H5Sclose(sp);
		H5Dclose(d);
		return rc;
	}
	start[0] = (hsize_t)first;
	count[0] = (hsize_t)n;
	for (i = 1; i < nd; i++)
		start[i] = 0;
	st = H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
	mem = H5Screate_simple(nd, count, NULL);
	if (st >= 0 && mem >= 0)
		st = H5Dread(d, mt, mem, sp, H5P_DEFAULT, out);
	if (mem >= 0)
		H5Sclose(mem);
	H5Sclose(sp);
	H5Dclose(d);
	if (st < 0 || mem < 0)
		return mm_err(MM_EFORMAT, "%s: %s: reading rows failed "
		    "(corrupt or truncated file, or a type HDF5 cannot "
		    "convert?)", f->label, name);
	return 0;
}

static int
h5a_strings(struct h5a *f, const char *name, int64_t n, char *out,
    size_t cap)
{
	hid_t d, t, mt = -1;
	herr_t st;
	int64_t i;
	int rc = 0;

	if ((d = open_dset(f, name)) < 0)
		return MM_EMISSING;
	t = H5Dget_type(d);
	if (H5Tget_class(t) != H5T_STRING) {
		rc = mm_err(MM_EDTYPE, "%s: %s is not a string dataset",
		    f->label, name);
	} else if (H5Tis_variable_str(t) > 0) {
		char **v = calloc((size_t)n ? (size_t)n : 1, sizeof *v);
		mt = H5Tcopy(H5T_C_S1);
		H5Tset_size(mt, H5T_VARIABLE);
		H5Tset_cset(mt, H5Tget_cset(t));
		if (!v)
			rc = mm_err(MM_ENOMEM, "out of memory");
		else if ((st = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    v)) < 0)
			rc = mm_err(MM_EFORMAT, "%s: %s: reading strings "
			    "failed", f->label, name);
		for (i = 0; rc == 0 && i < n; i++) {
			if (!v[i] || strlen(v[i]) >= cap)
				rc = mm_err(MM_ESIZE, "%s: %s: string %lld is "
				    "missing or longer than %zu bytes",
				    f->label, name, (long long)i, cap - 1);
			else
				strcpy(out + (size_t)i * cap, v[i]);
		}
		if (v) {
			for (i = 0; i < n; i++)
				free(v[i]);
			free(v);
		}
	} else {
		size_t w = H5Tget_size(t);
		char *buf = malloc(w * (size_t)(n ? n : 1));
		mt = H5Tcopy(t);
		if (!buf)
			rc = mm_err(MM_ENOMEM, "out of memory");
		else if ((st = H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    buf)) < 0)
			rc = mm_err(MM_EFORMAT, "%s: %s: reading strings "
			    "failed", f->label, name);
		for (i = 0; rc == 0 && i < n; i++) {
			size_t l = strnlen(buf + (size_t)i * w, w);
			if (l >= cap)
				rc = mm_err(MM_ESIZE, "%s: %s: string %lld is "
				    "longer than %zu bytes", f->label, name,
				    (long long)i, cap - 1);
			else {
				memcpy(out + (size_t)i * cap, buf +
				    (size_t)i * w, l);
				out[(size_t)i * cap + l] = '\0';
			}
		}
		free(buf);
	}
	if (mt >= 0)
		H5Tclose(mt);
	H5Tclose(t);
	H5Dclose(d);
	return rc;
}

/* ---- the reader above, run in a child process (isolate.h) ---- */

enum { OP_OPEN, OP_HAS, OP_INFO, OP_ROWS, OP_STRINGS };

/* The child's file (the process's own in a fuzzing build). */
struct serve {
	struct h5a *a;
};

struct mm_h5f {
	struct mm_iso *iso;
	struct serve st;
};

/* A call's input: the fixed part, then a dataset name (or the path). */
struct call {
	int64_t first, n;       /* OP_ROWS: rows; OP_STRINGS: n */
	int64_t cap;            /* OP_STRINGS: bytes per string */
	int32_t as, pad;        /* OP_ROWS: enum mm_dtype */
};

/* OP_INFO's answer. */
struct info {
	int64_t shape[8];
	int32_t isz, ndim;
	char kind, pad[7];
};

static int64_t
serve(void *arg, int op, const void *in, size_t inlen, void *out,
    size_t outcap)
{
	struct serve *st = arg;
	const struct call *c = in;
	const char *name = (const char *)in + sizeof *c;
	struct info inf;
	int rc = 0, isz = 0, nd = 0;

	(void)inlen;
	switch (op) {
	case OP_OPEN:
		rc = h5a_open(name, &st->a);
		break;
	case OP_HAS:
		*(char *)out = (char)h5a_has(st->a, name);
		return 1;
	case OP_INFO:
		memset(&inf, 0, sizeof inf);
		if ((rc = h5a_info(st->a, name, &inf.kind, &isz, &nd,
		    inf.shape)) < 0)
			return rc;
		inf.isz = isz;
		inf.ndim = nd;
		memcpy(out, &inf, sizeof inf);
		return sizeof inf;
	case OP_ROWS:
		rc = h5a_rows(st->a, name, c->first, c->n,
		    (enum mm_dtype)c->as, out, outcap);
		break;
	case OP_STRINGS:
		rc = h5a_strings(st->a, name, c->n, out, (size_t)c->cap);
		break;
	}
	return rc < 0 ? rc : (int64_t)outcap;
}

/* Call op on name with the fixed part c; the answer into out. */
static int
call(struct mm_h5f *f, int op, const char *name, struct call c, void *out,
    size_t outcap)
{
	size_t ln = strlen(name) + 1;
	char *in = malloc(sizeof c + ln);
	int rc;

	if (!in)
		return mm_err(MM_ENOMEM, "out of memory");
	memcpy(in, &c, sizeof c);
	memcpy(in + sizeof c, name, ln);
	rc = mm_iso_call(f->iso, op, in, sizeof c + ln, out, outcap, NULL);
	free(in);
	return rc;
}

int
mm_h5f_open(const char *path, struct mm_h5f **out)
{
	struct mm_h5f *f;
	struct call c = {0};
	int rc;

	*out = NULL;
	if (!(f = calloc(1, sizeof *f)))
		return mm_err(MM_ENOMEM, "out of memory");
	if ((rc = mm_iso_start(&f->iso, path, "libhdf5", serve, &f->st)) < 0 ||
	    (rc = call(f, OP_OPEN, path, c, NULL, 0)) < 0) {
		mm_h5f_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

void
mm_h5f_close(struct mm_h5f *f)
{
	if (!f)
		return;
	mm_iso_stop(f->iso);
	h5a_close(f->st.a);     /* (a fuzzing build's file: in process) */
	free(f);
}

int
mm_h5f_has(struct mm_h5f *f, const char *name)
{
	struct call c = {0};
	char has = 0;
	int rc = call(f, OP_HAS, name, c, &has, 1);

	return rc < 0 ? rc : has;
}

int
mm_h5f_info(struct mm_h5f *f, const char *name, char *kind, int *isz,
    int *ndim, int64_t *shape)
{
	struct call c = {0};
	struct info inf;
	int rc, i;

	if ((rc = call(f, OP_INFO, name, c, &inf, sizeof inf)) < 0)
		return rc;
	*kind = inf.kind;
	*isz = inf.isz;
	*ndim = inf.ndim < 0 || inf.ndim > 8 ? 0 : inf.ndim;
	for (i = 0; i < *ndim; i++)
		shape[i] = inf.shape[i];
	return 0;
}

int
mm_h5f_rows(struct mm_h5f *f, const char *name, int64_t first, int64_t n,
    enum mm_dtype as, void *out, size_t cap)
{
	struct call c = { first, n, 0, as, 0 };

	if (n <= 0)
		return 0;
	/* (the rows' range and size are checked by the reader) */
	return call(f, OP_ROWS, name, c, out, cap);
}

int
mm_h5f_strings(struct mm_h5f *f, const char *name, int64_t n, char *out,
    size_t cap)
{
	struct call c = { 0, n, (int64_t)cap, 0, 0 };

	return call(f, OP_STRINGS, name, c, out, (size_t)n * cap);
}

#else /* !MM_HAVE_HDF5 */

int
mm_h5f_open(const char *path, struct mm_h5f **out)
{
	*out = NULL;
	return mm_err(MM_EUNSUP, "%s: built without HDF5", path);
}

void
mm_h5f_close(struct mm_h5f *f)
{
	(void)f;
}

int
mm_h5f_has(struct mm_h5f *f, const char *name)
{
	(void)f;
	(void)name;
	return 0;
}

int
mm_h5f_info(struct mm_h5f *f, const char *name, char *kind, int *isz,
    int *ndim, int64_t *shape)
{
	(void)f;
	(void)kind;
	(void)isz;
	(void)ndim;
	(void)shape;
	return mm_err(MM_EUNSUP, "%s: built without HDF5", name);
}

int
mm_h5f_rows(struct mm_h5f *f, const char *name, int64_t first, int64_t n,
    enum mm_dtype as, void *out, size_t cap)
{
	(void)f;
	(void)cap;
	(void)first;
	(void)n;
	(void)as;
	(void)out;
	return mm_err(MM_EUNSUP, "%s: built without HDF5", name);
}

int
mm_h5f_strings(struct mm_h5f *f, const char *name, int64_t n, char *out,
    size_t cap)
{
	(void)f;
	(void)n;
	(void)out;
	(void)cap;
	return mm_err(MM_EUNSUP, "%s: built without HDF5", name);
}

#endif
