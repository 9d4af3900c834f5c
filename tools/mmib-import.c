/*
 * mmib-import - numpy arrays made elsewhere (embeddings, optional integer
 * labels) packed into an mmib stream, for pipelines that filter streams:
 * z_img (and z_fac) f32 (N, D), classes i32 (N, F), and the factor
 * metadata that mmib-probe reads when there are labels.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "meta.h"
#include "npy.h"
#include "stream.h"

static const char usage[] =
    "usage: mmib-import [-hqVvz] [--batch N] [--essence list] [--labels y.npy]\n"
    "                   [--names list] [-o out.mts] a.npy [b.npy]\n"
    "       mmib-import [options] ab.npz\n";

static const char help[] =
    "  --labels FILE         integer labels (.npy, (N,) or (N, F)) as 'classes'\n"
    "  --names LIST          names of the label columns (y, or y1,y2,...)\n"
    "  --essence LIST        label columns to mark as essence factors\n"
    "  --batch N             rows per batch of the stream (1024)\n"
    "  -o, --output FILE     write the stream to FILE, not stdout\n"
    "  -z                    zstd-compress the stream\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n"
    "a.npy becomes z_img and b.npy z_fac; an .npz gives its 'z_img', 'z_fac'\n"
    "and 'labels' (or 'classes'), or its one array as z_img.\n";

enum { OPT_BATCH = 256, OPT_ESSENCE, OPT_LABELS, OPT_NAMES };

static const struct option lopts[] = {
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "essence", required_argument, NULL, OPT_ESSENCE },
	{ "help", no_argument, NULL, 'h' },
	{ "labels", required_argument, NULL, OPT_LABELS },
	{ "names", required_argument, NULL, OPT_NAMES },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

/* Read one array (member NULL: a .npy) or die naming the file. */
static void
read_array(const char *path, const char *member, enum mm_npy_want want,
    struct mm_npy *a)
{
	int rc = mm_npy_read(path, member, want, a);

	if (rc < 0) {
		if (member)
			mm_die("%s: array '%s': %s", path, member, mm_errmsg());
		mm_die_err(path, rc);
	}
}

/* The arrays of an .npz: z_img / z_fac (or its one other array as z_img)
 * and labels / classes. */
static void
read_npz(const char *path, struct mm_npy *zi, struct mm_npy *zf,
    struct mm_npy *y)
{
	char names[16][256];
	const char *mi, *mf, *ml;
	int n;

	if ((n = mm_npz_roles(path, names, 16, &mi, &mf, &ml)) < 0)
		mm_die_err(path, n);
	if (mi)
		read_array(path, mi, MM_NPY_FLOAT, zi);
	if (mf)
		read_array(path, mf, MM_NPY_FLOAT, zf);
	if (ml && y)
		read_array(path, ml, MM_NPY_INT, y);
}

/* factors=, cardinalities= (largest label + 1) and essence= of labels y. */
static void
label_meta(struct mm_meta *m, const struct mm_npy *y, const char *names,
    const char *essence)
{
	char list[MM_MAXFACTORS * 33] = "", card[MM_MAXFACTORS * 12] = "";
	char buf[1024], *tok, *save = NULL;
	int64_t i;
	int j, n = 0, rc = 0;

	if (y->cols > MM_MAXFACTORS)
		mm_die("--labels: %d columns: at most %d factors", y->cols,
		    MM_MAXFACTORS);
	if (names) {
		if (strlen(names) >= sizeof buf)
			mm_die("--names: list too long");
		strcpy(buf, names);
		for (tok = strtok_r(buf, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save), n++) {
			if (strlen(tok) > 31)
				mm_die("--names: '%s' is over 31 characters",
				    tok);
			if (n)
				strcat(list, ",");
			strcat(list, tok);
		}
		if (n != y->cols)
			mm_die("--names: %d names for %d label columns", n,
			    y->cols);
	} else {
		for (j = 0; j < y->cols; j++)
			snprintf(list + strlen(list), sizeof list - strlen(list),
			    y->cols == 1 ? "%sy" : "%sy%d", j ? "," : "", j + 1);
	}
	for (j = 0; j < y->cols; j++) {
		int32_t top = 0;
		for (i = 0; i < y->rows; i++) {
			int32_t v = y->i[i * y->cols + j];
			if (v < 0)
				mm_die("--labels: row %lld: label %d (labels "
				    "are class indices >= 0)", (long long)i,
				    (int)v);
			if (v > top)
				top = v;
		}
		if (top >= 1000000)
			mm_die("--labels: label %d: at most 1000000 classes",
			    (int)top);
		snprintf(card + strlen(card), sizeof card - strlen(card),
		    "%s%d", j ? "," : "", (int)top + 1);
	}
	rc |= mm_meta_set(m, "factors", list);
	rc |= mm_meta_set(m, "cardinalities", card);
	if (essence)
		rc |= mm_meta_set(m, "essence", essence);
	if (rc)
		mm_die("out of memory");
	/* the essence names must be factors: checked as a reader would */
	{
		struct mm_factors f;
		if (mm_meta_factors(m, &f) < 0)
			mm_die("--essence: %s", mm_errmsg());
	}
}

int
main(int argc, char **argv)
{
	struct mm_cli cli;
	struct mm_npy zi, zf, y;
	struct mm_meta meta;
	struct mm_writer *w;
	const char *labels = NULL, *names = NULL, *essence = NULL;
	long batch = 1024;
	int64_t N = -1, i0;
	int ch, zlevel = 0, rc;
	FILE *o;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	while ((ch = getopt_long(argc, argv, "ho:qVvz", lopts, NULL)) != -1)
		switch (ch) {
		case OPT_BATCH:
			batch = mm_cli_long("--batch", optarg, 1, 1L << 30);
			break;
		case OPT_ESSENCE:
			essence = optarg;
			break;
		case OPT_LABELS:
			labels = optarg;
			break;
		case OPT_NAMES:
			names = optarg;
			break;
		case 'z':
			zlevel = 3;
			break;
		default:
			mm_cli_option(&cli, ch, optarg);
		}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		mm_cli_usage(&cli, 2);
	memset(&zi, 0, sizeof zi);
	memset(&zf, 0, sizeof zf);
	memset(&y, 0, sizeof y);
	if (mm_npy_kind(argv[0]) == 'z') {
		if (argc == 2)
			mm_die("%s: an .npz holds both sides: no second operand",
			    argv[0]);
		read_npz(argv[0], &zi, &zf, labels ? NULL : &y);
	} else {
		if (mm_npy_kind(argv[0]) != 'y' ||
		    (argc == 2 && mm_npy_kind(argv[1]) != 'y'))
			mm_die("inputs must be .npy files or one .npz");
		read_array(argv[0], NULL, MM_NPY_FLOAT, &zi);
		if (argc == 2)
			read_array(argv[1], NULL, MM_NPY_FLOAT, &zf);
	}
	if (labels)
		read_array(labels, NULL, MM_NPY_INT, &y);
	if ((names || essence) && !y.i)
		mm_die("--%s: no labels to name", names ? "names" : "essence");
	N = zi.f ? zi.rows : zf.rows;
	if ((zi.f && zf.f && zi.rows != zf.rows) || (y.i && y.rows != N))
		mm_die("row counts differ (z_img %lld, z_fac %lld, labels %lld): "
		    "row i of every array must describe sample i",
		    (long long)zi.rows, (long long)zf.rows, (long long)y.rows);

	mm_meta_init(&meta);
	if (mm_meta_set(&meta, "tool", "mmib-import") ||
	    mm_meta_set(&meta, "version", MM_VERSION))
		mm_die("out of memory");
	if (y.i)
		label_meta(&meta, &y, names, essence);
	o = mm_out_open(cli.out, 1);
	if (!(w = mm_writer_open(o, zlevel)))
		mm_die("out of memory");
	if ((rc = mm_writer_meta(w, &meta)) < 0)
		mm_die_err(mm_in_name(cli.out), rc);
	for (i0 = 0; i0 < N; i0 += batch) {
		int64_t nb = N - i0 < batch ? N - i0 : batch, shape[2];
		uint32_t b = (uint32_t)(i0 / batch);
		shape[0] = nb;
		if (zi.f) {
			shape[1] = zi.cols;
			if ((rc = mm_writer_tensor(w, "z_img", b, MM_F32, 2, shape,
			    zi.f + i0 * zi.cols)) < 0)
				break;
		}
		if (zf.f) {
			shape[1] = zf.cols;
			if ((rc = mm_writer_tensor(w, "z_fac", b, MM_F32, 2, shape,
			    zf.f + i0 * zf.cols)) < 0)
				break;
		}
		if (y.i) {
			shape[1] = y.cols;
			if ((rc = mm_writer_tensor(w, "classes", b, MM_I32, 2,
			    shape, y.i + i0 * y.cols)) < 0)
				break;
		}
	}
	if (rc < 0 || (rc = mm_writer_end(w)) < 0 ||
	    (rc = mm_writer_close(w)) < 0)
		mm_die_err(mm_in_name(cli.out), rc);
	mm_out_close(o);
	mm_note("%lld rows: z_img %d, z_fac %d, %d label column%s",
	    (long long)N, zi.cols, zf.cols, y.cols, y.cols == 1 ? "" : "s");
	mm_meta_free(&meta);
	mm_npy_free(&zi);
	mm_npy_free(&zf);
	mm_npy_free(&y);
	return 0;
}
