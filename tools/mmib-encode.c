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
#include "stream.h"


static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
	    "usage: mmib-encode [-hqVvz] [--modality img|fac|both] [-o file]\n"
	    "                   [-t threads] -m model [file]\n");
	exit(status);
}

static const struct option longopts[] = {
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
	int i, rc = 0;

	mm_meta_init(&out);
	rc |= mm_meta_copy(&out, in);
	rc |= mm_meta_set(&out, "tool", "mmib-encode");
	rc |= mm_meta_set(&out, "version", MM_VERSION);
	for (i = 0; i < m->meta.n; i++)
		if (!strncmp(m->meta.key[i], "model.", 6))
			rc |= mm_meta_set(&out, m->meta.key[i], m->meta.val[i]);
	rc |= mm_model_scalars_meta(m, &out, "model.");
	rc |= mm_meta_set(&out, "model.file", path);
	rc |= mm_meta_set(&out, "modality", modality);
	if (rc)
		mm_die("out of memory");
	if ((rc = mm_writer_meta(w, &out)) < 0)
		mm_die_err("output", rc);
	mm_meta_free(&out);
}

int
main(int argc, char **argv)
{
	const char *mpath = NULL, *out = NULL, *modality = "both", *name;
	struct mm_model model;
	struct mm_reader *rd;
	struct mm_writer *w;
	struct mm_batch b;
	FILE *in, *f, *o;
	float *x, *p, *zi, *zf;
	int c, rc, threads = 1, zlevel = 0, want_img, want_fac, started = 0;
	int code, chunk;

	mm_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "hm:o:qt:Vvz", longopts, NULL)) != -1)
		switch (c) {
		case 'h':
			usage(0);
			break;
		case 'm':
			mpath = optarg;
			break;
		case 'M':
			if (strcmp(optarg, "img") && strcmp(optarg, "fac") &&
			    strcmp(optarg, "both"))
				mm_die("--modality: '%s' is not img, fac or both",
				    optarg);
			modality = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'q':
			mm_verbose = 0;
			break;
		case 't':
			threads = (int)mm_cli_long("-t", optarg, 1, 256);
			break;
		case 'V':
			mm_cli_version();
			break;
		case 'v':
			mm_verbose++;
			break;
		case 'z':
			zlevel = 3;
			break;
		default:
			usage(1);
		}
	argc -= optind;
	argv += optind;
	if (argc > 1 || !mpath)
		usage(1);
	want_img = strcmp(modality, "fac") != 0;
	want_fac = strcmp(modality, "img") != 0;
	mm_blas_threads(threads);

	f = mm_in_open(mpath);
	if ((rc = mm_model_load(&model, f, mpath, 0)) < 0)
		mm_die_err(mpath, rc);
	mm_in_close(f);
	chunk = model.max_batch;
	code = model.a.code;

	in = mm_in_open(argc ? argv[0] : NULL);
	name = mm_in_name(argc ? argv[0] : NULL);
	if (!(rd = mm_reader_open(in, name)))
		mm_die("out of memory");
	x = malloc((size_t)chunk * model.a.C * model.a.H * model.a.W *
	    sizeof(float));
	p = malloc((size_t)chunk * model.a.pair_dim * sizeof(float));
	zi = malloc((size_t)chunk * code * sizeof(float));
	zf = malloc((size_t)chunk * code * sizeof(float));
	if (!x || !p || !zi || !zf)
		mm_die("out of memory");
	o = mm_out_open(out, 1);
	if (!(w = mm_writer_open(o, zlevel)))
		mm_die("out of memory");
	mm_batch_init(&b);
	while ((rc = mm_reader_batch(rd, &b)) > 0) {
		struct mm_record *im = mm_batch_get(&b, "images");
		struct mm_record *pr = mm_batch_get(&b, "pair");
		struct mm_record *cl = mm_batch_get(&b, "classes");
		int64_t n = b.rows, r, k, shape[2];
		float *ozi = NULL, *ozf = NULL;
		int i;

		if (b.new_segment) {
			if (started && (rc = mm_writer_end(w)) < 0)
				mm_die_err("output", rc);
			write_meta(w, mm_reader_meta(rd), &model, mpath, modality);
			started = 1;
		}
		for (i = 0; i < b.nside; i++)
			if (b.side[i].kind != 'S' &&
			    (rc = mm_writer_record(w, &b.side[i])) < 0)
				mm_die_err("output", rc);
		if (want_img) {
			if (!im)
				mm_die("%s: batch %u has no 'images' tensor", name,
				    b.index);
			if (im->dtype != MM_U8 || im->ndim != 4 ||
			    im->shape[1] != model.a.C || im->shape[2] != model.a.H ||
			    im->shape[3] != model.a.W)
				mm_die("%s: images are %s %lldx%lldx%lld, the model "
				    "%s wants u8 %dx%dx%d", name,
				    mm_dtype_name(im->dtype),
				    (long long)(im->ndim > 1 ? im->shape[1] : 0),
				    (long long)(im->ndim > 2 ? im->shape[2] : 0),
				    (long long)(im->ndim > 3 ? im->shape[3] : 0),
				    mpath, model.a.C, model.a.H, model.a.W);
			if (!(ozi = malloc((size_t)n * code * sizeof(float))))
				mm_die("out of memory");
		}
		if (want_fac) {
			if (!pr)
				mm_die("%s: batch %u has no 'pair' tensor", name,
				    b.index);
			if (pr->dtype != MM_F32 || pr->ndim != 2 ||
			    pr->shape[1] != model.a.pair_dim)
				mm_die("%s: pair vectors have %lld columns, the "
				    "model %s wants %d (another essence split?)",
				    name, (long long)(pr->ndim == 2 ? pr->shape[1] :
				    0), mpath, model.a.pair_dim);
			if (!(ozf = malloc((size_t)n * code * sizeof(float))))
				mm_die("out of memory");
		}
		for (r = 0; r < n; r += chunk) {
			int m = (int)(n - r < chunk ? n - r : chunk);

			if (want_img) {
				size_t chw = (size_t)model.a.C * model.a.H *
				    model.a.W;
				const uint8_t *s = (const uint8_t *)im->data +
				    r * chw;

				for (k = 0; k < (int64_t)(m * chw); k++)
					x[k] = s[k];
			}
			if (want_fac)
				memcpy(p, (const float *)pr->data + r *
				    model.a.pair_dim,
				    (size_t)m * model.a.pair_dim * sizeof(float));
			mm_model_encode(&model, want_img ? x : NULL,
			    want_fac ? p : NULL, m, zi, zf);
			if (want_img)
				memcpy(ozi + r * code, zi, (size_t)m * code *
				    sizeof(float));
			if (want_fac)
				memcpy(ozf + r * code, zf, (size_t)m * code *
				    sizeof(float));
		}
		shape[0] = n;
		shape[1] = code;
		if ((want_img && (rc = mm_writer_tensor(w, "z_img", b.index,
		    MM_F32, 2, shape, ozi)) < 0) ||
		    (want_fac && (rc = mm_writer_tensor(w, "z_fac", b.index,
		    MM_F32, 2, shape, ozf)) < 0) ||
		    (cl && (rc = mm_writer_tensor(w, "classes", b.index,
		    cl->dtype, cl->ndim, cl->shape, cl->data)) < 0))
			mm_die_err("output", rc);
		free(ozi);
		free(ozf);
	}
	if (rc < 0)
		mm_die_err(name, rc);
	if (!started)
		mm_die("%s: no batches to encode", name);
	if ((rc = mm_writer_end(w)) < 0 || (rc = mm_writer_close(w)) < 0)
		mm_die_err("output", rc);
	mm_out_close(o);
	mm_batch_free(&b);
	mm_reader_close(rd);
	mm_in_close(in);
	mm_model_free(&model);
	free(x);
	free(p);
	free(zi);
	free(zf);
	return 0;
}
