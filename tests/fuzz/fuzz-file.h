/*
 * fuzz-file.h - for the fuzz targets whose importers read a named file
 * (fuzz-npz.c, fuzz-h5.c): a private path under $TMPDIR and the input
 * written there.
 */
#ifndef MM_FUZZ_FILE_H
#define MM_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* path (size bytes) = $TMPDIR/<name>.<pid>, /tmp without TMPDIR */
static void
fuzz_path(char *path, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(path, size, "%.40s/%s.%ld", tmp ? tmp : "/tmp", name,
	    (long)getpid());
}

/* The input as the file path: 0, or -1 when it cannot be written (the
 * input is then skipped). */
static int
fuzz_write(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	int rc;

	if (!f)
		return -1;
	rc = fwrite(data, 1, size, f) == size ? 0 : -1;
	fclose(f);
	return rc;
}

#endif
