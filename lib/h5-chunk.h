/*
 * h5-chunk.h - the stored size of one chunk of an HDF5 dataset, checked
 * against the one H5Dread_chunk reads (lib/h5.c, lib/h5-array.c; include
 * after <hdf5.h>).
 *
 * H5Dget_chunk_storage_size and the chunk's index record, which
 * H5Dread_chunk reads that many bytes by, can disagree in a corrupt file;
 * libhdf5 1.10 then writes past a buffer sized by the first (a fuzzed
 * input: tests/fuzz/regress/h5/chunk-two-sizes.h5).  Before 1.10.5 there
 * is no way to read the record's size, and no check.
 */
#ifndef MM_H5_CHUNK_H
#define MM_H5_CHUNK_H

/* *stored = the chunk's stored bytes (0: never written).  Returns 0, -1
 * when the size cannot be read, -2 when the index record gives another
 * (*other). */
static inline int
mm_h5_chunk_stored(hid_t d, const hsize_t *off, hsize_t *stored,
    hsize_t *other)
{
	*other = 0;
	if (H5Dget_chunk_storage_size(d, off, stored) < 0)
		return -1;
#if H5_VERSION_GE(1, 10, 5)
	if (*stored > 0) {
		unsigned mask = 0;
		haddr_t addr = 0;
		if (H5Dget_chunk_info_by_coord(d, off, &mask, &addr, other) <
		    0 || *other != *stored)
			return -2;
	}
#endif
	*other = *stored;
	return 0;
}

#endif
