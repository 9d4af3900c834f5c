/*
 * fuzz-npz.c - libFuzzer entry point for the npz importer (lib/zip.c,
 * the .npy header of lib/src-npz.c): an input is written to a file, opened
 * as mmib-gen --from opens it, and every image row read, front to back and
 * (stored members) once backwards; then every member of the zip is read to
 * its end, which checks its CRC-32.  Each input must end in a clean error
 * or a clean read, never a crash, a leak or an allocation out of
 * proportion.  The grids are shrunk to 2 rows so that small inputs can be
 * whole dSprites or MPI3D files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gen.h"
#include "zip.h"

#include "fuzz-file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const int g_dsprites[] = { 1, 1, 1, 1, 2 };
	static const int g_mpi3d[] = { 1, 1, 1, 1, 1, 1, 2 };

	(void)argc;
	(void)argv;
	mm_gen_shrink("dsprites", g_dsprites);
	mm_gen_shrink("mpi3d", g_mpi3d);
	fuzz_path(path, sizeof path, "fuzz-npz");
	return 0;
}

/* Every member of the zip read to its end (its CRC checked there). */
static void
members(void)
{
	struct mm_zip z;
	struct mm_zip_member *m;
	unsigned char buf[4096];
	int i;

	if (mm_zip_open(&z, path) < 0)
		return;
	for (i = 0; i < z.n; i++) {
		uint64_t left = z.e[i].usize;

		if (mm_zip_member_open(&z, &z.e[i], &m) < 0)
			continue;
		while (left > 0) {
			uint64_t n = left < sizeof buf ? left : sizeof buf;
			if (mm_zip_read(m, buf, n) < 0)
				break;
			left -= n;
		}
		mm_zip_member_close(m);
	}
	mm_zip_close(&z);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t img[2 * 3 * 64 * 64];
	struct mm_source s;
	int64_t r;

	if (!path[0])
		LLVMFuzzerInitialize(NULL, NULL);
	if (fuzz_write(path, data, size) < 0)
		return 0;
	if (mm_source_file(&s, path, NULL) == 0) {
		for (r = 0; r < s.ds->rows; r++)
			if (mm_source_read(&s, &r, 1, img) < 0)
				break;
		if (s.ds->rows > 0 && s.seekable) {
			r = 0;
			mm_source_read(&s, &r, 1, img);
		}
		mm_source_close(&s);
	}
	members();
	unlink(path);
	return 0;
}
