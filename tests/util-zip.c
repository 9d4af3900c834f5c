/* util-zip.c - a tiny zip writer for the tests' npz fixtures (util-zip.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util-zip.h"

void
p16(unsigned char *p, unsigned v)
{
	p[0] = v & 255;
	p[1] = (v >> 8) & 255;
}

void
p32(unsigned char *p, uint32_t v)
{
	p16(p, v & 0xffff);
	p16(p + 2, v >> 16);
}

void
p64(unsigned char *p, uint64_t v)
{
	p32(p, (uint32_t)v);
	p32(p + 4, (uint32_t)(v >> 32));
}


int
write_zip(const char *path, const struct member *m, int n, int zip64)
{
	FILE *f = fopen(path, "wb");
	unsigned char h[128], *cd = calloc(n, 46 + 64 + 28);
	uint64_t off[8], csz[8];
	uint32_t crc[8];
	size_t cdl = 0;
	uint64_t cdoff;
	int i;

	if (!f || !cd)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char *buf = (unsigned char *)m[i].data;
		uLongf cl = compressBound(m[i].len);
		size_t nl = strlen(m[i].name);
		crc[i] = (uint32_t)crc32(0, m[i].data, (uInt)m[i].len);
		if (m[i].method == 8) {
			z_stream zs;
			memset(&zs, 0, sizeof zs);
			buf = malloc(cl);
			deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
			    Z_DEFAULT_STRATEGY);
			zs.next_in = (unsigned char *)m[i].data;
			zs.avail_in = (uInt)m[i].len;
			zs.next_out = buf;
			zs.avail_out = (uInt)cl;
			deflate(&zs, Z_FINISH);
			cl = zs.total_out;
			deflateEnd(&zs);
		} else
			cl = m[i].len;
		csz[i] = cl;
		off[i] = (uint64_t)ftell(f);
		memset(h, 0, 30);
		p32(h, 0x04034b50);
		p16(h + 4, 20);
		p16(h + 8, m[i].method);
		p32(h + 14, crc[i]);
		p32(h + 18, (uint32_t)cl);
		p32(h + 22, (uint32_t)m[i].len);
		p16(h + 26, nl);
		fwrite(h, 1, 30, f);
		fwrite(m[i].name, 1, nl, f);
		fwrite(buf, 1, cl, f);
		if (buf != m[i].data)
			free(buf);
	}
	cdoff = (uint64_t)ftell(f);
	for (i = 0; i < n; i++) {
		unsigned char *e = cd + cdl;
		size_t nl = strlen(m[i].name);
		memset(e, 0, 46);
		p32(e, 0x02014b50);
		p16(e + 4, 45);
		p16(e + 6, 45);
		p16(e + 10, m[i].method);
		p32(e + 16, crc[i]);
		p32(e + 20, zip64 ? 0xffffffff : (uint32_t)csz[i]);
		p32(e + 24, zip64 ? 0xffffffff : (uint32_t)m[i].len);
		p16(e + 28, nl);
		p16(e + 30, zip64 ? 28 : 0);
		p32(e + 42, zip64 ? 0xffffffff : (uint32_t)off[i]);
		memcpy(e + 46, m[i].name, nl);
		cdl += 46 + nl;
		if (zip64) {
			p16(cd + cdl, 1);
			p16(cd + cdl + 2, 24);
			p64(cd + cdl + 4, m[i].len);
			p64(cd + cdl + 12, csz[i]);
			p64(cd + cdl + 20, off[i]);
			cdl += 28;
		}
	}
	fwrite(cd, 1, cdl, f);
	if (zip64) {
		uint64_t z64 = (uint64_t)ftell(f);
		memset(h, 0, 76);
		p32(h, 0x06064b50);
		p64(h + 4, 44);
		p16(h + 12, 45);
		p16(h + 14, 45);
		p64(h + 24, n);
		p64(h + 32, n);
		p64(h + 40, cdl);
		p64(h + 48, cdoff);
		p32(h + 56, 0x07064b50);
		p64(h + 64, z64);
		p32(h + 72, 1);
		fwrite(h, 1, 76, f);
	}
	memset(h, 0, 22);
	p32(h, 0x06054b50);
	p16(h + 8, zip64 ? 0xffff : n);
	p16(h + 10, zip64 ? 0xffff : n);
	p32(h + 12, zip64 ? 0xffffffff : (uint32_t)cdl);
	p32(h + 16, zip64 ? 0xffffffff : (uint32_t)cdoff);
	fwrite(h, 1, 22, f);
	free(cd);
	return fclose(f);
}

