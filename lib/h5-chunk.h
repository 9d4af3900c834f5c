/*
 * h5-chunk.h - the stored bytes of one chunk of an HDF5 dataset (lib/h5.c,
 * lib/h5-array.c), read by H5Dread_chunk into a buffer that ends at a
 * page no access is allowed to.
 *
 * libhdf5 1.10's H5Dread_chunk writes past the caller's buffer on some
 * corrupt files (fuzzed inputs in tests/fuzz/regress/h5/): it can read a
 * chunk by a size other than the one H5Dget_chunk_storage_size gave
 * (chunk-two-sizes.h5: 815 bytes against 768), and even when every size
 * it reports agrees (chunk-accum.h5: 18,432 bytes into a chunk of 768,
 * through its metadata accumulator).  The one call that says where a chunk
 * lies, H5Dget_chunk_info_by_coord, walks the chunks in index order up
 * to the one asked for in 1.10 (on one-row chunks: 17 ms for the last of
 * 100,000, 27 ms a call on average over 480,000, against 0.03 ms for
 * H5Dget_chunk_storage_size and H5Dread_chunk together), which made an
 * import quadratic in the chunk count.  So the chunk is read by
 * H5Dread_chunk into a buffer of exactly its stored size placed against
 * a guard page: a write past it is a segmentation fault at once, in the
 * child process that runs libhdf5 (isolate.h), which the caller reports
 * as a one-line error; no byte beyond the buffer is written.  Include
 * after <hdf5.h>, <sys/mman.h>, <unistd.h> and "err.h", with
 * _DEFAULT_SOURCE defined (MAP_ANONYMOUS).
 */
#ifndef MM_H5_CHUNK_H
#define MM_H5_CHUNK_H

enum {
	MM_H5C_UNREADABLE = -1,   /* no size for the chunk */
	MM_H5C_NOMEM = -4,
	MM_H5C_READ = -5,         /* the read failed */
	MM_H5C_TOO_BIG = -6       /* more than cap stored bytes */
};

/* A buffer followed by a page that faults on any access (and preceded
 * by one). */
struct mm_h5_gbuf {
	uint8_t *map;           /* the mapping: guard, len bytes, guard */
	size_t len, page;
};

static inline void
mm_h5_gbuf_free(struct mm_h5_gbuf *g)
{
	if (g->map)
		munmap(g->map, g->len + 2 * g->page);
	g->map = NULL;
	g->len = 0;
}

/* n bytes (n > 0) that end where the trailing guard page begins; NULL
 * when out of memory. */
static inline uint8_t *
mm_h5_gbuf_get(struct mm_h5_gbuf *g, size_t n)
{
	size_t need;
	void *m;

	if (!g->page)
		g->page = (size_t)sysconf(_SC_PAGESIZE);
	need = (n + g->page - 1) / g->page * g->page;
	if (need > g->len) {
		mm_h5_gbuf_free(g);
		m = mmap(NULL, need + 2 * g->page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		g->map = m;
		g->len = need;
		if (mprotect(g->map, g->page, PROT_NONE) != 0 ||
		    mprotect(g->map + g->page + need, g->page, PROT_NONE) != 0) {
			mm_h5_gbuf_free(g);
			return NULL;
		}
	}
	return g->map + g->page + g->len - n;
}

/* Chunk off of dataset d: its *stored bytes (0: never written, nothing
 * read; at most cap) at *data, in g, and the filters it skipped (*mask).
 * Returns 0 or an MM_H5C_ code. */
static inline int
mm_h5_chunk_read(hid_t d, const hsize_t *off, uint64_t cap,
    struct mm_h5_gbuf *g, const uint8_t **data, hsize_t *stored,
    uint32_t *mask)
{
	uint8_t *p;

	*mask = 0;
	*data = NULL;
	if (H5Dget_chunk_storage_size(d, off, stored) < 0)
		return MM_H5C_UNREADABLE;
	if (*stored == 0)
		return 0;
	if (*stored > cap)
		return MM_H5C_TOO_BIG;
	if (!(p = mm_h5_gbuf_get(g, (size_t)*stored)))
		return MM_H5C_NOMEM;
	if (H5Dread_chunk(d, H5P_DEFAULT, off, mask, p) < 0)
		return MM_H5C_READ;
	*data = p;
	return 0;
}

/* The error of code (not 0) of mm_h5_chunk_read() for the chunk of rows
 * r0.. of who (the file, or the file and dataset), cbytes bytes when
 * inflated: mm_err()'s return. */
static inline int
mm_h5_chunk_error(int code, const char *who, hsize_t r0, hsize_t stored,
    uint64_t cbytes)
{
	unsigned long long r = r0, s = stored, c = cbytes;

	switch (code) {
	case MM_H5C_UNREADABLE:
		return mm_err(MM_EFORMAT, "%s: a chunk of rows %llu.. is "
		    "missing or unreadable (corrupt?)", who, r);
	case MM_H5C_TOO_BIG:
		return mm_err(MM_EFORMAT, "%s: a chunk of rows %llu.. claims "
		    "%llu stored bytes for %llu of data (corrupt?)", who, r,
		    s, c);
	case MM_H5C_NOMEM:
		return mm_err(MM_ENOMEM, "out of memory");
	default:
		return mm_err(MM_EFORMAT, "%s: reading the chunk of rows "
		    "%llu.. failed (corrupt or truncated file?)", who, r);
	}
}

#endif
