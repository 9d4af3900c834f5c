/*
 * cli.h - the small helpers every mmib tool shares: program name, errors in
 * "prog: what: why" form, checked number parsing, safe output files,
 * verbosity, a progress bar on a terminal, BLAS threads, timing.
 *
 * This is the one part of libmmib that may print and exit: it is the tools'
 * side of the library/tool split.
 */
#ifndef MM_CLI_H
#define MM_CLI_H

#include <stdio.h>
#include <stdint.h>

#define MM_VERSION "0.1.0"

extern const char *mm_progname;
extern int mm_verbose;  /* 0 with -q, 1 by default, 2+ with -v */

/* Set the program name from argv[0], restore SIGPIPE's default (a closed
 * pipe ends the tool quietly), and set BLAS to one thread.  First, when
 * OpenBLAS fell back to kernels below the CPU's (cli.c), run the program
 * again with OPENBLAS_CORETYPE naming better ones. */
void mm_cli_init(int argc, char **argv);

/* What OpenBLAS kernels a program is right for: 0 none of the below, 1
 * AVX2 + FMA, 2 AVX-512 (F, CD, BW, DQ, VL), 3 that and AVX512-BF16 (the
 * CPU's and the OS's support both). */
int mm_blas_cpu_level(void);
/* The OpenBLAS core to name on a CPU of that level when the loaded one
 * (openblas_get_corename()) has no AVX2 kernels: Haswell, SkylakeX or
 * Cooperlake; NULL when the loaded one will do. */
const char *mm_blas_core_better(const char *core, int level);
/* "OpenBLAS kernels <core>", and who chose them, for -v lines. */
const char *mm_blas_core_desc(void);
/* Set in the environment of a program run again on better kernels: the
 * core OpenBLAS had taken. */
#define MM_BLAS_FROM "MMIB_BLAS_FROM"

/* "prog: message" on stderr, remove a pending -o temporary file, exit 1. */
void mm_die(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2), noreturn))
#endif
	;
/* Same, for a library error code: "prog: what: <mm_errmsg()>". */
void mm_die_err(const char *what, int code)
#if defined(__GNUC__)
	__attribute__((noreturn))
#endif
	;
/* "prog: message" on stderr unless -q. */
void mm_warn(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Log line on stderr only with -v. */
void mm_note(const char *fmt, ...)
#if defined(__GNUC__)
	__attribute__((format(printf, 1, 2)))
#endif
	;
/* Print "prog VERSION" and exit 0 (for -V). */
void mm_cli_version(void)
#if defined(__GNUC__)
	__attribute__((noreturn))
#endif
	;

/* The options every tool shares, handled in one place:
 *   -h  usage on stdout, exit 0      -V  "prog VERSION", exit 0
 *   -q  quiet (mm_verbose = 0)       -v  more (mm_verbose++)
 *   -o  FILE into out                -t  N (1..256) into threads
 * and any other option character (getopt's '?' and ':' included) is a
 * usage error: usage on stderr, exit 2.  A tool's getopt loop hands every
 * letter it does not own to mm_cli_option():
 *
 *	mm_cli_start(&cli, argc, argv, usage_text);
 *	while ((ch = getopt_long(argc, argv, "ho:qt:Vv", lopts, NULL)) != -1)
 *		switch (ch) {
 *		case OPT_MINE: ...; break;
 *		default: mm_cli_option(&cli, ch, optarg);
 *		}
 *
 * usage is the text of the man page SYNOPSIS, "usage: " first and a
 * newline at the end of each line.  -h prints it, a blank line, help (set
 * c->help after mm_cli_start) and "See prog(1)."; a usage error prints it
 * and "Try 'prog -h', or see prog(1)." on stderr. */
struct mm_cli {
	const char *usage;
	const char *help;       /* one line per option, printed by -h after
	                           the usage; NULL: none */
	void (*more)(FILE *f);  /* -h: printed after help, or NULL */
	const char *out;        /* -o FILE; NULL when not given */
	int threads;            /* -t N; 1 when not given */
};
/* mm_cli_init() and the defaults above. */
void mm_cli_start(struct mm_cli *c, int argc, char **argv, const char *usage);
void mm_cli_option(struct mm_cli *c, int ch, const char *arg);
/* Usage on stdout and exit 0 (status 0), or on stderr and exit status. */
void mm_cli_usage(const struct mm_cli *c, int status)
#if defined(__GNUC__)
	__attribute__((noreturn))
#endif
	;

/* Checked parsers: the whole string must be a number in [min, max].
 * They die with "prog: OPT: 'TEXT' is not ... in [min, max]". */
long mm_cli_long(const char *opt, const char *s, long min, long max);
double mm_cli_double(const char *opt, const char *s, double min, double max);
/* Comma-separated lists; return the count, die on bad items or > cap. */
int mm_cli_longs(const char *opt, const char *s, long min, long max,
    long *out, int cap);
int mm_cli_doubles(const char *opt, const char *s, double min, double max,
    double *out, int cap);

/* Input: NULL or "-" is stdin.  Dies with "prog: path: strerror". */
FILE *mm_in_open(const char *path);
void mm_in_close(FILE *f);
/* Display name of an input path ("<stdin>" for NULL / "-"). */
const char *mm_in_name(const char *path);

/* Output: NULL or "-" is stdout.  A file is written as a temporary beside
 * it and renamed by mm_out_close(); mm_die() (and SIGINT/SIGTERM) remove
 * the temporary, so a failed run never leaves a half file.  With binary
 * set, refuses to write to a terminal.  One output file at a time. */
/* Die with the system's reason unless an output file could be made at
 * path (its directory exists and is writable); "-" or NULL pass.  For
 * tools that write their output only after long work. */
void mm_out_check(const char *path);
/* 1 when paths a and b name one file (the same spelling, or after
 * resolving links and ".." in the directory part; existing files by
 * device and inode).  NULL or "-" (standard streams) never match. */
int mm_same_path(const char *a, const char *b);
FILE *mm_out_open(const char *path, int binary);
void mm_out_close(FILE *f);   /* checks fflush/fclose, renames; dies on error */

/* Progress bar on stderr, only when stderr is a terminal and not -q. */
struct mm_progress {
	const char *label;
	uint64_t total;
	double t0, last;
	int active;
};
void mm_progress_start(struct mm_progress *p, const char *label,
    uint64_t total);
void mm_progress_update(struct mm_progress *p, uint64_t done);
void mm_progress_end(struct mm_progress *p);

/* Set the number of BLAS threads (>= 1). */
void mm_blas_threads(int n);

/* Monotonic seconds. */
double mm_now(void);

#endif
