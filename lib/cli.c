/* cli.c - the tools' shared command-line helpers (see cli.h). */
#define _POSIX_C_SOURCE 200809L
/* realpath(3) is XSI */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cblas.h>

#include "cli.h"
#include "err.h"
#include "num.h"

const char *mm_progname = "mmib";
int mm_verbose = 1;

/* The pending temporary output: removed on failure, renamed on success. */
static char out_tmp[PATH_MAX];
static char out_final[PATH_MAX];
static FILE *out_file;

static void
remove_tmp(void)
{
	if (out_tmp[0])
		unlink(out_tmp);
	out_tmp[0] = '\0';
}

static void
on_signal(int sig)
{
	/* unlink(2) is async-signal-safe; then die by the same signal. */
	if (out_tmp[0])
		unlink(out_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- OpenBLAS's kernels ----
 * OpenBLAS built for many CPUs (DYNAMIC_ARCH, as Debian's) picks its
 * kernels when it loads, by the CPU's family and model.  On a CPU newer
 * than the build knows it falls back to Prescott's SSE3 kernels: Debian
 * 12's 0.3.21 does so on an Intel Xeon of family 6, model 207, and its
 * sgemm runs there at a fifth of the speed of the AVX-512 kernels that
 * OPENBLAS_CORETYPE=SkylakeX selects.  The variable is only read when the
 * library loads, so a tool that finds itself on such fallback kernels
 * names the right ones and runs itself again, once, before it has read
 * anything: the same process, arguments and descriptors. */

/* The cores of OpenBLAS 0.3.21 that have AVX2 kernels or better. */
static const char *const blas_fast[] = {
	"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids",
};

int
mm_blas_cpu_level(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	/* libgcc's answers include the OS's support (XCR0) */
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512cd") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512vl"))
		return __builtin_cpu_supports("avx512bf16") ? 3 : 2;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return 1;
#endif
	return 0;
}

const char *
mm_blas_core_better(const char *core, int level)
{
	static const char *const want[] = { NULL, "Haswell", "SkylakeX",
	    "Cooperlake" };
	size_t i;

	if (level < 1 || level > 3 || !core)
		return NULL;
	for (i = 0; i < sizeof blas_fast / sizeof blas_fast[0]; i++)
		if (strcmp(core, blas_fast[i]) == 0)
			return NULL;
	return want[level];
}

/* Run again on better kernels when OpenBLAS fell back (above).  Not when
 * MMIB_BLAS=keep, nor when the environment names a core itself
 * (OPENBLAS_CORETYPE, even empty) unless MMIB_BLAS=fix, nor a second
 * time; when /proc/self/exe cannot be run, go on as loaded. */
static void
blas_core_fix(char **argv)
{
	const char *core = openblas_get_corename(), *want;
	const char *mode = getenv("MMIB_BLAS");
	char old[64] = "";
	int had = getenv("OPENBLAS_CORETYPE") != NULL;

	if (!argv || !argv[0] || getenv(MM_BLAS_FROM) || (mode &&
	    strcmp(mode, "keep") == 0) || (getenv("OPENBLAS_CORETYPE") &&
	    !(mode && strcmp(mode, "fix") == 0)))
		return;
	if (!(want = mm_blas_core_better(core, mm_blas_cpu_level())))
		return;
	if (had)
		snprintf(old, sizeof old, "%s", getenv("OPENBLAS_CORETYPE"));
	if (setenv(MM_BLAS_FROM, core, 1) == 0 &&
	    setenv("OPENBLAS_CORETYPE", want, 1) == 0) {
		fflush(NULL);
		execv("/proc/self/exe", argv);
	}
	/* go on with the kernels loaded, and the environment as it was */
	unsetenv(MM_BLAS_FROM);
	if (had)
		setenv("OPENBLAS_CORETYPE", old, 1);
	else
		unsetenv("OPENBLAS_CORETYPE");
}

const char *
mm_blas_core_desc(void)
{
	static char buf[160];
	const char *from = getenv(MM_BLAS_FROM), *set = getenv(
	    "OPENBLAS_CORETYPE");

	if (from && set)
		snprintf(buf, sizeof buf, "OpenBLAS kernels %s (OpenBLAS "
		    "took %s for this CPU; mmib named %s)",
		    openblas_get_corename(), from, set);
	else
		snprintf(buf, sizeof buf, "OpenBLAS kernels %s%s",
		    openblas_get_corename(), set ? " (OPENBLAS_CORETYPE)" : "");
	return buf;
}

void
mm_cli_init(int argc, char **argv)
{
	const char *p;

	(void)argc;
	blas_core_fix(argv);
	if (argv && argv[0]) {
		p = strrchr(argv[0], '/');
		mm_progname = p ? p + 1 : argv[0];
	}
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	mm_blas_threads(1);
}

static void
vmsg(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", mm_progname);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
mm_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	remove_tmp();
	exit(1);
}

void
mm_die_err(const char *what, int code)
{
	(void)code;
	if (what)
		mm_die("%s: %s", what, mm_errmsg());
	mm_die("%s", mm_errmsg());
}

void
mm_warn(const char *fmt, ...)
{
	va_list ap;

	if (mm_verbose < 1)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void
mm_note(const char *fmt, ...)
{
	va_list ap;

	if (mm_verbose < 2)
		return;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void
mm_cli_version(void)
{
	printf("%s %s\n", mm_progname, MM_VERSION);
	if (fflush(stdout) != 0 || ferror(stdout))
		exit(1);
	exit(0);
}

void
mm_cli_start(struct mm_cli *c, int argc, char **argv, const char *usage)
{
	mm_cli_init(argc, argv);
	c->usage = usage;
	c->help = NULL;
	c->more = NULL;
	c->out = NULL;
	c->threads = 1;
}

void
mm_cli_usage(const struct mm_cli *c, int status)
{
	FILE *f = status ? stderr : stdout;

	fputs(c->usage, f);
	if (status == 0) {
		if (c->help)
			fprintf(f, "\n%s", c->help);
		if (c->more)
			c->more(f);
		fprintf(f, "\nSee %s(1) for the details.\n", mm_progname);
	} else
		fprintf(f, "Try '%s -h', or see %s(1).\n", mm_progname,
		    mm_progname);
	if (status == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		exit(1);
	exit(status);
}

void
mm_cli_option(struct mm_cli *c, int ch, const char *arg)
{
	switch (ch) {
	case 'h':
		mm_cli_usage(c, 0);
	case 'o':
		c->out = arg;
		break;
	case 'q':
		mm_verbose = 0;
		break;
	case 't':
		c->threads = (int)mm_cli_long("-t", arg, 1, 256);
		break;
	case 'V':
		mm_cli_version();
	case 'v':
		mm_verbose++;
		break;
	default:
		mm_cli_usage(c, 2);
	}
}

long
mm_cli_long(const char *opt, const char *s, long min, long max)
{
	long v;

	if (mm_num_long(s, NULL, min, max, &v) < 0)
		mm_die("%s: '%s' is not an integer in [%ld, %ld]", opt,
		    s ? s : "", min, max);
	return v;
}

double
mm_cli_double(const char *opt, const char *s, double min, double max)
{
	double v;

	if (mm_num_double(s, NULL, min, max, &v) < 0)
		mm_die("%s: '%s' is not a number in [%g, %g]", opt,
		    s ? s : "", min, max);
	return v;
}

/* Split a comma list into a scratch copy; calls item() per element. */
static int
split_list(const char *opt, const char *s, int cap,
    void (*item)(const char *opt, const char *tok, int i, void *ctx),
    void *ctx)
{
	char *copy, *tok, *save;
	int n = 0;

	if (!s || !*s)
		mm_die("%s: empty list", opt);
	if ((copy = strdup(s)) == NULL)
		mm_die("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (n >= cap)
			mm_die("%s: more than %d items in '%s'", opt, cap, s);
		item(opt, tok, n++, ctx);
	}
	free(copy);
	if (n == 0)
		mm_die("%s: empty list", opt);
	return n;
}

struct lctx { long min, max, *out; };
struct dctx { double min, max, *out; };

static void
long_item(const char *opt, const char *tok, int i, void *c)
{
	struct lctx *x = c;

	x->out[i] = mm_cli_long(opt, tok, x->min, x->max);
}

static void
double_item(const char *opt, const char *tok, int i, void *c)
{
	struct dctx *x = c;

	x->out[i] = mm_cli_double(opt, tok, x->min, x->max);
}

int
mm_cli_longs(const char *opt, const char *s, long min, long max,
    long *out, int cap)
{
	struct lctx x = { min, max, out };

	return split_list(opt, s, cap, long_item, &x);
}

int
mm_cli_doubles(const char *opt, const char *s, double min, double max,
    double *out, int cap)
{
	struct dctx x = { min, max, out };

	return split_list(opt, s, cap, double_item, &x);
}

const char *
mm_in_name(const char *path)
{
	return (!path || strcmp(path, "-") == 0) ? "<stdin>" : path;
}

FILE *
mm_in_open(const char *path)
{
	FILE *f;

	if (!path || strcmp(path, "-") == 0) {
		/* a forgotten operand would otherwise wait on the keyboard */
		if (isatty(STDIN_FILENO))
			mm_die("standard input is a terminal: name an input "
			    "file or pipe a stream in (see -h)");
		return stdin;
	}
	if ((f = fopen(path, "rb")) == NULL)
		mm_die("%s: %s", path, strerror(errno));
	return f;
}

void
mm_in_close(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}

/* The directory part of path into dir (cap bytes): "." for a bare name,
 * "/" for a name in the root.  -1 when it does not fit. */
static int
dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return snprintf(dir, cap, ".") < (int)cap ? 0 : -1;
	if (slash == path)
		return snprintf(dir, cap, "/") < (int)cap ? 0 : -1;
	return snprintf(dir, cap, "%.*s", (int)(slash - path), path) <
	    (int)cap ? 0 : -1;
}

/* path with its directory part resolved, into buf (cap bytes) */
static void
resolve_dir(const char *path, char *buf, size_t cap)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX], *r;

	if (dir_of(path, dir, sizeof dir) < 0 ||
	    (r = realpath(dir, NULL)) == NULL) {
		snprintf(buf, cap, "%s", path);
		return;
	}
	if (snprintf(buf, cap, "%s/%s", r, slash ? slash + 1 : path) >=
	    (int)cap)
		snprintf(buf, cap, "%s", path);
	free(r);
}

void
mm_out_check(const char *path)
{
	char dir[PATH_MAX];
	struct stat st;

	if (!path || !strcmp(path, "-"))
		return;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		mm_die("%s: is a directory", path);
	if (dir_of(path, dir, sizeof dir) < 0)
		mm_die("%s: path too long", path);
	if (access(dir, W_OK | X_OK) != 0)
		mm_die("%s: %s", path, strerror(errno));
}

int
mm_same_path(const char *a, const char *b)
{
	struct stat sa, sb;
	char ra[PATH_MAX], rb[PATH_MAX];

	if (!a || !b || !strcmp(a, "-") || !strcmp(b, "-"))
		return 0;
	if (!strcmp(a, b))
		return 1;
	if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	resolve_dir(a, ra, sizeof ra);
	resolve_dir(b, rb, sizeof rb);
	return !strcmp(ra, rb);
}

FILE *
mm_out_open(const char *path, int binary)
{
	int fd;

	if (!path || strcmp(path, "-") == 0) {
		if (binary && isatty(STDOUT_FILENO))
			mm_die("refusing to write binary data to a terminal "
			    "(use -o FILE or a redirection)");
		out_file = stdout;
		return stdout;
	}
	if (out_tmp[0])
		mm_die("internal error: two output files open");
	/* A device or FIFO (-o /dev/null, a named pipe) is written in place:
	 * renaming a temporary over it would replace it with a plain file. */
	{
		struct stat st;
		if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
			if (S_ISDIR(st.st_mode))
				mm_die("%s: is a directory", path);
			if ((out_file = fopen(path, "wb")) == NULL)
				mm_die("%s: %s", path, strerror(errno));
			if (binary && isatty(fileno(out_file)))
				mm_die("refusing to write binary data to a "
				    "terminal (use -o FILE or a redirection)");
			snprintf(out_final, sizeof out_final, "%s", path);
			return out_file;
		}
	}
	/* -o through a symbolic link writes the file it points to (the link
	 * stays a link); a new file is made beside the final name. */
	{
		char *real = realpath(path, NULL), link[PATH_MAX];
		const char *fin = real ? real : path, *base;
		ssize_t ll;

		/* a link to a file not yet there: write where it points */
		if (!real && (ll = readlink(path, link, sizeof link - 1)) > 0) {
			const char *slash = strrchr(path, '/');
			link[ll] = '\0';
			if (link[0] != '/' && slash) {
				char rel[PATH_MAX];
				if (snprintf(rel, sizeof rel, "%.*s%s",
				    (int)(slash - path + 1), path, link) >=
				    (int)sizeof rel)
					mm_die("%s: path too long", path);
				memcpy(link, rel, sizeof link);
			}
			fin = link;
		}
		struct stat st;
		size_t dl, bl, room;
		int had = real && stat(real, &st) == 0;

		if (strlen(fin) >= sizeof out_final) {
			free(real);
			mm_die("%s: path too long", path);
		}
		snprintf(out_final, sizeof out_final, "%s", fin);
		free(real);
		/* the temporary: "<name>.tmp.XXXXXX" beside it, the name cut
		 * so the whole stays within NAME_MAX */
		base = strrchr(out_final, '/');
		base = base ? base + 1 : out_final;
		dl = (size_t)(base - out_final);
		bl = strlen(base);
		room = NAME_MAX - strlen(".tmp.XXXXXX");
		if (bl > room)
			bl = room;
		if (dl + bl + 12 >= sizeof out_tmp)
			mm_die("%s: path too long", path);
		snprintf(out_tmp, sizeof out_tmp, "%.*s%.*s.tmp.XXXXXX",
		    (int)dl, out_final, (int)bl, base);
		if ((fd = mkstemp(out_tmp)) < 0) {
			out_tmp[0] = '\0';
			mm_die("%s: %s", path, strerror(errno));
		}
		/* mkstemp makes 0600: a replaced file keeps its mode, a new
		 * one gets the usual umask-derived mode */
		if (had)
			fchmod(fd, st.st_mode & 07777);
		else {
			mode_t um = umask(0);
			umask(um);
			fchmod(fd, 0666 & ~um);
		}
	}
	if ((out_file = fdopen(fd, "wb")) == NULL) {
		close(fd);
		mm_die("%s: %s", path, strerror(errno));
	}
	return out_file;
}

void
mm_out_close(FILE *f)
{
	int bad;

	if (f == stdout) {
		bad = fflush(stdout) != 0 || ferror(stdout);
		if (bad)
			mm_die("<stdout>: %s", strerror(errno ? errno : EIO));
		return;
	}
	bad = fflush(f) != 0 || ferror(f);
	bad |= fclose(f) != 0;
	out_file = NULL;
	if (bad)
		mm_die("%s: %s", out_final, strerror(errno ? errno : EIO));
	if (!out_tmp[0])
		return;   /* a device or FIFO, written in place */
	if (rename(out_tmp, out_final) != 0)
		mm_die("%s: %s", out_final, strerror(errno));
	out_tmp[0] = '\0';
}

double
mm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
mm_progress_start(struct mm_progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->t0 = p->last = mm_now();
	p->active = mm_verbose >= 1 && isatty(STDERR_FILENO);
}

void
mm_progress_update(struct mm_progress *p, uint64_t done)
{
	double t = mm_now(), frac, el, eta;
	int i, w = 30, fill;
	char bar[32];

	if (!p->active || t - p->last < 0.1)
		return;
	p->last = t;
	frac = p->total ? (double)done / p->total : 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * w);
	for (i = 0; i < w; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[w] = '\0';
	el = t - p->t0;
	eta = frac > 0 ? el * (1 - frac) / frac : 0;
	fprintf(stderr, "\r%s [%s] %3.0f%% %.0fs left ", p->label, bar,
	    100 * frac, eta);
	fflush(stderr);
}

void
mm_progress_end(struct mm_progress *p)
{
	if (!p->active)
		return;
	fprintf(stderr, "\r%*s\r", 70, "");
	fflush(stderr);
	p->active = 0;
}

void
mm_blas_threads(int n)
{
	if (n < 1)
		n = 1;
	openblas_set_num_threads(n);
}
