/*
 * t-encoder.c - the encoders of lib/encoder.c: spec parsing, parameter
 * layout and names, initialisation, determinism, end-to-end gradient
 * checks, and golden values from PyTorch (tests/ref/encoder_ref.py,
 * fixtures in tests/ref/fixtures/encoder-*.npy).
 */
#define _DEFAULT_SOURCE 1      /* MAP_ANONYMOUS */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "encoder.h"
#include "nn.h"
#include "err.h"
#include "rng.h"
#include "stream.h"
#include "tap.h"
#include "util-gradcheck.h"

static struct mm_rng rng;

static struct mm_encoder *
make(const char *spec, int C, int H, int W, int out, int B)
{
	struct mm_encoder *e;
	int rc = mm_encoder_create(&e, spec, C, H, W, out, B);

	if (rc < 0) {
		printf("Bail out! %s: %s\n", spec, mm_errmsg());
		exit(1);
	}
	return e;
}

static void
test_specs(void)
{
	static const char *bad[] = { "mlp:0", "mlp:8,,8", "mlp:8,x", "mlp:8/0",
	    "resnet21", "resnet", "resnet6", "resnet20x", "cnn", "mlp:8/4/2",
	    "mlp:-3", "", "vit:patch=0", "vit:dim=10,heads=3", "vit:size=4",
	    "vit:depth=2,depth=3", "vitx", "vit:patch=3", "vit/0" };
	struct mm_encoder *e;
	size_t i;

	e = make("mlp:16,16,8,8,16,16", 10, 1, 1, 64, 4);
	is_str(mm_encoder_spec(e), "mlp:16,16,8,8,16,16/64",
	    "mlp spec made canonical with the given output size");
	is_int(mm_encoder_out_dim(e), 64, "mlp out_dim");
	is_int(mm_encoder_max_batch(e), 4, "max_batch");
	mm_encoder_free(e);
	e = make("mlp-flatten:2048,512/256", 1, 8, 8, 64, 2);
	is_str(mm_encoder_spec(e), "mlp-flatten:2048,512/256",
	    "/OUT overrides out_dim");
	is_int(mm_encoder_out_dim(e), 256, "mlp-flatten out_dim from spec");
	mm_encoder_free(e);
	e = make("resnet32", 3, 8, 8, 64, 2);
	is_str(mm_encoder_spec(e), "resnet32/64", "resnet spec canonical");
	mm_encoder_free(e);
	e = make("mlp", 5, 1, 1, 3, 2);
	is_int((long long)mm_encoder_nparams(e), 5 * 3 + 3,
	    "mlp without hidden layers is one Linear");
	mm_encoder_free(e);
	for (i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = mm_encoder_create(&e, bad[i], 1, 8, 8, 4, 2);
		ok(rc == MM_EINVAL && e == NULL, "spec \"%s\" refused: %s",
		    bad[i], rc < 0 ? mm_errmsg() : "accepted");
		if (rc == 0)
			mm_encoder_free(e);
	}
	ok(mm_encoder_create(&e, "mlp:8", 4, 1, 1, 0, 2) == MM_EINVAL,
	    "no output size at all refused");
}

/* One line per kind of the table: a spec of it and what
 * mm_encoder_spec_info() must say.  A kind missing here fails
 * test_kinds(), so a new kind comes with its line. */
static const struct {
	const char *kind, *spec;
	int depth, bn_stats, eval_batch;
	double wd;
} kind_cases[] = {
	{ "mlp", "mlp:16,16,8,8,16,16", 6, 1, 256, 0 },
	{ "mlp", "mlp/3", 0, 0, 256, 0 },
	{ "mlp-flatten", "mlp-flatten:512,256/64", 2, 1, 256, 1e-4 },
	{ "mlp-flatten", "mlp-flatten:7", 1, 1, 256, 1e-4 },
	{ "resnet", "resnet20", 20, 1, 64, 0 },
	{ "resnet", "resnet110/64", 110, 1, 64, 0 },
	{ "vit", "vit:patch=4,dim=12,depth=3,heads=3,mlp=20/5", 3, 0, 32, 0 },
	{ "vit", "vit", 2, 0, 32, 0 },
};
#define NCASES ((int)(sizeof kind_cases / sizeof *kind_cases))

/* The table of kinds: every kind listed, described and covered here;
 * queries per kind; an unknown kind named with the known ones; specs
 * that survive a round trip through their canonical form. */
static void
test_kinds(void)
{
	const char *name, *syntax, *help, *msg;
	struct mm_encoder_info in;
	struct mm_encoder *e, *e2;
	struct mm_tensor_view *v, *v2;
	char canon[256];
	int i, k, n, n2, same, covered;

	for (i = 0; (name = mm_encoder_kind(i, &syntax, &help)); i++) {
		ok(syntax && !strncmp(syntax, name, strlen(name)) && help &&
		    *help, "kind %s: syntax \"%s\" and a description", name,
		    syntax ? syntax : "");
		for (covered = 0, k = 0; k < NCASES; k++)
			covered |= !strcmp(kind_cases[k].kind, name);
		ok(covered, "kind %s has a case in kind_cases", name);
	}
	/* and the other way round: every kind of the cases is in the table */
	for (n = 0, k = 0; k < NCASES; k++) {
		for (same = 0, n2 = 0; (name = mm_encoder_kind(n2, NULL, NULL));
		    n2++)
			same |= !strcmp(kind_cases[k].kind, name);
		n += same;
	}
	is_int(n, NCASES, "every kind of kind_cases is in the table (%d "
	    "kinds)", i);
	ok(mm_encoder_kind(-1, NULL, NULL) == NULL &&
	    mm_encoder_kind(i, NULL, NULL) == NULL, "no kind outside 0..%d",
	    i - 1);
	for (k = 0; k < NCASES; k++) {
		const char *spec = kind_cases[k].spec;

		if (mm_encoder_spec_info(spec, &in) < 0) {
			ok(0, "%s: %s", spec, mm_errmsg());
			continue;
		}
		ok(!strcmp(in.kind, kind_cases[k].kind) &&
		    in.depth == kind_cases[k].depth &&
		    in.bn_stats == kind_cases[k].bn_stats &&
		    in.eval_batch == kind_cases[k].eval_batch &&
		    in.weight_decay == kind_cases[k].wd,
		    "%s: kind %s depth %d bn_stats %d eval_batch %d wd %g",
		    spec, in.kind, in.depth, in.bn_stats, in.eval_batch,
		    in.weight_decay);
		/* round trip: the canonical spec builds the same encoder */
		e = make(spec, 3, 8, 8, 5, 2);
		snprintf(canon, sizeof canon, "%s", mm_encoder_spec(e));
		e2 = make(canon, 3, 8, 8, 99, 2);
		n = mm_encoder_tensors(e, &v);
		n2 = mm_encoder_tensors(e2, &v2);
		same = n == n2 && mm_encoder_nparams(e) ==
		    mm_encoder_nparams(e2);
		for (i = 0; same && i < n; i++)
			same = !strcmp(v[i].name, v2[i].name) &&
			    v[i].count == v2[i].count;
		ok(same && !strcmp(mm_encoder_spec(e2), canon) &&
		    mm_encoder_spec_info(canon, &in) == 0 &&
		    in.depth == kind_cases[k].depth,
		    "%s -> %s -> %s: same tensors and depth", spec, canon,
		    mm_encoder_spec(e2));
		mm_encoder_free(e);
		mm_encoder_free(e2);
	}
	ok(mm_encoder_spec_info("resnet21", &in) == MM_EINVAL,
	    "spec_info refuses resnet21: %s", mm_errmsg());
	ok(mm_encoder_create(&e, "cnn:8", 1, 8, 8, 4, 2) == MM_EINVAL &&
	    e == NULL, "unknown kind refused");
	msg = mm_errmsg();
	for (same = 1, i = 0; (name = mm_encoder_kind(i, &syntax, NULL)); i++)
		same &= strstr(msg, syntax) != NULL;
	ok(same && strstr(msg, "cnn:8"), "the message names the spec and "
	    "every kind: %s", msg);
	ok(mm_encoder_spec_info("", &in) == MM_EINVAL, "empty spec refused");
}

static void
test_layout(void)
{
	struct mm_encoder *e;
	struct mm_tensor_view *v;
	int n, i, good;
	int64_t total;

	e = make("mlp:8,8/4", 6, 1, 1, 0, 5);
	is_int((long long)mm_encoder_nparams(e), 196, "mlp:8,8/4 on D=6: "
	    "196 parameters");
	n = mm_encoder_tensors(e, &v);
	is_int(n, 14, "mlp:8,8/4: 14 tensors (6 Linear, 8 BatchNorm)");
	is_str(v[0].name, "net.0.weight", "first tensor net.0.weight");
	ok(v[0].ndim == 2 && v[0].shape[0] == 8 && v[0].shape[1] == 6,
	    "Linear weight shape (Dout, Din)");
	is_str(v[4].name, "net.1.running_mean", "BatchNorm buffer name");
	ok(!v[4].is_param && v[3].is_param, "buffers flagged");
	is_str(v[n - 1].name, "net.6.bias", "last tensor net.6.bias");
	total = 0;
	good = 1;
	for (i = 0; i < n; i++)
		if (v[i].is_param) {
			/* params are packed in order in the flat block */
			good &= v[i].data == mm_encoder_params(e) + total;
			total += v[i].count;
		}
	ok(good && total == 196, "parameter views tile the flat block");
	mm_encoder_free(e);

	e = make("resnet20", 3, 16, 16, 64, 2);
	is_int((long long)mm_encoder_nparams(e), 273232,
	    "resnet20 on 3 channels, out 64: 273232 parameters");
	n = mm_encoder_tensors(e, &v);
	is_int(n, 19 * 5 + 2, "resnet20: 19 conv + BN groups and the linear");
	is_str(v[5].name, "layer1.0.conv1.weight", "block names");
	ok(v[5].ndim == 4 && v[5].shape[0] == 16 && v[5].shape[1] == 16 &&
	    v[5].shape[2] == 3 && v[5].shape[3] == 3, "conv weight shape");
	is_str(v[n - 2].name, "linear.weight", "linear.weight");
	ok(fabs(mm_encoder_flops(e) - 2.0 * (16 * 16 * 16 * 27 +
	    6 * 16 * 16 * 16 * 144 + 8 * 8 * 32 * (144 + 5 * 288) +
	    4 * 4 * 64 * (288 + 5 * 576) + 64 * 64)) < 1,
	    "resnet20 flops per sample");
	mm_encoder_free(e);
}

static void
test_init(void)
{
	struct mm_encoder *a = make("resnet20", 1, 8, 8, 32, 2);
	struct mm_encoder *b = make("resnet20", 1, 8, 8, 32, 2);
	struct mm_tensor_view *v;
	struct mm_rng r1, r2;
	double s, ss, bound;
	int n, i, good;
	int64_t k;

	mm_rng_seed(&r1, 7);
	mm_rng_seed(&r2, 7);
	mm_encoder_init(a, &r1);
	mm_encoder_init(b, &r2);
	ok(!memcmp(mm_encoder_params(a), mm_encoder_params(b),
	    mm_encoder_nparams(a) * sizeof(float)), "same seed, same weights");
	n = mm_encoder_tensors(a, &v);
	/* layer3 conv weights: 64*64*9 draws from N(0, 2/576) */
	for (i = 0; i < n && strcmp(v[i].name, "layer3.2.conv2.weight"); i++)
		;
	s = ss = 0;
	for (k = 0; k < v[i].count; k++) {
		s += v[i].data[k];
		ss += v[i].data[k] * v[i].data[k];
	}
	is_double(sqrt(ss / v[i].count), sqrt(2.0 / 576), 0.01,
	    "kaiming normal std of %s", v[i].name);
	is_double(s / v[i].count, 0, 0.002, "kaiming normal mean");
	good = 1;
	for (i = 0; i < n; i++) {
		const char *suf = strrchr(v[i].name, '.') + 1;
		for (k = 0; k < v[i].count; k++) {
			if (!strcmp(suf, "running_var") || (v[i].ndim == 1 &&
			    !strcmp(suf, "weight") && strncmp(v[i].name,
			    "linear", 6)))
				good &= v[i].data[k] == 1;
			else if (!strcmp(suf, "running_mean") || (v[i].ndim ==
			    1 && !strcmp(suf, "bias") && strncmp(v[i].name,
			    "linear", 6)))
				good &= v[i].data[k] == 0;
		}
	}
	ok(good, "BatchNorm weight 1, bias 0, running mean 0, var 1");
	mm_encoder_free(a);
	mm_encoder_free(b);

	a = make("mlp:300/50", 200, 1, 1, 0, 2);
	mm_encoder_init(a, &r1);
	n = mm_encoder_tensors(a, &v);
	bound = 1 / sqrt(200.0);
	good = 1;
	ss = 0;
	for (k = 0; k < v[0].count; k++) {
		good &= fabs(v[0].data[k]) <= bound;
		ss += v[0].data[k] * v[0].data[k];
	}
	ok(good, "mlp Linear weight within +-1/sqrt(fan_in)");
	is_double(sqrt(ss / v[0].count), bound / sqrt(3), 0.01,
	    "mlp Linear weight uniform std");
	good = 1;
	for (k = 0; k < v[1].count; k++)
		good &= fabs(v[1].data[k]) <= bound && v[1].data[k] != 0;
	ok(good, "mlp Linear bias in +-1/sqrt(fan_in)");
	mm_encoder_free(a);
}

/* ---- end-to-end gradient checks ---- */

struct enc_ctx {
	struct mm_encoder *e;
	const float *x;
	float *R;
	int N;
};

static double
enc_loss(void *p)
{
	struct enc_ctx *c = p;
	const float *y = mm_encoder_forward(c->e, c->x, c->N, 1);

	return gc_dot(y, c->R, (size_t)c->N * mm_encoder_out_dim(c->e));
}

static void
gradcheck_encoder(const char *spec, int C, int H, int W, int out, int N,
    float xs, size_t checks, float h)
{
	struct enc_ctx c;
	struct mm_encoder *e = make(spec, C, H, W, out, N);
	size_t nx = (size_t)N * C * H * W, ny;
	float *x = gc_alloc(nx), *g;
	double worst;
	int fails, kinks;

	mm_encoder_init(e, &rng);
	/* move BN affine parameters off their trivial init */
	struct mm_tensor_view *v;
	int n = mm_encoder_tensors(e, &v), i;
	for (i = 0; i < n; i++)
		if (v[i].is_param && v[i].ndim == 1)
			for (int64_t k = 0; k < v[i].count; k++)
				v[i].data[k] += 0.3f * (2 * mm_rng_float(&rng) -
				    1);
	gc_fill(x, nx, xs, &rng);
	ny = (size_t)N * mm_encoder_out_dim(e);
	c.e = e;
	c.x = x;
	c.N = N;
	c.R = gc_alloc(ny);
	gc_fill(c.R, ny, 1, &rng);
	enc_loss(&c);
	mm_encoder_zero_grad(e);
	mm_encoder_backward(e, c.R);
	g = gc_alloc(mm_encoder_nparams(e));
	memcpy(g, mm_encoder_grads(e), mm_encoder_nparams(e) * sizeof *g);
	fails = gc_check(enc_loss, &c, mm_encoder_params(e), g,
	    mm_encoder_nparams(e), checks, h, 2e-3, 2e-2, &worst, &kinks);
	ok(fails == 0 && kinks <= (int)checks / 10, "%s on %dx%dx%d, N=%d: "
	    "parameter gradcheck (worst %.3f, %d kinks of %zu)", spec, C, H, W,
	    N, worst, kinks, checks);
	free(g);
	free(x);
	free(c.R);
	mm_encoder_free(e);
}

static void
test_forward(void)
{
	struct mm_encoder *a = make("resnet8", 2, 9, 9, 5, 4);
	struct mm_encoder *b = make("resnet8", 2, 9, 9, 5, 4);
	struct mm_rng r1, r2;
	float *x = gc_alloc(4 * 2 * 81), *y1 = gc_alloc(20), *y2 = gc_alloc(20);
	const float *y;

	mm_rng_seed(&r1, 3);
	mm_rng_seed(&r2, 3);
	mm_encoder_init(a, &r1);
	mm_encoder_init(b, &r2);
	gc_fill(x, 4 * 2 * 81, 1, &rng);
	memcpy(y1, mm_encoder_forward(a, x, 4, 1), 20 * sizeof *y1);
	memcpy(y2, mm_encoder_forward(b, x, 4, 1), 20 * sizeof *y2);
	ok(!memcmp(y1, y2, sizeof *y1 * 20), "same seed and input: "
	    "bit-identical output");
	memcpy(y1, mm_encoder_forward(a, x, 4, 0), 20 * sizeof *y1);
	memcpy(y2, mm_encoder_forward(a, x, 3, 0), 15 * sizeof *y2);
	ok(gc_maxabs(y1, y2, 15) < 1e-6, "eval mode: rows independent of the "
	    "batch");
	y = mm_encoder_forward(a, x, 5, 1);
	ok(y == NULL, "batch above max_batch refused: %s", mm_errmsg());
	free(x);
	free(y1);
	free(y2);
	mm_encoder_free(a);
	mm_encoder_free(b);
}

/* ---- golden values from PyTorch ---- */

static char *
fixture_path(const char *cs, const char *what)
{
	static char buf[4096];
	const char *top = getenv("MMIB_TOP");

	snprintf(buf, sizeof buf, "%s%stests/ref/fixtures/encoder-%s-%s",
	    top ? top : "", top ? "/" : "", cs, what);
	return buf;
}

/* A float32 .npy fixture: its elements (count in *n), or NULL. */
static float *
load_npy(const char *cs, const char *what, int64_t *n)
{
	const char *path = fixture_path(cs, what);
	FILE *f = fopen(path, "rb");
	unsigned char *body = NULL;
	long len;
	enum mm_dtype t;
	int ndim, i;
	int64_t shape[MM_MAXDIM], count = 1;
	uint64_t hl;
	float *out = NULL;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) || !(body = malloc(len ? len : 1)) ||
	    fread(body, 1, len, f) != (size_t)len)
		goto fail;
	if (mm_npy_parse(body, len, &t, &ndim, shape, &hl) < 0 || t != MM_F32)
		goto fail;
	for (i = 0; i < ndim; i++)
		count *= shape[i];
	out = gc_alloc(count);
	memcpy(out, body + hl, count * sizeof *out);
	*n = count;
fail:
	if (!out)
		diag("cannot load %s", path);
	if (f)
		fclose(f);
	free(body);
	return out;
}

/* Max |a - b| / max(|b|, floor) over n: the error on the scale of the
 * values (floor keeps tensors that are zero in exact arithmetic, such as
 * the gradient of a Linear bias before a BatchNorm, from judging noise). */
static double
scaled_err_floor(const float *a, const float *b, size_t n, double floor)
{
	double m = floor > 1e-30 ? floor : 1e-30;
	size_t i;

	for (i = 0; i < n; i++)
		if (fabs(b[i]) > m)
			m = fabs(b[i]);
	return gc_maxabs(a, b, n) / m;
}

static double
scaled_err(const float *a, const float *b, size_t n)
{
	return scaled_err_floor(a, b, n, 0);
}

static void
golden(const char *cs, const char *spec, int C, int H, int W, int N)
{
	struct mm_encoder *e;
	struct mm_tensor_view *v;
	char line[256], name[200];
	int64_t ns, nx, nr, nyt, nye, ng, na, off, count;
	float *st, *x, *R, *yt, *ye, *gr, *af;
	const float *y;
	int nv, i, good, out;
	FILE *f;
	double err, gerr;

	st = load_npy(cs, "state.npy", &ns);
	x = load_npy(cs, "x.npy", &nx);
	R = load_npy(cs, "R.npy", &nr);
	yt = load_npy(cs, "ytrain.npy", &nyt);
	ye = load_npy(cs, "yeval.npy", &nye);
	gr = load_npy(cs, "grads.npy", &ng);
	af = load_npy(cs, "after.npy", &na);
	f = fopen(fixture_path(cs, "names.txt"), "r");
	if (!st || !x || !R || !yt || !ye || !gr || !af || !f) {
		skip(6, "fixtures missing");
		goto out;
	}
	out = (int)(nr / N);
	e = make(spec, C, H, W, out, N);
	nv = mm_encoder_tensors(e, &v);
	/* names, counts and order agree with the state_dict */
	good = 1;
	off = 0;
	for (i = 0; i < nv; i++) {
		if (!fgets(line, sizeof line, f) ||
		    sscanf(line, "%199s %lld", name, (long long *)&count) != 2 ||
		    strcmp(name, v[i].name) || count != v[i].count) {
			diag("tensor %d: %s vs %s", i, v[i].name, line);
			good = 0;
			break;
		}
		memcpy(v[i].data, st + off, count * sizeof(float));
		off += count;
	}
	good &= !fgets(line, sizeof line, f) && off == ns;
	ok(good, "%s: %d tensors named and shaped as PyTorch's state_dict", cs,
	    nv);
	ok(nx == (int64_t)N * C * H * W && nyt == nr && nye == nr &&
	    ng == (int64_t)mm_encoder_nparams(e), "%s: fixture sizes", cs);

	mm_encoder_zero_grad(e);
	y = mm_encoder_forward(e, x, N, 1);
	err = scaled_err(y, yt, nyt);
	ok(err < 1e-4, "%s: train-mode output = PyTorch (%.2g)", cs, err);
	mm_encoder_backward(e, R);
	/* each tensor's gradient on its own scale, floored at 1e-2 of the
	 * largest gradient.  A Linear bias before a BatchNorm has a zero
	 * gradient in exact arithmetic: both sides hold only rounding noise,
	 * whose size depends on the BLAS kernel, so a tensor whose PyTorch
	 * gradient stays below 1e-3 of the largest is held to an absolute
	 * bound instead: within 1e-5 of the largest gradient. */
	gerr = 0;
	err = 0;
	for (off = 0; off < ng; off++)
		err = fmax(err, fabs(gr[off]));
	double gmax = err, gfloor = 1e-2 * gmax;
	for (i = 0, off = 0; i < nv; i++) {
		if (!v[i].is_param)
			continue;
		err = gc_maxabs(mm_encoder_grads(e) + off, gr + off, v[i].count);
		double bmax = 0;
		for (count = 0; count < v[i].count; count++)
			bmax = fmax(bmax, fabs(gr[off + count]));
		if (bmax < 1e-3 * gmax)
			err = err / gmax * 1e1;	/* 1e-5 of gmax <=> 1e-4 */
		else
			err = scaled_err_floor(mm_encoder_grads(e) + off,
			    gr + off, v[i].count, gfloor);
		if (err > gerr) {
			gerr = err;
			snprintf(name, sizeof name, "%s", v[i].name);
		}
		off += v[i].count;
	}
	ok(gerr < 1e-4, "%s: parameter gradients = PyTorch (worst %.2g, %s)",
	    cs, gerr, name);
	good = 1;
	for (i = 0, off = 0; i < nv; i++) {
		if (v[i].is_param)
			continue;
		good &= scaled_err(v[i].data, af + off, v[i].count) < 1e-5;
		off += v[i].count;
	}
	ok(good && off == na, "%s: running statistics updated as PyTorch's",
	    cs);
	y = mm_encoder_forward(e, x, N, 0);
	err = scaled_err(y, ye, nye);
	ok(err < 1e-4, "%s: eval-mode output = PyTorch (%.2g)", cs, err);
	mm_encoder_free(e);
out:
	if (f)
		fclose(f);
	free(st); free(x); free(R); free(yt); free(ye); free(gr); free(af);
}

/* ---- threads ----
 * The ResNet spreads slices of the batch over as many threads as the BLAS
 * has (mm_blas_threads) and adds per-slice sums in slice order: outputs,
 * gradients and running statistics must be bit-identical for any thread
 * count, also when some slices are empty (N < 16). */
static void
test_threads(int N)
{
	struct mm_encoder *e[2];
	struct mm_tensor_view *v[2];
	struct mm_rng r, rd;
	const float *y;
	float *x, *dy, *out[2], *ev[2];
	size_t nx = (size_t)N * 3 * 16 * 16, i;
	int k, nv, same = 1, D = 6;

	x = malloc(nx * sizeof *x);
	dy = malloc((size_t)N * D * sizeof *dy);
	mm_rng_seed(&rd, 5);
	for (i = 0; i < nx; i++)
		x[i] = (float)mm_rng_normal(&rd);
	for (i = 0; i < (size_t)N * D; i++)
		dy[i] = (float)mm_rng_normal(&rd);
	for (k = 0; k < 2; k++) {
		mm_blas_threads(k ? 3 : 1);
		e[k] = make("resnet8", 3, 16, 16, D, N);
		mm_rng_seed(&r, 99);
		mm_encoder_init(e[k], &r);
		mm_encoder_zero_grad(e[k]);
		out[k] = malloc((size_t)N * D * sizeof(float));
		ev[k] = malloc((size_t)N * D * sizeof(float));
		/* two steps, so the second sees updated running stats */
		mm_encoder_forward(e[k], x, N, 1);
		mm_encoder_backward(e[k], dy);
		y = mm_encoder_forward(e[k], x, N, 1);
		memcpy(out[k], y, (size_t)N * D * sizeof(float));
		mm_encoder_backward(e[k], dy);
		y = mm_encoder_forward(e[k], x, N, 0);
		memcpy(ev[k], y, (size_t)N * D * sizeof(float));
	}
	mm_blas_threads(1);
	ok(!memcmp(out[0], out[1], (size_t)N * D * sizeof(float)),
	    "resnet8 N=%d: train outputs equal with 1 and 3 threads", N);
	ok(!memcmp(ev[0], ev[1], (size_t)N * D * sizeof(float)),
	    "resnet8 N=%d: eval outputs equal with 1 and 3 threads", N);
	ok(!memcmp(mm_encoder_grads(e[0]), mm_encoder_grads(e[1]),
	    mm_encoder_nparams(e[0]) * sizeof(float)),
	    "resnet8 N=%d: gradients equal with 1 and 3 threads", N);
	nv = mm_encoder_tensors(e[0], &v[0]);
	mm_encoder_tensors(e[1], &v[1]);
	for (k = 0; k < nv; k++)
		if (!v[0][k].is_param)
			same &= !memcmp(v[0][k].data, v[1][k].data,
			    v[0][k].count * sizeof(float));
	ok(same, "resnet8 N=%d: running statistics equal", N);
	for (k = 0; k < 2; k++) {
		mm_encoder_free(e[k]);
		free(out[k]);
		free(ev[k]);
	}
	free(x);
	free(dy);
}

/* The vit kind takes as many pool threads as the BLAS has: 1 and 2
 * threads give the same bits (vit.h). */
static void
test_vit_threads(void)
{
	const char *spec = "vit:patch=4,dim=24,depth=2,heads=2,mlp=48/7";
	struct mm_encoder *e[2];
	struct mm_rng r;
	int N = 9, k;
	size_t nx = (size_t)N * 32 * 32, ny = (size_t)N * 7;
	float *x = gc_alloc(nx), *dy = gc_alloc(ny), *y[2];

	gc_fill(x, nx, 1, &rng);
	gc_fill(dy, ny, 1, &rng);
	for (k = 0; k < 2; k++) {
		mm_blas_threads(k + 1);
		e[k] = make(spec, 1, 32, 32, 0, N);
		mm_rng_seed(&r, 8);
		mm_encoder_init(e[k], &r);
		mm_encoder_zero_grad(e[k]);
		y[k] = gc_alloc(ny);
		memcpy(y[k], mm_encoder_forward(e[k], x, N, 1), ny *
		    sizeof(float));
		mm_encoder_backward(e[k], dy);
	}
	mm_blas_threads(1);
	ok(!memcmp(y[0], y[1], ny * sizeof(float)) &&
	    !memcmp(mm_encoder_grads(e[0]), mm_encoder_grads(e[1]),
	    mm_encoder_nparams(e[0]) * sizeof(float)),
	    "%s: outputs and gradients equal with 1 and 2 threads", spec);
	for (k = 0; k < 2; k++) {
		mm_encoder_free(e[k]);
		free(y[k]);
	}
	free(x);
	free(dy);
}

/* ---- huge pages ---- */

/* n fresh bytes of their own mapping (not from the heap, where a block
 * freed before could still be advised) */
static unsigned char *
fresh(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("Bail out! mmap: out of memory\n");
		exit(1);
	}
	return p;
}

/* The THP mode in brackets of /sys/kernel/mm/transparent_hugepage/
 * enabled ("always", "madvise", "never"), or "" when there is none. */
static void
thp_mode(char *mode, size_t cap)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128], *a, *b;

	*mode = 0;
	if (!f)
		return;
	if (fgets(line, sizeof line, f) && (a = strchr(line, '[')) &&
	    (b = strchr(a, ']')) && (size_t)(b - a) < cap) {
		memcpy(mode, a + 1, b - a - 1);
		mode[b - a - 1] = 0;
	}
	fclose(f);
}

/* kB of AnonHugePages in the mapping holding p (p NULL: in all mappings
 * of the process), -1 when /proc/self/smaps cannot be read */
static long
huge_kb(const void *p)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	unsigned long lo, hi, a = (unsigned long)p;
	long kb, sum = 0;
	int in = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = !p || (a >= lo && a < hi);
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			sum += kb;
	}
	fclose(f);
	return sum;
}

/* mm_huge_pages() puts a block on huge pages where the system takes the
 * hint (THP "madvise" or "always"), not with MMIB_THP=0 (under
 * "madvise"); an encoder's blocks are advised (its activations of some
 * tens of MiB). */
static void
test_huge_pages(void)
{
	size_t n = (size_t)16 << 20;
	char mode[32];
	unsigned char *p;
	struct mm_encoder *e;
	float *x;
	long before;
	int i;

	thp_mode(mode, sizeof mode);
	if (!strcmp(mode, "") || !strcmp(mode, "never") ||
	    huge_kb(NULL) < 0) {
		skip(3, "transparent huge pages off here");
		return;
	}
	unsetenv("MMIB_THP");
	p = fresh(n);
	mm_huge_pages(p, n);
	memset(p, 1, n);
	ok(huge_kb(p + n / 2) >= 2048, "a 16 MiB block advised: %ld kB on "
	    "huge pages (THP %s)", huge_kb(p + n / 2), mode);
	munmap(p, n);
	if (strcmp(mode, "madvise")) {
		skip(2, "THP \"always\": every block may take huge pages");
		return;
	}
	before = huge_kb(NULL);
	setenv("MMIB_THP", "0", 1);
	p = fresh(n);
	mm_huge_pages(p, n);
	memset(p, 1, n);
	ok(huge_kb(p + n / 2) == 0, "MMIB_THP=0: none (%ld kB)",
	    huge_kb(p + n / 2));
	munmap(p, n);
	unsetenv("MMIB_THP");
	e = make("resnet8", 1, 32, 32, 8, 64);
	x = gc_alloc((size_t)64 * 32 * 32);
	for (i = 0; i < 64 * 32 * 32; i += 7)
		x[i] = 1;
	mm_encoder_forward(e, x, 64, 1);
	ok(huge_kb(NULL) - before >= 2048, "a resnet8 encoder for batch 64 "
	    "trains on huge pages (%ld kB more)", huge_kb(NULL) - before);
	mm_encoder_free(e);
	free(x);
}

int
main(void)
{
	int level, top;

	mm_rng_seed(&rng, 1234);
	test_specs();
	test_kinds();
	test_layout();
	test_init();
	test_forward();
	top = mm_nn_simd(-1);
	for (level = top; level >= 0; level--) {
		mm_nn_simd(level);
		diag("convolution kernels at level %d", level);
		test_threads(21);
	}
	mm_nn_simd(top);        /* back to the best the CPU has */
	test_threads(5);
	gradcheck_encoder("mlp:8,8/4", 6, 1, 1, 0, 5, 1, 196, 1e-3f);
	gradcheck_encoder("mlp-flatten:16/8", 1, 8, 8, 0, 4, 1, 300, 1e-3f);
	gradcheck_encoder("resnet8/6", 2, 9, 9, 0, 3, 1, 400, 1e-3f);
	gradcheck_encoder("resnet8/6", 1, 8, 8, 0, 4, 1, 400, 1e-3f);
	gradcheck_encoder("vit:patch=4,dim=12,depth=2,heads=3,mlp=20/5", 2, 8,
	    12, 0, 3, 1, 400, 1e-3f);
	gradcheck_encoder("vit:patch=2,dim=8,depth=1,heads=2,mlp=16", 1, 4, 4,
	    8, 2, 1, 400, 1e-3f);
	golden("mlp", "mlp:8,8", 6, 1, 1, 5);
	golden("flat", "mlp-flatten:16", 1, 8, 8, 4);
	golden("resnet8", "resnet8", 3, 16, 16, 3);
	golden("vit", "vit:patch=4,dim=12,depth=2,heads=3,mlp=20", 1, 8, 12, 3);
	test_vit_threads();
	test_huge_pages();
	return done_testing();
}
