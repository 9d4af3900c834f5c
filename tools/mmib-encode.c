/*
 * mmib-encode - embed a paired stream with a trained model: z_img from the
 * images, z_fac from the pair vectors (evaluation mode, L2-normalised),
 * one batch in, one batch out.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "meta.h"
#include "model.h"
#include "pairs.h"
#include "prov.h"
#include "stream.h"


static const char usage[] =
    "usage: mmib-encode [-hqVvz] [--force] [--modality img|fac|both] [-o file]\n"
    "                   [-t threads] -m model [file]\n";

static const char help[] =
    "  -m, --model FILE      the model from mmib-train (required)\n"
    "  --force               use inputs of mismatched provenance (prov: mmib-stream(5))\n"
    "  --modality M          img, fac or both (default both)\n"
    "  -o, --output FILE     write the stream to FILE, not stdout\n"
    "  -t, --threads N       BLAS threads (1)\n"
    "  -z, --zstd            compress the stream with zstd\n"
    "  -q, -v                quieter; -v: the model, then rows and rows/s\n"
    "  -h, -V                this help, the version\n";

static const struct option longopts[] = {
	{ "force", no_argument, NULL, 'F' },
	{ "help", no_argument, NULL, 'h' },
	{ "model", required_argument, NULL, 'm' },
	{ "modality", required_argument, NULL, 'M' },
	{ "output", required_argument, NULL, 'o' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "threads", required_argument, NULL, 't' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "zstd", no_argument, NULL, 'z' },
	{ NULL, 0, NULL, 0 }
};

/* The output metadata: the input's keys, the model's "model.*" keys and
 * the name of the model file. */
static void
write_meta(struct mm_writer *w, const struct mm_meta *in,
    const struct mm_model *m, const char *path, const char *modality)
{
	struct mm_meta out;
	char fp[17];
	int i, rc = 0;

	mm_meta_init(&out);
	rc |= mm_meta_copy(&out, in);
	rc |= mm_meta_set(&out, "tool", "mmib-encode");
	rc |= mm_meta_set(&out, "version", MM_VERSION);
	for (i = 0; i < m->meta.n; i++)
		if (!strncmp(m->meta.key[i], "model.", 6))
			rc |= mm_meta_set(&out, m->meta.key[i], m->meta.val[i]);
	rc |= mm_model_scalars_meta(m, &out, "model.");
	mm_prov_model(m, fp);
	rc |= mm_meta_set(&out, "model.fp", fp);
	rc |= mm_meta_set(&out, "model.file", path);
	rc |= mm_meta_set(&out, "modality", modality);
	if (rc)
		mm_die("out of memory");
	if ((rc = mm_writer_meta(w, &out)) < 0)
		mm_die_err("output", rc);
	mm_meta_free(&out);
}

/* The model, its scratch rows and what to embed. */
struct enc {
	struct mm_model model;
	const char *mpath, *name;       /* model file, input name */
	int want_img, want_fac, chunk, code;
	int force;                      /* --force: skip the provenance check */
	float *x, *p, *zi, *zf;         /* (chunk, C, H, W), (chunk, D), 2 x (chunk, code) */
};

/* The batch's tensors must be those the model was trained on. */
static void
check_batch(const struct enc *e, struct mm_batch *b)
{
	const struct mm_arch *a = &e->model.a;
	struct mm_record *im = mm_batch_get(b, "images");
	struct mm_record *pr = mm_batch_get(b, "pair");

	if (e->want_img) {
		if (!im)
			mm_die("%s: batch %u has no 'images' tensor", e->name,
			    b->index);
		if (im->dtype != MM_U8 || im->ndim != 4 || im->shape[1] != a->C ||
		    im->shape[2] != a->H || im->shape[3] != a->W)
			mm_die("%s: images are %s %lldx%lldx%lld, the model "
			    "%s wants u8 %dx%dx%d", e->name,
			    mm_dtype_name(im->dtype),
			    (long long)(im->ndim > 1 ? im->shape[1] : 0),
			    (long long)(im->ndim > 2 ? im->shape[2] : 0),
			    (long long)(im->ndim > 3 ? im->shape[3] : 0),
			    e->mpath, a->C, a->H, a->W);
	}
	if (e->want_fac) {
		if (!pr)
			mm_die("%s: batch %u has no 'pair' tensor", e->name,
			    b->index);
		if (pr->dtype != MM_F32 || pr->ndim != 2 ||
		    pr->shape[1] != a->pair_dim)
			mm_die("%s: pair vectors have %lld columns, the model "
			    "%s wants %d (another essence split?)", e->name,
			    (long long)(pr->ndim == 2 ? pr->shape[1] : 0),
			    e->mpath, a->pair_dim);
	}
}

/* The data must mean what the model's training data meant: the same
 * dataset, factors and essence (fp.pairing, prov.h). */
static void
check_origin(const struct enc *e, const struct mm_meta *data)
{
	if (mm_prov_known(&e->model.meta, "fp.pairing") < 0 ||
	    mm_prov_known(data, "fp.pairing") < 0) {
		mm_note("%s, %s: no data fingerprint (an older mmib?): "
		    "pairing not checked", e->mpath, e->name);
		return;
	}
	if (!e->force && mm_prov_check_encode(&e->model.meta, data) < 0)
		mm_die("%s, %s: %s (--force encodes anyway)", e->mpath,
		    e->name, mm_errmsg());
}

/* z_img and z_fac of one batch (those wanted), and its classes. */
static void
encode_batch(struct enc *e, struct mm_batch *b, struct mm_writer *w)
{
	struct mm_record *cl = mm_batch_get(b, "classes");
	struct mm_pairs v;
	int64_t n = b->rows, r, shape[2];
	size_t zsz = (size_t)n * e->code * sizeof(float);
	float *ozi = NULL, *ozf = NULL;
	int rc;

	check_batch(e, b);
	if (mm_pairs_view(&v, b, (e->want_img ? MM_PAIRS_IMAGES : 0) |
	    (e->want_fac ? MM_PAIRS_PAIR : 0)) < 0)
		mm_die("%s: %s", e->name, mm_errmsg());
	if ((e->want_img && !(ozi = malloc(zsz))) ||
	    (e->want_fac && !(ozf = malloc(zsz))))
		mm_die("out of memory");
	for (r = 0; r < n; r += e->chunk) {
		int m = (int)(n - r < e->chunk ? n - r : e->chunk);
		size_t mz = (size_t)m * e->code * sizeof(float);

		mm_pairs_slice(&v, r, m, e->want_img ? e->x : NULL,
		    e->want_fac ? e->p : NULL);
		mm_model_encode(&e->model, e->want_img ? e->x : NULL,
		    e->want_fac ? e->p : NULL, m, e->zi, e->zf);
		if (e->want_img)
			memcpy(ozi + r * e->code, e->zi, mz);
		if (e->want_fac)
			memcpy(ozf + r * e->code, e->zf, mz);
	}
	shape[0] = n;
	shape[1] = e->code;
	if ((e->want_img && (rc = mm_writer_tensor(w, "z_img", b->index,
	    MM_F32, 2, shape, ozi)) < 0) ||
	    (e->want_fac && (rc = mm_writer_tensor(w, "z_fac", b->index,
	    MM_F32, 2, shape, ozf)) < 0) ||
	    (cl && (rc = mm_writer_tensor(w, "classes", b->index,
	    cl->dtype, cl->ndim, cl->shape, cl->data)) < 0))
		mm_die_err("output", rc);
	free(ozi);
	free(ozf);
}

int
main(int argc, char **argv)
{
	const char *modality = "both";
	struct mm_cli cli;
	struct enc e;
	struct mm_reader *rd;
	struct mm_writer *w;
	struct mm_batch b;
	FILE *in, *f, *o;
	int c, i, rc, zlevel = 0, started = 0;
	int64_t rows = 0;
	double t0;

	memset(&e, 0, sizeof e);
	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	while ((c = getopt_long(argc, argv, "hm:o:qt:Vvz", longopts, NULL)) != -1)
		switch (c) {
		case 'm':
			e.mpath = optarg;
			break;
		case 'M':
			if (strcmp(optarg, "img") && strcmp(optarg, "fac") &&
			    strcmp(optarg, "both"))
				mm_die("--modality: '%s' is not img, fac or both",
				    optarg);
			modality = optarg;
			break;
		case 'F':
			e.force = 1;
			break;
		case 'z':
			zlevel = 3;
			break;
		default:
			mm_cli_option(&cli, c, optarg);
		}
	argc -= optind;
	argv += optind;
	mm_note("%s", mm_blas_core_desc());
	if (argc > 1 || !e.mpath)
		mm_cli_usage(&cli, 2);
	e.want_img = strcmp(modality, "fac") != 0;
	e.want_fac = strcmp(modality, "img") != 0;
	mm_blas_threads(cli.threads);

	f = mm_in_open(e.mpath);
	if ((rc = mm_model_load(&e.model, f, e.mpath, 0)) < 0)
		mm_die_err(e.mpath, rc);
	mm_in_close(f);
	e.chunk = e.model.max_batch;
	e.code = e.model.a.code;
	e.x = malloc((size_t)e.chunk * e.model.a.C * e.model.a.H *
	    e.model.a.W * sizeof(float));
	e.p = malloc((size_t)e.chunk * e.model.a.pair_dim * sizeof(float));
	e.zi = malloc((size_t)e.chunk * e.code * sizeof(float));
	e.zf = malloc((size_t)e.chunk * e.code * sizeof(float));
	if (!e.x || !e.p || !e.zi || !e.zf)
		mm_die("out of memory");
	mm_note("%s: %s + %s, code %d, %zu parameters, %dx%dx%d images, "
	    "%d-d pairs", e.mpath, e.model.a.img_spec, e.model.a.fac_spec,
	    e.code, mm_model_nparams(&e.model), e.model.a.C, e.model.a.H,
	    e.model.a.W, e.model.a.pair_dim);

	in = mm_in_open(argc ? argv[0] : NULL);
	e.name = mm_in_name(argc ? argv[0] : NULL);
	if (!(rd = mm_reader_open(in, e.name)))
		mm_die("out of memory");
	o = mm_out_open(cli.out, 1);
	if (!(w = mm_writer_open(o, zlevel)))
		mm_die("out of memory");
	mm_batch_init(&b);
	t0 = mm_now();
	while ((rc = mm_reader_batch(rd, &b)) > 0) {
		if (b.new_segment) {
			if (started && (rc = mm_writer_end(w)) < 0)
				mm_die_err("output", rc);
			/* shapes first: their message is the more precise */
			check_batch(&e, &b);
			check_origin(&e, mm_reader_meta(rd));
			write_meta(w, mm_reader_meta(rd), &e.model, e.mpath,
			    modality);
			started = 1;
		}
		for (i = 0; i < b.nside; i++)
			if (b.side[i].kind != 'S' &&
			    (rc = mm_writer_record(w, &b.side[i])) < 0)
				mm_die_err("output", rc);
		encode_batch(&e, &b, w);
		rows += b.rows;
	}
	if (rc < 0)
		mm_die_err(e.name, rc);
	if (!started)
		mm_die("%s: no batches to encode", e.name);
	if ((rc = mm_writer_end(w)) < 0 || (rc = mm_writer_close(w)) < 0)
		mm_die_err("output", rc);
	mm_out_close(o);
	t0 = mm_now() - t0;
	mm_note("%s: %lld rows (%s) in %.2f s, %.0f rows/s", e.name,
	    (long long)rows, modality, t0, t0 > 0 ? rows / t0 : 0.0);
	mm_batch_free(&b);
	mm_reader_close(rd);
	mm_in_close(in);
	mm_model_free(&e.model);
	free(e.x);
	free(e.p);
	free(e.zi);
	free(e.zf);
	return 0;
}
