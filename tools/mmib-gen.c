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
    "       mmib-gen --list [--format tsv | json]\n"
    "       mmib-gen --splits -d dataset\n"
    "       mmib-gen -h | -V\n";

static const char help[] =
    "  -d, --dataset NAME    dsprites, shapes3d or mpi3d (--list shows them)\n"
    "  -n, --samples N|all   rows to draw (default 10000); all: the whole grid\n"
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
    "  --from FILE           read images from a published file (npz, h5)\n"
    "  --png FILE            a contact sheet of the first images as PNG\n"
    "  --png-count K         images on the sheet (64)\n"
    "  --list                list the datasets and their factors\n"
    "  --format F            tsv (default) or json, for --list\n"
    "  --splits              list the distinct splits of -d's dataset, in order\n"
    "  -z, --zstd            compress the stream with zstd\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n";

enum {
	OPT_PART = 256, OPT_FRAC, OPT_MISSING, OPT_ESSENCE, OPT_RANDOM,
	OPT_BATCH, OPT_FROM, OPT_PNG, OPT_PNGK, OPT_LIST, OPT_FORMAT,
	OPT_SPLIT, OPT_SPLITS
};

static const struct option longopts[] = {
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "dataset", required_argument, NULL, 'd' },
	{ "essence", required_argument, NULL, OPT_ESSENCE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "help", no_argument, NULL, 'h' },
	{ "list", no_argument, NULL, OPT_LIST },
	{ "missing", required_argument, NULL, OPT_MISSING },
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
list(int json)
{
	struct mm_table t;
	char fac[1024];
	size_t n;
	int i, f;

	mm_table_open(&t, stdout, json);
	mm_table_array(&t, "datasets", "dataset\tchannels\trows\tfactors\tfile");
	for (i = 0; i < mm_gen_count(); i++) {
		const struct mm_dataset *ds = mm_gen_at(i);
		for (f = 0, n = 0; f < ds->F && n < sizeof fac; f++)
			n += snprintf(fac + n, sizeof fac - n, "%s%s:%d",
			    f ? "," : "", ds->factor[f], ds->card[f]);
		mm_table_row(&t);
		mm_table_str(&t, "dataset", ds->name);
		mm_table_int(&t, "channels", ds->channels);
		mm_table_int(&t, "rows", (long long)ds->rows);
		mm_table_str(&t, "factors", fac);
		mm_table_str(&t, "file", ds->file);
		mm_table_end_row(&t);
	}
	mm_table_close(&t);
	mm_out_close(stdout);
}

/* --splits: the distinct splits of a dataset in the order --split K
 * numbers them, one line each (split, essence, nuisance). */
static void
list_splits(const char *dataset)
{
	const struct mm_dataset *ds;
	int64_t k, n;
	int e[MM_MAXFACTORS], f, w;

	if (dataset == NULL)
		mm_die("--splits: give the dataset (-d NAME; --list shows them)");
	if ((ds = mm_gen_find(dataset)) == NULL)
		mm_die("--splits: unknown dataset '%s' (--list shows them)",
		    dataset);
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

/* The batch's three tensors. */
static void
write_batch(struct mm_writer *w, const struct mm_gen_run *g, uint32_t bidx,
    const char *name)
{
	int64_t shape[4] = { g->k, g->ds->channels, MM_GEN_H_PX, MM_GEN_W_PX };
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
		case OPT_FROM: cfg.from = optarg; break;
		case OPT_FORMAT:
			if ((json = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
			break;
		case OPT_LIST: listing = 1; break;
		case OPT_MISSING: cfg.missing = optarg; break;
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
		list(json);
		return 0;
	}
	if (splits) {
		list_splits(cfg.dataset);
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
		int cols = pngk >= 64 ? 8 : (int)ceil(sqrt((double)pngk));
		fo = mm_out_open(png, 1);
		if ((rc = mm_png_sheet(fo, sheet, (int)pngk, g.ds->channels,
		    MM_GEN_H_PX, MM_GEN_W_PX, cols,
		    255 / g.ds->pixel_max)) < 0)
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
