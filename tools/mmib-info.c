/*
 * mmib-info - list, check or export the contents of mmib streams.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "meta.h"
#include "stream.h"
#include "table.h"

/* --format json: every listing line a row of one array "records" (set by
 * main; the TSV listing is printed as it always was) */
static struct mm_table *json;

static const char usage[] =
    "usage: mmib-info [-chlqVv] [--format tsv|json] [file ...]\n"
    "       mmib-info --npy name -o out.npy [file ...]\n";

static const char help[] =
    "  -c, --check           print nothing; exit 0 only if every input is intact\n"
    "  -l, --long            every record: kind, name, dtype, shape, offsets\n"
    "  --format F            tsv (default) or json\n"
    "  --npy NAME            export tensor NAME (all batches) as .npy to -o\n"
    "  -o, --output FILE     the .npy file of --npy\n"
    "  -q, -v                quieter, more verbose\n"
    "  -h, -V                this help, the version\n";

/* Per-segment summary of one tensor name. */
struct field {
	char name[MM_MAXNAME + 1];
	enum mm_dtype dtype;
	int ndim;
	int64_t shape[MM_MAXDIM];
	int64_t rows;
	uint64_t batches, bytes;
	int mixed;                 /* dtype or trailing shape changes */
};

struct summary {
	struct field *f;
	int n, cap;
	uint64_t records, bytes, meta, ancillary;
};

static void
shape_str(char *buf, size_t cap, int ndim, const int64_t *shape, int64_t rows)
{
	size_t n = 0;
	int i;

	if (ndim == 0) {
		snprintf(buf, cap, "scalar");
		return;
	}
	for (i = 0; i < ndim && n < cap; i++)
		n += snprintf(buf + n, cap - n, "%s%lld", i ? "x" : "",
		    (long long)(i == 0 ? rows : shape[i]));
}

static void
summary_add(struct summary *s, const struct mm_record *r)
{
	struct field *f = NULL;
	int i;

	s->records++;
	s->bytes += r->body_len;
	if (r->kind == 'S') {
		s->meta++;
		return;
	}
	if (r->kind != 'T') {
		s->ancillary++;
		return;
	}
	for (i = 0; i < s->n; i++)
		if (strcmp(s->f[i].name, r->name) == 0)
			f = &s->f[i];
	if (!f) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 16;
			if ((s->f = realloc(s->f, s->cap * sizeof *s->f)) == NULL)
				mm_die("out of memory");
		}
		f = &s->f[s->n++];
		memset(f, 0, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", r->name);
		f->dtype = r->dtype;
		f->ndim = r->ndim;
		memcpy(f->shape, r->shape, sizeof f->shape);
	} else if (f->dtype != r->dtype || f->ndim != r->ndim ||
	    (r->ndim > 1 && memcmp(f->shape + 1, r->shape + 1,
	    (r->ndim - 1) * sizeof *r->shape) != 0))
		f->mixed = 1;
	f->rows += mm_record_rows(r);
	f->batches++;
	f->bytes += r->body_len;
}

/* The cells every JSON row starts with. */
static void
json_row(const char *label, int seg, const char *kind)
{
	mm_table_row(json);
	mm_table_str(json, "file", label);
	if (seg > 0)
		mm_table_int(json, "segment", seg);
	mm_table_str(json, "kind", kind);
}

static void
summary_json(const char *label, int seg, struct summary *s,
    const struct mm_meta *m)
{
	char sh[256];
	int i;

	json_row(label, seg, "segment");
	mm_table_int(json, "nrecords", (long long)s->records);
	mm_table_int(json, "bytes", (long long)s->bytes);
	mm_table_int(json, "ancillary", (long long)s->ancillary);
	mm_table_end_row(json);
	for (i = 0; i < m->n; i++) {
		json_row(label, seg, "meta");
		mm_table_str(json, "key", m->key[i]);
		mm_table_str(json, "value", m->val[i]);
		mm_table_end_row(json);
	}
	for (i = 0; i < s->n; i++) {
		struct field *f = &s->f[i];
		shape_str(sh, sizeof sh, f->ndim, f->shape, f->rows);
		json_row(label, seg, "tensor");
		mm_table_str(json, "name", f->name);
		mm_table_str(json, "dtype", mm_dtype_name(f->dtype));
		mm_table_str(json, "shape", sh);
		mm_table_int(json, "mixed", f->mixed);
		mm_table_int(json, "batches", (long long)f->batches);
		mm_table_int(json, "bytes", (long long)f->bytes);
		mm_table_end_row(json);
	}
	s->n = 0;
	s->records = s->bytes = s->meta = s->ancillary = 0;
}

static void
summary_print(const char *label, int seg, struct summary *s,
    const struct mm_meta *m)
{
	char sh[256];
	int i;

	if (json) {
		summary_json(label, seg, s, m);
		return;
	}
	printf("# %s: segment %d: %llu records, %llu body bytes\n", label, seg,
	    (unsigned long long)s->records, (unsigned long long)s->bytes);
	for (i = 0; i < m->n; i++)
		printf("meta\t%s\t%s\n", m->key[i], m->val[i]);
	if (s->n)
		printf("#kind\tname\tdtype\tshape\tbatches\tbytes\n");
	for (i = 0; i < s->n; i++) {
		struct field *f = &s->f[i];
		shape_str(sh, sizeof sh, f->ndim, f->shape, f->rows);
		printf("tensor\t%s\t%s\t%s%s\t%llu\t%llu\n", f->name,
		    mm_dtype_name(f->dtype), sh, f->mixed ? " (mixed)" : "",
		    (unsigned long long)f->batches,
		    (unsigned long long)f->bytes);
	}
	if (s->ancillary)
		printf("ancillary\t%llu records\n",
		    (unsigned long long)s->ancillary);
	s->n = 0;
	s->records = s->bytes = s->meta = s->ancillary = 0;
}

static void
long_print(const char *label, const struct mm_record *r)
{
	char sh[256] = "-", kind[2] = { r->kind, '\0' };

	if (r->kind == 'T')
		shape_str(sh, sizeof sh, r->ndim, r->shape, mm_record_rows(r));
	if (json) {
		json_row(label, 0, kind);
		mm_table_str(json, "name", r->name);
		if (r->kind == 'T') {
			mm_table_str(json, "dtype", mm_dtype_name(r->dtype));
			mm_table_str(json, "shape", sh);
		}
		mm_table_int(json, "batch", r->batch);
		mm_table_int(json, "field", r->field);
		mm_table_int(json, "offset", (long long)r->offset);
		mm_table_int(json, "bytes", (long long)r->body_len);
		mm_table_end_row(json);
		return;
	}
	printf("%c\t%s\t%s\t%s\t%u\t%u\t%llu\t%llu\n", r->kind,
	    r->name[0] ? r->name : "-",
	    r->kind == 'T' ? mm_dtype_name(r->dtype) : "-", sh, r->batch,
	    r->field, (unsigned long long)r->offset,
	    (unsigned long long)r->body_len);
}

/* State of a --npy export: one field concatenated over batches. */
struct npy_out {
	const char *name;
	FILE *f;
	enum mm_dtype dtype;
	int ndim;
	int64_t shape[MM_MAXDIM];
	int started;
};

#define NPY_HDR 128

static void
npy_add(struct npy_out *o, const struct mm_record *r, const char *label)
{
	char pad[NPY_HDR];

	if (r->kind != 'T' || strcmp(r->name, o->name) != 0)
		return;
	if (r->ndim == 0)
		mm_die("%s: --npy %s: scalar tensors cannot be concatenated",
		    label, o->name);
	if (!o->started) {
		o->dtype = r->dtype;
		o->ndim = r->ndim;
		memcpy(o->shape, r->shape, sizeof o->shape);
		o->shape[0] = 0;
		memset(pad, 0, sizeof pad);
		/* placeholder header, rewritten once the row count is known */
		if (fwrite(pad, 1, NPY_HDR, o->f) != NPY_HDR)
			mm_die("write error");
		o->started = 1;
	} else if (r->dtype != o->dtype || r->ndim != o->ndim ||
	    memcmp(r->shape + 1, o->shape + 1,
	    (r->ndim - 1) * sizeof *r->shape) != 0)
		mm_die("%s: --npy %s: batch %u has another dtype or row shape",
		    label, o->name, r->batch);
	if (r->size && fwrite(r->data, 1, r->size, o->f) != r->size)
		mm_die("write error");
	o->shape[0] += r->shape[0];
}

static void
npy_finish(struct npy_out *o)
{
	char hdr[512];
	int n;

	if (!o->started)
		mm_die("no tensor named '%s' in the input", o->name);
	n = mm_npy_header(hdr, sizeof hdr, o->dtype, o->ndim, o->shape);
	if (n != NPY_HDR)
		mm_die("internal error: npy header of %d bytes", n);
	if (fseek(o->f, 0, SEEK_SET) != 0 || fwrite(hdr, 1, n, o->f) != (size_t)n)
		mm_die("--npy: output must be a seekable file (use -o FILE)");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", no_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "long", no_argument, NULL, 'l' },
		{ "npy", required_argument, NULL, 'N' },
		{ "output", required_argument, NULL, 'o' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct mm_cli cli;
	struct npy_out npy = { 0 };
	struct summary sum = { 0 };
	struct mm_record rec;
	struct mm_table tab;
	const char *out;
	int c, check = 0, lng = 0, i, nin, rc, fmt = 0;
	uint64_t total_rec = 0;
	int total_seg = 0;

	mm_cli_start(&cli, argc, argv, usage);
	cli.help = help;
	while ((c = getopt_long(argc, argv, "chlo:qVv", longopts, NULL)) != -1)
		switch (c) {
		case 'c': check = 1; break;
		case 'l': lng = 1; break;
		case 'N': npy.name = optarg; break;
		case 'F':
			if ((fmt = mm_table_format(optarg)) < 0)
				mm_die("--format: '%s' is not tsv or json",
				    optarg);
			break;
		default: mm_cli_option(&cli, c, optarg);
		}
	out = cli.out;
	if (out && !npy.name)
		mm_die("-o is only used with --npy");
	if (npy.name && (!out || strcmp(out, "-") == 0))
		mm_die("--npy needs -o FILE (a seekable output)");
	if (npy.name)
		npy.f = mm_out_open(out, 1);
	if (fmt && !check && !npy.name) {
		json = &tab;
		mm_table_open(json, stdout, 1);
		mm_table_array(json, "records", NULL);
	}
	mm_record_init(&rec);
	nin = argc - optind;
	for (i = 0; i < (nin ? nin : 1); i++) {
		const char *path = nin ? argv[optind + i] : NULL;
		const char *label = mm_in_name(path);
		FILE *f = mm_in_open(path);
		struct mm_reader *r = mm_reader_open(f, label);
		int seg = 0;

		if (!r)
			mm_die_err(label, MM_ENOMEM);
		if (lng && !check && !npy.name && !json)
			printf("#kind\tname\tdtype\tshape\tbatch\tfield\toffset\t"
			    "bytes\n");
		while ((rc = mm_reader_next(r, &rec)) > 0) {
			total_rec++;
			if (npy.name) {
				npy_add(&npy, &rec, label);
				continue;
			}
			if (check)
				continue;
			if (lng) {
				long_print(label, &rec);
				continue;
			}
			if (rec.kind == 'E') {
				summary_print(label, ++seg, &sum, mm_reader_meta(r));
				continue;
			}
			summary_add(&sum, &rec);
		}
		if (rc < 0)
			mm_die_err(label, rc);
		total_seg += mm_reader_segments(r);
		mm_reader_close(r);
		mm_in_close(f);
	}
	if (npy.name) {
		npy_finish(&npy);
		mm_out_close(npy.f);
	}
	if (check && mm_verbose >= 2)
		fprintf(stderr, "%s: ok: %d segments, %llu records\n",
		    mm_progname, total_seg, (unsigned long long)total_rec);
	if (json)
		mm_table_close(json);
	free(sum.f);
	mm_record_free(&rec);
	mm_out_close(stdout);
	return 0;
}
