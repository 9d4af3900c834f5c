/*
 * zip.h - a read-only zip reader, enough for numpy's .npz files: the
 * central directory (with ZIP64 sizes and offsets), stored and deflated
 * members, read as streams so a member of many GiB is never in memory.
 */
#ifndef MM_ZIP_H
#define MM_ZIP_H

#include <stdint.h>
#include <stdio.h>

struct mm_zip_entry {
	char name[256];
	int method;             /* 0 stored, 8 deflate */
	uint32_t crc;
	uint64_t csize;         /* compressed bytes */
	uint64_t usize;         /* uncompressed bytes */
	uint64_t local;         /* offset of the local header */
};

struct mm_zip {
	FILE *f;
	char label[256];
	int n;
	struct mm_zip_entry *e;
};

/* Open path and read its central directory; MM_EFORMAT with a detail for
 * anything that is not a zip file we can read. */
int mm_zip_open(struct mm_zip *z, const char *path);
void mm_zip_close(struct mm_zip *z);
/* The entry called name, or NULL. */
const struct mm_zip_entry *mm_zip_find(const struct mm_zip *z,
    const char *name);

/* A member opened for reading, front to back. */
struct mm_zip_member;
int mm_zip_member_open(struct mm_zip *z, const struct mm_zip_entry *e,
    struct mm_zip_member **out);
/* Read exactly n bytes (MM_ETRUNC if the member or file ends first). */
int mm_zip_read(struct mm_zip_member *m, void *buf, uint64_t n);
/* Skip n bytes (a seek for stored members, inflate-and-drop otherwise). */
int mm_zip_skip(struct mm_zip_member *m, uint64_t n);
/* Seek to absolute uncompressed offset off (stored members only; a
 * deflated member can only go forward, through mm_zip_skip). */
int mm_zip_seek(struct mm_zip_member *m, uint64_t off);
int mm_zip_seekable(const struct mm_zip_member *m);
uint64_t mm_zip_tell(const struct mm_zip_member *m);
void mm_zip_member_close(struct mm_zip_member *m);

#endif
