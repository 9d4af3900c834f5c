/*
 * mmib-gen - paired samples of dSprites, Shapes3D or MPI3D: images
 * (rendered, or read from the published files), every factor's class and
 * the one-hot pair vector of the essence factors, as an mmib stream.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "gen.h"
#include "meta.h"
#include "prov.h"
#include "sheet.h"
#include "stream.h"
#include "table.h"

static const char usage[] =
    "usage: mmib-gen [-qvz] [-d dataset] [-n count | all] [-s seed] "
    "[-t threads]\n"
    "                [-o file]"
    " [--part train | test | all] [--train-fraction f]\n"
    "                [--missing factor | --essence list | --random-split |\n"
    "                 --split k]\n"
    "                [--batch rows] [--from file] [--png file] "
    "[--png-count k]\n"
    "                [--images name] [--labels name] [--factor-names name]\n"
    "                [--name dataset]\n"
    "       mmib-gen --list [--from file] [--format tsv | json]\n"
    "       mmib-gen --splits -d dataset | --from file\n"
    "       mmib-gen -h | -V\n";

static const char help[] =
    "  -d, --dataset NAME    dsprites, shapes3d, mpi3d (--list shows them), or\n"
    "                        generic: --from names your own images and labels\n"
    "  -n, --samples N|all   rows to draw (10000, or all of a smaller file of\n"
    "                        your own); all: the whole grid in order\n"
    "  -s, --seed S          seed of the sample and of a random split (0)\n"
    "  -o, --output FILE     write the stream to FILE (atomically), not stdout\n"
    "  -t, --threads N       render on N threads (1; the same stream)\n"
    "  --part P              train, test or all (default all)\n"
    "  --train-fraction F    share of the sample in the train part (0.75)\n"
    "  --missing FACTOR      pair every factor but FACTOR (default: pair all)\n"
    "  --essence LIST        pair exactly these factors (comma-separated)\n"
    "  --random-split        a random non-empty essence, drawn from the seed\n"
    "  --split K             the K-th distinct essence/nuisance split (no repeats)\n"
    "  --batch ROWS          rows per batch of the stream (512)\n"
    "  --from FILE           read images from a published file (npz, h5), or\n"
    "                        your own dataset: images and integer labels\n"
    "  --images NAME         your file's image array (images)\n"
    "  --labels NAME         its (N, F) integer label array (labels)\n"
    "  --factor-names NAME   its F factor names (factor_names; optional)\n"
    "  --name DATASET        the dataset's name (the file's base name)\n"
    "  --png FILE            a contact sheet of the first images as PNG\n"
    "  --png-count K         images on the sheet (64)\n"
    "  --list                list the datasets and their factors (with\n"
    "                        --from: the file's dataset)\n"
    "  --format F            tsv (default) or json, for --list\n"
    "  --splits              list the distinct splits of -d's (or --from's)\n"
    "                        dataset, in order\n"
    "  -z, --zstd            compress the stream with zstd\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n";

enum {
	OPT_PART = 256, OPT_FRAC, OPT_MISSING, OPT_ESSENCE, OPT_RANDOM,
	OPT_BATCH, OPT_FROM, OPT_PNG, OPT_PNGK, OPT_LIST, OPT_FORMAT,
	OPT_SPLIT, OPT_SPLITS, OPT_IMAGES, OPT_LABELS, OPT_FNAMES, OPT_NAME
};

static const struct option longopts[] = {
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "dataset", required_argument, NULL, 'd' },
	{ "essence", required_argument, NULL, OPT_ESSENCE },
	{ "factor-names", required_argument, NULL, OPT_FNAMES },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "help", no_argument, NULL, 'h' },
	{ "images", required_argument, NULL, OPT_IMAGES },
	{ "labels", required_argument, NULL, OPT_LABELS },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "missing", required_argument, NULL, OPT_MISSING },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "output", required_argument, NULL, 'o' },
	{ "part", required_argument, NULL, OPT_PART },
	{ "png", required_argument, NULL, OPT_PNG },
	{ "png-count", required_argument, NULL, OPT_PNGK },
	{ "quiet", no_argument, NULL, 'q' },
	{ "random-split", no_argument, NULL, OPT_RANDOM },
	{ "samples", required_argument, NULL, 'n' },
	{ "seed", required_argument, NULL, 's' },
	{ "split", required_argument, NULL, OPT_SPLIT },
	{ "splits", no_argument, NULL, OPT_SPLITS },
	{ "threads", required_argument, NULL, 't' },
	{ "train-fraction", required_argument, NULL, OPT_FRAC },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "zstd", no_argument, NULL, 'z' },
	{ NULL, 0, NULL, 0 }
};

static void
list_row(struct mm_table *t, const struct mm_dataset *ds)
{
	char fac[1024];
	size_t n;
	int f;

	for (f = 0, n = 0; f < ds->F && n < sizeof fac; f++)
		n += snprintf(fac + n, sizeof fac - n, "%s%s:%d",
		    f ? "," : "", ds->factor[f], ds->card[f]);
	mm_table_row(t);
	mm_table_str(t, "dataset", ds->name);
	mm_table_int(t, "channels", ds->channels);
	mm_table_int(t, "rows", (long long)ds->rows);
	mm_table_str(t, "factors", fac);
	mm_table_str(t, "file", ds->file);
	mm_table_end_row(t);
}

/* The dataset of --from's file, opened whole and unpaired. */
static void
open_file(struct mm_gen_run *g, const struct mm_gen_config *cfg)
{
	struct mm_gen_config c = *cfg;

	c.all = 1;
	c.part = "all";
	c.missing = c.essence = NULL;
	c.random_split = 0;
	c.split = 0;
	if (mm_gen_open(g, &c) < 0)
		mm_die("%s", mm_errmsg());
}

/* The registry, or (with --from) the dataset of one file. */
static void
list(const struct mm_gen_config *cfg, int json)
{
	struct mm_table t;
	struct mm_gen_run g;
	int i;

	mm_table_open(&t, stdout, json);
	mm_table_array(&t, "datasets", "dataset\tchannels\trows\tfactors\tfile");
	if (cfg->from) {
		open_file(&g, cfg);
		list_row(&t, g.ds);
		mm_gen_close(&g);
	} else
		for (i = 0; i < mm_gen_count(); i++)
			list_row(&t, mm_gen_at(i));
	mm_table_close(&t);
	mm_out_close(stdout);
}

/* --splits: the distinct splits of a dataset (-d, or --from's file) in
 * the order --split K numbers them, one line each (split, essence,
 * nuisance). */
static void
list_splits(const struct mm_gen_config *cfg)
{
	const struct mm_dataset *ds;
	struct mm_gen_run g;
	int64_t k, n;
	int e[MM_MAXFACTORS], f, w;

	if (cfg->from) {
		open_file(&g, cfg);
		ds = g.ds;
	} else if (cfg->dataset == NULL)
		mm_die("--splits: give the dataset (-d NAME; --list shows them)");
	else if ((ds = mm_gen_find(cfg->dataset)) == NULL)
		mm_die("--splits: unknown dataset '%s' (--list shows them)",
		    cfg->dataset);
	if ((n = mm_gen_split_count(ds)) == 0)
		mm_die("--splits: %s has one factor: no split", ds->name);
	printf("split\tessence\tnuisance\n");
	for (k = 1; k <= n; k++) {
		if (mm_gen_pair_split(ds, k, e) < 0)
			mm_die("%s", mm_errmsg());
		printf("%lld", (long long)k);
		for (w = 1; w >= 0; w--) {
			int first = 1;
			putchar('\t');
			for (f = 0; f < ds->F; f++)
				if (e[f] == w) {
					printf("%s%s", first ? "" : ",",
					    ds->factor[f]);
					first = 0;
				}
		}
		putchar('\n');
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		mm_die("stdout: write error");
}

/* The first k images (k, C, H, W) as a sheet: grey for one channel,
 * RGB from the first three of three or more, the first of two. */
static int
write_sheet(FILE *fo, uint8_t *img, int k, const struct mm_dataset *ds)
{
	int C = ds->channels, c = C >= 3 ? 3 : 1, i;
	size_t hw = (size_t)ds->height * ds->width;
	int cols = k >= 64 ? 8 : (int)ceil(sqrt((double)k));

	/* keep the leading c planes of each image, in place */
	for (i = 0; C != c && i < k; i++)
		memmove(img + (size_t)i * c * hw, img + (size_t)i * C * hw,
		    (size_t)c * hw);
	return mm_png_sheet(fo, img, k, c, ds->height, ds->width, cols,
	    255 / ds->pixel_max);
}

/* The batch's three tensors. */
static void
write_batch(struct mm_writer *w, const struct mm_gen_run *g, uint32_t bidx,
    const char *name)
{
	int64_t shape[4] = { g->k, g->ds->channels, g->ds->height,
	    g->ds->width };
	int rc;

	if ((rc = mm_writer_tensor(w, "images", bidx, MM_U8, 4, shape,
	    g->img)) < 0)
		mm_die_err(name, rc);
	shape[1] = g->ds->F;
	if ((rc = mm_writer_tensor(w, "classes", bidx, MM_I32, 2, shape,
	    g->cls)) < 0)
		mm_die_err(name, rc);
	shape[1] = g->D;
	if ((rc = mm_writer_tensor(w, "pair", bidx, MM_F32, 2, shape,
	    g->pair)) < 0)
		mm_die_err(name, rc);
}

int
main(int argc, char **argv)
{
	const char *png = NULL, *name;
	struct mm_cli cli;
	struct mm_gen_config cfg;
	struct mm_gen_run g;
	struct mm_meta meta;
	struct mm_writer *w = NULL;
	struct mm_progress prog;
	FILE *fo = NULL;
	int ch, rc, zstd = 0, listing = 0, json = 0, splits = 0;
	long pngk = 64;
	uint32_t bidx = 0;
	uint8_t *sheet = NULL;
	size_t isz;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	mm_gen_defaults(&cfg);
	while ((ch = getopt_long(argc, argv, "d:hn:o:qs:t:vVz", longopts,
	    NULL)) != -1)
		switch (ch) {
		case 'd': cfg.dataset = optarg; break;
		case 'n':
			if (strcmp(optarg, "all") == 0)
				cfg.all = 1;
			else
				cfg.n = mm_cli_long("-n", optarg, 1, 1L << 40);
			cfg.n_default = 0;
			break;
		case 's':
			cfg.seed = mm_cli_long("-s", optarg, 0,
			    0x7fffffffffffffffL);
			break;
		case 'z': zstd = 1; break;
		case OPT_BATCH:
			cfg.batch = mm_cli_long("--batch", optarg, 1, 1 << 20);
			break;
		case OPT_ESSENCE: cfg.essence = optarg; break;
		case OPT_FRAC:
			cfg.frac = mm_cli_double("--train-fraction", optarg, 0, 1);
			break;
		case OPT_FNAMES: cfg.generic.factor_names = optarg; break;
		case OPT_FROM: cfg.from = optarg; break;
		case OPT_FORMAT:
			if ((json = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
			break;
		case OPT_IMAGES: cfg.generic.images = optarg; break;
		case OPT_LABELS: cfg.generic.labels = optarg; break;
		case OPT_LIST: listing = 1; break;
		case OPT_MISSING: cfg.missing = optarg; break;
		case OPT_NAME: cfg.generic.name = optarg; break;
		case OPT_PART: cfg.part = optarg; break;
		case OPT_PNG: png = optarg; break;
		case OPT_PNGK:
			pngk = mm_cli_long("--png-count", optarg, 1, 4096);
			break;
		case OPT_RANDOM: cfg.random_split = 1; break;
		case OPT_SPLIT:
			cfg.split = mm_cli_long("--split", optarg, 1,
			    0x7fffffffffffffffL);
			break;
		case OPT_SPLITS: splits = 1; break;
		default: mm_cli_option(&cli, ch, optarg);
		}
	if (optind < argc)
		mm_cli_usage(&cli, 2);
	if (listing) {
		list(&cfg, json);
		return 0;
	}
	if (splits) {
		list_splits(&cfg);
		return 0;
	}
	cfg.threads = cli.threads;
	if (mm_same_path(png, cli.out))
		mm_die("%s: --png and -o name the same file", png);
	if (mm_same_path(cfg.from, cli.out))
		mm_die("%s: -o would replace the --from file", cli.out);
	if ((rc = mm_gen_open(&g, &cfg)) < 0)
		mm_die("%s", mm_errmsg());
	isz = g.isz;
	if (png && pngk > g.count)
		pngk = (long)g.count;
	if (png && (sheet = malloc(isz * pngk)) == NULL)
		mm_die("out of memory");
	mm_meta_init(&meta);
	if (mm_meta_set(&meta, "tool", "mmib-gen") < 0 ||
	    mm_meta_set(&meta, "version", MM_VERSION) < 0 ||
	    mm_gen_run_meta(&g, &meta) < 0 || mm_prov_data(&meta) < 0)
		mm_die_err("metadata", MM_ENOMEM);

	/* with --png and no -o only the contact sheet is written */
	name = cli.out ? cli.out : "<stdout>";
	if (!png || cli.out) {
		fo = mm_out_open(cli.out, 1);
		if ((w = mm_writer_open(fo, zstd ? 3 : 0)) == NULL)
			mm_die("out of memory");
		if ((rc = mm_writer_meta(w, &meta)) < 0)
			mm_die_err(name, rc);
	} else
		mm_gen_limit(&g, pngk);

	mm_progress_start(&prog, "mmib-gen", (uint64_t)g.count);
	while ((rc = (int)mm_gen_next(&g)) > 0) {
		if (sheet && g.at < pngk)
			memcpy(sheet + g.at * isz, g.img, isz * (g.at + g.k <=
			    pngk ? g.k : pngk - g.at));
		if (w)
			write_batch(w, &g, bidx, name);
		bidx++;
		mm_progress_update(&prog, (uint64_t)(g.at + g.k));
	}
	if (rc < 0)
		mm_die("%s", mm_errmsg());
	mm_progress_end(&prog);
	if (w) {
		if ((rc = mm_writer_end(w)) < 0 ||
		    (rc = mm_writer_close(w)) < 0)
			mm_die_err(name, rc);
		mm_out_close(fo);
	}
	if (sheet) {
		fo = mm_out_open(png, 1);
		if ((rc = write_sheet(fo, sheet, (int)pngk, g.ds)) < 0)
			mm_die_err(png, rc);
		mm_out_close(fo);
	}
	mm_note("%s: %lld rows of %s (%s)", cli.out ? cli.out : png ? png :
	    "<stdout>", (long long)g.count, g.ds->name, g.src.label);
	mm_gen_close(&g);
	mm_meta_free(&meta);
	free(sheet);
	return 0;
}
