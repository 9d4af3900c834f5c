/*
 * err.h - error codes shared by every part of libmmib.
 *
 * Library functions never print or exit: they return 0 (or a count) on
 * success and a negative MM_E* code on failure, after recording a one-line
 * detail with mm_err().  Tools print "prog: file: " + mm_errmsg().
 */
#ifndef MM_ERR_H
#define MM_ERR_H

enum {
	MM_OK = 0,
	MM_EIO = -1,       /* read or write failed (errno-style) */
	MM_ENOMEM = -2,    /* out of memory */
	MM_ETRUNC = -3,    /* input ended inside a record or before an end record */
	MM_EMAGIC = -4,    /* not an mmib stream (bad magic) */
	MM_EVERSION = -5,  /* stream format version not supported */
	MM_EHCRC = -6,     /* header CRC mismatch */
	MM_EBCRC = -7,     /* body CRC mismatch */
	MM_ESIZE = -8,     /* impossible size or shape */
	MM_EDTYPE = -9,    /* unsupported dtype */
	MM_EKIND = -10,    /* unknown critical record kind */
	MM_EEND = -11,     /* end record disagrees with its segment */
	MM_EZSTD = -12,    /* zstd transport error */
	MM_EFORMAT = -13,  /* malformed content (npy header, metadata, file format) */
	MM_EEMPTY = -14,   /* no input at all */
	MM_EINVAL = -15,   /* invalid argument or value */
	MM_EMISSING = -16, /* a required field, key or tensor is absent */
	MM_ENUM = -17,     /* numerical failure (NaN/Inf) */
	MM_EUNSUP = -18    /* feature not built in or not supported */
};

/* Record the detail of an error; returns code so callers can
 * write `return mm_err(MM_ESIZE, "...", ...)`. */
int mm_err(int code, const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 2, 3)))
#endif
	;

/* The last recorded detail, or the generic text of the last code. */
const char *mm_errmsg(void);

/* Generic one-line description of a code. */
const char *mm_strerror(int code);

#endif
