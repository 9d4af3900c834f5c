/*
 * src-generic.c - a user's own factor dataset as an image source of
 * mmib-gen --from: an .npz or HDF5 file holding
 *   images        (N, H, W), (N, H, W, C) or (N, C, H, W); uint8, or
 *                 float in [0, 1] (stored as round(255 x))
 *   labels        (N, F) integers, one column per factor
 *   factor_names  (F) strings (optional: factor0, factor1, ...)
 *   class_names_<factor>  (K) strings, one per distinct value of that
 *                 factor in ascending order (optional)
 * (the first three names can be changed, struct mm_generic_opts).  Labels
 * need not be 0-based, balanced or full factorial: each factor's distinct
 * values become its classes 0..K-1 in ascending order, and the counts of
 * every class are kept for the metadata (marginals=measured when some
 * factor is not uniform).  The labels are read whole at open; images are
 * read a row at a time when asked for, so float images are checked
 * (finite, in [0, 1]) as they are read.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gen.h"
#include "h5-array.h"
#include "le.h"
#include "meta.h"
#include "source-impl.h"
#include "stream.h"
#include "zip.h"

#define NAMELEN 32      /* a factor name, as struct mm_factors holds it */
#define CNAMELEN 64     /* a class name */

/* One array of the file: its element kind ('u', 'i', 'f', 'b', 'U'
 * UTF-32, 'S' bytes, '?'), bytes per element and shape; an npz member
 * (m, at data offset data0) or an HDF5 dataset (through g->h5). */
struct garr {
	const char *name;
	char kind;
	int isz, ndim;
	int64_t shape[MM_MAXDIM];
	int64_t rows;           /* shape[0] */
	uint64_t rowbytes;      /* bytes of one stored row */
	struct mm_zip_member *m;
	uint64_t data0;
	int64_t next;           /* forward-only member: next row */
};

struct generic {
	struct mm_dataset ds;
	char path[1024], dsname[64];
	char fname[MM_MAXFACTORS][NAMELEN];
	int layout;             /* 0 (H, W, C), 1 (C, H, W) */
	struct mm_zip *zip;
	struct mm_h5f *h5;
	struct garr img;
	int32_t *cls;           /* (N, F) classes */
	int64_t *value[MM_MAXFACTORS];  /* (K) the stored value of a class */
	int64_t *count[MM_MAXFACTORS];  /* (K) its rows */
	char *cname[MM_MAXFACTORS];     /* (K, CNAMELEN) or NULL */
	unsigned char *raw;     /* one stored row */
};

/* ---------------------------------------------------------------- arrays */

/* The value of key in a .npy header dictionary, or NULL. */
static const char *
npy_key(const char *d, size_t len, const char *key)
{
	size_t kl = strlen(key), i;

	for (i = 0; i + kl + 2 < len; i++)
		if ((d[i] == '\'' || d[i] == '"') && memcmp(d + i + 1, key,
		    kl) == 0 && d[i + 1 + kl] == d[i]) {
			const char *p = d + i + kl + 2;
			while (p < d + len && (*p == ' ' || *p == ':'))
				p++;
			return p;
		}
	return NULL;
}

/* Parse the header text of a .npy member into a (any dtype numpy writes
 * with a one-letter kind and a byte count). */
static int
npy_header(struct garr *a, const char *d, size_t len)
{
	const char *p, *end = d + len;
	char descr[16];
	size_t i = 0;

	if ((p = npy_key(d, len, "descr")) == NULL || (*p != '\'' &&
	    *p != '"'))
		return mm_err(MM_EFORMAT, "%s: .npy header has no 'descr' (a "
		    "structured array?)", a->name);
	for (p++; p < end && *p != '\'' && *p != '"' && i + 1 < sizeof descr;
	    p++)
		descr[i++] = *p;
	descr[i] = '\0';
	if (strlen(descr) < 2 || (descr[0] != '<' && descr[0] != '|' &&
	    descr[0] != '='))
		return mm_err(MM_EDTYPE, "%s: dtype '%s' not supported (mmib "
		    "reads little-endian arrays)", a->name, descr);
	a->kind = descr[1];
	a->isz = atoi(descr + 2);
	if (a->kind == 'U')
		a->isz *= 4;
	if (!strchr("uifbUS", a->kind) || a->isz < 1)
		return mm_err(MM_EDTYPE, "%s: dtype '%s' not supported%s",
		    a->name, descr, a->kind == 'O' ? " (pickled objects: "
		    "save strings as np.array(names, dtype=str))" : "");
	if ((p = npy_key(d, len, "fortran_order")) == NULL ||
	    end - p < 4 || memcmp(p, "True", 4) == 0)
		return mm_err(MM_EFORMAT, "%s: Fortran-order arrays are not "
		    "supported (write C order)", a->name);
	if ((p = npy_key(d, len, "shape")) == NULL || *p != '(')
		return mm_err(MM_EFORMAT, "%s: .npy header has no 'shape'",
		    a->name);
	for (a->ndim = 0, p++; p < end && *p != ')';) {
		char *e;
		long long v = strtoll(p, &e, 10);
		if (e == p || v < 0 || v > (1LL << 50) || a->ndim == MM_MAXDIM)
			return mm_err(MM_EFORMAT, "%s: bad .npy shape",
			    a->name);
		a->shape[a->ndim++] = v;
		for (p = e; p < end && (*p == ' ' || *p == ',' || *p == 'L');)
			p++;
	}
	return 0;
}

static void
arr_sizes(struct garr *a)
{
	int i;

	a->rows = a->ndim ? a->shape[0] : 1;
	a->rowbytes = (uint64_t)a->isz;
	for (i = 1; i < a->ndim; i++)
		a->rowbytes *= (uint64_t)a->shape[i];
}

/* 1 when the file holds array name, 0 when not, or an error (an HDF5
 * file whose reader died). */
static int
arr_exists(struct generic *g, const char *name)
{
	char m[300];

	if (g->h5)
		return mm_h5f_has(g->h5, name);
	snprintf(m, sizeof m, "%s.npy", name);
	return mm_zip_find(g->zip, m) != NULL;
}

/* Open array name of the file: its kind and shape. */
static int
arr_open(struct generic *g, struct garr *a, const char *name)
{
	const struct mm_zip_entry *e;
	unsigned char hdr[65536 + 16];
	char m[300];
	uint64_t hl, pre;
	int rc;

	memset(a, 0, sizeof *a);
	a->name = name;
	if ((rc = arr_exists(g, name)) <= 0)
		return rc < 0 ? rc : mm_err(MM_EMISSING, "%s: no array '%s'",
		    g->path, name);
	if (g->h5) {
		if ((rc = mm_h5f_info(g->h5, name, &a->kind, &a->isz,
		    &a->ndim, a->shape)) < 0)
			return rc;
		if (a->kind == 's')
			a->kind = 'S';
		arr_sizes(a);
		return 0;
	}
	snprintf(m, sizeof m, "%s.npy", name);
	e = mm_zip_find(g->zip, m);
	if ((rc = mm_zip_member_open(g->zip, e, &a->m)) < 0)
		return rc;
	if (e->usize < 12 || (rc = mm_zip_read(a->m, hdr, 10)) < 0 ||
	    memcmp(hdr, "\x93NUMPY", 6) != 0)
		return mm_err(MM_EFORMAT, "%s: %s is not a .npy array", g->path,
		    name);
	pre = hdr[6] == 1 ? 10 : 12;
	if (pre == 12 && (rc = mm_zip_read(a->m, hdr + 10, 2)) < 0)
		return rc;
	hl = pre == 10 ? 10 + (uint64_t)mm_le16(hdr + 8) :
	    12 + (uint64_t)mm_le32(hdr + 8);
	if (hl > sizeof hdr || hl > e->usize)
		return mm_err(MM_EFORMAT, "%s: %s: .npy header too long",
		    g->path, name);
	if ((rc = mm_zip_read(a->m, hdr + pre, hl - pre)) < 0)
		return rc;
	if ((rc = npy_header(a, (const char *)hdr + pre, hl - pre)) < 0)
		return rc;
	arr_sizes(a);
	if (hl + a->rowbytes * (uint64_t)a->rows != e->usize)
		return mm_err(MM_ESIZE, "%s: %s: the .npy data are %llu bytes, "
		    "its shape needs %llu", g->path, name,
		    (unsigned long long)(e->usize - hl),
		    (unsigned long long)(a->rowbytes * (uint64_t)a->rows));
	a->data0 = hl;
	return 0;
}

static void
arr_close(struct garr *a)
{
	if (a->m)
		mm_zip_member_close(a->m);
	a->m = NULL;
}

/* Rows first .. first + n of a into out, as stored (npz) or converted by
 * HDF5 to the little-endian type of as (h5; a->kind and a->isz then say
 * what out holds). */
static int
arr_rows(struct generic *g, struct garr *a, int64_t first, int64_t n,
    enum mm_dtype as, void *out)
{
	int rc;

	if (g->h5)              /* a->rowbytes / a->isz elements a row */
		return mm_h5f_rows(g->h5, a->name, first, n, as, out,
		    (size_t)n * (a->rowbytes / (uint64_t)a->isz) *
		    (as == MM_U8 ? 1 : 8));
	if (mm_zip_seekable(a->m))
		rc = mm_zip_seek(a->m, a->data0 + (uint64_t)first *
		    a->rowbytes);
	else if (first < a->next)
		return mm_err(MM_EINVAL, "%s: %s: row %lld asked after row "
		    "%lld of a deflated member", g->path, a->name,
		    (long long)first, (long long)a->next);
	else
		rc = mm_zip_skip(a->m, (uint64_t)(first - a->next) *
		    a->rowbytes);
	if (rc < 0 || (rc = mm_zip_read(a->m, out, (uint64_t)n *
	    a->rowbytes)) < 0)
		return rc;
	a->next = first + n;
	return 0;
}

/* Element i of a little-endian array of kind k and size isz. */
static int64_t
int_at(const unsigned char *p, char k, int isz, int64_t i, int *over)
{
	p += (size_t)i * isz;
	switch (isz) {
	case 1:
		return k == 'i' ? (int64_t)(int8_t)p[0] : p[0];
	case 2:
		return k == 'i' ? (int64_t)(int16_t)mm_le16(p) : mm_le16(p);
	case 4:
		return k == 'i' ? (int64_t)(int32_t)mm_le32(p) : mm_le32(p);
	default: {
		uint64_t v = mm_le64(p);
		if (k != 'i' && v > (uint64_t)INT64_MAX)
			*over = 1;
		return (int64_t)v;
	}
	}
}

static double
float_at(const unsigned char *p, int isz, int64_t i)
{
	p += (size_t)i * isz;
	if (isz == 4) {
		uint32_t u = mm_le32(p);
		float f;
		memcpy(&f, &u, 4);
		return f;
	} else {
		uint64_t u = mm_le64(p);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
}

/* A 1-d string array of n entries into out (n, cap): UTF-32 code points
 * become UTF-8; trailing NULs are dropped. */
static int
arr_strings(struct generic *g, struct garr *a, int64_t n, char *out,
    size_t cap)
{
	unsigned char *buf;
	int64_t i;
	int rc;

	if (a->ndim != 1 || a->rows != n)
		return mm_err(MM_ESIZE, "%s: %s: %d-d array of %lld, not %lld "
		    "names", g->path, a->name, a->ndim, (long long)a->rows,
		    (long long)n);
	if (a->kind != 'U' && a->kind != 'S')
		return mm_err(MM_EDTYPE, "%s: %s: not an array of strings",
		    g->path, a->name);
	if (g->h5)
		return mm_h5f_strings(g->h5, a->name, n, out, cap);
	if ((buf = malloc(a->rowbytes * (size_t)n + 1)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	if ((rc = arr_rows(g, a, 0, n, MM_U8, buf)) < 0) {
		free(buf);
		return rc;
	}
	for (i = 0; i < n; i++) {
		const unsigned char *p = buf + (size_t)i * a->rowbytes;
		char *o = out + (size_t)i * cap;
		size_t l = 0, j;

		for (j = 0; j < a->rowbytes; j += a->kind == 'U' ? 4 : 1) {
			uint32_t c = a->kind == 'U' ? mm_le32(p + j) : p[j];
			char u[4];
			int k = 0;
			if (c == 0)
				break;
			if (c < 0x80)
				u[k++] = (char)c;
			else if (c < 0x800) {
				u[k++] = (char)(0xc0 | c >> 6);
				u[k++] = (char)(0x80 | (c & 0x3f));
			} else if (c < 0x10000) {
				u[k++] = (char)(0xe0 | c >> 12);
				u[k++] = (char)(0x80 | (c >> 6 & 0x3f));
				u[k++] = (char)(0x80 | (c & 0x3f));
			} else {
				u[k++] = (char)(0xf0 | (c >> 18 & 7));
				u[k++] = (char)(0x80 | (c >> 12 & 0x3f));
				u[k++] = (char)(0x80 | (c >> 6 & 0x3f));
				u[k++] = (char)(0x80 | (c & 0x3f));
			}
			if (l + k >= cap) {
				free(buf);
				return mm_err(MM_ESIZE, "%s: %s: name %lld is "
				    "longer than %zu bytes", g->path, a->name,
				    (long long)i, cap - 1);
			}
			memcpy(o + l, u, k);
			l += k;
		}
		o[l] = '\0';
	}
	free(buf);
	return 0;
}

/* ---------------------------------------------------------------- labels */

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The labels (N, F) as classes: each column's distinct values sorted,
 * each value replaced by its rank; counts of every class. */
static int
read_labels(struct generic *g, const char *name)
{
	struct mm_dataset *ds = &g->ds;
	struct garr a;
	unsigned char *raw = NULL;
	int64_t *col = NULL, N, i;
	int F, f, rc, over = 0;

	if ((rc = arr_open(g, &a, name)) < 0)
		goto out;
	if (a.ndim != 2) {
		rc = mm_err(MM_ESIZE, "%s: %s: a %d-d array; labels must be 2-d "
		    "(N, F), one column per factor%s", g->path, name, a.ndim,
		    a.ndim == 1 ? " (reshape(-1, 1) for one factor)" : "");
		goto out;
	}
	if (a.kind != 'i' && a.kind != 'u' && a.kind != 'b') {
		rc = mm_err(MM_EDTYPE, "%s: %s: %s elements; labels must be "
		    "integers (one class label per factor)", g->path, name,
		    a.kind == 'f' ? "float" : "non-numeric");
		goto out;
	}
	N = a.shape[0];
	F = (int)(a.shape[1] < 1000 ? a.shape[1] : 1000);
	if (N < 1 || F < 1) {
		rc = mm_err(MM_ESIZE, "%s: %s: empty array (%lld, %lld)",
		    g->path, name, (long long)a.shape[0],
		    (long long)a.shape[1]);
		goto out;
	}
	if (F > MM_MAXFACTORS) {
		rc = mm_err(MM_ESIZE, "%s: %s: %d factors, mmib takes at most "
		    "%d", g->path, name, F, MM_MAXFACTORS);
		goto out;
	}
	if (N > INT32_MAX) {
		rc = mm_err(MM_ESIZE, "%s: %s: %lld rows, mmib takes at most "
		    "%d", g->path, name, (long long)N, INT32_MAX);
		goto out;
	}
	ds->F = F;
	ds->rows = N;
	rc = mm_err(MM_ENOMEM, "out of memory for the labels");
	if ((raw = malloc((size_t)N * (g->h5 ? 8 * (size_t)F :
	    a.rowbytes))) == NULL ||
	    (col = malloc(sizeof *col * (size_t)N)) == NULL ||
	    (g->cls = malloc(sizeof *g->cls * (size_t)N * F)) == NULL)
		goto out;
	if ((rc = arr_rows(g, &a, 0, N, MM_I64, raw)) < 0)
		goto out;
	if (g->h5) {            /* HDF5 converted every kind to <i8 */
		a.kind = 'i';
		a.isz = 8;
	}
	for (f = 0; f < F; f++) {
		int64_t K = 0;

		for (i = 0; i < N; i++)
			col[i] = int_at(raw, a.kind, a.isz, i * F + f, &over);
		if (over) {
			rc = mm_err(MM_ESIZE, "%s: %s: a value of column "
			    "%d exceeds the int64 range", g->path, name, f);
			goto out;
		}
		qsort(col, (size_t)N, sizeof *col, cmp64);
		for (i = 0; i < N; i++)
			if (i == 0 || col[i] != col[K - 1])
				col[K++] = col[i];
		if (K < 2) {
			rc = mm_err(MM_EINVAL, "%s: %s: column %d has a single "
			    "value (%lld): a factor needs two classes or more",
			    g->path, name, f, (long long)col[0]);
			goto out;
		}
		if (K > 1 << 20) {
			rc = mm_err(MM_ESIZE, "%s: %s: column %d has %lld "
			    "distinct values: not class labels?", g->path,
			    name, f, (long long)K);
			goto out;
		}
		ds->card[f] = (int)K;
		rc = mm_err(MM_ENOMEM, "out of memory for the labels");
		if ((g->value[f] = malloc(sizeof(int64_t) * K)) == NULL ||
		    (g->count[f] = calloc((size_t)K, sizeof(int64_t))) == NULL)
			goto out;
		memcpy(g->value[f], col, sizeof(int64_t) * K);
		for (i = 0; i < N; i++) {
			int64_t v = int_at(raw, a.kind, a.isz, i * F + f, &over);
			int64_t *hit = bsearch(&v, g->value[f], (size_t)K,
			    sizeof(int64_t), cmp64);
			int32_t c = (int32_t)(hit - g->value[f]);
			g->cls[i * F + f] = c;
			g->count[f][c]++;
		}
		for (i = 1; i < K; i++)
			if (g->count[f][i] != g->count[f][0])
				ds->measured = 1;
	}
	rc = 0;
out:
	arr_close(&a);
	free(raw);
	free(col);
	return rc;
}

/* ------------------------------------------------------------------ names */

/* A name that can travel in the comma lists and keys of the metadata. */
static int
name_ok(const char *s, size_t max)
{
	size_t l = strlen(s);

	return l > 0 && l < max && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_.-") == l;
}

static int
read_names(struct generic *g, const char *member)
{
	struct mm_dataset *ds = &g->ds;
	struct garr a;
	int f, j, rc = 0;

	if ((rc = arr_exists(g, member)) < 0)
		return rc;
	if (!rc) {
		for (f = 0; f < ds->F; f++)
			snprintf(g->fname[f], NAMELEN, "factor%d", f);
	} else {
		if ((rc = arr_open(g, &a, member)) == 0)
			rc = arr_strings(g, &a, ds->F, g->fname[0], NAMELEN);
		arr_close(&a);
		if (rc < 0)
			return rc;
	}
	for (f = 0; f < ds->F; f++) {
		if (!name_ok(g->fname[f], NAMELEN))
			return mm_err(MM_EFORMAT, "%s: %s: factor name '%s' is "
			    "not 1-31 characters of [A-Za-z0-9_.-]", g->path,
			    member, g->fname[f]);
		for (j = 0; j < f; j++)
			if (strcmp(g->fname[j], g->fname[f]) == 0)
				return mm_err(MM_EFORMAT, "%s: %s: factor '%s' "
				    "named twice", g->path, member,
				    g->fname[f]);
		ds->factor[f] = g->fname[f];
	}
	/* per-factor class names, optional */
	for (f = 0; f < ds->F; f++) {
		char m[64];
		int64_t k;

		snprintf(m, sizeof m, "class_names_%s", g->fname[f]);
		if ((rc = arr_exists(g, m)) < 0)
			return rc;
		if (!rc)
			continue;
		if ((g->cname[f] = malloc((size_t)ds->card[f] *
		    CNAMELEN)) == NULL)
			return mm_err(MM_ENOMEM, "out of memory");
		if ((rc = arr_open(g, &a, m)) == 0)
			rc = arr_strings(g, &a, ds->card[f], g->cname[f],
			    CNAMELEN);
		arr_close(&a);
		if (rc < 0)
			return rc;
		for (k = 0; k < ds->card[f]; k++) {
			const char *s = g->cname[f] + k * CNAMELEN;
			if (!*s || strpbrk(s, ",\n\r"))
				return mm_err(MM_EFORMAT, "%s: %s: class name "
				    "%lld is empty or holds a comma or newline",
				    g->path, m, (long long)k);
		}
	}
	return 0;
}

/* The dataset's name: --name, else the file's base name without its
 * extension, characters outside [A-Za-z0-9_.-] made '_'. */
static int
dataset_name(struct generic *g, const char *name)
{
	const char *b = strrchr(g->path, '/');
	char *dot;
	size_t i;

	if (name) {
		if (!name_ok(name, sizeof g->dsname))
			return mm_err(MM_EINVAL, "--name '%s': not 1-63 "
			    "characters of [A-Za-z0-9_.-]", name);
		snprintf(g->dsname, sizeof g->dsname, "%s", name);
	} else {
		snprintf(g->dsname, sizeof g->dsname, "%.63s", b ? b + 1 :
		    g->path);
		if ((dot = strrchr(g->dsname, '.')) != NULL && dot > g->dsname)
			*dot = '\0';
		for (i = 0; g->dsname[i]; i++)
			if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			    "qrstuvwxyz0123456789_.-", g->dsname[i]))
				g->dsname[i] = '_';
	}
	if (mm_gen_find(g->dsname) || strcmp(g->dsname, "generic") == 0)
		return mm_err(MM_EINVAL, "%s: dataset name '%s' is taken by a "
		    "built-in dataset: give another with --name", g->path,
		    g->dsname);
	g->ds.name = g->dsname;
	return 0;
}

/* ----------------------------------------------------------------- images */

static int
check_images(struct generic *g, const char *name)
{
	struct mm_dataset *ds = &g->ds;
	struct garr *a = &g->img;
	int64_t *s = a->shape;
	int rc;

	if ((rc = arr_open(g, a, name)) < 0)
		return rc;
	if (a->kind != 'f' && !(a->kind == 'u' && a->isz == 1))
		return mm_err(MM_EDTYPE, "%s: %s: images must be uint8, or float "
		    "in [0, 1] (not %s of %d bytes)", g->path, name,
		    a->kind == 'u' ? "unsigned integers" : a->kind == 'i' ?
		    "integers" : "strings", a->isz);
	if (a->kind == 'f' && a->isz != 4 && a->isz != 8)
		return mm_err(MM_EDTYPE, "%s: %s: float images must be float32 "
		    "or float64", g->path, name);
	if (a->ndim != 3 && a->ndim != 4)
		return mm_err(MM_ESIZE, "%s: %s: a %d-d array; images must be "
		    "(N, H, W), (N, H, W, C) or (N, C, H, W)", g->path, name,
		    a->ndim);
	if (s[0] == 0)
		return mm_err(MM_ESIZE, "%s: %s: empty array (no images)",
		    g->path, name);
	if (s[1] == 0 || s[2] == 0 || (a->ndim == 4 && s[3] == 0))
		return mm_err(MM_ESIZE, "%s: %s: images of 0 size", g->path,
		    name);
	if (s[0] != ds->rows)
		return mm_err(MM_ESIZE, "%s: %s has %lld rows but the labels "
		    "%lld", g->path, name, (long long)s[0],
		    (long long)ds->rows);
	if (a->ndim == 3) {
		ds->channels = 1;
		ds->height = (int)(s[1] < 65536 ? s[1] : 65536);
		ds->width = (int)(s[2] < 65536 ? s[2] : 65536);
	} else if (s[3] <= 4) {                 /* channels last */
		ds->height = (int)(s[1] < 65536 ? s[1] : 65536);
		ds->width = (int)(s[2] < 65536 ? s[2] : 65536);
		ds->channels = (int)s[3];
	} else if (s[1] <= 4) {                 /* channels first */
		g->layout = 1;
		ds->channels = (int)s[1];
		ds->height = (int)(s[2] < 65536 ? s[2] : 65536);
		ds->width = (int)(s[3] < 65536 ? s[3] : 65536);
	} else
		return mm_err(MM_ESIZE, "%s: %s: (%lld, %lld, %lld, %lld) has "
		    "no channel axis of 1 to 4 (images must be (N, H, W, C) "
		    "or (N, C, H, W))", g->path, name, (long long)s[0],
		    (long long)s[1], (long long)s[2], (long long)s[3]);
	if (ds->height > 4096 || ds->width > 4096)
		return mm_err(MM_ESIZE, "%s: %s: images of %d x %d, mmib takes "
		    "at most 4096 x 4096", g->path, name, ds->height,
		    ds->width);
	if ((g->raw = malloc(g->h5 && a->kind == 'f' ? (a->rowbytes /
	    a->isz) * 8 : a->rowbytes)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	return 0;
}

static int
generic_read(struct mm_source *s, const int64_t *rows, int64_t k,
    uint8_t *img)
{
	struct generic *g = s->ctx;
	const struct mm_dataset *ds = &g->ds;
	struct garr *a = &g->img;
	int C = ds->channels, fl = a->kind == 'f';
	int isz = g->h5 ? (fl ? 8 : 1) : a->isz;
	size_t hw = (size_t)ds->height * ds->width, n = hw * C, i;
	int64_t r;
	int rc;

	for (r = 0; r < k; r++) {
		uint8_t *o = img + (size_t)r * n;

		if ((rc = arr_rows(g, a, rows[r], 1, fl ? MM_F64 : MM_U8,
		    g->raw)) < 0)
			return rc;
		for (i = 0; i < n; i++) {
			/* element i of the stored row, and where it goes in
			 * (C, H, W) */
			size_t d = g->layout || C == 1 ? i :
			    (i % C) * hw + i / C;
			if (fl) {
				double v = float_at(g->raw, isz, (int64_t)i);
				if (!(v >= 0.0 && v <= 1.0))
					return mm_err(isnan(v) ? MM_ENUM :
					    MM_ESIZE, "%s: %s: image %lld holds "
					    "%s%g (float images must be in "
					    "[0, 1])", g->path, a->name,
					    (long long)rows[r], isnan(v) ?
					    "" : "the value ", v);
				o[d] = (uint8_t)lrint(v * 255.0);
			} else
				o[d] = g->raw[i];
		}
	}
	return 0;
}

/* ------------------------------------------------------------------- meta */

/* Keys beyond mm_gen_meta(): marginals=measured|uniform, and per factor
 * values.F (the stored label of each class), counts.F (its rows in the
 * file) and, when the file names them, class_names.F. */
static int
generic_meta(const struct mm_source *s, struct mm_meta *m)
{
	const struct generic *g = s->ctx;
	const struct mm_dataset *ds = &g->ds;
	char key[64], *buf;
	size_t cap = (size_t)1 << 20;
	int f, k, rc = 0;

	if ((buf = malloc(cap)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	if (mm_meta_set(m, "marginals", ds->measured ? "measured" :
	    "uniform") < 0 || mm_meta_set(m, "file", g->path) < 0)
		rc = MM_ENOMEM;
	for (f = 0; rc == 0 && f < ds->F; f++) {
		size_t l = 0;
		for (k = 0; k < ds->card[f] && l < cap - 32; k++)
			l += snprintf(buf + l, cap - l, "%s%lld", k ? "," : "",
			    (long long)g->value[f][k]);
		snprintf(key, sizeof key, "values.%s", ds->factor[f]);
		if (mm_meta_set(m, key, buf) < 0)
			rc = MM_ENOMEM;
		for (k = 0, l = 0; k < ds->card[f] && l < cap - 32; k++)
			l += snprintf(buf + l, cap - l, "%s%lld", k ? "," : "",
			    (long long)g->count[f][k]);
		snprintf(key, sizeof key, "counts.%s", ds->factor[f]);
		if (mm_meta_set(m, key, buf) < 0)
			rc = MM_ENOMEM;
		if (!g->cname[f])
			continue;
		for (k = 0, l = 0; k < ds->card[f] && l < cap - CNAMELEN - 2;
		    k++)
			l += snprintf(buf + l, cap - l, "%s%s", k ? "," : "",
			    g->cname[f] + (size_t)k * CNAMELEN);
		snprintf(key, sizeof key, "class_names.%s", ds->factor[f]);
		if (mm_meta_set(m, key, buf) < 0)
			rc = MM_ENOMEM;
	}
	free(buf);
	return rc < 0 ? mm_err(MM_ENOMEM, "out of memory") : 0;
}

/* ------------------------------------------------------------------- open */

static void
generic_close(struct mm_source *s)
{
	struct generic *g = s->ctx;
	int f;

	if (!g)
		return;
	arr_close(&g->img);
	if (g->zip) {
		mm_zip_close(g->zip);
		free(g->zip);
	}
	mm_h5f_close(g->h5);
	free(g->cls);
	for (f = 0; f < MM_MAXFACTORS; f++) {
		free(g->value[f]);
		free(g->count[f]);
		free(g->cname[f]);
	}
	free(g->raw);
	free(g);
	s->ctx = NULL;
}

const struct mm_source_kind mm_src_generic = {
	"generic", NULL, NULL, generic_read, generic_close, generic_meta,
};

static int
open_file(struct generic *g)
{
	unsigned char magic[8] = {0};
	FILE *f;
	size_t n;

	if ((f = fopen(g->path, "rb")) == NULL)
		return mm_err(MM_EIO, "%s: cannot open", g->path);
	n = fread(magic, 1, 8, f);
	fclose(f);
	if (n == 8 && memcmp(magic, "\x89HDF\r\n\x1a\n", 8) == 0)
		return mm_h5f_open(g->path, &g->h5);
	if (n >= 2 && memcmp(magic, "PK", 2) == 0) {
		if ((g->zip = calloc(1, sizeof *g->zip)) == NULL)
			return mm_err(MM_ENOMEM, "out of memory");
		return mm_zip_open(g->zip, g->path);
	}
	return mm_err(MM_EFORMAT, "%s: neither an npz (zip) nor an HDF5 file",
	    g->path);
}

int
mm_source_is_generic(const char *path, const char *labels)
{
	struct generic g;
	int yes = 0;

	memset(&g, 0, sizeof g);
	snprintf(g.path, sizeof g.path, "%s", path);
	if (open_file(&g) == 0) {
		if (!labels)
			labels = "labels";
		if (g.zip)
			yes = arr_exists(&g, labels) > 0;
		else if (g.h5 && mm_h5f_has(g.h5, labels) > 0) {
			/* 3dshapes.h5 has float 'labels': not ours */
			struct garr a;
			yes = arr_open(&g, &a, labels) == 0 &&
			    strchr("iub", a.kind) != NULL;
		}
	}
	if (g.zip) {
		mm_zip_close(g.zip);
		free(g.zip);
	}
	mm_h5f_close(g.h5);
	return yes;
}

int
mm_source_generic(struct mm_source *s, const char *path,
    const struct mm_generic_opts *o)
{
	struct generic *g;
	int rc;

	memset(s, 0, sizeof *s);
	snprintf(s->label, sizeof s->label, "%s", path);
	s->kind = &mm_src_generic;
	if ((g = calloc(1, sizeof *g)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	s->ctx = g;
	snprintf(g->path, sizeof g->path, "%s", path);
	g->ds.file = g->path;
	g->ds.pixel_max = 255;
	if ((rc = dataset_name(g, o->name)) < 0 ||
	    (rc = open_file(g)) < 0 ||
	    (rc = read_labels(g, o->labels ? o->labels : "labels")) < 0 ||
	    (rc = read_names(g, o->factor_names ? o->factor_names :
	    "factor_names")) < 0 ||
	    (rc = check_images(g, o->images ? o->images : "images")) < 0) {
		mm_source_close(s);
		return rc;
	}
	g->ds.classes = g->cls;
	s->ds = &g->ds;
	s->seekable = g->h5 || mm_zip_seekable(g->img.m);
	return 0;
}
