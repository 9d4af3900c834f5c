/*
 * fuzz-stream.c - libFuzzer entry point for the stream reader: every input
 * must be read to a clean end or a clean error, never a crash, a leak or an
 * allocation out of proportion to the input.  Run with `make fuzz`.
 */
#include <stdint.h>
#include <stdio.h>

#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mm_reader *r;
	struct mm_batch b;
	FILE *f;
	int pass;

	if (size == 0)
		return 0;
	/* once record by record, once batch by batch */
	for (pass = 0; pass < 2; pass++) {
		if ((f = fmemopen((void *)data, size, "rb")) == NULL)
			return 0;
		r = mm_reader_open(f, "fuzz");
		if (pass == 0) {
			struct mm_record rec;
			mm_record_init(&rec);
			while (mm_reader_next(r, &rec) > 0)
				;
			mm_record_free(&rec);
		} else {
			mm_batch_init(&b);
			while (mm_reader_batch(r, &b) > 0)
				(void)mm_batch_get(&b, "images");
			mm_batch_free(&b);
		}
		mm_reader_close(r);
		fclose(f);
	}
	return 0;
}
