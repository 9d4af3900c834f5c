/*
 * util-zip.h - a tiny zip writer for the tests' npz fixtures: members
 * given as whole buffers; method 0 (stored) or 8 (deflated); zip64 puts
 * ZIP64 extras (and 0xffffffff sizes) in the central directory and a
 * ZIP64 end record, as numpy does for large arrays.
 */
#ifndef MM_UTIL_ZIP_H
#define MM_UTIL_ZIP_H

#include <stddef.h>
#include <stdint.h>

struct member {
	const char *name;
	const unsigned char *data;
	size_t len;
	int method;
};
/* Little-endian stores of 16, 32 and 64 bits. */
void p16(unsigned char *p, unsigned v);
void p32(unsigned char *p, uint32_t v);
void p64(unsigned char *p, uint64_t v);
/* Write the n members m to path; 0 or -1. */
int write_zip(const char *path, const struct member *m, int n, int zip64);

#endif
