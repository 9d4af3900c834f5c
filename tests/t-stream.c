/*
 * t-stream.c - the tensor stream: npy headers, round trips of every dtype
 * and odd shapes, batches, concatenation, zstd, ancillary pass-through, and
 * every reader error provoked on purpose (truncation at every offset, every
 * byte flipped, lying sizes).
 *
 * With "--write-sample FILE [zstd-level]" it only writes a small sample
 * stream (used by the shell tests).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "err.h"
#include "meta.h"
#include "stream.h"
#include "tap.h"

/* Write a small paired-looking stream: S, 3 batches of images/classes/
 * pair, E.  Returns the FILE rewound. */
static void
write_sample(FILE *f, int level, int with_ancillary)
{
	struct mm_writer *w = mm_writer_open(f, level);
	struct mm_meta m;
	unsigned char img[5 * 1 * 4 * 4];
	int32_t cls[5 * 2];
	float pair[5 * 3];
	int b, i;

	mm_meta_init(&m);
	mm_meta_set(&m, "dataset", "toy");
	mm_meta_set(&m, "factors", "a,b");
	mm_meta_set(&m, "cardinalities", "3,4");
	mm_meta_set(&m, "essence", "a");
	mm_writer_meta(w, &m);
	if (with_ancillary) {
		struct mm_record x;
		mm_record_init(&x);
		x.kind = 'x';
		strcpy(x.name, "note");
		x.body = (unsigned char *)"hello";
		x.body_len = 5;
		mm_writer_record(w, &x);
	}
	for (b = 0; b < 3; b++) {
		int64_t n = b == 2 ? 2 : 5;
		int64_t si[4] = { n, 1, 4, 4 }, sc[2] = { n, 2 }, sp[2] = { n, 3 };
		for (i = 0; i < (int)sizeof img; i++)
			img[i] = (unsigned char)(i * 7 + b);
		for (i = 0; i < 10; i++)
			cls[i] = i % 3 + b;
		for (i = 0; i < 15; i++)
			pair[i] = (float)(i % 3 == 0) + 0.5f * b;
		mm_writer_tensor(w, "images", b, MM_U8, 4, si, img);
		mm_writer_tensor(w, "classes", b, MM_I32, 2, sc, cls);
		mm_writer_tensor(w, "pair", b, MM_F32, 2, sp, pair);
	}
	mm_writer_end(w);
	mm_writer_close(w);
	mm_meta_free(&m);
}

static unsigned char *
slurp(FILE *f, size_t *len)
{
	long n;
	unsigned char *buf;

	fflush(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n ? n : 1);
	if (fread(buf, 1, n, f) != (size_t)n)
		abort();
	*len = n;
	return buf;
}

/* Read every record of buf; return the first error code, or the number
 * of records read. */
static int
read_all(const unsigned char *buf, size_t len)
{
	FILE *f = fmemopen((void *)buf, len ? len : 1, "rb");
	struct mm_reader *r;
	struct mm_record rec;
	int rc, n = 0;

	if (len == 0) {
		fclose(f);
		f = fopen("/dev/null", "rb");
	}
	r = mm_reader_open(f, "buf");
	mm_record_init(&rec);
	while ((rc = mm_reader_next(r, &rec)) > 0)
		n++;
	mm_record_free(&rec);
	mm_reader_close(r);
	fclose(f);
	return rc < 0 ? rc : n;
}

/* A raw record with correct CRCs, for crafting malformed streams. */
static size_t
craft(unsigned char *out, int kind, const char *name, const void *body,
    uint64_t blen, uint32_t batch, int version)
{
	size_t nl = strlen(name), o = 0, i;
	unsigned char *h = out;
	uint32_t c;

	memset(out, 0, 32);
	memcpy(h, "\x89MTR", 4);
	h[4] = (unsigned char)version;
	h[5] = (unsigned char)kind;
	h[6] = nl & 0xff;
	h[7] = nl >> 8;
	for (i = 0; i < 8; i++)
		h[8 + i] = (unsigned char)(blen >> (8 * i));
	c = crc32(0, body, body ? (uInt)blen : 0);
	for (i = 0; i < 4; i++)
		h[16 + i] = (unsigned char)(c >> (8 * i));
	for (i = 0; i < 4; i++)
		h[24 + i] = (unsigned char)(batch >> (8 * i));
	memcpy(h + 32, name, nl);
	c = crc32(crc32(crc32(0, h, 20), h + 24, 8),
	    (const unsigned char *)name, (uInt)nl);
	for (i = 0; i < 4; i++)
		h[20 + i] = (unsigned char)(c >> (8 * i));
	o = (32 + nl + 63) & ~(size_t)63;
	memset(out + 32 + nl, 0, o - 32 - nl);
	if (body) {
		memcpy(out + o, body, blen);
		o += blen;
		while (o % 64)
			out[o++] = 0;
	}
	return o;
}

static size_t
craft_end(unsigned char *out, uint64_t nrec, uint64_t nbytes)
{
	unsigned char b[16];
	int i;

	for (i = 0; i < 8; i++) {
		b[i] = (unsigned char)(nrec >> (8 * i));
		b[8 + i] = (unsigned char)(nbytes >> (8 * i));
	}
	return craft(out, 'E', "", b, 16, 0, 1);
}

/* strstr past the NUL bytes of an npy preamble. */
static char *
find(void *buf, size_t n, const char *pat)
{
	size_t k = strlen(pat), i;

	for (i = 0; i + k <= n; i++)
		if (memcmp((char *)buf + i, pat, k) == 0)
			return (char *)buf + i;
	return NULL;
}

static void
test_npy(void)
{
	char hdr[512];
	enum mm_dtype t;
	int64_t shape[MM_MAXDIM], s3[3] = { 7, 0, 5 };
	unsigned char body[1024];
	uint64_t hl;
	int nd, n;

	n = mm_npy_header(hdr, sizeof hdr, MM_F32, 3, s3);
	ok(n > 0 && n % 64 == 0, "npy header length %d is a multiple of 64", n);
	memcpy(body, hdr, n);
	ok(mm_npy_parse(body, n, &t, &nd, shape, &hl) == 0 && t == MM_F32 &&
	    nd == 3 && shape[0] == 7 && shape[1] == 0 && shape[2] == 5 &&
	    hl == (uint64_t)n, "npy header (7, 0, 5) f32 parses back");
	n = mm_npy_header(hdr, sizeof hdr, MM_U8, 0, NULL);
	memcpy(body, hdr, n);
	body[n] = 42;
	ok(mm_npy_parse(body, n + 1, &t, &nd, shape, &hl) == 0 && nd == 0 &&
	    t == MM_U8, "0-d npy parses");
	ok(find(hdr, n, "'shape': ()") != NULL, "0-d shape written as ()");
	s3[0] = 3;
	n = mm_npy_header(hdr, sizeof hdr, MM_I32, 1, s3);
	ok(find(hdr, n, "'shape': (3,)") != NULL, "1-d shape written as (3,)");
	memcpy(body, hdr, n);
	is_int(mm_npy_parse(body, n + 11, &t, &nd, shape, &hl), MM_ESIZE,
	    "npy payload size mismatch is ESIZE");
	memcpy(body, hdr, n);
	memcpy(find(body, n, "<i4"), ">i4", 3);
	is_int(mm_npy_parse(body, n + 12, &t, &nd, shape, &hl), MM_EDTYPE,
	    "big-endian dtype is EDTYPE");
	memcpy(body, hdr, n);
	memcpy(find(body, n, "False"), "True ", 5);
	is_int(mm_npy_parse(body, n + 12, &t, &nd, shape, &hl), MM_EFORMAT,
	    "Fortran order is refused");
}

/* Round trip one tensor of each dtype and several odd shapes. */
static void
test_roundtrip(int level)
{
	static const enum mm_dtype types[] = { MM_U8, MM_I32, MM_F32, MM_I64,
	    MM_F64 };
	int64_t shapes[][3] = { { 0, 3, 0 }, { 1, 1, 1 }, { 3, 5, 2 },
	    { 200000, 1, 2 }, { 7, 1, 1 } };
	int nds[] = { 2, 3, 3, 3, 1 };
	size_t ti, si;

	for (ti = 0; ti < sizeof types / sizeof *types; ti++) {
		for (si = 0; si < sizeof nds / sizeof *nds; si++) {
			FILE *f = tmpfile();
			struct mm_writer *w = mm_writer_open(f, level);
			struct mm_reader *r;
			struct mm_record rec;
			size_t isz = mm_dtype_size(types[ti]), n = 1, i;
			unsigned char *data;
			int rc, good;

			for (i = 0; i < (size_t)nds[si]; i++)
				n *= shapes[si][i];
			data = malloc(n * isz + 1);
			for (i = 0; i < n * isz; i++)
				data[i] = (unsigned char)(i * 31 + ti);
			rc = mm_writer_tensor(w, "x", 0, types[ti], nds[si],
			    shapes[si], data);
			rc |= mm_writer_end(w);
			rc |= mm_writer_close(w);
			rewind(f);
			r = mm_reader_open(f, "tmp");
			mm_record_init(&rec);
			good = rc == 0 && mm_reader_next(r, &rec) == 1 &&
			    rec.kind == 'T' && rec.dtype == types[ti] &&
			    rec.ndim == nds[si] && rec.count == n &&
			    memcmp(rec.shape, shapes[si],
			    nds[si] * sizeof(int64_t)) == 0 &&
			    (n == 0 || memcmp(rec.data, data, n * isz) == 0) &&
			    mm_reader_next(r, &rec) == 1 && rec.kind == 'E' &&
			    mm_reader_next(r, &rec) == 0;
			ok(good, "round trip %s shape #%zu (%zu elements)%s",
			    mm_dtype_name(types[ti]), si, n,
			    level ? " through zstd" : "");
			mm_record_free(&rec);
			mm_reader_close(r);
			fclose(f);
			free(data);
		}
	}
}

static void
test_batches(int level)
{
	FILE *f = tmpfile();
	struct mm_reader *r;
	struct mm_batch b;
	struct mm_record *p;
	int64_t rows = 0;
	int n = 0, rc, good = 1, side = 0, segs = 0;

	write_sample(f, level, 1);
	write_sample(f, level, 0);  /* a second segment: cat a b */
	rewind(f);
	r = mm_reader_open(f, "tmp");
	mm_batch_init(&b);
	while ((rc = mm_reader_batch(r, &b)) > 0) {
		n++;
		rows += b.rows;
		side += b.nside;
		segs += b.new_segment;
		p = mm_batch_get(&b, "pair");
		good &= b.n == 3 && p && p->dtype == MM_F32 && p->shape[1] == 3 &&
		    mm_batch_get(&b, "images")->shape[0] == b.rows &&
		    mm_batch_get(&b, "nothing") == NULL &&
		    ((float *)p->data)[1] == 0.5f * (float)(b.index);
	}
	is_int(rc, 0, "batches read to a clean end%s", level ? " (zstd)" : "");
	is_int(n, 6, "6 batches in two concatenated segments");
	is_int(rows, 24, "24 rows in all");
	is_int(side, 3, "2 metadata + 1 ancillary side records delivered");
	is_int(segs, 2, "two segment starts flagged");
	ok(good, "every batch holds images, classes and pair with right rows");
	is_int(mm_reader_segments(r), 2, "two segments counted");
	is_str(mm_meta_get(mm_reader_meta(r), "dataset"), "toy",
	    "metadata of the segment available");
	mm_batch_free(&b);
	mm_reader_close(r);
	fclose(f);
}

/* Copying every record through a writer reproduces the stream byte for
 * byte, unknown ancillary records included. */
static void
test_passthrough(void)
{
	FILE *a = tmpfile(), *b = tmpfile();
	struct mm_reader *r;
	struct mm_writer *w;
	struct mm_record rec;
	unsigned char *ba, *bb;
	size_t la, lb;
	int rc, anc = 0;

	write_sample(a, 0, 1);
	rewind(a);
	r = mm_reader_open(a, "a");
	w = mm_writer_open(b, 0);
	mm_record_init(&rec);
	while ((rc = mm_reader_next(r, &rec)) > 0) {
		if (rec.kind == 'x')
			anc++;
		if (rec.kind != 'E')
			mm_writer_record(w, &rec);
	}
	mm_writer_end(w);
	is_int(mm_writer_close(w), 0, "pass-through writer closes cleanly");
	is_int(anc, 1, "the ancillary record is delivered by the reader");
	ba = slurp(a, &la);
	bb = slurp(b, &lb);
	ok(rc == 0 && la == lb && memcmp(ba, bb, la) == 0,
	    "copied stream is byte-identical (%zu bytes)", la);
	free(ba);
	free(bb);
	mm_record_free(&rec);
	mm_reader_close(r);
	fclose(a);
	fclose(b);
}

static void
test_corruption(void)
{
	FILE *f = tmpfile();
	unsigned char *buf, *z, *mix;
	size_t len, zlen, i, bad = 0, mlen;
	int rc;

	write_sample(f, 0, 1);
	buf = slurp(f, &len);
	fclose(f);
	is_int(read_all(buf, len), 12, "sample stream has 12 records");
	is_int(read_all(buf, 0), MM_EEMPTY, "empty input is EEMPTY");
	for (i = 1; i < len; i++)
		if ((rc = read_all(buf, i)) != MM_ETRUNC) {
			if (bad++ < 3)
				diag("prefix %zu: %d (%s)", i, rc, mm_errmsg());
		}
	is_int(bad, 0, "every one of %zu truncations is ETRUNC", len - 1);
	for (bad = 0, i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		if ((rc = read_all(buf, len)) >= 0) {
			if (bad++ < 3)
				diag("flip at %zu accepted", i);
		}
		buf[i] ^= 0x10;
	}
	is_int(bad, 0, "every one of %zu single-byte corruptions is refused",
	    len);
	/* specific codes */
	buf[0] = 'P';
	is_int(read_all(buf, len), MM_EMAGIC, "bad magic is EMAGIC");
	ok(strstr(mm_errmsg(), "expected 89 4D 54 52") != NULL,
	    "bad magic message says what was expected: %s", mm_errmsg());
	buf[0] = 0x89;
	buf[4] = 2;
	is_int(read_all(buf, len), MM_EVERSION, "version 2 is EVERSION");
	buf[4] = 1;
	buf[20] ^= 1;
	is_int(read_all(buf, len), MM_EHCRC, "header CRC flip is EHCRC");
	buf[20] ^= 1;
	buf[64 + 2] ^= 1;   /* inside the metadata body */
	rc = read_all(buf, len);
	ok(rc == MM_EBCRC, "body byte flip is EBCRC (%d: %s)", rc, mm_errmsg());
	buf[64 + 2] ^= 1;

	/* zstd: truncations are errors too */
	f = tmpfile();
	write_sample(f, 3, 1);
	z = slurp(f, &zlen);
	fclose(f);
	is_int(read_all(z, zlen), 12, "zstd sample has 12 records");
	ok(zlen < len, "zstd stream is smaller (%zu < %zu bytes)", zlen, len);
	for (bad = 0, i = 1; i < zlen; i++)
		if (read_all(z, i) >= 0)
			bad++;
	is_int(bad, 0, "every zstd truncation is an error");
	/* mixed plain + zstd concatenation */
	mix = malloc(len + zlen + len);
	memcpy(mix, buf, len);
	memcpy(mix + len, z, zlen);
	memcpy(mix + len + zlen, buf, len);
	mlen = len + zlen + len;
	is_int(read_all(mix, mlen), 36, "plain + zstd + plain concatenation reads");
	free(mix);
	free(z);
	free(buf);

	{
		unsigned char out[4096], body[256];
		char hdr[256];
		int64_t s2[2] = { 2, 3 };
		size_t o;
		int hl;

		o = craft(out, 'Q', "future", "abc", 3, 0, 1);
		o += craft_end(out + o, 1, 3);
		is_int(read_all(out, o), MM_EKIND, "unknown uppercase kind is EKIND");
		o = craft(out, 'q', "future", "abc", 3, 0, 1);
		o += craft_end(out + o, 1, 3);
		is_int(read_all(out, o), 2, "unknown lowercase kind is skipped");
		o = craft(out, 'q', "x", "abc", 3, 0, 1);
		o += craft_end(out + o, 2, 3);
		is_int(read_all(out, o), MM_EEND, "end record count mismatch is EEND");
		o = craft(out, 'T', "huge", NULL, UINT64_C(1) << 40, 0, 1);
		is_int(read_all(out, o), MM_ESIZE, "body length over the cap is ESIZE");
		o = craft(out, 'T', "liar", NULL, UINT64_C(1) << 32, 0, 1);
		memcpy(out + o, "abcd", 4);
		is_int(read_all(out, o + 4), MM_ETRUNC,
		    "body length longer than the input is ETRUNC, not an "
		    "allocation");
		hl = mm_npy_header(hdr, sizeof hdr, MM_F32, 2, s2);
		memcpy(body, hdr, hl);
		memset(body + hl, 0, 24);
		o = craft(out, 'T', "short", body, hl + 20, 0, 1);
		o += craft_end(out + o, 1, hl + 20);
		is_int(read_all(out, o), MM_ESIZE,
		    "shape needing more bytes than the body is ESIZE");
		memcpy(find(body, hl, "<f4"), "<f2", 3);
		o = craft(out, 'T', "half", body, hl + 12, 0, 1);
		o += craft_end(out + o, 1, hl + 12);
		is_int(read_all(out, o), MM_EDTYPE, "float16 is EDTYPE");
		o = craft(out, 'S', "meta", "k=v\n", 4, 0, 1);
		is_int(read_all(out, o), MM_ETRUNC,
		    "a segment without its end record is ETRUNC");
		ok(strstr(mm_errmsg(), "producer die") != NULL,
		    "truncation message asks whether the producer died");
	}
}

static void
test_batch_rows(void)
{
	FILE *f = tmpfile();
	struct mm_writer *w = mm_writer_open(f, 0);
	struct mm_reader *r;
	struct mm_batch b;
	float x[6] = { 0 };
	int64_t s1[2] = { 2, 3 }, s2[2] = { 3, 2 };

	mm_writer_tensor(w, "a", 0, MM_F32, 2, s1, x);
	mm_writer_tensor(w, "b", 0, MM_F32, 2, s2, x);
	mm_writer_end(w);
	mm_writer_close(w);
	rewind(f);
	r = mm_reader_open(f, "tmp");
	mm_batch_init(&b);
	is_int(mm_reader_batch(r, &b), MM_ESIZE,
	    "tensors of one batch with different rows are ESIZE");
	mm_batch_free(&b);
	mm_reader_close(r);
	fclose(f);
}

/* --strip-keys IN OUT KEY...: IN with KEYs removed from every 'S'
 * record, for tests of streams written by an older mmib. */
static int
strip_keys(const char *in, const char *out, char **keys, int nkeys)
{
	FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
	struct mm_reader *r;
	struct mm_writer *w;
	struct mm_record rec;
	int rc, i, j, bad = 0;

	if (!fi || !fo)
		return 1;
	r = mm_reader_open(fi, in);
	w = mm_writer_open(fo, 0);
	mm_record_init(&rec);
	while ((rc = mm_reader_next(r, &rec)) > 0) {
		if (rec.kind == 'S') {
			struct mm_meta m, keep;
			mm_meta_init(&m);
			mm_meta_init(&keep);
			bad |= mm_meta_parse(&m, (const char *)rec.body,
			    rec.body_len) < 0;
			for (i = 0; i < m.n; i++) {
				for (j = 0; j < nkeys; j++)
					if (!strcmp(m.key[i], keys[j]))
						break;
				if (j == nkeys)
					bad |= mm_meta_set(&keep, m.key[i],
					    m.val[i]) < 0;
			}
			bad |= mm_writer_meta(w, &keep) < 0;
			mm_meta_free(&m);
			mm_meta_free(&keep);
		} else if (rec.kind == 'E')
			bad |= mm_writer_end(w) < 0;
		else
			bad |= mm_writer_record(w, &rec) < 0;
	}
	mm_record_free(&rec);
	bad |= rc < 0 || mm_writer_close(w) < 0;
	mm_reader_close(r);
	fclose(fi);
	return bad || fclose(fo) != 0;
}

/* --scale-pair IN OUT F: IN with every 'pair' value times F. */
static int
scale_pair(const char *in, const char *out, double f)
{
	FILE *fi = fopen(in, "rb"), *fo = fopen(out, "wb");
	struct mm_reader *r;
	struct mm_writer *w;
	struct mm_record rec;
	int rc, bad = 0;
	uint64_t i;

	if (!fi || !fo)
		return 1;
	r = mm_reader_open(fi, in);
	w = mm_writer_open(fo, 0);
	mm_record_init(&rec);
	while ((rc = mm_reader_next(r, &rec)) > 0) {
		if (rec.kind == 'E') {
			bad |= mm_writer_end(w) < 0;
			continue;
		}
		if (rec.kind == 'T' && !strcmp(rec.name, "pair") &&
		    rec.dtype == MM_F32) {
			for (i = 0; i < rec.count; i++)
				((float *)rec.data)[i] = (float)(((float *)
				    rec.data)[i] * f);
			bad |= mm_writer_tensor(w, rec.name, rec.batch,
			    rec.dtype, rec.ndim, rec.shape, rec.data) < 0;
		} else
			bad |= mm_writer_record(w, &rec) < 0;
	}
	mm_record_free(&rec);
	bad |= rc < 0 || mm_writer_close(w) < 0;
	mm_reader_close(r);
	fclose(fi);
	return bad || fclose(fo) != 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "--scale-pair") == 0)
		return scale_pair(argv[2], argv[3], strtod(argv[4], NULL));
	if (argc >= 4 && strcmp(argv[1], "--strip-keys") == 0)
		return strip_keys(argv[2], argv[3], argv + 4, argc - 4);
	if (argc >= 3 && strcmp(argv[1], "--write-sample") == 0) {
		FILE *f = fopen(argv[2], "wb");
		if (!f)
			return 1;
		write_sample(f, argc > 3 ? atoi(argv[3]) : 0, 1);
		return fclose(f) != 0;
	}
	test_npy();
	test_roundtrip(0);
	test_roundtrip(3);
	test_batches(0);
	test_batches(3);
	test_passthrough();
	test_corruption();
	test_batch_rows();
	return done_testing();
}
