/* t-evaluate.c - evaluation during training (evaluate.h): the log columns
 * of mmib-train --eval-every equal what mmib-encode, mmib-probe and
 * mmib-align print for the final model; the library figures do not depend
 * on the model's batch size; which epochs are evaluated; refusals. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "evaluate.h"
#include "model.h"
#include "pairs.h"
#include "stream.h"
#include "tap.h"

#define MAXCOL 64

static char dir[256];
static const char *bin;

/* Run a shell command built from fmt; its exit status. */
static int
sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The cells of a TSV line (its newline dropped) into c; their count. */
static int
cells(char *line, char **c)
{
	int n = 0;
	char *s = line, *t;

	line[strcspn(line, "\n")] = '\0';
	while (n < MAXCOL) {
		c[n++] = s;
		if (!(t = strchr(s, '\t')))
			break;
		*t = '\0';
		s = t + 1;
	}
	return n;
}

/* The header and the last row of the TSV file path. */
static int
last_row(const char *path, char *hbuf, char *rbuf, size_t size, char **h,
    char **r, int *nr)
{
	FILE *f = fopen(path, "r");
	char line[4096];
	int nh;

	if (!f || !fgets(hbuf, (int)size, f))
		return -1;
	rbuf[0] = '\0';
	while (fgets(line, sizeof line, f))
		snprintf(rbuf, size, "%s", line);
	fclose(f);
	nh = cells(hbuf, h);
	*nr = cells(rbuf, r);
	return nh;
}

/* Column name of the row r under header h, or "" when absent. */
static const char *
cell(char **h, int nh, char **r, int nr, const char *name)
{
	int i;

	for (i = 0; i < nh && i < nr; i++)
		if (!strcmp(h[i], name))
			return r[i];
	return "";
}

/* Column col of the first line of path whose first cells are a and b
 * (b NULL: any); into out. */
static void
find(const char *path, const char *a, const char *b, int col, char *out,
    size_t size)
{
	FILE *f = fopen(path, "r");
	char line[4096], *c[MAXCOL];
	int n;

	out[0] = '\0';
	while (f && fgets(line, sizeof line, f)) {
		n = cells(line, c);
		if (n > col && !strcmp(c[0], a) && (!b || !strcmp(c[1], b))) {
			snprintf(out, size, "%s", c[col]);
			break;
		}
	}
	if (f)
		fclose(f);
}

static void
load_pairs(struct mm_pairs *d, const char *path)
{
	FILE *f = fopen(path, "rb");
	struct mm_reader *rd = f ? mm_reader_open(f, path) : NULL;

	mm_pairs_init(d);
	if (!rd || mm_pairs_load(d, rd) < 0) {
		diag("%s: %s", path, mm_errmsg());
		exit(1);
	}
	mm_reader_close(rd);
	fclose(f);
}

static int
load_model(struct mm_model *m, const char *path, int max_batch)
{
	FILE *f = fopen(path, "rb");
	int rc = f ? mm_model_load(m, f, path, max_batch) : -1;

	if (f)
		fclose(f);
	return rc;
}

int
main(void)
{
	const char *top = getenv("MMIB_TOP"), *tmp = getenv("TMPDIR");
	char bbuf[1024], hbuf[4096], rbuf[4096], want[64], path[512];
	char *h[MAXCOL], *r[MAXCOL];
	struct mm_pairs tr, te, bad;
	struct mm_model m0, m64;
	struct mm_eval e0, e64;
	int nh, nr = 0, j, rc, same, inrange, near;
	int32_t *cls;
	FILE *f;

	plan(26);
	bin = getenv("MMIB_BIN");
	if (!bin) {
		snprintf(bbuf, sizeof bbuf, "%s/bin", top ? top : ".");
		bin = bbuf;
	}
	snprintf(dir, sizeof dir, "%s/mmib-t-evaluate.XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		diag("mkdtemp failed");
		return 1;
	}

	/* which epochs */
	ok(!mm_eval_due(3, 1, 7) && !mm_eval_due(3, 2, 7) &&
	    mm_eval_due(3, 3, 7) && !mm_eval_due(3, 5, 7) &&
	    mm_eval_due(3, 6, 7) && mm_eval_due(3, 7, 7) &&
	    mm_eval_due(1, 1, 7) && !mm_eval_due(0, 7, 7),
	    "evaluated at the multiples of N and the last epoch");

	/* a run with evaluation, then the tools on its final model: batch
	 * 64 makes the run evaluate on an fp32 copy of 256 rows, the chunk
	 * of mmib-encode */
	rc = sh("%s/mmib-gen -q -d dsprites -n 1200 -s 5 --missing scale --part "
	    "train -o %s/tr.mts && %s/mmib-gen -q -d dsprites -n 1200 -s 5 "
	    "--missing scale --part test -o %s/te.mts", bin, dir, bin, dir);
	ok(rc == 0, "data generated");
	rc = sh("%s/mmib-train -q --image-encoder mlp-flatten:64/16 "
	    "--temperature 0.1 --batch-size 64 --epochs 3 --test %s/te.mts "
	    "--eval-every 2 --log %s/log.tsv %s/tr.mts -o %s/m.mts", bin, dir,
	    dir, dir, dir);
	ok(rc == 0, "mmib-train --eval-every 2");
	rc = sh("%s/mmib-encode -q -m %s/m.mts -o %s/etr.mts %s/tr.mts && "
	    "%s/mmib-encode -q -m %s/m.mts -o %s/ete.mts %s/te.mts && "
	    "%s/mmib-probe -q --train %s/etr.mts -o %s/probe.tsv %s/ete.mts && "
	    "%s/mmib-align -q -o %s/align.tsv %s/ete.mts", bin, dir, dir, dir,
	    bin, dir, dir, dir, bin, dir, dir, dir, bin, dir, dir);
	ok(rc == 0, "mmib-encode, mmib-probe, mmib-align on the final model");

	snprintf(path, sizeof path, "%s/log.tsv", dir);
	nh = last_row(path, hbuf, rbuf, sizeof hbuf, h, r, &nr);
	ok(nh == nr && nh == 8 + 5 + 5 && !strcmp(r[0], "3"),
	    "the last log row: epoch 3, %d columns of %d", nr, nh);
	snprintf(path, sizeof path, "%s/probe.tsv", dir);
	same = 1;
	for (j = 0; j < 5; j++) {
		static const char *fac[] = { "shape", "scale", "orientation",
		    "posX", "posY" };
		char col[64];
		snprintf(col, sizeof col, "img_%s_nmi", fac[j]);
		find(path, "img", fac[j], 7, want, sizeof want);
		if (!*want || strcmp(cell(h, nh, r, nr, col), want)) {
			diag("%s: log '%s', mmib-probe '%s'", col,
			    cell(h, nh, r, nr, col), want);
			same = 0;
		}
	}
	ok(same, "nMI of every factor as mmib-probe prints it");
	find(path, "img", "essence", 7, want, sizeof want);
	is_str(cell(h, nh, r, nr, "img_ess_nmi"), want,
	    "essence group nMI as mmib-probe");
	find(path, "img", "nuisance", 7, want, sizeof want);
	is_str(cell(h, nh, r, nr, "img_nui_nmi"), want,
	    "nuisance group nMI as mmib-probe");
	snprintf(path, sizeof path, "%s/align.tsv", dir);
	find(path, "cka", NULL, 2, want, sizeof want);
	is_str(cell(h, nh, r, nr, "cka"), want, "CKA as mmib-align");
	find(path, "mutual_knn", "1", 2, want, sizeof want);
	is_str(cell(h, nh, r, nr, "mutual_knn1"), want,
	    "mutual kNN@1 as mmib-align");

	/* the library on the same model: built for mmib-encode's chunk
	 * (evaluated in place) and for 64 rows (on a copy): the same
	 * figures, those of the log */
	snprintf(path, sizeof path, "%s/tr.mts", dir);
	load_pairs(&tr, path);
	snprintf(path, sizeof path, "%s/te.mts", dir);
	load_pairs(&te, path);
	ok(tr.cls && tr.F == 5 && te.cls && te.F == 5 && tr.N == 900 &&
	    te.N == 300, "pairs keep the classes (%d factors)", tr.F);
	snprintf(path, sizeof path, "%s/m.mts", dir);
	mm_blas_threads(1);
	ok(load_model(&m0, path, 0) == 0 && load_model(&m64, path, 64) == 0,
	    "model loaded twice");
	ok(mm_eval_init(&e0, &m0, &tr, &te, 1) == 0 && !e0.has_copy &&
	    e0.chunk == 256, "model of 256 rows: evaluated in place");
	mm_blas_threads(2);
	ok(mm_eval_init(&e64, &m64, &tr, &te, 2) == 0 && e64.has_copy &&
	    e64.chunk == 256, "model of 64 rows: on a copy of 256");
	mm_blas_threads(1);
	rc = mm_eval_run(&e0, &m0, 3);
	mm_blas_threads(2);
	ok(rc == 0 && mm_eval_run(&e64, &m64, 3) == 0 && e0.epoch == 3,
	    "both evaluated");
	mm_blas_threads(1);
	same = e0.ess_nmi == e64.ess_nmi && e0.nui_nmi == e64.nui_nmi &&
	    e0.cka == e64.cka && e0.mutual_knn1 == e64.mutual_knn1;
	inrange = e0.cka >= 0 && e0.cka <= 1 && e0.mutual_knn1 >= 0 &&
	    e0.mutual_knn1 <= 1 && e0.seconds >= 0;
	near = 1;
	for (j = 0; j < 5; j++) {
		char col[64];
		snprintf(col, sizeof col, "img_%s_nmi", e0.fac.name[j]);
		same = same && e0.nmi[j] == e64.nmi[j];
		inrange = inrange && e0.nmi[j] <= 1;
		near = near && fabs(e0.nmi[j] - atof(cell(h, nh, r, nr,
		    col))) <= 5.01e-7;
	}
	if (!ok(same, "the same figures, 1 and 2 threads, in place or on a "
	    "copy"))
		diag("ess %.17g %.17g nui %.17g %.17g cka %.17g %.17g knn "
		    "%.17g %.17g", e0.ess_nmi, e64.ess_nmi, e0.nui_nmi,
		    e64.nui_nmi, e0.cka, e64.cka, e0.mutual_knn1,
		    e64.mutual_knn1);
	ok(inrange, "in range: nMI <= 1, CKA and mutual kNN in [0, 1] "
	    "(cka %g, knn %g)", e0.cka, e0.mutual_knn1);
	ok(near && fabs(e0.ess_nmi - atof(cell(h, nh, r, nr,
	    "img_ess_nmi"))) <= 5.01e-7 && fabs(e0.cka - atof(cell(h, nh, r,
	    nr, "cka"))) <= 5.01e-9, "the figures of the log row (cka %.10f "
	    "%s, ess %.8f %s)", e0.cka, cell(h, nh, r, nr, "cka"), e0.ess_nmi,
	    cell(h, nh, r, nr, "img_ess_nmi"));
	ok(isnan(e0.ess_nmi) == 0 && isnan(e0.nui_nmi) == 0 &&
	    e0.fac.essence[0] == 1 && e0.fac.essence[1] == 0,
	    "essence (every factor but scale) and nuisance (scale) groups");

	/* the log columns: NA for an epoch not evaluated */
	f = tmpfile();
	mm_eval_log_header(f, &e0);
	fputc('\n', f);
	mm_eval_log_values(f, &e0, 2);
	fputc('\n', f);
	mm_eval_log_values(f, &e0, 3);
	rewind(f);
	if (!fgets(hbuf, sizeof hbuf, f))
		hbuf[0] = '\0';
	is_str(hbuf, "\timg_shape_nmi\timg_scale_nmi\timg_orientation_nmi"
	    "\timg_posX_nmi\timg_posY_nmi\timg_ess_nmi\timg_nui_nmi\tcka"
	    "\tmutual_knn1\teval_seconds\n", "header columns");
	if (!fgets(hbuf, sizeof hbuf, f))
		hbuf[0] = '\0';
	is_str(hbuf, "\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n",
	    "an epoch not evaluated: NA throughout");
	if (!fgets(hbuf, sizeof hbuf, f))
		hbuf[0] = '\0';
	snprintf(want, sizeof want, "\t%.8f\t%.8f", e0.cka, e0.mutual_knn1);
	ok(strstr(hbuf, want) != NULL, "the evaluated epoch's values");
	fclose(f);

	/* refusals, nothing left allocated (ASan): a failed init frees what
	 * it took, so e64 is released first and reused */
	mm_eval_free(&e64);
	bad = te;
	bad.cls = NULL;
	rc = mm_eval_init(&e64, &m64, &tr, &bad, 1);
	ok(rc == MM_EMISSING &&
	    strstr(mm_errmsg(), "test stream has no 'classes'"),
	    "test rows without classes: %s", mm_errmsg());
	cls = malloc((size_t)te.N * te.F * sizeof(int32_t));
	memcpy(cls, te.cls, (size_t)te.N * te.F * sizeof(int32_t));
	cls[7 * te.F + 1] = 6;       /* scale has 6 classes */
	bad.cls = cls;
	rc = mm_eval_init(&e64, &m64, &tr, &bad, 1);
	ok(rc == MM_EFORMAT &&
	    strstr(mm_errmsg(), "row 7: class 6 of factor scale"),
	    "a class out of range: %s", mm_errmsg());
	bad.cls = te.cls;
	bad.N = 3;
	rc = mm_eval_init(&e64, &m64, &tr, &bad, 1);
	ok(rc == MM_ESIZE,
	    "3 test rows: %s", mm_errmsg());
	bad.N = te.N;
	mm_meta_init(&bad.meta);
	ok(mm_meta_copy(&bad.meta, &te.meta) == 0 &&
	    mm_meta_set(&bad.meta, "essence", "posX") == 0 &&
	    (rc = mm_eval_init(&e64, &m64, &tr, &bad, 1)) == MM_EFORMAT &&
	    strstr(mm_errmsg(), "factors (or their roles) differ"),
	    "the test stream's roles differ: %s", mm_errmsg());
	mm_meta_free(&bad.meta);
	free(cls);

	mm_eval_free(&e0);
	mm_model_free(&m0);
	mm_model_free(&m64);
	mm_pairs_free(&tr);
	mm_pairs_free(&te);
	sh("rm -rf %s", dir);
	return done_testing();
}
