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
#include "rng.h"
#include "sheet.h"
#include "stream.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mmib-gen [-qvz] [-d dataset] [-n count | all] [-s seed] "
	    "[-o file]\n"
	    "                [--part train | test | all] "
	    "[--train-fraction f]\n"
	    "                [--missing factor | --essence list | "
	    "--random-split]\n"
	    "                [--batch rows] [--from file] [--png file] "
	    "[--png-count k]\n"
	    "       mmib-gen --list\n"
	    "       mmib-gen -h | -V\n");
}

enum {
	OPT_PART = 256, OPT_FRAC, OPT_MISSING, OPT_ESSENCE, OPT_RANDOM,
	OPT_BATCH, OPT_FROM, OPT_PNG, OPT_PNGK, OPT_LIST
};

static const struct option longopts[] = {
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "dataset", required_argument, NULL, 'd' },
	{ "essence", required_argument, NULL, OPT_ESSENCE },
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
	{ "train-fraction", required_argument, NULL, OPT_FRAC },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "zstd", no_argument, NULL, 'z' },
	{ NULL, 0, NULL, 0 }
};

static void
list(void)
{
	int i, f;

	printf("dataset\tchannels\trows\tfactors\tfile\n");
	for (i = 0; i < mm_gen_count(); i++) {
		const struct mm_dataset *ds = mm_gen_at(i);
		printf("%s\t%d\t%lld\t", ds->name, ds->channels,
		    (long long)ds->rows);
		for (f = 0; f < ds->F; f++)
			printf("%s%s:%d", f ? "," : "", ds->factor[f],
			    ds->card[f]);
		printf("\t%s\n", ds->file);
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		mm_die("stdout: write error");
}

/* Sort positions by row so a file is read front to back. */
static const int64_t *sort_rows;

static int
cmp_pos(const void *a, const void *b)
{
	int64_t x = sort_rows[*(const int64_t *)a];
	int64_t y = sort_rows[*(const int64_t *)b];
	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	const char *dname = NULL, *out = NULL, *from = NULL, *png = NULL;
	const char *missing = NULL, *essence_list = NULL, *part = "all";
	const struct mm_dataset *ds;
	struct mm_source src;
	struct mm_rng root, samp, pairing;
	struct mm_meta meta;
	struct mm_writer *w = NULL;
	struct mm_progress prog;
	FILE *fo = NULL;
	int essence[MM_MAXFACTORS];
	int ch, rc, zstd = 0, random_split = 0, all = 0, D, F;
	long batch = 512, pngk = 64;
	long long n = 10000, seed = 0;
	double frac = 0.75;
	int64_t *sample = NULL, *order = NULL, *pos = NULL, *srows = NULL;
	int64_t ntrain, first, count, chunk, c0, done, bidx = 0, k;
	uint8_t *img = NULL, *cimg = NULL, *sheet = NULL;
	int32_t *cls = NULL;
	float *pairv = NULL;
	size_t isz;
	char pairing_desc[600];

	mm_cli_init(argc, argv);
	while ((ch = getopt_long(argc, argv, "d:hn:o:qs:vVz", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			dname = optarg;
			break;
		case 'h':
			usage();
			return 0;
		case 'n':
			if (strcmp(optarg, "all") == 0)
				all = 1;
			else
				n = mm_cli_long("-n", optarg, 1, 1L << 40);
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			mm_verbose = 0;
			break;
		case 's':
			seed = mm_cli_long("-s", optarg, 0, 0x7fffffffffffffffL);
			break;
		case 'v':
			mm_verbose++;
			break;
		case 'V':
			mm_cli_version();
		case 'z':
			zstd = 1;
			break;
		case OPT_BATCH:
			batch = mm_cli_long("--batch", optarg, 1, 1 << 20);
			break;
		case OPT_ESSENCE:
			essence_list = optarg;
			break;
		case OPT_FRAC:
			frac = mm_cli_double("--train-fraction", optarg, 0, 1);
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_LIST:
			list();
			return 0;
		case OPT_MISSING:
			missing = optarg;
			break;
		case OPT_PART:
			if (strcmp(optarg, "train") && strcmp(optarg, "test") &&
			    strcmp(optarg, "all"))
				mm_die("--part: '%s' is not train, test or all",
				    optarg);
			part = optarg;
			break;
		case OPT_PNG:
			png = optarg;
			break;
		case OPT_PNGK:
			pngk = mm_cli_long("--png-count", optarg, 1, 4096);
			break;
		case OPT_RANDOM:
			random_split = 1;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind < argc) {
		usage();
		return 2;
	}
	if ((missing != NULL) + (essence_list != NULL) + random_split > 1)
		mm_die("--missing, --essence and --random-split exclude each "
		    "other");

	/* the dataset: named, or detected from the file */
	ds = NULL;
	if (dname && (ds = mm_gen_find(dname)) == NULL) {
		char names[256] = "";
		int i;
		for (i = 0; i < mm_gen_count(); i++) {
			strcat(names, i ? ", " : "");
			strcat(names, mm_gen_at(i)->name);
		}
		mm_die("unknown dataset '%s' (known: %s)", dname, names);
	}
	if (!ds && !from)
		mm_die("no dataset: give -d dsprites|shapes3d|mpi3d "
		    "(see --list) or --from FILE");
	if (from)
		rc = mm_source_file(&src, from, ds);
	else
		rc = mm_source_render(&src, ds);
	if (rc < 0)
		mm_die("%s", mm_errmsg());  /* the detail names the file */
	ds = src.ds;
	F = ds->F;
	isz = (size_t)ds->channels * MM_GEN_H_PX * MM_GEN_W_PX;

	/* one seeded root; sampling and pairing draw from separate children
	 * so a pairing choice never changes which rows are drawn */
	mm_rng_seed(&root, (uint64_t)seed);
	mm_rng_split(&root, 1, &samp);
	mm_rng_split(&root, 2, &pairing);

	if (missing) {
		if ((rc = mm_gen_pair_missing(ds, missing, essence)) < 0)
			mm_die_err("--missing", rc);
		snprintf(pairing_desc, sizeof pairing_desc, "missing:%s",
		    missing);
	} else if (essence_list) {
		if ((rc = mm_gen_pair_list(ds, essence_list, essence)) < 0)
			mm_die_err("--essence", rc);
		snprintf(pairing_desc, sizeof pairing_desc, "essence");
	} else if (random_split) {
		mm_gen_pair_random(ds, &pairing, essence);
		snprintf(pairing_desc, sizeof pairing_desc, "random");
	} else {
		for (ch = 0; ch < F; ch++)
			essence[ch] = 1;
		snprintf(pairing_desc, sizeof pairing_desc, "all");
	}
	D = mm_gen_pair_dim(ds, essence);

	/* rows: the whole grid in order, or a seeded sample split in two */
	if (all) {
		if (strcmp(part, "all") != 0)
			mm_die("--part %s: -n all streams the whole grid, "
			    "which has no split", part);
		n = ds->rows;
		ntrain = n;
		first = 0;
		count = n;
	} else {
		if (n > ds->rows)
			mm_die("-n %lld: the %s grid has only %lld rows", n,
			    ds->name, (long long)ds->rows);
		if ((sample = malloc(sizeof *sample * n)) == NULL)
			mm_die("out of memory");
		if ((rc = mm_gen_sample(&samp, ds->rows, n, sample)) < 0)
			mm_die_err("sampling", rc);
		ntrain = (int64_t)floor((double)n * frac + 1e-9);
		first = strcmp(part, "test") == 0 ? ntrain : 0;
		count = strcmp(part, "train") == 0 ? ntrain :
		    strcmp(part, "test") == 0 ? n - ntrain : n;
		if (count == 0)
			mm_die("--part %s: no rows (-n %lld, --train-fraction "
			    "%g)", part, n, frac);
	}

	/* a forward-only file is read in one pass over the whole part */
	chunk = batch;
	if (!all && !src.seekable)
		chunk = count;
	if (png && pngk > count)
		pngk = (long)count;
	if ((order = malloc(sizeof *order * chunk)) == NULL ||
	    (img = malloc(isz * batch)) == NULL ||
	    (cls = malloc(sizeof *cls * F * batch)) == NULL ||
	    (pairv = malloc(sizeof *pairv * (size_t)D * batch)) == NULL ||
	    (png && (sheet = malloc(isz * pngk)) == NULL))
		mm_die("out of memory");
	if (src.kind != 0 && ((pos = malloc(sizeof *pos * chunk)) == NULL ||
	    (srows = malloc(sizeof *srows * chunk)) == NULL ||
	    (cimg = malloc(isz * chunk)) == NULL))
		mm_die("out of memory (%lld rows of a deflated member are "
		    "read in one pass)", (long long)chunk);

	mm_meta_init(&meta);
	if (mm_meta_set(&meta, "tool", "mmib-gen") < 0 ||
	    mm_meta_set(&meta, "version", MM_VERSION) < 0 ||
	    mm_gen_meta(ds, essence, &meta) < 0 ||
	    mm_meta_setf(&meta, "seed", "%lld", seed) < 0 ||
	    mm_meta_set(&meta, "part", part) < 0 ||
	    mm_meta_setf(&meta, "rows", "%lld", (long long)count) < 0 ||
	    mm_meta_setf(&meta, "n", "%lld", n) < 0 ||
	    mm_meta_setf(&meta, "train_fraction", "%g", all ? 1.0 : frac) < 0 ||
	    mm_meta_setf(&meta, "train_rows", "%lld", (long long)ntrain) < 0 ||
	    mm_meta_set(&meta, "pairing", pairing_desc) < 0 ||
	    mm_meta_set(&meta, "source", from ? "file" : "render") < 0 ||
	    mm_meta_set(&meta, "order", all ? "grid" : "sample") < 0)
		mm_die_err("metadata", MM_ENOMEM);

	/* with --png and no -o only the contact sheet is written */
	if (!png || out) {
		fo = mm_out_open(out, 1);
		if ((w = mm_writer_open(fo, zstd ? 3 : 0)) == NULL)
			mm_die("out of memory");
		if ((rc = mm_writer_meta(w, &meta)) < 0)
			mm_die_err(out ? out : "<stdout>", rc);
	} else
		count = pngk;

	mm_progress_start(&prog, "mmib-gen", (uint64_t)count);
	for (c0 = 0; c0 < count; c0 += chunk) {
		int64_t cn = count - c0 < chunk ? count - c0 : chunk, i;

		for (i = 0; i < cn; i++)
			order[i] = all ? c0 + i : sample[first + c0 + i];
		if (src.kind != 0) {
			/* read the chunk's rows in ascending order */
			for (i = 0; i < cn; i++)
				pos[i] = i;
			sort_rows = order;
			qsort(pos, cn, sizeof *pos, cmp_pos);
			for (i = 0; i < cn; i++)
				srows[i] = order[pos[i]];
			if ((rc = mm_source_read(&src, srows, cn, cimg)) < 0)
				mm_die("%s", mm_errmsg());
			/* pos[i] is the chunk slot that holds sorted image i */
		}
		for (done = 0; done < cn; done += k) {
			int64_t shape[4];
			k = cn - done < batch ? cn - done : batch;
			if (src.kind == 0) {
				if ((rc = mm_source_read(&src, order + done, k,
				    img)) < 0)
					mm_die_err(src.label, rc);
			} else
				for (i = 0; i < cn; i++)
					if (pos[i] >= done && pos[i] < done + k)
						memcpy(img + (pos[i] - done) * isz,
						    cimg + i * isz, isz);
			for (i = 0; i < k; i++) {
				mm_gen_classes(ds, order[done + i], cls + i * F);
				mm_gen_pair_row(ds, essence, cls + i * F,
				    pairv + i * D);
			}
			if (sheet) {
				int64_t at = c0 + done;
				for (i = 0; i < k && at + i < pngk; i++)
					memcpy(sheet + (at + i) * isz,
					    img + i * isz, isz);
			}
			if (w) {
				shape[0] = k;
				shape[1] = ds->channels;
				shape[2] = MM_GEN_H_PX;
				shape[3] = MM_GEN_W_PX;
				if ((rc = mm_writer_tensor(w, "images", bidx,
				    MM_U8, 4, shape, img)) < 0)
					mm_die_err(out ? out : "<stdout>", rc);
				shape[1] = F;
				if ((rc = mm_writer_tensor(w, "classes", bidx,
				    MM_I32, 2, shape, cls)) < 0)
					mm_die_err(out ? out : "<stdout>", rc);
				shape[1] = D;
				if ((rc = mm_writer_tensor(w, "pair", bidx,
				    MM_F32, 2, shape, pairv)) < 0)
					mm_die_err(out ? out : "<stdout>", rc);
			}
			bidx++;
			mm_progress_update(&prog, (uint64_t)(c0 + done + k));
		}
	}
	mm_progress_end(&prog);
	if (w) {
		if ((rc = mm_writer_end(w)) < 0 ||
		    (rc = mm_writer_close(w)) < 0)
			mm_die_err(out ? out : "<stdout>", rc);
		mm_out_close(fo);
	}
	if (sheet) {
		int cols = pngk >= 64 ? 8 : (int)ceil(sqrt((double)pngk));
		fo = mm_out_open(png, 1);
		if ((rc = mm_png_sheet(fo, sheet, (int)pngk, ds->channels,
		    MM_GEN_H_PX, MM_GEN_W_PX, cols,
		    strcmp(ds->name, "dsprites") == 0 ? 255 : 1)) < 0)
			mm_die_err(png, rc);
		mm_out_close(fo);
	}
	mm_note("%s: %lld rows of %s (%s)", out ? out : png ? png : "<stdout>",
	    (long long)count, ds->name, src.label);
	mm_source_close(&src);
	mm_meta_free(&meta);
	free(sample);
	free(order);
	free(pos);
	free(srows);
	free(img);
	free(cimg);
	free(cls);
	free(pairv);
	free(sheet);
	return 0;
}
