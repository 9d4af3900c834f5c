/*
 * fuzz-h5.c - libFuzzer entry point for the HDF5 importer (lib/h5.c,
 * lib/src-h5.c): an input is written to a file and read twice, as
 * mmib-gen --from reads 3dshapes.h5 (its grid shrunk to 2 rows) and
 * through mm_h5_open/mm_h5_read directly, whatever the shape of its
 * 'images' dataset (every row, in batches, into a buffer sized from the
 * shape mm_h5_open reports).  Each input must end in a clean error or a
 * clean read, never a crash or a read beyond a buffer.
 *
 * mmib runs libhdf5 in a child process (lib/isolate.c), so that libhdf5's
 * own crashes on a corrupt file's metadata end as one-line errors
 * (tests/fuzz/regress/h5/libhdf5-crash-*); a fuzzing build runs it in
 * process, where libFuzzer sees the coverage.  Such an input would stop
 * every fuzzing run within minutes, so under libFuzzer (MM_FUZZING) each
 * input is first opened by libhdf5 alone in a child kept for the run
 * (H5Fopen, the datasets' lookup and headers: no mmib code), and one
 * that kills it is skipped.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef MM_FUZZING
#include <fcntl.h>
#include <sys/socket.h>
#include <hdf5.h>
#endif

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

#ifdef MM_FUZZING
/* libhdf5 alone opening path's datasets (no mmib code), in the child
 * serving fd: one byte of answer an input. */
static void
vet_serve(int fd)
{
	static const char *names[] = { "images", "labels" };
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
	char ok = 1;
	hid_t f, d;
	int i, nul;

	/* die of the signal, quietly, not of the sanitiser */
	for (i = 0; i < (int)(sizeof sigs / sizeof *sigs); i++)
		signal(sigs[i], SIG_DFL);
	if ((nul = open("/dev/null", O_WRONLY)) >= 0) {
		dup2(nul, 1);
		dup2(nul, 2);
	}
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	while (read(fd, &ok, 1) == 1) {
		if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) >= 0) {
			for (i = 0; i < 2; i++)
				if (H5Lexists(f, names[i], H5P_DEFAULT) > 0 &&
				    (d = H5Dopen2(f, names[i], H5P_DEFAULT)) >=
				    0) {
					H5Tclose(H5Dget_type(d));
					H5Sclose(H5Dget_space(d));
					H5Pclose(H5Dget_create_plist(d));
					H5Dclose(d);
				}
			H5Fclose(f);
		}
		if (write(fd, &ok, 1) != 1)
			break;
	}
	_exit(0);
}

/* Whether libhdf5 alone survives opening the input's datasets, asked of
 * a child kept from input to input (a fork an input costs ten times the
 * input under ASan) and started again when an input kills it. */
static int
libhdf5_survives(void)
{
	static pid_t pid;
	static int fd = -1;
	int sv[2];
	char c = 1;

	if (fd < 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
			return 1;
		if ((pid = fork()) < 0) {
			close(sv[0]);
			close(sv[1]);
			return 1;
		}
		if (pid == 0) {
			close(sv[0]);
			vet_serve(sv[1]);
		}
		close(sv[1]);
		fd = sv[0];
	}
	if (send(fd, &c, 1, MSG_NOSIGNAL) == 1 && read(fd, &c, 1) == 1)
		return 1;
	close(fd);
	fd = -1;
	while (waitpid(pid, NULL, 0) < 0)
		;
	return 0;
}
#endif

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
#ifdef MM_FUZZING
	if (!libhdf5_survives()) {
		unlink(path);
		return 0;
	}
#endif
	if (mm_source_file(&s, path, NULL) == 0) {
		mm_source_read(&s, rows, 2, img);
		mm_source_close(&s);
	}
	direct();
	unlink(path);
	return 0;
}
