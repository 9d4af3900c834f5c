/*
 * npy.c - whole 2-d arrays from .npy files and .npz members (see npy.h).
 * The header is parsed by mm_npy_parse (stream.c), the archive read by
 * zip.c; the data are converted a chunk at a time, so a float64 array
 * never exists in memory twice.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "emb.h"
#include "err.h"
#include "le.h"
#include "npy.h"
#include "stream.h"
#include "zip.h"

#define CHUNK (1 << 16)    /* bytes converted at a time */

/* One source of bytes: a plain file or a zip member. */
struct src {
	FILE *f;
	struct mm_zip *z;
	struct mm_zip_member *m;
	uint64_t size;     /* bytes of the whole .npy blob */
};

static int
src_read(struct src *s, void *buf, uint64_t n)
{
	if (s->m)
		return mm_zip_read(s->m, buf, n);
	if (fread(buf, 1, n, s->f) != n)
		return ferror(s->f) ?
		    mm_err(MM_EIO, "read error") :
		    mm_err(MM_ETRUNC, "file ends inside the array data");
	return 0;
}

static void
src_close(struct src *s)
{
	if (s->m)
		mm_zip_member_close(s->m);
	if (s->z) {
		mm_zip_close(s->z);
		free(s->z);
	}
	if (s->f)
		fclose(s->f);
}

static int
src_open(struct src *s, const char *path, const char *member)
{
	memset(s, 0, sizeof *s);
	if (member) {
		const struct mm_zip_entry *e;
		char name[300];
		int rc;

		if (!(s->z = calloc(1, sizeof *s->z)))
			return mm_err(MM_ENOMEM, "out of memory");
		if ((rc = mm_zip_open(s->z, path)) < 0) {
			free(s->z);
			s->z = NULL;
			return rc;
		}
		snprintf(name, sizeof name, "%s.npy", member);
		if (!(e = mm_zip_find(s->z, name)))
			return mm_err(MM_EMISSING, "no array '%s' in the npz",
			    member);
		s->size = e->usize;
		return mm_zip_member_open(s->z, e, &s->m);
	} else {
		struct stat st;

		if (!(s->f = fopen(path, "rb")))
			return mm_err(MM_EIO, "cannot open: %s",
			    strerror(errno));
		if (fstat(fileno(s->f), &st) != 0 || !S_ISREG(st.st_mode))
			return mm_err(MM_EIO, "not a regular file");
		s->size = (uint64_t)st.st_size;
		return 0;
	}
}

void
mm_npy_free(struct mm_npy *a)
{
	free(a->f);
	free(a->i);
	memset(a, 0, sizeof *a);
}

static int
float_ok(enum mm_dtype t)
{
	return t == MM_F32 || t == MM_F64;
}

static int
int_ok(enum mm_dtype t)
{
	return t == MM_I32 || t == MM_I64 || t == MM_U8;
}

int
mm_npy_read(const char *path, const char *member, enum mm_npy_want want,
    struct mm_npy *out)
{
	struct src s;
	unsigned char hdr[65536 + 16], *buf = NULL;
	uint64_t hl, count, done, isz;
	enum mm_dtype t;
	int64_t shape[MM_MAXDIM];
	int ndim, rc;

	memset(out, 0, sizeof *out);
	if ((rc = src_open(&s, path, member)) < 0)
		goto out;
	if (s.size < 10) {
		rc = mm_err(MM_EFORMAT, "not a .npy array (%llu bytes)",
		    (unsigned long long)s.size);
		goto out;
	}
	if ((rc = src_read(&s, hdr, 10)) < 0)
		goto out;
	if (memcmp(hdr, "\x93NUMPY", 6) != 0) {
		rc = mm_err(MM_EFORMAT, "not a .npy array (no \\x93NUMPY "
		    "magic)");
		goto out;
	}
	if (hdr[6] == 1)
		hl = 10 + (uint64_t)mm_le16(hdr + 8);
	else {
		if ((rc = src_read(&s, hdr + 10, 2)) < 0)
			goto out;
		hl = 12 + (uint64_t)mm_le32(hdr + 8);
	}
	if (hl > sizeof hdr || hl > s.size) {
		rc = mm_err(MM_EFORMAT, ".npy header too long");
		goto out;
	}
	if ((rc = src_read(&s, hdr + (hdr[6] == 1 ? 10 : 12),
	    hl - (hdr[6] == 1 ? 10 : 12))) < 0)
		goto out;
	if ((rc = mm_npy_parse(hdr, s.size, &t, &ndim, shape, &hl)) < 0)
		goto out;
	if (want == MM_NPY_FLOAT && !float_ok(t)) {
		rc = mm_err(MM_EDTYPE, "dtype %s: embeddings must be float32 "
		    "or float64", mm_dtype_name(t));
		goto out;
	}
	if (want == MM_NPY_INT && !int_ok(t)) {
		rc = mm_err(MM_EDTYPE, "dtype %s: labels must be integers "
		    "(int32, int64 or uint8)", mm_dtype_name(t));
		goto out;
	}
	if (want == MM_NPY_FLOAT && ndim != 2) {
		rc = mm_err(MM_ESIZE, "%d-d array: embeddings must be 2-d "
		    "(N, D)%s", ndim, ndim == 1 ? " (reshape(-1, 1) for one "
		    "feature)" : "");
		goto out;
	}
	if (want == MM_NPY_INT && ndim != 1 && ndim != 2) {
		rc = mm_err(MM_ESIZE, "%d-d array: labels must be (N,) or "
		    "(N, F)", ndim);
		goto out;
	}
	out->rows = shape[0];
	if (ndim == 1)
		shape[1] = 1;
	if (shape[0] < 1 || shape[1] < 1 || shape[1] > 1 << 20) {
		rc = mm_err(MM_ESIZE, "empty or too wide array (%lld, %lld)",
		    (long long)shape[0], (long long)shape[1]);
		goto out;
	}
	out->cols = (int)shape[1];
	count = (uint64_t)shape[0] * (uint64_t)shape[1];
	isz = mm_dtype_size(t);
	if (want == MM_NPY_FLOAT)
		out->f = malloc(sizeof(float) * count);
	else
		out->i = malloc(sizeof(int32_t) * count);
	buf = malloc(CHUNK);
	if (!buf || (!out->f && !out->i)) {
		rc = mm_err(MM_ENOMEM, "out of memory for a (%lld, %d) array",
		    (long long)out->rows, out->cols);
		goto out;
	}
	for (done = 0; done < count;) {
		uint64_t n = count - done, j;
		if (n > CHUNK / isz)
			n = CHUNK / isz;
		if ((rc = src_read(&s, buf, n * isz)) < 0)
			goto out;
		for (j = 0; j < n; j++, done++) {
			const unsigned char *p = buf + j * isz;
			float f = 0.0f;
			double d = 0.0;
			int64_t v = 0;
			int32_t v32;
			switch (t) {
			case MM_F32:
				memcpy(&f, p, 4);
				d = f;
				break;
			case MM_F64:
				memcpy(&d, p, 8);
				f = (float)d;
				break;
			case MM_I32:
				memcpy(&v32, p, 4);
				v = v32;
				break;
			case MM_I64:
				memcpy(&v, p, 8);
				break;
			default:
				v = *p;
				break;
			}
			if (out->f) {
				if (!isfinite(d) || !isfinite(f)) {
					rc = mm_err(MM_ENUM, "row %lld holds %s",
					    (long long)(done / out->cols),
					    isfinite(d) ? "a value beyond "
					    "float32's range" :
					    "a non-finite value");
					goto out;
				}
				out->f[done] = f;
			} else {
				if (v < INT32_MIN || v > INT32_MAX) {
					rc = mm_err(MM_ESIZE, "row %lld holds "
					    "%lld, outside int32",
					    (long long)(done / out->cols),
					    (long long)v);
					goto out;
				}
				out->i[done] = (int32_t)v;
			}
		}
	}
	rc = 0;
out:
	free(buf);
	src_close(&s);
	if (rc < 0)
		mm_npy_free(out);
	return rc;
}

int
mm_npz_names(const char *path, char (*names)[256], int max)
{
	struct mm_zip z;
	int i, n = 0, rc;

	memset(&z, 0, sizeof z);
	if ((rc = mm_zip_open(&z, path)) < 0)
		return rc;
	for (i = 0; i < z.n && n < max; i++) {
		size_t l = strlen(z.e[i].name);
		if (l > 4 && strcmp(z.e[i].name + l - 4, ".npy") == 0) {
			memcpy(names[n], z.e[i].name, l - 4);
			names[n][l - 4] = '\0';
			n++;
		}
	}
	mm_zip_close(&z);
	return n;
}

int
mm_npy_kind(const char *path)
{
	size_t l = path ? strlen(path) : 0;

	if (l < 4 || path[l - 4] != '.' || tolower((unsigned char)path[l - 3])
	    != 'n' || tolower((unsigned char)path[l - 2]) != 'p')
		return 0;
	switch (tolower((unsigned char)path[l - 1])) {
	case 'y':
		return 'y';
	case 'z':
		return 'z';
	}
	return 0;
}

/* Prefix the recorded error detail with the npz member's name. */
static int
in_member(int rc, const char *member)
{
	char why[512];

	if (!member)
		return rc;
	snprintf(why, sizeof why, "%s", mm_errmsg());
	return mm_err(rc, "array '%s': %s", member, why);
}

int
mm_npy_emb(struct mm_emb *e, const char *a, const char *b, const char **bad)
{
	struct mm_npy x, y;
	const char *ma = NULL, *mb = NULL, *pb = b ? b : a;
	char names[16][256];
	int rc, n, i, hi = -1, hf = -1;

	mm_emb_free(e);
	*bad = a;
	if (!b) {
		if ((n = mm_npz_names(a, names, 16)) < 0)
			return n;
		for (i = 0; i < n; i++) {
			if (strcmp(names[i], "z_img") == 0)
				hi = i;
			if (strcmp(names[i], "z_fac") == 0)
				hf = i;
		}
		if (hi >= 0 && hf >= 0) {
			ma = names[hi];
			mb = names[hf];
		} else if (n == 2) {
			ma = names[0];
			mb = names[1];
		} else
			return mm_err(MM_EMISSING, "holds %d array%s: needs "
			    "'z_img' and 'z_fac', or exactly two", n,
			    n == 1 ? "" : "s");
	}
	if ((rc = mm_npy_read(a, ma, MM_NPY_FLOAT, &x)) < 0)
		return in_member(rc, ma);
	*bad = pb;
	if ((rc = mm_npy_read(pb, mb, MM_NPY_FLOAT, &y)) < 0) {
		mm_npy_free(&x);
		return in_member(rc, mb);
	}
	if (x.rows != y.rows) {
		*bad = NULL;
		rc = mm_err(MM_ESIZE, "%s%s%s has %lld rows and %s%s%s %lld: "
		    "row i of both sides must describe sample i", a,
		    ma ? ":" : "", ma ? ma : "", (long long)x.rows, pb,
		    mb ? ":" : "", mb ? mb : "", (long long)y.rows);
		mm_npy_free(&x);
		mm_npy_free(&y);
		return rc;
	}
	e->N = x.rows;
	e->z_img = x.f;
	e->Dimg = x.cols;
	e->z_fac = y.f;
	e->Dfac = y.cols;
	return 0;
}

int
mm_npz_roles(const char *path, char (*names)[256], int max, const char **img,
    const char **fac, const char **lab)
{
	const char *other = NULL;
	int n, i, nother = 0;

	*img = *fac = *lab = NULL;
	if ((n = mm_npz_names(path, names, max)) < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], "z_img") == 0)
			*img = names[i];
		else if (strcmp(names[i], "z_fac") == 0)
			*fac = names[i];
		else if (strcmp(names[i], "labels") == 0 ||
		    strcmp(names[i], "classes") == 0)
			*lab = *lab ? *lab : names[i];
		else {
			other = names[i];
			nother++;
		}
	}
	if (!*img && !*fac) {
		if (nother != 1)
			return mm_err(MM_EMISSING, "no 'z_img' or 'z_fac', and "
			    "%d other arrays (one is taken as the embeddings)",
			    nother);
		*img = other;
	}
	return n;
}

int
mm_npy_labelled(struct mm_emb *e, const char *emb, const char *labels,
    const char **bad)
{
	struct mm_npy x, y;
	char names[16][256];
	const char *mi = NULL, *mf = NULL, *ml = NULL;
	int n = 0, rc;
	int64_t j;

	mm_emb_free(e);
	*bad = emb;
	if (mm_npy_kind(emb) == 'z') {
		if ((n = mm_npz_roles(emb, names, 16, &mi, &mf, &ml)) < 0)
			return n;
		if (!labels && !ml)
			return mm_err(MM_EMISSING, "no 'labels' array (or give "
			    "the labels as a .npy)");
	} else if (!labels) {
		return mm_err(MM_EMISSING, "embeddings without labels (give "
		    "their labels as a .npy, or an .npz holding both)");
	} else {
		mi = NULL;
	}
	if (mi || mm_npy_kind(emb) == 'y') {
		if ((rc = mm_npy_read(emb, mi, MM_NPY_FLOAT, &x)) < 0)
			return in_member(rc, mi);
		e->z_img = x.f;
		e->Dimg = x.cols;
		e->N = x.rows;
	}
	if (mf) {
		if ((rc = mm_npy_read(emb, mf, MM_NPY_FLOAT, &x)) < 0) {
			mm_emb_free(e);
			return in_member(rc, mf);
		}
		if (e->z_img && x.rows != e->N) {
			mm_npy_free(&x);
			mm_emb_free(e);
			return mm_err(MM_ESIZE, "'z_img' has %lld rows and "
			    "'z_fac' %lld", (long long)e->N, (long long)x.rows);
		}
		e->z_fac = x.f;
		e->Dfac = x.cols;
		e->N = x.rows;
	}
	if (labels)
		*bad = labels;
	if ((rc = mm_npy_read(labels ? labels : emb, labels ? NULL : ml,
	    MM_NPY_INT, &y)) < 0) {
		mm_emb_free(e);
		return in_member(rc, labels ? NULL : ml);
	}
	if (y.rows != e->N) {
		rc = mm_err(MM_ESIZE, "%lld labels for %lld rows of embeddings",
		    (long long)y.rows, (long long)e->N);
		mm_npy_free(&y);
		mm_emb_free(e);
		return rc;
	}
	for (j = 0; j < y.rows * y.cols; j++)
		if (y.i[j] < 0) {
			rc = mm_err(MM_EFORMAT, "row %lld: label %d (labels are "
			    "class indices >= 0)", (long long)(j / y.cols),
			    (int)y.i[j]);
			mm_npy_free(&y);
			mm_emb_free(e);
			return rc;
		}
	e->classes = y.i;
	e->F = y.cols;
	return 0;
}
