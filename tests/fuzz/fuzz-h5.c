/*
 * fuzz-h5.c - libFuzzer entry point for the HDF5 importer (lib/h5.c,
 * lib/src-h5.c): an input is written to a file and read twice, as
 * mmib-gen --from reads 3dshapes.h5 (its grid shrunk to 2 rows) and
 * through mm_h5_open/mm_h5_read directly, whatever the shape of its
 * 'images' dataset (every row, in batches, into a buffer sized from the
 * shape mm_h5_open reports).  Each input must end in a clean error or a
 * clean read, never a crash or a read beyond a buffer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gen.h"
#include "h5.h"

#include "fuzz-file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const int g_shapes3d[] = { 1, 1, 1, 1, 1, 2 };

	(void)argc;
	(void)argv;
	mm_gen_shrink("shapes3d", g_shapes3d);
	fuzz_path(path, sizeof path, "fuzz-h5");
	return 0;
}

/* mm_h5_open and every row, three at a time, when a row is small. */
static void
direct(void)
{
	struct mm_h5 *h;
	int64_t shape[8], rows[3], row = 1, n, i;
	int ndim, d;
	uint8_t *buf;

	if (mm_h5_open(path, "images", &h, shape, &ndim) < 0)
		return;
	for (d = 1; d < ndim && row <= 1 << 16; d++)
		row *= shape[d];
	n = shape[0] < 64 ? shape[0] : 64;
	if (row <= 1 << 16 && (buf = malloc((size_t)(3 * row)))) {
		for (i = 0; i < n; i += 3) {
			int64_t k = n - i < 3 ? n - i : 3, j;
			for (j = 0; j < k; j++)
				rows[j] = i + j;
			if (mm_h5_read(h, rows, k, buf) < 0)
				break;
		}
		/* the last row, alone */
		rows[0] = shape[0] - 1;
		mm_h5_read(h, rows, 1, buf);
		free(buf);
	}
	mm_h5_close(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t img[2 * 3 * 64 * 64];
	struct mm_source s;
	int64_t rows[2] = { 0, 1 };

	if (!path[0])
		LLVMFuzzerInitialize(NULL, NULL);
	if (fuzz_write(path, data, size) < 0)
		return 0;
	if (mm_source_file(&s, path, NULL) == 0) {
		mm_source_read(&s, rows, 2, img);
		mm_source_close(&s);
	}
	direct();
	unlink(path);
	return 0;
}
