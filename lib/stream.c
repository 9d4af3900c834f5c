/*
 * stream.c - reader and writer of the mmib tensor stream.
 *
 * Byte layout (formats/stream.md): a record is a 32-byte header, the name,
 * zero padding to a multiple of 64, the body, zero padding to a multiple of
 * 64.  The reader trusts nothing before the header CRC has been checked, and
 * grows a body buffer only as bytes actually arrive, so a lying length can
 * cost at most twice the bytes present.  zstd transport is sniffed at every
 * record boundary and ends at every frame boundary.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "err.h"
#include "le.h"
#include "meta.h"
#include "stream.h"

#define HDR 32
#define PAD(n) (((n) + 63) & ~(uint64_t)63)
#define RBUF (1 << 17)

static const unsigned char magic[4] = { 0x89, 'M', 'T', 'R' };
static const unsigned char zmagic[4] = { 0x28, 0xb5, 0x2f, 0xfd };

static int
little_endian(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

static uint32_t
crc(uint32_t c, const void *p, uint64_t n)
{
	const unsigned char *b = p;

	/* zlib's crc32 takes a uInt length: feed large bodies in pieces. */
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, b, k);
		b += k;
		n -= k;
	}
	return c;
}

/* The header CRC covers every header byte but its own four (0..19 and
 * 24..31), then the name. */
static uint32_t
hcrc(const unsigned char *h, const char *name, size_t namelen)
{
	return (uint32_t)crc(crc(crc(0, h, 20), h + 24, 8), name, namelen);
}

/* A fuzzing build (make fuzz) accepts any CRC, so that mutations reach the
 * parsers behind the checksums instead of stopping at them. */
#ifdef MM_FUZZING
#define CRC_BAD(stored, computed) ((void)(stored), (void)(computed), 0)
#else
#define CRC_BAD(stored, computed) ((stored) != (computed))
#endif

/* ---------------------------------------------------------------- dtypes */

size_t
mm_dtype_size(enum mm_dtype t)
{
	switch (t) {
	case MM_U8: return 1;
	case MM_I32: case MM_F32: return 4;
	case MM_I64: case MM_F64: return 8;
	default: return 0;
	}
}

const char *
mm_dtype_name(enum mm_dtype t)
{
	switch (t) {
	case MM_U8: return "u8";
	case MM_I32: return "i32";
	case MM_F32: return "f32";
	case MM_I64: return "i64";
	case MM_F64: return "f64";
	default: return "?";
	}
}

const char *
mm_dtype_descr(enum mm_dtype t)
{
	switch (t) {
	case MM_U8: return "|u1";
	case MM_I32: return "<i4";
	case MM_F32: return "<f4";
	case MM_I64: return "<i8";
	case MM_F64: return "<f8";
	default: return "?";
	}
}

/* ------------------------------------------------------------------- npy */

int
mm_npy_header(char *buf, size_t cap, enum mm_dtype t, int ndim,
    const int64_t *shape)
{
	char dict[400], sh[MM_MAXDIM * 24 + 8];
	size_t n = 0, total, hl;
	int i;

	if (mm_dtype_size(t) == 0)
		return mm_err(MM_EDTYPE, "unsupported dtype %d", (int)t);
	if (ndim < 0 || ndim > MM_MAXDIM)
		return mm_err(MM_ESIZE, "%d dimensions (at most %d)", ndim,
		    MM_MAXDIM);
	sh[n++] = '(';
	for (i = 0; i < ndim; i++)
		n += snprintf(sh + n, sizeof sh - n, "%s%lld", i ? ", " : "",
		    (long long)shape[i]);
	n += snprintf(sh + n, sizeof sh - n, "%s)", ndim == 1 ? "," : "");
	hl = snprintf(dict, sizeof dict,
	    "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
	    mm_dtype_descr(t), sh);
	/* magic(6) version(2) hlen(2) dict, spaces, '\n': a multiple of 64 */
	total = PAD(10 + hl + 1);
	if (total > cap || total - 10 > 65535)
		return mm_err(MM_ESIZE, "npy header too long");
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	mm_put_le16((unsigned char *)buf + 8, (uint16_t)(total - 10));
	memcpy(buf + 10, dict, hl);
	memset(buf + 10 + hl, ' ', total - 10 - hl - 1);
	buf[total - 1] = '\n';
	return (int)total;
}

/* Find 'key' in an npy dict and return a pointer after its ':'. */
static const char *
npy_key(const char *d, size_t n, const char *key)
{
	size_t k = strlen(key), i;

	for (i = 0; i + k + 2 < n; i++)
		if ((d[i] == '\'' || d[i] == '"') && memcmp(d + i + 1, key, k) == 0 &&
		    d[i + 1 + k] == d[i]) {
			const char *p = d + i + k + 2;
			while (p < d + n && (*p == ' ' || *p == ':'))
				p++;
			return p;
		}
	return NULL;
}

int
mm_npy_parse(const unsigned char *body, uint64_t body_len, enum mm_dtype *t,
    int *ndim, int64_t *shape, uint64_t *hdr_len)
{
	const char *d, *p, *end;
	uint64_t hl, count = 1, size;
	char descr[8];
	size_t i;
	int nd = 0;

	if (body_len < 10 || memcmp(body, "\x93NUMPY", 6) != 0)
		return mm_err(MM_EFORMAT, "tensor body is not a .npy blob");
	if (body[6] == 1) {
		hl = mm_le16(body + 8);
		d = (const char *)body + 10;
	} else if (body[6] == 2 || body[6] == 3) {
		if (body_len < 12)
			return mm_err(MM_EFORMAT, "truncated .npy header");
		hl = mm_le32(body + 8);
		d = (const char *)body + 12;
	} else
		return mm_err(MM_EFORMAT, ".npy version %d.%d not supported",
		    body[6], body[7]);
	if ((const unsigned char *)d - body + hl > body_len)
		return mm_err(MM_ESIZE, ".npy header longer than the body");
	end = d + hl;
	/* descr */
	if ((p = npy_key(d, hl, "descr")) == NULL || p >= end ||
	    (*p != '\'' && *p != '"'))
		return mm_err(MM_EFORMAT, ".npy header has no 'descr'");
	for (i = 0, p++; p < end && *p != '\'' && *p != '"' && i < 7; p++)
		descr[i++] = *p;
	descr[i] = '\0';
	if (strcmp(descr, "|u1") == 0 || strcmp(descr, "u1") == 0 ||
	    strcmp(descr, "<u1") == 0)
		*t = MM_U8;
	else if (strcmp(descr, "<i4") == 0)
		*t = MM_I32;
	else if (strcmp(descr, "<f4") == 0)
		*t = MM_F32;
	else if (strcmp(descr, "<i8") == 0)
		*t = MM_I64;
	else if (strcmp(descr, "<f8") == 0)
		*t = MM_F64;
	else
		return mm_err(MM_EDTYPE, "unsupported dtype '%s' (mmib reads "
		    "|u1 <i4 <f4 <i8 <f8)", descr);
	/* fortran_order */
	if ((p = npy_key(d, hl, "fortran_order")) == NULL)
		return mm_err(MM_EFORMAT, ".npy header has no 'fortran_order'");
	if (end - p >= 4 && memcmp(p, "True", 4) == 0)
		return mm_err(MM_EFORMAT, "Fortran-order arrays are not "
		    "supported (write C order)");
	if (end - p < 5 || memcmp(p, "False", 5) != 0)
		return mm_err(MM_EFORMAT, "bad 'fortran_order' in .npy header");
	/* shape */
	if ((p = npy_key(d, hl, "shape")) == NULL || p >= end || *p != '(')
		return mm_err(MM_EFORMAT, ".npy header has no 'shape'");
	for (p++;;) {
		uint64_t v = 0;
		int digits = 0;

		while (p < end && *p == ' ')
			p++;
		if (p < end && *p == ')')
			break;
		while (p < end && *p >= '0' && *p <= '9') {
			if (v > (UINT64_C(1) << 50))
				return mm_err(MM_ESIZE, "dimension too large in "
				    ".npy shape");
			v = v * 10 + (uint64_t)(*p++ - '0');
			digits++;
		}
		if (!digits)
			return mm_err(MM_EFORMAT, "bad .npy shape");
		if (nd == MM_MAXDIM)
			return mm_err(MM_ESIZE, "more than %d dimensions",
			    MM_MAXDIM);
		shape[nd++] = (int64_t)v;
		while (p < end && (*p == ' ' || *p == 'L'))
			p++;
		if (p < end && *p == ',')
			p++;
		else if (p < end && *p == ')')
			break;
		else
			return mm_err(MM_EFORMAT, "bad .npy shape");
	}
	for (i = 0; i < (size_t)nd; i++) {
		if (shape[i] != 0 && count > UINT64_MAX / (uint64_t)shape[i])
			return mm_err(MM_ESIZE, "shape overflows");
		count *= (uint64_t)shape[i];
	}
	if (count > (UINT64_MAX >> 4))
		return mm_err(MM_ESIZE, "shape overflows");
	size = count * mm_dtype_size(*t);
	hl += (uint64_t)((const unsigned char *)d - body);
	if (hl + size != body_len)
		return mm_err(MM_ESIZE, "shape of %llu %s elements needs %llu "
		    "bytes but the body holds %llu", (unsigned long long)count,
		    mm_dtype_name(*t), (unsigned long long)size,
		    (unsigned long long)(body_len - hl));
	*ndim = nd;
	*hdr_len = hl;
	return 0;
}

/* --------------------------------------------------------------- records */

void
mm_record_init(struct mm_record *r)
{
	memset(r, 0, sizeof *r);
}

void
mm_record_free(struct mm_record *r)
{
	free(r->body);
	mm_record_init(r);
}

int64_t
mm_record_rows(const struct mm_record *r)
{
	return r->ndim > 0 ? r->shape[0] : 1;
}

int64_t
mm_record_cols(const struct mm_record *r)
{
	int64_t c = 1;
	int i;

	for (i = 1; i < r->ndim; i++)
		c *= r->shape[i];
	return c;
}

/* ---------------------------------------------------------------- reader */

struct mm_reader {
	FILE *f;
	const char *label;
	/* raw buffer over f */
	unsigned char *buf;
	size_t len, pos;
	int eof;
	/* zstd transport */
	int zmode;
	ZSTD_DStream *zd;
	int frame_open;            /* inside a zstd frame */
	uint64_t off;              /* logical bytes delivered */
	/* segments */
	int in_segment, segments;
	uint64_t seg_records, seg_bytes, records;
	struct mm_meta meta;
	/* lookahead for batches */
	struct mm_record pending;
	int have_pending;
};

struct mm_reader *
mm_reader_open(FILE *f, const char *label)
{
	struct mm_reader *r;

	if (!little_endian()) {
		mm_err(MM_EUNSUP, "mmib streams need a little-endian host");
		return NULL;
	}
	if ((r = calloc(1, sizeof *r)) == NULL ||
	    (r->buf = malloc(RBUF)) == NULL) {
		free(r);
		mm_err(MM_ENOMEM, "out of memory");
		return NULL;
	}
	r->f = f;
	r->label = label ? label : "<stream>";
	mm_meta_init(&r->meta);
	mm_record_init(&r->pending);
	return r;
}

void
mm_reader_close(struct mm_reader *r)
{
	if (!r)
		return;
	if (r->zd)
		ZSTD_freeDStream(r->zd);
	mm_meta_free(&r->meta);
	mm_record_free(&r->pending);
	free(r->buf);
	free(r);
}

const struct mm_meta *
mm_reader_meta(struct mm_reader *r)
{
	return &r->meta;
}

int
mm_reader_segments(struct mm_reader *r)
{
	return r->segments;
}

/* Make at least want (<= RBUF) raw bytes available if the file has them. */
static int
raw_fill(struct mm_reader *r, size_t want)
{
	size_t n;

	if (r->len - r->pos >= want || r->eof)
		return 0;
	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->len -= r->pos;
	r->pos = 0;
	while (r->len < want && !r->eof) {
		n = fread(r->buf + r->len, 1, RBUF - r->len, r->f);
		r->len += n;
		if (n == 0) {
			if (ferror(r->f))
				return mm_err(MM_EIO, "read error");
			r->eof = 1;
		}
	}
	return 0;
}

static int
is_zstd_magic(const unsigned char *p)
{
	/* a zstd frame, or a skippable frame 0x184D2A5? */
	return memcmp(p, zmagic, 4) == 0 ||
	    ((p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d &&
	    p[3] == 0x18);
}

/* Decide the transport at a boundary: zstd frames or plain records. */
static int
sniff(struct mm_reader *r)
{
	int rc;

	if ((rc = raw_fill(r, 4)) < 0)
		return rc;
	if (r->len - r->pos >= 4 && is_zstd_magic(r->buf + r->pos)) {
		if (!r->zd) {
			if ((r->zd = ZSTD_createDStream()) == NULL)
				return mm_err(MM_ENOMEM, "out of memory");
		}
		ZSTD_initDStream(r->zd);
		r->zmode = 1;
		r->frame_open = 0;
	}
	return 0;
}

/* Read up to n logical bytes into dst; returns bytes read or < 0. */
static int64_t
src_read(struct mm_reader *r, void *dst, size_t n)
{
	size_t got = 0, k;
	int rc;

	while (got < n) {
		if (!r->zmode) {
			if (r->pos == r->len) {
				if ((rc = raw_fill(r, 1)) < 0)
					return rc;
				if (r->pos == r->len)
					break;
			}
			k = r->len - r->pos;
			if (k > n - got)
				k = n - got;
			memcpy((char *)dst + got, r->buf + r->pos, k);
			r->pos += k;
			got += k;
			continue;
		}
		/* zstd: at a frame boundary the next bytes may be another
		 * frame or plain records (`cat a.mts b.mts.zst`). */
		if (!r->frame_open) {
			if ((rc = raw_fill(r, 4)) < 0)
				return rc;
			if (r->pos == r->len)
				break;
			if (r->len - r->pos < 4 || !is_zstd_magic(r->buf + r->pos)) {
				r->zmode = 0;
				continue;
			}
			r->frame_open = 1;
		}
		{
			ZSTD_inBuffer in;
			ZSTD_outBuffer out = { (char *)dst + got, n - got, 0 };
			size_t ret;

			if (r->pos == r->len && (rc = raw_fill(r, 1)) < 0)
				return rc;
			in.src = r->buf + r->pos;
			in.size = r->len - r->pos;
			in.pos = 0;
			ret = ZSTD_decompressStream(r->zd, &out, &in);
			if (ZSTD_isError(ret))
				return mm_err(MM_EZSTD, "zstd: %s",
				    ZSTD_getErrorName(ret));
			r->pos += in.pos;
			got += out.pos;
			if (ret == 0) {
				r->frame_open = 0;
			} else if (in.pos == 0 && out.pos == 0 && r->eof &&
			    r->pos == r->len) {
				return mm_err(MM_ETRUNC, "truncated stream: input "
				    "ended inside a zstd frame: did the producer "
				    "die?");
			}
		}
	}
	r->off += got;
	return (int64_t)got;
}

static int
src_exact(struct mm_reader *r, void *dst, size_t n, const char *what,
    const char *name)
{
	int64_t k = src_read(r, dst, n);

	if (k < 0)
		return (int)k;
	if ((size_t)k < n)
		return mm_err(MM_ETRUNC, "truncated stream: input ended inside "
		    "%s of record '%s': did the producer die?", what, name);
	return 0;
}

static int
skip_pad(struct mm_reader *r, size_t n, const char *name)
{
	unsigned char z[64];
	size_t i;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = src_exact(r, z, n, "padding", name)) < 0)
		return rc;
	for (i = 0; i < n; i++)
		if (z[i])
			return mm_err(MM_EFORMAT, "record '%s': non-zero padding "
			    "byte", name);
	return 0;
}

/* Read the body, growing the buffer as bytes arrive. */
static int
read_body(struct mm_reader *r, struct mm_record *rec)
{
	uint64_t have = 0, want = rec->body_len, step;
	unsigned char *nb;
	int64_t k;

	while (have < want) {
		step = want - have;
		if (rec->cap < want) {
			uint64_t ncap = rec->cap < 65536 ? 65536 : rec->cap * 2;
			if (ncap > want)
				ncap = want;
			if ((nb = realloc(rec->body, ncap)) == NULL)
				return mm_err(MM_ENOMEM, "out of memory for a "
				    "%llu-byte record", (unsigned long long)want);
			rec->body = nb;
			rec->cap = ncap;
		}
		if (step > rec->cap - have)
			step = rec->cap - have;
		k = src_read(r, rec->body + have, step);
		if (k < 0)
			return (int)k;
		have += (uint64_t)k;
		if ((uint64_t)k < step)
			return mm_err(MM_ETRUNC, "truncated stream: input ended "
			    "inside the body of record '%s' (%llu of %llu "
			    "bytes): did the producer die?", rec->name,
			    (unsigned long long)have, (unsigned long long)want);
	}
	if (rec->cap == 0) {
		/* give empty bodies a valid pointer */
		if ((rec->body = malloc(64)) == NULL)
			return mm_err(MM_ENOMEM, "out of memory");
		rec->cap = 64;
	}
	return 0;
}

static const char *
guess_format(const unsigned char *h)
{
	if (memcmp(h, "\x93NUMPY", 4) == 0)
		return ": a .npy file?";
	if (memcmp(h, "PK\x03\x04", 4) == 0)
		return ": a zip or .npz file?";
	if (memcmp(h, "\x89HDF", 4) == 0)
		return ": an HDF5 file?";
	if (memcmp(h, "\x89PNG", 4) == 0)
		return ": a PNG image?";
	return ": not an mmib stream?";
}

int
mm_reader_next(struct mm_reader *r, struct mm_record *rec)
{
	unsigned char h[HDR];
	uint32_t namelen;
	uint64_t namepad;
	int64_t k;
	int rc, kind;

	if (!r->zmode && (rc = sniff(r)) < 0)
		return rc;
	rec->offset = r->off;
	k = src_read(r, h, HDR);
	if (k < 0)
		return (int)k;
	if (k == 0) {
		if (r->in_segment)
			return mm_err(MM_ETRUNC, "truncated stream: input ended "
			    "before the end record: did the producer die?");
		if (r->records == 0)
			return mm_err(MM_EEMPTY, "empty input: no mmib stream");
		return 0;
	}
	if (k < 4 || memcmp(h, magic, 4) != 0) {
		if (k >= 4)
			return mm_err(MM_EMAGIC, "bad magic %02X %02X %02X %02X "
			    "at byte %llu (expected 89 4D 54 52)%s", h[0], h[1],
			    h[2], h[3], (unsigned long long)rec->offset,
			    guess_format(h));
		if (memcmp(h, magic, (size_t)k) != 0)
			return mm_err(MM_EMAGIC, "not an mmib stream: %d bytes "
			    "at byte %llu, too short for a record", (int)k,
			    (unsigned long long)rec->offset);
		return mm_err(MM_ETRUNC, "truncated stream: input ended inside "
		    "a record header: did the producer die?");
	}
	if (k < HDR)
		return mm_err(MM_ETRUNC, "truncated stream: input ended inside "
		    "a record header: did the producer die?");
	if (h[4] != MM_STREAM_VERSION)
		return mm_err(MM_EVERSION, "stream format version %d (this "
		    "reader supports %d)", h[4], MM_STREAM_VERSION);
	namelen = mm_le16(h + 6);
	if (namelen > MM_MAXNAME)
		return mm_err(MM_EHCRC, "corrupt record header at byte %llu "
		    "(name length %u)", (unsigned long long)rec->offset, namelen);
	if ((rc = src_exact(r, rec->name, namelen, "the header", "?")) < 0)
		return rc;
	rec->name[namelen] = '\0';
	if (CRC_BAD(mm_le32(h + 20), hcrc(h, rec->name, namelen)))
		return mm_err(MM_EHCRC, "header CRC mismatch at byte %llu: "
		    "corrupt stream", (unsigned long long)rec->offset);
	if (mm_le16(h + 30) != 0)
		return mm_err(MM_EFORMAT, "record '%s': reserved header bytes "
		    "are not zero", rec->name);
	if (memchr(rec->name, '\0', namelen))
		return mm_err(MM_EFORMAT, "record name contains a NUL byte");
	kind = h[5];
	rec->kind = kind;
	rec->body_len = mm_le64(h + 8);
	rec->batch = mm_le32(h + 24);
	rec->field = mm_le16(h + 28);
	rec->dtype = MM_DT_NONE;
	rec->ndim = 0;
	rec->data = NULL;
	rec->size = rec->count = 0;
	if (!(kind == 'S' || kind == 'T' || kind == 'E' ||
	    (kind >= 'a' && kind <= 'z')))
		return mm_err(MM_EKIND, "record '%s': unknown critical record "
		    "kind '%c' (0x%02X): written by a newer mmib?", rec->name,
		    kind >= 0x20 && kind < 0x7f ? kind : '?', kind);
	if (rec->body_len > MM_MAXBODY)
		return mm_err(MM_ESIZE, "record '%s': body of %llu bytes exceeds "
		    "the %llu-byte limit", rec->name,
		    (unsigned long long)rec->body_len,
		    (unsigned long long)MM_MAXBODY);
	if (kind == 'E' && rec->body_len != 16)
		return mm_err(MM_ESIZE, "end record of %llu bytes (expected 16)",
		    (unsigned long long)rec->body_len);
	namepad = PAD(HDR + namelen) - HDR - namelen;
	if ((rc = skip_pad(r, namepad, rec->name)) < 0)
		return rc;
	if ((rc = read_body(r, rec)) < 0)
		return rc;
	if ((rc = skip_pad(r, PAD(rec->body_len) - rec->body_len,
	    rec->name)) < 0)
		return rc;
	if (CRC_BAD(mm_le32(h + 16), (uint32_t)crc(0, rec->body, rec->body_len)))
		return mm_err(MM_EBCRC, "body CRC mismatch in record '%s' "
		    "(batch %u) at byte %llu: corrupt stream", rec->name,
		    rec->batch, (unsigned long long)rec->offset);

	if (!r->in_segment) {
		r->in_segment = 1;
		r->segments++;
		r->seg_records = r->seg_bytes = 0;
		mm_meta_clear(&r->meta);
	}
	r->records++;
	if (kind == 'E') {
		uint64_t nrec = mm_le64(rec->body), nbytes = mm_le64(rec->body + 8);
		if (nrec != r->seg_records || nbytes != r->seg_bytes)
			return mm_err(MM_EEND, "end record says %llu records / "
			    "%llu body bytes but the segment has %llu / %llu: "
			    "records lost or duplicated", (unsigned long long)nrec,
			    (unsigned long long)nbytes,
			    (unsigned long long)r->seg_records,
			    (unsigned long long)r->seg_bytes);
		r->in_segment = 0;
		return 1;
	}
	r->seg_records++;
	r->seg_bytes += rec->body_len;
	if (kind == 'T') {
		uint64_t hl;
		if ((rc = mm_npy_parse(rec->body, rec->body_len, &rec->dtype,
		    &rec->ndim, rec->shape, &hl)) < 0)
			return mm_err(rc, "tensor '%s': %s", rec->name,
			    mm_errmsg());
		rec->data = rec->body + hl;
		rec->size = rec->body_len - hl;
		rec->count = rec->size / mm_dtype_size(rec->dtype);
	} else if (kind == 'S') {
		if ((rc = mm_meta_parse(&r->meta, (const char *)rec->body,
		    rec->body_len)) < 0)
			return rc;
		rec->data = rec->body;
		rec->size = rec->body_len;
	} else {
		rec->data = rec->body;
		rec->size = rec->body_len;
	}
	return 1;
}

/* ----------------------------------------------------------------- batch */

void
mm_batch_init(struct mm_batch *b)
{
	memset(b, 0, sizeof *b);
}

void
mm_batch_free(struct mm_batch *b)
{
	int i;

	for (i = 0; i < b->cap; i++)
		mm_record_free(&b->rec[i]);
	for (i = 0; i < b->sidecap; i++)
		mm_record_free(&b->side[i]);
	free(b->rec);
	free(b->side);
	mm_batch_init(b);
}

/* Move *src into slot i of an array (growing it), leaving src with the
 * slot's old buffers so nothing is freed or copied. */
static int
take(struct mm_record **arr, int *cap, int i, struct mm_record *src)
{
	struct mm_record t;

	if (i == *cap) {
		int nc = *cap ? 2 * *cap : 8, j;
		struct mm_record *na = realloc(*arr, nc * sizeof *na);
		if (!na)
			return mm_err(MM_ENOMEM, "out of memory");
		for (j = *cap; j < nc; j++)
			mm_record_init(&na[j]);
		*arr = na;
		*cap = nc;
	}
	t = (*arr)[i];
	(*arr)[i] = *src;
	*src = t;
	return 0;
}

int
mm_reader_batch(struct mm_reader *r, struct mm_batch *b)
{
	struct mm_record *p = &r->pending;
	int rc, segs = r->segments, i;

	b->n = 0;
	b->nside = 0;
	b->rows = 0;
	b->new_segment = 0;
	for (;;) {
		if (!r->have_pending) {
			rc = mm_reader_next(r, p);
			if (rc < 0)
				return rc;
			if (rc == 0)
				break;
			r->have_pending = 1;
		}
		if (p->kind == 'T') {
			if (b->n > 0 && p->batch != b->index)
				break;
			if (b->n == 0)
				b->index = p->batch;
			if ((rc = take(&b->rec, &b->cap, b->n, p)) < 0)
				return rc;
			b->n++;
		} else if (p->kind == 'E') {
			r->have_pending = 0;
			if (b->n > 0)
				break;
			continue;
		} else {
			/* metadata opens a new segment and so ends the batch;
			 * an ancillary record between its tensors (valid by
			 * the spec) joins the batch's side records */
			if (b->n > 0 && p->kind == 'S')
				break;
			if ((rc = take(&b->side, &b->sidecap, b->nside, p)) < 0)
				return rc;
			b->nside++;
		}
		r->have_pending = 0;
	}
	b->new_segment = r->segments != segs;
	if (b->n == 0)
		return 0;
	b->rows = mm_record_rows(&b->rec[0]);
	for (i = 1; i < b->n; i++)
		if (mm_record_rows(&b->rec[i]) != b->rows)
			return mm_err(MM_ESIZE, "batch %u: tensor '%s' has %lld "
			    "rows but '%s' has %lld", b->index, b->rec[i].name,
			    (long long)mm_record_rows(&b->rec[i]), b->rec[0].name,
			    (long long)b->rows);
	return 1;
}

struct mm_record *
mm_batch_get(struct mm_batch *b, const char *name)
{
	int i;

	for (i = 0; i < b->n; i++)
		if (strcmp(b->rec[i].name, name) == 0)
			return &b->rec[i];
	return NULL;
}

/* ---------------------------------------------------------------- writer */

struct mm_writer {
	FILE *f;
	int level;
	ZSTD_CCtx *cz;
	unsigned char *zbuf;
	size_t zcap;
	int frame_open;
	int err;
	uint64_t seg_records, seg_bytes;
	int have_batch;
	uint32_t batch;
	uint16_t field;
};

struct mm_writer *
mm_writer_open(FILE *f, int zstd_level)
{
	struct mm_writer *w;

	if (!little_endian()) {
		mm_err(MM_EUNSUP, "mmib streams need a little-endian host");
		return NULL;
	}
	if ((w = calloc(1, sizeof *w)) == NULL) {
		mm_err(MM_ENOMEM, "out of memory");
		return NULL;
	}
	w->f = f;
	w->level = zstd_level;
	if (zstd_level > 0) {
		w->zcap = ZSTD_CStreamOutSize();
		w->cz = ZSTD_createCCtx();
		w->zbuf = malloc(w->zcap);
		if (!w->cz || !w->zbuf) {
			ZSTD_freeCCtx(w->cz);
			free(w->zbuf);
			free(w);
			mm_err(MM_ENOMEM, "out of memory");
			return NULL;
		}
		ZSTD_CCtx_setParameter(w->cz, ZSTD_c_compressionLevel,
		    zstd_level);
		ZSTD_CCtx_setParameter(w->cz, ZSTD_c_checksumFlag, 1);
	}
	return w;
}

static int
zpump(struct mm_writer *w, const void *p, size_t n, ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { p, n, 0 };
	size_t ret;

	do {
		ZSTD_outBuffer out = { w->zbuf, w->zcap, 0 };
		ret = ZSTD_compressStream2(w->cz, &out, &in, mode);
		if (ZSTD_isError(ret))
			return mm_err(MM_EZSTD, "zstd: %s",
			    ZSTD_getErrorName(ret));
		if (out.pos && fwrite(w->zbuf, 1, out.pos, w->f) != out.pos)
			return mm_err(MM_EIO, "write error");
	} while (mode == ZSTD_e_end ? ret != 0 : in.pos < in.size);
	return 0;
}

static int
put(struct mm_writer *w, const void *p, uint64_t n)
{
	const char *c = p;

	while (n > 0) {
		size_t k = n > (1u << 30) ? (1u << 30) : (size_t)n;
		if (w->level > 0) {
			w->frame_open = 1;
			if (zpump(w, c, k, ZSTD_e_continue) < 0)
				return MM_EZSTD;
		} else if (fwrite(c, 1, k, w->f) != k)
			return mm_err(MM_EIO, "write error");
		c += k;
		n -= k;
	}
	return 0;
}

static int
end_frame(struct mm_writer *w)
{
	int rc = 0;

	if (w->level > 0 && w->frame_open) {
		rc = zpump(w, NULL, 0, ZSTD_e_end);
		w->frame_open = 0;
	}
	return rc;
}

/* Write one record whose body is the concatenation of parts a and b. */
static int
write_rec(struct mm_writer *w, int kind, const char *name, uint32_t batch,
    uint16_t field, const void *a, uint64_t na, const void *b, uint64_t nb)
{
	static const unsigned char zero[64];
	unsigned char h[HDR];
	size_t namelen = strlen(name);
	uint64_t blen = na + nb;
	int rc;

	if (w->err)
		return w->err;
	if (namelen > MM_MAXNAME)
		return mm_err(MM_EINVAL, "record name longer than %d bytes",
		    MM_MAXNAME);
	memcpy(h, magic, 4);
	h[4] = MM_STREAM_VERSION;
	h[5] = (unsigned char)kind;
	mm_put_le16(h + 6, (uint16_t)namelen);
	mm_put_le64(h + 8, blen);
	mm_put_le32(h + 16, (uint32_t)crc(crc(0, a, na), b, nb));
	mm_put_le32(h + 24, batch);
	mm_put_le16(h + 28, field);
	mm_put_le16(h + 30, 0);
	mm_put_le32(h + 20, hcrc(h, name, namelen));
	if ((rc = put(w, h, HDR)) < 0 || (rc = put(w, name, namelen)) < 0 ||
	    (rc = put(w, zero, PAD(HDR + namelen) - HDR - namelen)) < 0 ||
	    (rc = put(w, a, na)) < 0 || (rc = put(w, b, nb)) < 0 ||
	    (rc = put(w, zero, PAD(blen) - blen)) < 0) {
		w->err = rc;
		return rc;
	}
	if (kind != 'E') {
		w->seg_records++;
		w->seg_bytes += blen;
	}
	return 0;
}

int
mm_writer_meta(struct mm_writer *w, const struct mm_meta *m)
{
	char *text;
	size_t len;
	int rc;

	if ((rc = mm_meta_format(m, &text, &len)) < 0)
		return rc;
	rc = write_rec(w, 'S', "meta", 0, 0, text, len, NULL, 0);
	free(text);
	return rc;
}

int
mm_writer_tensor(struct mm_writer *w, const char *name, uint32_t batch,
    enum mm_dtype t, int ndim, const int64_t *shape, const void *data)
{
	char hdr[512];
	uint64_t count = 1;
	int hl, i, rc;

	if (mm_dtype_size(t) == 0)
		return mm_err(MM_EDTYPE, "tensor '%s': unsupported dtype", name);
	if (ndim < 0 || ndim > MM_MAXDIM)
		return mm_err(MM_ESIZE, "tensor '%s': %d dimensions", name, ndim);
	for (i = 0; i < ndim; i++) {
		if (shape[i] < 0 || (shape[i] && count > (UINT64_MAX >> 4) /
		    (uint64_t)shape[i]))
			return mm_err(MM_ESIZE, "tensor '%s': bad shape", name);
		count *= (uint64_t)shape[i];
	}
	if ((hl = mm_npy_header(hdr, sizeof hdr, t, ndim, shape)) < 0)
		return hl;
	if (!w->have_batch || batch != w->batch) {
		/* a new batch starts a new zstd frame */
		if (w->have_batch && (rc = end_frame(w)) < 0)
			return w->err = rc;
		w->have_batch = 1;
		w->batch = batch;
		w->field = 0;
	}
	return write_rec(w, 'T', name, batch, w->field++, hdr, (uint64_t)hl,
	    data, count * mm_dtype_size(t));
}

int
mm_writer_record(struct mm_writer *w, const struct mm_record *rec)
{
	int rc;

	if (rec->kind == 'E')
		return mm_err(MM_EINVAL, "end records are written by "
		    "mm_writer_end");
	if (rec->kind == 'T' && (!w->have_batch || rec->batch != w->batch)) {
		if (w->have_batch && (rc = end_frame(w)) < 0)
			return w->err = rc;
		w->have_batch = 1;
		w->batch = rec->batch;
		w->field = 0;
	}
	if (rec->kind == 'T')
		w->field++;
	return write_rec(w, rec->kind, rec->name, rec->batch, rec->field,
	    rec->body, rec->body_len, NULL, 0);
}

int
mm_writer_end(struct mm_writer *w)
{
	unsigned char body[16];
	int rc;

	mm_put_le64(body, w->seg_records);
	mm_put_le64(body + 8, w->seg_bytes);
	if ((rc = write_rec(w, 'E', "", 0, 0, body, 16, NULL, 0)) < 0)
		return rc;
	if ((rc = end_frame(w)) < 0)
		return w->err = rc;
	w->seg_records = w->seg_bytes = 0;
	w->have_batch = 0;
	if (fflush(w->f) != 0)
		return w->err = mm_err(MM_EIO, "write error");
	return 0;
}

int
mm_writer_close(struct mm_writer *w)
{
	int rc;

	if (!w)
		return 0;
	rc = w->err;
	ZSTD_freeCCtx(w->cz);
	free(w->zbuf);
	free(w);
	return rc;
}
