/*
 * src-h5.c - the HDF5 file source of mmib-gen --from: 3dshapes.h5's
 * 'images' (N, 64, 64, 3) u8, read through lib/h5.c a batch of sorted rows
 * at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "gen.h"
#include "h5.h"
#include "source-impl.h"

static int
h5_open(struct mm_source *s, const char *path, const struct mm_dataset *ds)
{
	struct mm_h5 *h;
	int64_t shape[8];
	int ndim, rc;

	if (!ds)
		ds = mm_gen_find("shapes3d");
	if (strcmp(ds->name, "shapes3d") != 0)
		return mm_err(MM_EINVAL, "%s: an HDF5 file holds shapes3d, "
		    "not %s", path, ds->name);
	s->ds = ds;
	if ((rc = mm_h5_open(path, "images", &h, shape, &ndim)) < 0)
		return rc;
	s->file = h;
	s->seekable = 1;
	return mm_src_check_shape(path, ds, ndim, shape);
}

static int
h5_read(struct mm_source *s, const int64_t *rows, int64_t k, uint8_t *img)
{
	const struct mm_dataset *ds = s->ds;
	size_t isz = (size_t)ds->channels * MM_GEN_H_PX * MM_GEN_W_PX;
	uint8_t *buf = malloc(isz * (k ? k : 1));
	int64_t i;
	int rc;

	if (!buf)
		return mm_err(MM_ENOMEM, "out of memory");
	if ((rc = mm_h5_read(s->file, rows, k, buf)) == 0)
		for (i = 0; i < k; i++)
			mm_src_hwc_to_chw(buf + i * isz, ds->channels,
			    img + i * isz);
	free(buf);
	return rc;
}

static void
h5_close(struct mm_source *s)
{
	mm_h5_close(s->file);
}

static int
h5_sniff(const unsigned char *magic)
{
	return memcmp(magic, "\x89HDF\r\n\x1a\n", 8) == 0;
}

const struct mm_source_kind mm_src_h5 = {
	"h5", h5_sniff, h5_open, h5_read, h5_close, NULL,
};
