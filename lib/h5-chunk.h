/*
 * h5-chunk.h - the stored bytes of one chunk of an HDF5 dataset, read
 * here rather than by libhdf5 (lib/h5.c, lib/h5-array.c).
 *
 * libhdf5 1.10's H5Dread_chunk writes past the caller's buffer on some
 * corrupt files (fuzzed inputs in tests/fuzz/regress/h5/): it can read
 * a chunk by a size other than the one H5Dget_chunk_storage_size gave
 * (chunk-two-sizes.h5: 815 bytes against 768), and even when every size
 * it reports agrees (chunk-accum.h5: 18,432 bytes into a chunk of 768,
 * through its metadata accumulator).  So libhdf5 is asked only where the
 * chunk lies (H5Dget_chunk_info_by_coord: file address, size, filter
 * mask), the size must match H5Dget_chunk_storage_size's, the extent must
 * lie inside the file, and the bytes are read with fread into a buffer of
 * that size.  Before HDF5 1.10.5 there is no such call, and H5Dread_chunk
 * reads them as before.  Include after <hdf5.h>, <stdio.h>, <stdlib.h>
 * and "err.h".
 */
#ifndef MM_H5_CHUNK_H
#define MM_H5_CHUNK_H

enum {
	MM_H5C_UNREADABLE = -1,   /* no size for the chunk */
	MM_H5C_TWO_SIZES = -2,    /* its two sizes differ (*other) */
	MM_H5C_OUTSIDE = -3,      /* its extent is not inside the file */
	MM_H5C_NOMEM = -4,
	MM_H5C_READ = -5,         /* the read failed */
	MM_H5C_TOO_BIG = -6       /* more than cap stored bytes */
};

/* The file at path opened for reading its raw bytes, its size in
 * *fsize; NULL when it cannot be. */
static inline FILE *
mm_h5_raw_open(const char *path, uint64_t *fsize)
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

/* The base of the addresses in file f: its user block's size (0 when
 * none or unreadable). */
static inline hsize_t
mm_h5_base(hid_t f)
{
	hid_t pl = H5Fget_create_plist(f);
	hsize_t ub = 0;

	if (pl >= 0) {
		if (H5Pget_userblock(pl, &ub) < 0)
			ub = 0;
		H5Pclose(pl);
	}
	return ub;
}

/* Chunk off of dataset d into *zbuf (grown to *zcap as needed): its
 * *stored bytes (0: never written, nothing read; at most cap) and the
 * filters it skipped (*mask).  raw: the file opened for reading, fsize
 * bytes long, base mm_h5_base() (H5Dget_chunk_info_by_coord of libhdf5
 * 1.10 gives addresses from the end of a user block: t-gen-import checks
 * a file with one).  Returns 0 or an MM_H5C_ code. */
static inline int
mm_h5_chunk_read(hid_t d, FILE *raw, uint64_t fsize, hsize_t base,
    const hsize_t *off, uint64_t cap, uint8_t **zbuf, size_t *zcap,
    hsize_t *stored, hsize_t *other, uint32_t *mask)
{
	*other = 0;
	*mask = 0;
	if (H5Dget_chunk_storage_size(d, off, stored) < 0)
		return MM_H5C_UNREADABLE;
	if (*stored == 0)
		return 0;
	if (*stored > cap)
		return MM_H5C_TOO_BIG;
	if (*stored > *zcap) {
		uint8_t *p = realloc(*zbuf, *stored);
		if (!p)
			return MM_H5C_NOMEM;
		*zbuf = p;
		*zcap = *stored;
	}
#if H5_VERSION_GE(1, 10, 5)
	{
		unsigned fm = 0;
		haddr_t addr = HADDR_UNDEF;
		if (H5Dget_chunk_info_by_coord(d, off, &fm, &addr, other) < 0 ||
		    *other != *stored)
			return MM_H5C_TWO_SIZES;
		if (addr == HADDR_UNDEF || addr > fsize || base > fsize -
		    addr || *stored > fsize - addr - base)
			return MM_H5C_OUTSIDE;
		addr += base;
		if (fseeko(raw, (off_t)addr, SEEK_SET) != 0 ||
		    fread(*zbuf, 1, *stored, raw) != *stored)
			return MM_H5C_READ;
		*mask = fm;
	}
#else
	(void)raw;
	(void)fsize;
	(void)base;
	*other = *stored;
	if (H5Dread_chunk(d, H5P_DEFAULT, off, mask, *zbuf) < 0)
		return MM_H5C_READ;
#endif
	return 0;
}

/* The error of code (not 0) of mm_h5_chunk_read() for the chunk of rows
 * r0.. of who (the file, or the file and dataset), cbytes bytes when
 * inflated: mm_err()'s return. */
static inline int
mm_h5_chunk_error(int code, const char *who, hsize_t r0, hsize_t stored,
    hsize_t other, uint64_t cbytes)
{
	unsigned long long r = r0, s = stored, o = other, c = cbytes;

	switch (code) {
	case MM_H5C_UNREADABLE:
		return mm_err(MM_EFORMAT, "%s: a chunk of rows %llu.. is "
		    "missing or unreadable (corrupt?)", who, r);
	case MM_H5C_TOO_BIG:
		return mm_err(MM_EFORMAT, "%s: a chunk of rows %llu.. claims "
		    "%llu stored bytes for %llu of data (corrupt?)", who, r,
		    s, c);
	case MM_H5C_TWO_SIZES:
		return mm_err(MM_EFORMAT, "%s: the chunk of rows %llu.. has "
		    "two sizes in the file (%llu and %llu bytes; corrupt?)",
		    who, r, s, o);
	case MM_H5C_OUTSIDE:
		return mm_err(MM_EFORMAT, "%s: the chunk of rows %llu.. lies "
		    "beyond the end of the file (truncated?)", who, r);
	case MM_H5C_NOMEM:
		return mm_err(MM_ENOMEM, "out of memory");
	default:
		return mm_err(MM_EFORMAT, "%s: reading the chunk of rows "
		    "%llu.. failed (corrupt or truncated file?)", who, r);
	}
}

#endif
