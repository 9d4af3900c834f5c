/*
 * t-probe.c - linear probes: L-BFGS against scipy's L-BFGS-B, the
 * standardisation and the objective against scikit-learn
 * (tests/ref/probe.txt from tests/ref/probe_ref.py), the objective
 * against a plain-loop oracle and finite differences, and the edge cases
 * of a probe (unseen classes, one class, bad labels); the fused float64
 * kernels (probe-kern.h) against the dgemm objective, level against level, and
 * their fits against the dgemm fits.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "probe-kern.h"
#include "nn.h"
#include "probe.h"
#include "rng.h"
#include "tap.h"
#include "util-ref.h"

static int
rosen(void *ctx, const double *x, double *f, double *g)
{
	int n = *(int *)ctx, i;

	*f = 0.0;
	for (i = 0; i < n; i++)
		g[i] = 0.0;
	for (i = 0; i + 1 < n; i++) {
		double a = x[i + 1] - x[i] * x[i], b = 1.0 - x[i];
		*f += 100.0 * a * a + b * b;
		g[i] += -400.0 * x[i] * a - 2.0 * b;
		g[i + 1] += 200.0 * a;
	}
	return 0;
}

static void
test_lbfgs(const char *name)
{
	char key[64];
	int n, m;
	const double *x0, *want;
	double x[16];
	struct mm_lbfgs_opts o;
	struct mm_lbfgs_result r;

	snprintf(key, sizeof key, "%s.x0", name);
	x0 = ref_get(key, &n);
	if (!x0 || n > 16) {
		skip(6, "no L-BFGS reference");
		return;
	}
	memcpy(x, x0, sizeof(double) * n);
	mm_lbfgs_defaults(&o);
	m = mm_lbfgs(n, x, rosen, &n, &o, &r);
	ok(m == 0, "%s: L-BFGS runs", name);
	snprintf(key, sizeof key, "%s.nit", name);
	is_int(r.iters, (long long)ref_get(key, NULL)[0],
	    "%s: iterations equal scipy's", name);
	snprintf(key, sizeof key, "%s.nfev", name);
	is_int(r.nfev, (long long)ref_get(key, NULL)[0],
	    "%s: evaluations equal scipy's", name);
	snprintf(key, sizeof key, "%s.x", name);
	want = ref_get(key, &m);
	{
		double e = 0.0;
		int i;
		for (i = 0; i < n; i++)
			e = fmax(e, fabs(x[i] - want[i]));
		ok(e < 1e-6, "%s: minimiser equals scipy's (max err %.2g)",
		    name, e);
	}
	/* stopped after 7 iterations: the path itself, not only the end */
	memcpy(x, x0, sizeof(double) * n);
	o.max_iter = 7;
	mm_lbfgs(n, x, rosen, &n, &o, &r);
	snprintf(key, sizeof key, "%s.x7", name);
	want = ref_get(key, &m);
	{
		double e = 0.0;
		int i;
		for (i = 0; i < n; i++)
			e = fmax(e, fabs(x[i] - want[i]));
		ok(e < 1e-9 && r.status == MM_LBFGS_MAXITER,
		    "%s: iterate 7 equals scipy's (max err %.2g)", name, e);
	}
	snprintf(key, sizeof key, "%s.nfev7", name);
	is_int(r.nfev, (long long)ref_get(key, NULL)[0],
	    "%s: evaluations in 7 iterations", name);
}

static void
test_scaler(void)
{
	float X[36], out[36];
	struct mm_scaler s;
	const double *mean, *scale, *want;
	double em = 0, es = 0, eo = 0;
	int i;

	if (ref_floats("scale.X", X, 36)) {
		skip(4, "no scaler reference");
		return;
	}
	mean = ref_get("scale.mean", NULL);
	scale = ref_get("scale.scale", NULL);
	want = ref_get("scale.out", NULL);
	mm_scaler_init(&s);
	ok(mm_scaler_fit(&s, X, 9, 4) == 0, "scaler fits");
	mm_scaler_apply(&s, X, 9, out);
	for (i = 0; i < 4; i++) {
		em = fmax(em, fabs(s.mean[i] - mean[i]));
		es = fmax(es, fabs(s.scale[i] - scale[i]));
	}
	for (i = 0; i < 36; i++)
		eo = fmax(eo, fabs(out[i] - want[i]));
	ok(em < 1e-12 && es < 1e-12, "mean and population std as sklearn "
	    "(err %.2g, %.2g)", em, es);
	is_double(s.scale[2], 1.0, 0, "constant column left unscaled");
	ok(eo < 1e-6, "standardised values as sklearn (err %.2g)", eo);
	mm_scaler_free(&s);
}

/* Plain-loop oracle of the objective. */
static double
oracle(const double *W, const float *X, const int32_t *y, int N, int D,
    int K, double C, double *g)
{
	int D1 = D + 1, i, k, j;
	double f = 0.0, z[64];

	memset(g, 0, sizeof(double) * K * D1);
	for (i = 0; i < N; i++) {
		double mx = -INFINITY, s = 0.0;
		for (k = 0; k < K; k++) {
			z[k] = W[k * D1 + D];
			for (j = 0; j < D; j++)
				z[k] += W[k * D1 + j] * X[i * D + j];
			mx = fmax(mx, z[k]);
		}
		for (k = 0; k < K; k++)
			s += exp(z[k] - mx);
		f += log(s) + mx - z[y[i]];
		for (k = 0; k < K; k++) {
			double p = exp(z[k] - mx) / s - (k == y[i]);
			for (j = 0; j < D; j++)
				g[k * D1 + j] += p * X[i * D + j];
			g[k * D1 + D] += p;
		}
	}
	for (k = 0; k < K; k++)
		for (j = 0; j < D; j++) {
			f += 0.5 / C * W[k * D1 + j] * W[k * D1 + j];
			g[k * D1 + j] += W[k * D1 + j] / C;
		}
	return f;
}

static void
test_objective(void)
{
	float X[150];
	int32_t y[30];
	double W[24], g0[24], g1[24], f0, f1, e1 = 0,
	    eref = 0, efd = 0;
	const double *yv, *Wv, *fref, *gref;
	int i;

	if (ref_floats("obj.X", X, 150) || !(yv = ref_get("obj.y", NULL))) {
		skip(5, "no objective reference");
		return;
	}
	Wv = ref_get("obj.W", NULL);
	fref = ref_get("obj.f", NULL);
	gref = ref_get("obj.g", NULL);
	for (i = 0; i < 30; i++)
		y[i] = (int32_t)yv[i];
	memcpy(W, Wv, sizeof W);
	f0 = oracle(W, X, y, 30, 5, 4, 0.5, g0);
	f1 = mm_logreg_objective(W, X, y, 30, 5, 4, 0.5, g1);
	for (i = 0; i < 24; i++) {
		eref = fmax(eref, fabs(g0[i] - gref[i]));
		e1 = fmax(e1, fabs(g1[i] - g0[i]));
	}
	ok(fabs(f0 - fref[0]) < 1e-9 * fabs(fref[0]) && eref < 1e-9,
	    "oracle = sklearn's LinearModelLoss (f %.12g vs %.12g, g err %.2g)",
	    f0, fref[0], eref);
	ok(fabs(f1 - f0) < 1e-11 * fabs(f0) && e1 < 1e-11,
	    "float64 path = oracle (g err %.2g)", e1);
	/* central differences of the float64 path */
	for (i = 0; i < 24; i++) {
		double h = 1e-6, fp, fm;
		W[i] += h;
		fp = mm_logreg_objective(W, X, y, 30, 5, 4, 0.5, NULL);
		W[i] -= 2 * h;
		fm = mm_logreg_objective(W, X, y, 30, 5, 4, 0.5, NULL);
		W[i] += h;
		efd = fmax(efd, fabs((fp - fm) / (2 * h) - g1[i]));
	}
	ok(efd < 1e-6, "gradient = finite differences (err %.2g)", efd);
	/* an extreme point: logits in the hundreds */
	for (i = 0; i < 24; i++)
		W[i] = Wv[i] * 40.0;
	f0 = oracle(W, X, y, 30, 5, 4, 0.5, g0);
	f1 = mm_logreg_objective(W, X, y, 30, 5, 4, 0.5, g1);
	for (i = 0, e1 = 0.0; i < 24; i++)
		e1 = fmax(e1, fabs(g1[i] - g0[i]));
	ok(isfinite(f1) && fabs(f1 - f0) < 1e-11 * fabs(f0) && e1 < 1e-9,
	    "logits in the hundreds: still the oracle (%.12g vs %.12g, g err "
	    "%.2g)", f1, f0, e1);
}

/* Two Gaussian blobs per class in 3-d: easily learnable. */
static void
blobs(struct mm_rng *r, float *X, int32_t *y, int N, int K)
{
	int i, j;

	for (i = 0; i < N; i++) {
		y[i] = (int32_t)(i % K);
		for (j = 0; j < 3; j++)
			X[i * 3 + j] = (float)(mm_rng_normal(r) * 0.3 +
			    (j == y[i] % 3 ? 2.0 : 0.0) + 0.7 * (y[i] / 3));
	}
}

static void
test_probe(void)
{
	struct mm_rng r;
	struct mm_probe_opts o;
	struct mm_probe_result res, res2;
	float Xtr[600 * 3], Xte[300 * 3];
	int32_t ytr[600], yte[300];
	int i, rc;

	mm_rng_seed(&r, 7);
	mm_probe_defaults(&o);
	blobs(&r, Xtr, ytr, 600, 4);
	blobs(&r, Xte, yte, 300, 4);
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 4, &o, &res);
	ok(rc == 0, "probe runs");
	ok(res.acc > 0.95 && res.nmi > 0.8, "learnable classes: acc %.3f, "
	    "nMI %.3f", res.acc, res.nmi);
	is_double(res.mi, res.lnK - res.ce, 1e-12, "MI = ln K - CE");
	is_double(res.nmi, res.mi / log(4.0), 1e-12, "nMI = MI / ln K");

	/* K larger than the classes present: ln K uses the cardinality */
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 6, &o, &res2);
	ok(rc == 0 &&
	    res2.Kseen == 4 && fabs(res2.lnK - log(6.0)) < 1e-12 &&
	    fabs(res2.ce - res.ce) < 1e-9,
	    "classes absent everywhere: only ln K changes (K %d, seen %d)",
	    res2.K, res2.Kseen);
	/* class 3 absent from training but present in the test set */
	for (i = 0; i < 600; i++)
		if (ytr[i] == 3)
			ytr[i] = 2;
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 4, &o, &res2);
	ok(rc == 0 &&
	    res2.unseen == 75 && res2.Kseen == 3 && res2.acc <= 0.75 &&
	    res2.ce >= 0.25 * MM_PROBE_CE_CLIP,
	    "unseen test class: %lld rows counted wrong and clipped (CE %.3f)",
	    (long long)res2.unseen, res2.ce);
	for (i = 0; i < 600; i++)
		ytr[i] = 1;
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 4, &o, &res2);
	ok(rc == MM_EINVAL, "one training class: refused (%s)", mm_errmsg());
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 1, &o, &res2);
	ok(rc == MM_EINVAL, "K = 1: refused (%s)", mm_errmsg());
	yte[5] = 4;
	rc = mm_probe_run(Xtr, ytr, 600, Xte, yte, 300, 3, 4, &o, &res2);
	ok(rc == MM_EINVAL, "label >= K: refused (%s)", mm_errmsg());
}

/*
 * The fused kernels against the dgemm objective: three probes (K = 2, 9,
 * 17: one, two and three vectors of eight classes) side by side over
 * N = 203 rows (a partial block, and not a multiple of 4) of D = 13
 * features (padded to 16).  Weights large enough that some logits sit
 * more than 600 below their row's maximum (exp taken as 0).
 */
static void
test_probe_kern(void)
{
	enum { N = 203, D = 13, NP = 3 };
	static const int K[NP] = { 2, 9, 17 };
	static float X[N * D];
	static int32_t y[NP][N];
	struct mm_rng r;
	struct mm_probe_kern_seg seg[NP];
	double *Wt, *b, *Gt[3], *gb[3], *scr, f[3][NP], *W, *g;
	int Kt = 0, Dp = 16, j, k, d, lev, top = mm_probe_kern_level(), i;
	double ef = 0.0, eg = 0.0, spread = 0.0;

	if (top < 1) {
		skip(4, "no AVX2: the fused kernels are not used");
		return;
	}
	mm_rng_seed(&r, 5);
	for (i = 0; i < N * D; i++)
		X[i] = (float)mm_rng_normal(&r);
	for (j = 0; j < NP; j++) {
		seg[j].off = Kt;
		seg[j].K = K[j];
		seg[j].y = y[j];
		Kt += (K[j] + 7) / 8 * 8;
		for (i = 0; i < N; i++)
			y[j][i] = (int32_t)mm_rng_below(&r, K[j]);
	}
	Wt = calloc((size_t)Dp * Kt, sizeof *Wt);
	b = calloc(Kt, sizeof *b);
	W = calloc((size_t)17 * (D + 1), sizeof *W);
	g = calloc((size_t)17 * (D + 1), sizeof *g);
	scr = malloc(sizeof(double) * mm_probe_kern_scratch(D, Kt));
	for (lev = 1; lev <= 2; lev++) {
		Gt[lev] = calloc((size_t)Dp * Kt, sizeof(double));
		gb[lev] = calloc(Kt, sizeof(double));
	}
	for (j = 0; j < NP; j++)
		for (k = 0; k < (K[j] + 7) / 8 * 8; k++) {
			int c = seg[j].off + k;
			b[c] = k < K[j] ? mm_rng_normal(&r) : MM_LRK_PAD;
			for (d = 0; d < D; d++)
				Wt[(size_t)d * Kt + c] = k < K[j] ?
				    (j == 2 ? 60.0 : 1.0) * mm_rng_normal(&r) : 0.0;
		}
	for (lev = 1; lev <= top && lev <= 2; lev++)
		mm_probe_kern_eval(lev, X, N, D, Kt, Wt, b, NP, seg, f[lev],
		    Gt[lev], gb[lev], scr);
	lev = top > 2 ? 2 : top;
	for (j = 0; j < NP; j++) {
		double fr, gmax = 0.0;
		/* the same probe as mm_logreg_objective wants it: W (K, D+1) */
		for (k = 0; k < K[j]; k++) {
			for (d = 0; d < D; d++)
				W[k * (D + 1) + d] = Wt[(size_t)d * Kt + seg[j].off + k];
			W[k * (D + 1) + D] = b[seg[j].off + k];
		}
		/* C = 1e300: no penalty, the data term alone */
		fr = mm_logreg_objective(W, X, y[j], N, D, K[j], 1e300, g);
		ef = fmax(ef, fabs(f[lev][j] - fr) / fabs(fr));
		for (i = 0; i < K[j] * (D + 1); i++)
			gmax = fmax(gmax, fabs(g[i]));
		for (k = 0; k < K[j]; k++) {
			for (d = 0; d < D; d++)
				eg = fmax(eg, fabs(Gt[lev][(size_t)d * Kt +
				    seg[j].off + k] - g[k * (D + 1) + d]) / gmax);
			eg = fmax(eg, fabs(gb[lev][seg[j].off + k] -
			    g[k * (D + 1) + D]) / gmax);
		}
		for (k = K[j]; k < (K[j] + 7) / 8 * 8; k++) {
			eg = fmax(eg, fabs(gb[lev][seg[j].off + k]));
			for (d = 0; d < D; d++)
				eg = fmax(eg, fabs(Gt[lev][(size_t)d * Kt +
				    seg[j].off + k]));
		}
	}
	for (d = D; d < Dp; d++)        /* rows of the feature padding */
		for (k = 0; k < Kt; k++)
			eg = fmax(eg, fabs(Gt[lev][(size_t)d * Kt + k]));
	/* the third probe's logits span thousands: the exp threshold is hit */
	for (i = 0; i < N; i++) {
		double mx = -INFINITY, mn = INFINITY;
		for (k = 0; k < 17; k++) {
			double z = b[seg[2].off + k];
			for (d = 0; d < D; d++)
				z += X[i * D + d] * Wt[(size_t)d * Kt + seg[2].off + k];
			mx = fmax(mx, z);
			mn = fmin(mn, z);
		}
		spread = fmax(spread, mx - mn);
	}
	ok(spread > 600.0, "logits spread over %.0f in a row", spread);
	ok(ef < 1e-13, "fused kernels (level %d): loss = dgemm objective "
	    "(rel err %.2g)", lev, ef);
	ok(eg < 1e-13, "fused kernels: gradient = dgemm objective's, padding "
	    "columns and rows 0 (err %.2g of max |g|)", eg);
	if (top >= 2)
		ok(memcmp(f[1], f[2], sizeof f[1]) == 0 &&
		    memcmp(Gt[1], Gt[2], sizeof(double) * D * Kt) == 0 &&
		    memcmp(gb[1], gb[2], sizeof(double) * Kt) == 0,
		    "AVX2 and AVX-512 kernels: bit-identical");
	else
		skip(1, "no AVX-512: one kernel level only");
	for (lev = 1; lev <= 2; lev++) {
		free(Gt[lev]);
		free(gb[lev]);
	}
	free(Wt);
	free(b);
	free(W);
	free(g);
	free(scr);
}

/* Factors fitted together follow the paths they follow alone; the fits
 * with the fused kernels equal the dgemm fits. */
static void
test_lockstep(void)
{
	struct mm_rng r;
	struct mm_probe_opts o;
	struct mm_probe_result all[3], one, ref[3];
	enum { N = 500, NT = 200, D = 6 };
	static float Xtr[N * D], Xte[NT * D];
	static int32_t y[3][N], yt[3][NT];
	const int32_t *py[3] = { y[0], y[1], y[2] }, *pt[3] = { yt[0], yt[1],
	    yt[2] };
	int K[3] = { 3, 9, 12 }, i, j, d, same, rc, top;
	double dn = 0.0;

	mm_rng_seed(&r, 21);
	mm_probe_defaults(&o);
	for (i = 0; i < N + NT; i++) {
		float *x = i < N ? Xtr + i * D : Xte + (i - N) * D;
		for (j = 0; j < 3; j++) {
			int c = (int)mm_rng_below(&r, K[j]);
			if (i < N)
				y[j][i] = c;
			else
				yt[j][i - N] = c;
			for (d = 0; d < 2; d++)
				x[2 * j + d] = (float)(mm_rng_normal(&r) * 0.8 +
				    (d ? cos(c) : sin(c)));
		}
	}
	y[2][7] = 11;   /* class 11 of the third factor: rare */
	rc = mm_probe_many(Xtr, N, Xte, NT, D, 3, py, pt, K, &o, all);
	ok(rc == 0, "three factors at once");
	same = 1;
	for (j = 0; j < 3; j++) {
		mm_probe_run(Xtr, y[j], N, Xte, yt[j], NT, D, K[j], &o, &one);
		same = same && one.nmi == all[j].nmi && one.acc == all[j].acc &&
		    one.iters == all[j].iters;
		diag("factor %d: K %d, nMI %.6f / %.6f, %d / %d iterations", j,
		    K[j], all[j].nmi, one.nmi, all[j].iters, one.iters);
	}
	ok(same, "each fit equals its fit alone, bit for bit");
	/* fused kernels against one dgemm pair per probe */
	top = mm_nn_simd(-1);
	if (top < 1) {
		skip(1, "no AVX2: float64 fits take the dgemm path only");
		return;
	}
	mm_probe_many(Xtr, N, Xte, NT, D, 3, py, pt, K, &o, all);
	mm_nn_simd(0);
	mm_probe_many(Xtr, N, Xte, NT, D, 3, py, pt, K, &o, ref);
	mm_nn_simd(top);
	same = 1;
	for (j = 0; j < 3; j++) {
		same = same && all[j].iters == ref[j].iters &&
		    all[j].acc == ref[j].acc;
		dn = fmax(dn, fabs(all[j].nmi - ref[j].nmi));
	}
	ok(same && dn < 1e-9, "fused fits = dgemm fits: same iterations and "
	    "accuracy, nMI within %.2g", dn);
}

/* Group rows: sums per modality and role over the fitted probes, in
 * modality then essence-before-nuisance order, skipping unfitted ones. */
static void
test_groups(void)
{
	struct mm_probe_fit f[5];
	struct mm_probe_group g[4];
	int i, n;

	memset(f, 0, sizeof f);
	for (i = 0; i < 5; i++) {
		f[i].mod = i < 3 ? 0 : 1;
		f[i].factor = i % 3;
		f[i].essence = i != 1;
		f[i].r.lnK = 1 + i;
		f[i].r.ce = 0.5 * i;
		f[i].r.mi = 0.25 * (1 + i);
		f[i].r.acc = 0.1 * (1 + i);
	}
	f[4].r.status = MM_EINVAL;      /* fac/essence: only row 3 counts */
	n = mm_probe_groups(f, 5, g);
	is_int(n, 3, "groups: img essence, img nuisance, fac essence");
	ok(g[0].mod == 0 && g[0].essence && g[0].n == 2 && g[0].lnK == 1 + 3 &&
	    g[0].ce == 0 + 1.0 && g[0].mi == 0.25 + 0.75 &&
	    g[0].nmi == (0.25 + 0.75) / (1 + 3) &&
	    g[0].acc == (0.1 + 0.30000000000000004) / 2,
	    "img essence: sums of lnK, ce, mi; nmi of the sums; mean acc");
	ok(g[1].mod == 0 && !g[1].essence && g[1].n == 1 && g[1].lnK == 2,
	    "img nuisance: one factor");
	ok(g[2].mod == 1 && g[2].essence && g[2].n == 1 && g[2].lnK == 4,
	    "fac essence: the unfitted probe left out");
	is_str(mm_probe_modname[1], "fac", "modality names");
}

int
main(void)
{
	if (ref_load("probe.txt"))
		diag("tests/ref/probe.txt not found: reference tests skipped");
	test_lbfgs("rosen2");
	test_lbfgs("rosen6");
	test_scaler();
	test_objective();
	test_probe();
	test_probe_kern();
	test_lockstep();
	test_groups();
	ref_free();
	return done_testing();
}
