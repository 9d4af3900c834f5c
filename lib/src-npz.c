/*
 * src-npz.c - the npz file source of mmib-gen --from: numpy's .npz of
 * dSprites ('imgs') and MPI3D ('images'), a u8 image array read through
 * lib/zip.c, stored members by seeking, deflated ones front to back.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gen.h"
#include "source-impl.h"
#include "stream.h"
#include "zip.h"

static int
npz_open(struct mm_source *s, const char *path, const struct mm_dataset *ds)
{
	struct mm_zip *z;
	const struct mm_zip_entry *e;
	struct mm_zip_member *m;
	unsigned char hdr[4096];
	uint64_t hl, pre;
	enum mm_dtype t;
	int64_t shape[MM_MAXDIM];
	int ndim, rc;
	const char *member;

	if ((z = calloc(1, sizeof *z)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	s->zip = z;
	if ((rc = mm_zip_open(z, path)) < 0)
		return rc;
	if ((e = mm_zip_find(z, "imgs.npy")) != NULL) {
		member = "imgs";
		if (!ds)
			ds = mm_gen_find("dsprites");
	} else if ((e = mm_zip_find(z, "images.npy")) != NULL) {
		member = "images";
		if (!ds)
			ds = mm_gen_find("mpi3d");
	} else
		return mm_err(MM_EMISSING, "%s: no 'imgs' (dSprites) or "
		    "'images' (MPI3D) array in the npz", path);
	if (strcmp(ds->name, "dsprites") != 0 && strcmp(ds->name, "mpi3d") != 0)
		return mm_err(MM_EINVAL, "%s: an npz file cannot hold %s",
		    path, ds->name);
	if ((strcmp(member, "imgs") == 0) != (strcmp(ds->name, "dsprites") == 0))
		return mm_err(MM_EINVAL, "%s: has '%s', not a %s file", path,
		    member, ds->name);
	s->ds = ds;
	if ((rc = mm_zip_member_open(z, e, &m)) < 0)
		return rc;
	s->file = m;
	/* the .npy header: 10 (v1) or 12 (v2) bytes, then its text */
	if (e->usize < 12)
		return mm_err(MM_EFORMAT, "%s: %s.npy is too short", path,
		    member);
	if ((rc = mm_zip_read(m, hdr, 10)) < 0)
		return rc;
	if (memcmp(hdr, "\x93NUMPY", 6) != 0)
		return mm_err(MM_EFORMAT, "%s: %s.npy is not a .npy array",
		    path, member);
	/* v1: 2-byte header length at 8; v2 and v3: 4 bytes at 8 */
	pre = 10;
	if (hdr[6] != 1) {
		if ((rc = mm_zip_read(m, hdr + 10, 2)) < 0)
			return rc;
		pre = 12;
	}
	hl = pre == 10 ? 10 + (uint64_t)(hdr[8] | hdr[9] << 8) :
	    12 + ((uint64_t)hdr[8] | (uint64_t)hdr[9] << 8 |
	    (uint64_t)hdr[10] << 16 | (uint64_t)hdr[11] << 24);
	if (hl > sizeof hdr || hl > e->usize)
		return mm_err(MM_EFORMAT, "%s: %s.npy header too long", path,
		    member);
	if ((rc = mm_zip_read(m, hdr + pre, hl - pre)) < 0)
		return rc;
	if ((rc = mm_npy_parse(hdr, e->usize, &t, &ndim, shape, &hl)) < 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", mm_errmsg());
		return mm_err(rc, "%s: %s.npy: %s", path, member, why);
	}
	if (t != MM_U8)
		return mm_err(MM_EDTYPE, "%s: %s.npy is %s, not u8", path,
		    member, mm_dtype_name(t));
	if ((rc = mm_src_check_shape(path, ds, ndim, shape)) < 0)
		return rc;
	s->seekable = mm_zip_seekable(m);
	return 0;
}

static int
npz_read(struct mm_source *s, const int64_t *rows, int64_t k, uint8_t *img)
{
	const struct mm_dataset *ds = s->ds;
	size_t isz = (size_t)ds->channels * MM_GEN_H_PX * MM_GEN_W_PX;
	struct mm_zip_member *m = s->file;
	int64_t i;
	int rc;

	for (i = 0; i < k; i++) {
		uint64_t base = mm_zip_tell(m) - (uint64_t)s->next_row * isz;

		if (rows[i] < s->next_row && !s->seekable)
			return mm_err(MM_EINVAL, "%s: row %lld asked after row "
			    "%lld of a deflated member", s->label,
			    (long long)rows[i], (long long)s->next_row);
		if (s->seekable)
			rc = mm_zip_seek(m, base + (uint64_t)rows[i] * isz);
		else
			rc = mm_zip_skip(m, (uint64_t)(rows[i] - s->next_row) *
			    isz);
		if (rc < 0 || (rc = mm_zip_read(m, s->scratch, isz)) < 0)
			return rc;
		s->next_row = rows[i] + 1;
		mm_src_hwc_to_chw(s->scratch, ds->channels, img + i * isz);
	}
	return 0;
}

static void
npz_close(struct mm_source *s)
{
	mm_zip_member_close(s->file);
	if (s->zip)
		mm_zip_close(s->zip);
	free(s->zip);
}

static int
npz_sniff(const unsigned char *magic)
{
	return memcmp(magic, "PK", 2) == 0;
}

const struct mm_source_kind mm_src_npz = {
	"npz", npz_sniff, npz_open, npz_read, npz_close, NULL,
};
