/*
 * zip.c - read-only zip/ZIP64 reader over stdio with zlib's raw inflate.
 * Sizes and offsets come from the central directory (numpy writes ZIP64
 * extras in local headers and data descriptors we do not need).
 */
#define _FILE_OFFSET_BITS 64
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <zlib.h>

#include "err.h"
#include "le.h"
#include "zip.h"

#define CHUNK 65536

struct mm_zip_member {
	struct mm_zip *z;
	const struct mm_zip_entry *e;
	uint64_t data;          /* file offset of the member's data */
	uint64_t pos;           /* uncompressed bytes delivered */
	uint64_t cread;         /* compressed bytes consumed from the file */
	z_stream zs;
	int zinit;
	unsigned char *in;      /* CHUNK of compressed input */
	/* CRC-32 of the bytes delivered so far, while they have been read
	 * front to back without a gap (crcgap set by a seek elsewhere) */
	uLong crc;
	int crcgap;
};

static int
readat(struct mm_zip *z, uint64_t off, void *buf, size_t n)
{
	if (fseeko(z->f, (off_t)off, SEEK_SET) != 0)
		return mm_err(MM_EIO, "%s: seek: %s", z->label, strerror(errno));
	if (fread(buf, 1, n, z->f) != n) {
		if (ferror(z->f))
			return mm_err(MM_EIO, "%s: read: %s", z->label,
			    strerror(errno));
		return mm_err(MM_ETRUNC, "%s: zip file truncated (offset %llu)",
		    z->label, (unsigned long long)off);
	}
	return 0;
}

/* Find the end-of-central-directory record in the last 64 KiB + 22. */
static int
find_eocd(struct mm_zip *z, uint64_t fsize, uint64_t *eocd)
{
	uint64_t span = fsize < 65557 ? fsize : 65557, i;
	unsigned char *buf;
	int rc;

	if (fsize < 22)
		return mm_err(MM_EFORMAT, "%s: not a zip file (too short)",
		    z->label);
	if ((buf = malloc(span)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	if ((rc = readat(z, fsize - span, buf, span)) < 0) {
		free(buf);
		return rc;
	}
	for (i = span - 22 + 1; i-- > 0;)
		if (mm_le32(buf + i) == 0x06054b50) {
			*eocd = fsize - span + i;
			free(buf);
			return 0;
		}
	free(buf);
	return mm_err(MM_EFORMAT, "%s: not a zip file (no end of central "
	    "directory): truncated or not an .npz?", z->label);
}

int
mm_zip_open(struct mm_zip *z, const char *path)
{
	unsigned char b[64], *cd = NULL, *p;
	uint64_t fsize, eocd = 0, cdoff, cdsize, nent;
	int rc;
	uint64_t i;

	memset(z, 0, sizeof *z);
	snprintf(z->label, sizeof z->label, "%s", path);
	if ((z->f = fopen(path, "rb")) == NULL)
		return mm_err(MM_EIO, "%s: %s", path, strerror(errno));
	if (fseeko(z->f, 0, SEEK_END) != 0) {
		rc = mm_err(MM_EIO, "%s: cannot seek: %s", path, strerror(errno));
		goto fail;
	}
	fsize = (uint64_t)ftello(z->f);
	if ((rc = find_eocd(z, fsize, &eocd)) < 0)
		goto fail;
	if ((rc = readat(z, eocd, b, 22)) < 0)
		goto fail;
	nent = mm_le16(b + 10);
	cdsize = mm_le32(b + 12);
	cdoff = mm_le32(b + 16);
	if (nent == 0xffff || cdsize == 0xffffffff || cdoff == 0xffffffff) {
		/* ZIP64: locator just before the EOCD, then the record */
		uint64_t z64;
		if (eocd < 20 || (rc = readat(z, eocd - 20, b, 20)) < 0 ||
		    mm_le32(b) != 0x07064b50) {
			rc = mm_err(MM_EFORMAT, "%s: ZIP64 locator missing", path);
			goto fail;
		}
		z64 = mm_le64(b + 8);
		if ((rc = readat(z, z64, b, 56)) < 0)
			goto fail;
		if (mm_le32(b) != 0x06064b50) {
			rc = mm_err(MM_EFORMAT, "%s: bad ZIP64 end record", path);
			goto fail;
		}
		nent = mm_le64(b + 32);
		cdsize = mm_le64(b + 40);
		cdoff = mm_le64(b + 48);
	}
	if (cdoff + cdsize > fsize || nent > cdsize / 46 || cdsize > (1 << 26)) {
		rc = mm_err(MM_EFORMAT, "%s: central directory out of bounds "
		    "(truncated file?)", path);
		goto fail;
	}
	if ((cd = malloc(cdsize + 1)) == NULL ||
	    (z->e = calloc(nent ? nent : 1, sizeof *z->e)) == NULL) {
		rc = mm_err(MM_ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = readat(z, cdoff, cd, cdsize)) < 0)
		goto fail;
	for (i = 0, p = cd; i < nent; i++) {
		struct mm_zip_entry *e = &z->e[i];
		unsigned nl, xl, cl;
		const unsigned char *x, *xe;

		if (p + 46 > cd + cdsize || mm_le32(p) != 0x02014b50) {
			rc = mm_err(MM_EFORMAT, "%s: bad central directory "
			    "entry %llu", path, (unsigned long long)i);
			goto fail;
		}
		e->method = mm_le16(p + 10);
		e->crc = mm_le32(p + 16);
		e->csize = mm_le32(p + 20);
		e->usize = mm_le32(p + 24);
		nl = mm_le16(p + 28);
		xl = mm_le16(p + 30);
		cl = mm_le16(p + 32);
		e->local = mm_le32(p + 42);
		if (p + 46 + nl + xl + cl > cd + cdsize) {
			rc = mm_err(MM_EFORMAT, "%s: central directory entry "
			    "overruns", path);
			goto fail;
		}
		memcpy(e->name, p + 46, nl < 255 ? nl : 255);
		e->name[nl < 255 ? nl : 255] = '\0';
		/* ZIP64 extra: only the fields whose 32-bit slot is full */
		for (x = p + 46 + nl, xe = x + xl; x + 4 <= xe;) {
			unsigned id = mm_le16(x), sz = mm_le16(x + 2);
			const unsigned char *q = x + 4, *qe = x + 4 + sz;
			if (qe > xe)
				break;
			if (id == 0x0001) {
				if (e->usize == 0xffffffff && q + 8 <= qe)
					e->usize = mm_le64(q), q += 8;
				if (e->csize == 0xffffffff && q + 8 <= qe)
					e->csize = mm_le64(q), q += 8;
				if (e->local == 0xffffffff && q + 8 <= qe)
					e->local = mm_le64(q), q += 8;
			}
			x = qe;
		}
		if (e->method != 0 && e->method != 8) {
			rc = mm_err(MM_EUNSUP, "%s: member %s: compression "
			    "method %d (only stored and deflate)", path,
			    e->name, e->method);
			goto fail;
		}
		if (e->local + 30 > fsize || e->local + e->csize > fsize) {
			rc = mm_err(MM_ETRUNC, "%s: member %s lies beyond the "
			    "end of the file (truncated?)", path, e->name);
			goto fail;
		}
		p += 46 + nl + xl + cl;
	}
	z->n = (int)nent;
	free(cd);
	return 0;
fail:
	free(cd);
	mm_zip_close(z);
	return rc;
}

void
mm_zip_close(struct mm_zip *z)
{
	if (z->f)
		fclose(z->f);
	free(z->e);
	memset(z, 0, sizeof *z);
}

const struct mm_zip_entry *
mm_zip_find(const struct mm_zip *z, const char *name)
{
	int i;

	for (i = 0; i < z->n; i++)
		if (strcmp(z->e[i].name, name) == 0)
			return &z->e[i];
	return NULL;
}

int
mm_zip_member_open(struct mm_zip *z, const struct mm_zip_entry *e,
    struct mm_zip_member **out)
{
	struct mm_zip_member *m;
	unsigned char b[30];
	int rc;

	*out = NULL;
	if ((rc = readat(z, e->local, b, 30)) < 0)
		return rc;
	if (mm_le32(b) != 0x04034b50)
		return mm_err(MM_EFORMAT, "%s: member %s: bad local header",
		    z->label, e->name);
	if ((m = calloc(1, sizeof *m)) == NULL)
		return mm_err(MM_ENOMEM, "out of memory");
	m->z = z;
	m->e = e;
	m->data = e->local + 30 + mm_le16(b + 26) + mm_le16(b + 28);
	m->crc = crc32(0L, Z_NULL, 0);
	if (e->method == 8) {
		if ((m->in = malloc(CHUNK)) == NULL ||
		    inflateInit2(&m->zs, -15) != Z_OK) {
			free(m->in);
			free(m);
			return mm_err(MM_ENOMEM, "inflateInit failed");
		}
		m->zinit = 1;
	}
	if (fseeko(z->f, (off_t)m->data, SEEK_SET) != 0) {
		mm_zip_member_close(m);
		return mm_err(MM_EIO, "%s: seek: %s", z->label, strerror(errno));
	}
	*out = m;
	return 0;
}

/* Fold n delivered bytes into the member's CRC; when the whole member
 * has been delivered in order, compare with the central directory's. */
static int
crc_update(struct mm_zip_member *m, const void *buf, uint64_t n)
{
	const unsigned char *p = buf;

	if (m->crcgap)
		return 0;
	while (n > 0) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		m->crc = crc32(m->crc, p, k);
		p += k;
		n -= k;
	}
	if (m->pos == m->e->usize && m->crc != m->e->crc)
		return mm_err(MM_EBCRC, "%s: member %s: CRC-32 mismatch "
		    "(stored %08lx, data %08lx): corrupt file", m->z->label,
		    m->e->name, (unsigned long)m->e->crc,
		    (unsigned long)m->crc);
	return 0;
}

int
mm_zip_read(struct mm_zip_member *m, void *buf, uint64_t n)
{
	uint64_t n0 = n;

	struct mm_zip *z = m->z;

	if (n > m->e->usize - m->pos)
		return mm_err(MM_ETRUNC, "%s: member %s: read past its end "
		    "(%llu bytes)", z->label, m->e->name,
		    (unsigned long long)m->e->usize);
	if (m->e->method == 0) {
		if (fread(buf, 1, n, z->f) != n)
			return mm_err(ferror(z->f) ? MM_EIO : MM_ETRUNC,
			    "%s: member %s: file ends early (truncated?)",
			    z->label, m->e->name);
		m->pos += n;
		return crc_update(m, buf, n);
	}
	m->zs.next_out = buf;
	while (n > 0) {
		int zr;
		uInt step = n > (1u << 30) ? (1u << 30) : (uInt)n;

		m->zs.avail_out = step;
		while (m->zs.avail_out > 0) {
			if (m->zs.avail_in == 0) {
				uint64_t left = m->e->csize - m->cread;
				size_t want = left < CHUNK ? (size_t)left : CHUNK;
				size_t got;
				if (want == 0)
					return mm_err(MM_ETRUNC, "%s: member %s: "
					    "compressed data ends early",
					    z->label, m->e->name);
				got = fread(m->in, 1, want, z->f);
				if (got == 0)
					return mm_err(ferror(z->f) ? MM_EIO :
					    MM_ETRUNC, "%s: member %s: file "
					    "ends early (truncated?)", z->label,
					    m->e->name);
				m->cread += got;
				m->zs.next_in = m->in;
				m->zs.avail_in = (uInt)got;
			}
			zr = inflate(&m->zs, Z_NO_FLUSH);
			if (zr == Z_STREAM_END && m->zs.avail_out > 0)
				return mm_err(MM_ETRUNC, "%s: member %s: deflate "
				    "stream ends early", z->label, m->e->name);
			if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
				return mm_err(MM_EFORMAT, "%s: member %s: corrupt "
				    "deflate data (%s)", z->label, m->e->name,
				    m->zs.msg ? m->zs.msg : "inflate error");
		}
		n -= step;
		m->pos += step;
	}
	return crc_update(m, buf, n0);
}

int
mm_zip_skip(struct mm_zip_member *m, uint64_t n)
{
	unsigned char buf[CHUNK];
	int rc;

	if (m->e->method == 0)
		return mm_zip_seek(m, m->pos + n);
	while (n > 0) {
		uint64_t k = n < sizeof buf ? n : sizeof buf;
		if ((rc = mm_zip_read(m, buf, k)) < 0)
			return rc;
		n -= k;
	}
	return 0;
}

int
mm_zip_seek(struct mm_zip_member *m, uint64_t off)
{
	if (m->e->method != 0)
		return mm_err(MM_EUNSUP, "%s: member %s is deflated: no "
		    "random access", m->z->label, m->e->name);
	if (off > m->e->usize)
		return mm_err(MM_ETRUNC, "%s: member %s: seek past its end",
		    m->z->label, m->e->name);
	if (fseeko(m->z->f, (off_t)(m->data + off), SEEK_SET) != 0)
		return mm_err(MM_EIO, "%s: seek: %s", m->z->label,
		    strerror(errno));
	if (off != m->pos)
		m->crcgap = 1;  /* bytes skipped: the CRC cannot be checked */
	m->pos = off;
	return 0;
}

int
mm_zip_seekable(const struct mm_zip_member *m)
{
	return m->e->method == 0;
}

uint64_t
mm_zip_tell(const struct mm_zip_member *m)
{
	return m->pos;
}

void
mm_zip_member_close(struct mm_zip_member *m)
{
	if (!m)
		return;
	if (m->zinit)
		inflateEnd(&m->zs);
	free(m->in);
	free(m);
}
