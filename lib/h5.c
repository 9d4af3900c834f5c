/*
 * h5.c - row reader for HDF5 datasets (see h5.h).  A batch of sorted rows
 * becomes one hyperslab selection (runs of consecutive rows merged), read
 * in a single H5Dread so HDF5 decompresses each chunk once per batch.
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "h5.h"

#ifdef MM_HAVE_HDF5
#include <hdf5.h>

struct mm_h5 {
	hid_t file, dset, space;
	int ndim;
	hsize_t dims[8];
	char label[256];
};

int
mm_h5_available(void)
{
	return 1;
}

int
mm_h5_open(const char *path, const char *dset, struct mm_h5 **out,
    int64_t *shape, int *ndim)
{
	struct mm_h5 *h;
	hid_t type;
	int i, rc;

	*out = NULL;
	/* HDF5 prints its error stack by default; we report our own line */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if ((h = calloc(1, sizeof *h)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	h->file = h->dset = h->space = -1;
	snprintf(h->label, sizeof h->label, "%s", path);
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
	h->space = H5Dget_space(h->dset);
	h->ndim = H5Sget_simple_extent_ndims(h->space);
	if (h->ndim < 1 || h->ndim > 8) {
		rc = mm_err(MM_ESIZE, "%s: dataset '%s' has %d dimensions",
		    path, dset, h->ndim);
		goto fail;
	}
	H5Sget_simple_extent_dims(h->space, h->dims, NULL);
	for (i = 0; i < h->ndim; i++)
		shape[i] = (int64_t)h->dims[i];
	*ndim = h->ndim;
	*out = h;
	return 0;
fail:
	mm_h5_close(h);
	return rc;
}

int
mm_h5_read(struct mm_h5 *h, const int64_t *rows, int64_t k, uint8_t *out)
{
	hsize_t start[8] = {0}, count[8], mdims[8];
	hid_t mem;
	herr_t st;
	int64_t i, j;
	int d;

	if (k <= 0)
		return 0;
	for (d = 0; d < h->ndim; d++)
		count[d] = mdims[d] = h->dims[d];
	H5Sselect_none(h->space);
	for (i = 0; i < k; i = j) {
		if (rows[i] < 0 || (hsize_t)rows[i] >= h->dims[0])
			return mm_err(MM_EINVAL, "%s: row %lld out of range",
			    h->label, (long long)rows[i]);
		for (j = i + 1; j < k && rows[j] == rows[j - 1] + 1; j++)
			;
		start[0] = (hsize_t)rows[i];
		count[0] = (hsize_t)(j - i);
		if (H5Sselect_hyperslab(h->space, H5S_SELECT_OR, start, NULL,
		    count, NULL) < 0)
			return mm_err(MM_EFORMAT, "%s: bad row selection",
			    h->label);
	}
	mdims[0] = (hsize_t)k;
	if ((mem = H5Screate_simple(h->ndim, mdims, NULL)) < 0)
		return mm_err(MM_ENOMEM, "H5Screate_simple failed");
	st = H5Dread(h->dset, H5T_NATIVE_UCHAR, mem, h->space, H5P_DEFAULT,
	    out);
	H5Sclose(mem);
	if (st < 0)
		return mm_err(MM_EFORMAT, "%s: reading rows failed (corrupt "
		    "or truncated file?)", h->label);
	return 0;
}

void
mm_h5_close(struct mm_h5 *h)
{
	if (!h)
		return;
	if (h->space >= 0)
		H5Sclose(h->space);
	if (h->dset >= 0)
		H5Dclose(h->dset);
	if (h->file >= 0)
		H5Fclose(h->file);
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
