/*
 * b-stream.c - stream write and read throughput, plain and zstd, on
 * dSprites-like batches (512 binary 64x64 images + classes + pair).
 * Usage: b-stream [batches]   (default 40: 20,480 rows, ~84 MB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rng.h"
#include "stream.h"

int
main(int argc, char **argv)
{
	int nb = argc > 1 ? atoi(argv[1]) : 40, level, b, i;
	const int N = 512;
	unsigned char *img = malloc((size_t)N * 4096);
	int *cls = malloc((size_t)N * 5 * sizeof *cls);
	float *pair = calloc((size_t)N * 107, sizeof *pair);
	struct mm_rng rng;

	mm_rng_seed(&rng, 1);
	/* a white blob on black per image, like a sprite */
	for (i = 0; i < N; i++) {
		int cx = 8 + (int)mm_rng_below(&rng, 48), cy = 8 + (int)mm_rng_below(&rng, 48), r = 3 + (int)mm_rng_below(&rng, 5), x, y;
		for (y = 0; y < 64; y++)
			for (x = 0; x < 64; x++)
				img[(size_t)i * 4096 + y * 64 + x] = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
		for (x = 0; x < 5; x++)
			cls[i * 5 + x] = (int)mm_rng_below(&rng, 3);
		pair[i * 107 + cls[i * 5]] = 1;
	}
	printf("codec\twrite_MB/s\tread_MB/s\tbytes\tratio\tbytes_per_record_overhead\n");
	for (level = 0; level <= 3; level += 3) {
		FILE *f = tmpfile();
		struct mm_writer *w = mm_writer_open(f, level);
		struct mm_reader *r;
		struct mm_batch bt;
		double t0, tw, tr, raw = (double)nb * N * (4096 + 20 + 107 * 4);
		long size;
		int64_t si[4] = { N, 1, 64, 64 }, sc[2] = { N, 5 }, sp[2] = { N, 107 };

		t0 = mm_now();
		for (b = 0; b < nb; b++) {
			mm_writer_tensor(w, "images", b, MM_U8, 4, si, img);
			mm_writer_tensor(w, "classes", b, MM_I32, 2, sc, cls);
			mm_writer_tensor(w, "pair", b, MM_F32, 2, sp, pair);
		}
		mm_writer_end(w);
		mm_writer_close(w);
		tw = mm_now() - t0;
		size = ftell(f);
		rewind(f);
		t0 = mm_now();
		r = mm_reader_open(f, "bench");
		mm_batch_init(&bt);
		while (mm_reader_batch(r, &bt) > 0)
			;
		tr = mm_now() - t0;
		mm_batch_free(&bt);
		mm_reader_close(r);
		fclose(f);
		printf("%s\t%.0f\t%.0f\t%ld\t%.3f\t%.0f\n", level ? "zstd-3" : "plain",
		    raw / tw / 1e6, raw / tr / 1e6, size, size / raw,
		    level ? 0.0 : (size - raw) / (3.0 * nb + 1));
	}
	free(img);
	free(cls);
	free(pair);
	return 0;
}
