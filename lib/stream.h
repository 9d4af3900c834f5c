/*
 * stream.h - the mmib tensor stream (see formats/stream.md, mmib-stream(5)).
 *
 * A stream is a sequence of records, each a 32-byte header, a name, and a
 * body; a segment ends with an 'E' record, and `cat a b` of streams is a
 * stream.  Kinds: 'S' metadata (key=value text), 'T' tensor (a .npy v1.0
 * blob), 'E' end; unknown lowercase kinds are ancillary (passed through),
 * unknown uppercase kinds are errors.  Tensors travel in batches: the 'T'
 * records that share a batch number share their first dimension N.
 *
 * Reading: open a reader on a FILE* (plain or zstd, sniffed), then either
 * pull single records with mm_reader_next() or whole batches with
 * mm_reader_batch().  Writing: mm_writer_* with optional zstd transport
 * (one zstd frame per batch).  One batch is in memory at a time.
 */
#ifndef MM_STREAM_H
#define MM_STREAM_H

#include <stdint.h>
#include <stdio.h>

#include "meta.h"

#define MM_STREAM_VERSION 1
#define MM_MAXDIM 8
#define MM_MAXNAME 255
/* Largest body a reader accepts (bytes). */
#define MM_MAXBODY ((uint64_t)1 << 34)

enum mm_dtype {
	MM_DT_NONE = 0,
	MM_U8,   /* |u1 */
	MM_I32,  /* <i4 */
	MM_F32,  /* <f4 */
	MM_I64,  /* <i8, read-only: converted by readers that want i32 */
	MM_F64   /* <f8, read-only */
};
size_t mm_dtype_size(enum mm_dtype t);
const char *mm_dtype_name(enum mm_dtype t);  /* "u8", "i32", ... */
const char *mm_dtype_descr(enum mm_dtype t); /* "|u1", "<i4", ... */

struct mm_record {
	int kind;                  /* 'S', 'T', 'E', or ancillary lowercase */
	char name[MM_MAXNAME + 1];
	uint32_t batch;
	uint16_t field;
	/* 'T' only: the tensor, data pointing into body */
	enum mm_dtype dtype;
	int ndim;
	int64_t shape[MM_MAXDIM];
	void *data;
	uint64_t size;             /* bytes of data (= prod(shape) * itemsize) */
	uint64_t count;            /* elements */
	/* the raw body as read (npy blob for 'T', text for 'S') */
	unsigned char *body;
	uint64_t body_len;
	uint64_t cap;              /* allocated bytes of body */
	uint64_t offset;           /* byte offset of the record in its source
	                              (decompressed bytes for zstd input) */
};
void mm_record_init(struct mm_record *r);
void mm_record_free(struct mm_record *r);
/* Rows (shape[0]) of a tensor record; 1 for a 0-d tensor. */
int64_t mm_record_rows(const struct mm_record *r);
/* Elements per row (product of shape[1..]). */
int64_t mm_record_cols(const struct mm_record *r);

/* ---- reader ---- */
struct mm_reader;

/* label names the input in error details (a path, or "<stdin>"). */
struct mm_reader *mm_reader_open(FILE *f, const char *label);
void mm_reader_close(struct mm_reader *r);    /* does not fclose f */

/* Next record of any kind into rec (whose buffers are reused).
 * Returns 1 with a record, 0 at a clean end of input (after an 'E'),
 * or a negative MM_E* code.  'E' records are returned too, after their
 * counts were checked against the segment. */
int mm_reader_next(struct mm_reader *r, struct mm_record *rec);

/* The metadata of the current segment (keys of its 'S' records so far). */
const struct mm_meta *mm_reader_meta(struct mm_reader *r);
/* Number of segments started so far. */
int mm_reader_segments(struct mm_reader *r);

/* A batch: every 'T' record with one batch number, plus the non-tensor
 * records met before it ('S' and ancillary, in order) and any ancillary
 * record met between its tensors (after those), for a filter to pass
 * through ahead of the batch.  Buffers are owned by the batch and reused. */
struct mm_batch {
	uint32_t index;
	int64_t rows;              /* common first dimension */
	int n, cap;
	struct mm_record *rec;     /* rec[0..n) tensors, in field order */
	int nside, sidecap;
	struct mm_record *side;    /* side[0..nside) S/ancillary records */
	int new_segment;           /* a segment started since the last batch */
};
void mm_batch_init(struct mm_batch *b);
void mm_batch_free(struct mm_batch *b);
/* Read the next batch: 1, 0 at a clean end of input, or < 0.  A batch
 * whose tensors disagree on their first dimension is MM_ESIZE. */
int mm_reader_batch(struct mm_reader *r, struct mm_batch *b);
/* The batch's tensor called name, or NULL. */
struct mm_record *mm_batch_get(struct mm_batch *b, const char *name);

/* ---- writer ---- */
struct mm_writer;

/* zstd_level 0 writes plain records; 1..19 wraps the output in zstd
 * frames (one per batch, checksummed). */
struct mm_writer *mm_writer_open(FILE *f, int zstd_level);
/* Write an 'S' record from metadata. */
int mm_writer_meta(struct mm_writer *w, const struct mm_meta *m);
/* Write a 'T' record; the field index counts tensors within the batch. */
int mm_writer_tensor(struct mm_writer *w, const char *name, uint32_t batch,
    enum mm_dtype t, int ndim, const int64_t *shape, const void *data);
/* Copy a record read elsewhere unchanged (S, T or ancillary; an 'E' is
 * refused: the writer makes its own). */
int mm_writer_record(struct mm_writer *w, const struct mm_record *rec);
/* Write the 'E' record closing the segment and flush. */
int mm_writer_end(struct mm_writer *w);
/* Free the writer (does not fclose); MM_EIO if an earlier write failed.
 * A writer closed without mm_writer_end() leaves a truncated stream. */
int mm_writer_close(struct mm_writer *w);

/* ---- npy ---- */
/* Build a .npy v1.0 header for (t, ndim, shape) into buf (at least 128
 * bytes); returns its length (a multiple of 64) or < 0. */
int mm_npy_header(char *buf, size_t cap, enum mm_dtype t, int ndim,
    const int64_t *shape);
/* Parse a .npy v1.0/2.0 header at the start of body: dtype, shape, header
 * length.  Checks C order and that the payload size adds up to body_len. */
int mm_npy_parse(const unsigned char *body, uint64_t body_len,
    enum mm_dtype *t, int *ndim, int64_t *shape, uint64_t *hdr_len);

#endif
