/*
 * driver.c - run a libFuzzer target without libFuzzer: each FILE operand
 * is read and given to LLVMFuzzerTestOneInput once, so that inputs that
 * once crashed a target (tests/fuzz/regress/) and the seed corpora run in
 * `make check` under the normal (or SANITIZE=1) build.  Exit 0 when every
 * input returned; a crash is the failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		long n;

		if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
		    fseek(f, 0, SEEK_SET) != 0 ||
		    !(buf = malloc(n ? (size_t)n : 1)) ||
		    fread(buf, 1, (size_t)n, f) != (size_t)n) {
			fprintf(stderr, "driver: %s: cannot read\n", argv[i]);
			return 2;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, (size_t)n);
		free(buf);
	}
	return 0;
}
