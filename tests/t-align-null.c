/*
 * t-align-null.c - the permutation null of the alignment metrics (random
 * permutations, mapped neighbour lists against a fresh search, the
 * summary by hand, p-values uniform and calibrated scores centred under
 * independence) and RBF CKA (the median by hand, the tiled sums against
 * the literal centred N x N formula, thread independence).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "err.h"
#include "rng.h"
#include "tap.h"

static void
randn(struct mm_rng *r, float *X, int64_t n)
{
	int64_t i;

	for (i = 0; i < n; i++)
		X[i] = (float)mm_rng_normal(r);
}

static void
test_perm(void)
{
	enum { N = 200, D = 8, K = 5 };
	struct mm_rng r;
	int32_t perm[N], inv[N], perm2[N], inv2[N], seen[N] = { 0 };
	int32_t *nn = malloc(sizeof(int32_t) * N * K);
	int32_t *nnp = malloc(sizeof(int32_t) * N * K);
	int32_t *fresh = malloc(sizeof(int32_t) * N * K);
	float *B = malloc(sizeof(float) * N * D), *Bp = malloc(sizeof(float) * N * D);
	int i, okp = 1, oki = 1;

	mm_rng_seed(&r, 7);
	mm_align_perm(&r, N, perm, inv);
	for (i = 0; i < N; i++) {
		if (perm[i] < 0 || perm[i] >= N || seen[perm[i]]++)
			okp = 0;
		if (inv[perm[i]] != i)
			oki = 0;
	}
	ok(okp, "mm_align_perm: a permutation of 0..N-1");
	ok(oki, "mm_align_perm: inv is its inverse");
	mm_rng_seed(&r, 7);
	mm_align_perm(&r, N, perm2, inv2);
	ok(memcmp(perm, perm2, sizeof perm) == 0, "same seed, same permutation");
	for (i = 0; i < N && perm[i] == i; i++)
		;
	ok(i < N, "not the identity");

	/* continuous rows: no ties, so mapping B's lists is exactly a fresh
	 * search of the permuted rows */
	randn(&r, B, N * D);
	mm_align_perm_rows(B, N, D, perm, Bp);
	ok(memcmp(Bp + 3 * D, B + (int64_t)perm[3] * D, sizeof(float) * D) == 0,
	    "mm_align_perm_rows: row i of B' is row perm[i] of B");
	if (mm_align_knn(B, N, D, K, 1, nn) < 0 ||
	    mm_align_knn(Bp, N, D, K, 1, fresh) < 0)
		diag("%s", mm_errmsg());
	mm_align_perm_lists(nn, N, K, perm, inv, nnp);
	ok(memcmp(nnp, fresh, sizeof(int32_t) * N * K) == 0,
	    "mapped neighbour lists = a fresh search of the permuted rows");
	free(nn);
	free(nnp);
	free(fresh);
	free(B);
	free(Bp);
}

static void
test_summary(void)
{
	static const double null[] = { 1, 2, 3, 4 };
	struct mm_align_null s;

	mm_align_null_summary(3.0, null, 4, &s);
	is_double(s.mean, 2.5, 1e-15, "null mean");
	is_double(s.sd, sqrt(5.0 / 3.0), 1e-15, "null sd (P - 1)");
	is_double(s.p, 3.0 / 5.0, 1e-15, "p = (1 + #{null >= obs}) / (1 + P)");
	is_double(s.calibrated, 0.5, 1e-15, "calibrated = obs - null mean");
	mm_align_null_summary(5.0, null, 4, &s);
	is_double(s.p, 1.0 / 5.0, 1e-15, "p at its floor 1 / (1 + P)");
	mm_align_null_summary(NAN, null, 4, &s);
	ok(isnan(s.p) && isnan(s.calibrated), "NaN observed: NaN p and score");
}

/* Independent A and B: the p-values of CKA and mutual kNN are uniform on
 * {1/20, ..., 20/20} and the calibrated scores centred on 0. */
static void
test_uniform(void)
{
	enum { NSET = 80, N = 40, D = 4, P = 19, K = 3 };
	struct mm_rng r, rp;
	float A[N * D], B[N * D], Bp[N * D];
	int32_t perm[N], inv[N], nnA[N * K], nnB[N * K], nnP[N * K];
	double pc[NSET], pk[NSET], cc[NSET], nc[P], nk[P], u;
	double mp = 0, mk = 0, mc = 0, sc = 0;
	int s, j, lowc = 0, lowk = 0;

	mm_rng_seed(&r, 2026);
	mm_rng_seed(&rp, 99);
	for (s = 0; s < NSET; s++) {
		struct mm_align_null ns;
		double obs, obk;
		randn(&r, A, N * D);
		randn(&r, B, N * D);
		mm_align_cka(A, D, B, D, N, 1, &obs, &u);
		mm_align_knn(A, N, D, K, 1, nnA);
		mm_align_knn(B, N, D, K, 1, nnB);
		obk = mm_align_mutual_knn(nnA, nnB, N, K);
		for (j = 0; j < P; j++) {
			mm_align_perm(&rp, N, perm, inv);
			mm_align_perm_rows(B, N, D, perm, Bp);
			mm_align_cka(A, D, Bp, D, N, 1, &nc[j], &u);
			mm_align_perm_lists(nnB, N, K, perm, inv, nnP);
			nk[j] = mm_align_mutual_knn(nnA, nnP, N, K);
		}
		mm_align_null_summary(obs, nc, P, &ns);
		pc[s] = ns.p;
		cc[s] = ns.calibrated;
		mm_align_null_summary(obk, nk, P, &ns);
		pk[s] = ns.p;
	}
	for (s = 0; s < NSET; s++) {
		mp += pc[s] / NSET;
		mk += pk[s] / NSET;
		mc += cc[s] / NSET;
		lowc += pc[s] <= 0.5;
		lowk += pk[s] <= 0.5;
	}
	for (s = 0; s < NSET; s++)
		sc += (cc[s] - mc) * (cc[s] - mc) / (NSET - 1);
	/* E p = (P + 2) / (2 (P + 1)) = 0.525, sd of a mean of 80 ~ 0.032 */
	diag("mean p: cka %.3f, mutual_knn %.3f; p <= 0.5: %d, %d of %d",
	    mp, mk, lowc, lowk, NSET);
	ok(fabs(mp - 0.525) < 0.1, "cka: mean p-value near 0.525 under the null");
	ok(lowc >= 28 && lowc <= 52, "cka: about half the p-values <= 0.5");
	/* mutual kNN has many ties (p shifted up): its p is conservative */
	ok(mk > 0.45 && mk < 0.8, "mutual_knn: mean p-value not small under the null");
	ok(fabs(mc) < 3 * sqrt(sc / NSET), "cka: calibrated scores centred on 0 "
	    "(mean %.4f, sd %.4f)", mc, sqrt(sc));
}

/* The suite's null against every metric evaluated afresh on each
 * permuted B (fresh neighbour searches, full CKA, SVCCA, CKNNA, recall):
 * the same summaries, to rounding for the Gram-based metrics (CKA's
 * mean and sd are its exact moments, its p-value the sample's). */
static void
test_suite_null(void)
{
	enum { N = 150, D = 6, P = 6, KMAX = 5 };
	static float A[N * D], B[N * D], Bp[N * D];
	static int32_t perm[N], inv[N], na[N * KMAX], nb[N * KMAX];
	static double nul[P][16];
	struct mm_align_suite su;
	struct mm_rng r;
	int ks[] = { 2, 5 }, i, j, t, bad = 0, rows = 0;
	double worst = 0;

	mm_rng_seed(&r, 5);
	randn(&r, A, N * D);
	randn(&r, B, N * D);
	for (i = 0; i < N * D; i++)
		B[i] = 0.6f * A[i] + B[i];
	memset(&su, 0, sizeof su);
	su.A = A;
	su.B = B;
	su.Da = su.Db = D;
	su.N = N;
	su.sel = MM_ALIGN_DEFAULT;
	su.ks = ks;
	su.nk = 2;
	su.svdim = 4;
	su.threads = 2;
	su.P = P;
	su.seed = 11;
	i = mm_align_suite_run(&su);
	ok(i == 0 && su.n == 5 + 2 * 5, "suite with its null: %d rows (%s)",
	    su.n, i < 0 ? mm_errmsg() : "");
	/* the same permutations, each metric from scratch */
	mm_rng_seed(&r, 11);
	mm_align_knn(A, N, D, KMAX, 1, na);
	for (j = 0; j < P; j++) {
		double ab[2], ba[2], x, y;
		int c = 0;
		mm_align_perm(&r, N, perm, inv);
		mm_align_perm_rows(B, N, D, perm, Bp);
		mm_align_knn(Bp, N, D, KMAX, 1, nb);
		mm_align_cka(A, D, Bp, D, N, 1, &x, &y);
		nul[j][c++] = x;
		nul[j][c++] = y;
		mm_align_svcca(A, D, Bp, D, N, 4, 1, &nul[j][c++]);
		mm_align_paired(A, Bp, N, D, &x, &y);
		nul[j][c++] = x;
		nul[j][c++] = y;
		mm_align_recall(A, Bp, N, D, ks, 2, 1, ab, ba);
		for (t = 0; t < 2; t++) {
			static int32_t la[N * KMAX], lb[N * KMAX];
			int k = ks[t];
			for (i = 0; i < N; i++) {
				memcpy(la + i * k, na + i * KMAX, 4 * k);
				memcpy(lb + i * k, nb + i * KMAX, 4 * k);
			}
			nul[j][c++] = mm_align_mutual_knn(la, lb, N, k);
			nul[j][c++] = mm_align_cycle_knn(la, lb, N, k);
			mm_align_cknna(A, D, Bp, D, N, la, lb, k, 1, &nul[j][c++]);
			nul[j][c++] = ab[t];
			nul[j][c++] = ba[t];
		}
		rows = c;
	}
	for (t = 0; t < rows && t < su.n; t++) {
		struct mm_align_null ns;
		double v[P], e;
		for (j = 0; j < P; j++)
			v[j] = nul[j][t];
		mm_align_null_summary(su.value[t], v, P, &ns);
		if (t < 2) {
			/* CKA's mean and sd: the exact moments */
			double cm[2], cs[2];
			struct mm_align_cka_parts cp;
			mm_align_cka_parts(&cp, A, D, B, D, N, 1, 0);
			mm_align_cka_null_moments(&cp, &cm[0], &cs[0], &cm[1],
			    &cs[1]);
			mm_align_cka_free(&cp);
			ns.mean = cm[t];
			ns.sd = cs[t];
		}
		e = fabs(ns.mean - su.null[t].mean) + fabs(ns.sd - su.null[t].sd);
		if (e > worst)
			worst = e;
		bad += !(e < 1e-10) || ns.p != su.null[t].p;
		if (!(e < 1e-10) || ns.p != su.null[t].p)
			diag("%s@%d: mean %.17g against %.17g, p %g against %g",
			    su.name[t], su.k[t], su.null[t].mean, ns.mean,
			    su.null[t].p, ns.p);
	}
	ok(rows == su.n && bad == 0, "every metric's null = its evaluation "
	    "on the permuted rows (%d rows, worst %.2g)", rows, worst);
	su.threads = 1;
	{
		struct mm_align_null keep[MM_ALIGN_MAXROW];
		memcpy(keep, su.null, sizeof keep);
		mm_align_suite_run(&su);
		ok(memcmp(keep, su.null, sizeof(keep[0]) * su.n) == 0,
		    "the null on 1 thread = on 2, to the bit");
	}
}

/* Independent sides through the suite: p-values roughly uniform (mean
 * near E p = (P + 2) / (2 (P + 1)), about half <= 0.5) and calibrated
 * scores centred on 0, for SVCCA, CKNNA and recall (whose nulls the
 * suite maps rather than recomputes). */
static void
test_suite_uniform(void)
{
	enum { NSET = 60, N = 60, D = 5, P = 19 };
	static float A[N * D], B[N * D];
	struct mm_align_suite su;
	struct mm_rng r;
	int ks[] = { 4 }, s, m, low[5] = { 0 };
	double mp[5] = { 0 }, mc[5] = { 0 }, sc[5] = { 0 }, cc[5][NSET];
	static const char *nm[5] = { "svcca", "cknna", "recall_img2fac",
	    "cka", "cka_unbiased" };

	mm_rng_seed(&r, 77);
	for (s = 0; s < NSET; s++) {
		randn(&r, A, N * D);
		randn(&r, B, N * D);
		memset(&su, 0, sizeof su);
		su.A = A;
		su.B = B;
		su.Da = su.Db = D;
		su.N = N;
		su.sel = MM_ALIGN_SVCCA | MM_ALIGN_CKNNA | MM_ALIGN_RECALL |
		    MM_ALIGN_CKA | MM_ALIGN_UCKA;
		su.ks = ks;
		su.nk = 1;
		su.svdim = 3;
		su.threads = 1;
		su.P = P;
		su.seed = 1000 + s;
		if (mm_align_suite_run(&su) < 0)
			diag("%s", mm_errmsg());
		for (m = 0; m < 5; m++) {
			int t;
			for (t = 0; t < su.n && strcmp(su.name[t], nm[m]); t++)
				;
			mp[m] += su.null[t].p / NSET;
			low[m] += su.null[t].p <= 0.5;
			cc[m][s] = su.null[t].calibrated;
			mc[m] += cc[m][s] / NSET;
		}
	}
	for (m = 0; m < 5; m++) {
		for (s = 0; s < NSET; s++)
			sc[m] += (cc[m][s] - mc[m]) * (cc[m][s] - mc[m]) /
			    (NSET - 1);
		diag("%s: mean p %.3f, %d of %d <= 0.5, calibrated %.4f "
		    "(sd %.4f)", nm[m], mp[m], low[m], NSET, mc[m], sqrt(sc[m]));
	}
	ok(fabs(mp[0] - 0.525) < 0.1 && low[0] >= 18 && low[0] <= 42,
	    "svcca: p-values uniform under independence");
	ok(fabs(mc[0]) < 3 * sqrt(sc[0] / NSET), "svcca: calibrated scores "
	    "centred on 0");
	ok(fabs(mp[1] - 0.525) < 0.1 && low[1] >= 18 && low[1] <= 42,
	    "cknna: p-values uniform under independence");
	ok(fabs(mc[1]) < 3 * sqrt(sc[1] / NSET), "cknna: calibrated scores "
	    "centred on 0");
	/* recall@4 of 60 is mostly 0 or 1/60: ties push p up */
	ok(mp[2] > 0.45 && mp[2] < 0.9, "recall: p-values not small under "
	    "independence");
	ok(fabs(mc[2]) < 3 * sqrt(sc[2] / NSET) + 1e-12, "recall: calibrated "
	    "scores centred on 0");
	for (m = 3; m < 5; m++) {
		ok(fabs(mp[m] - 0.525) < 0.1 && low[m] >= 18 && low[m] <= 42,
		    "%s (suite: bounded decisions): p-values uniform under "
		    "independence", nm[m]);
		ok(fabs(mc[m]) < 3 * sqrt(sc[m] / NSET), "%s: calibrated "
		    "scores (by the exact mean) centred on 0", nm[m]);
	}
}

/* The literal biased RBF CKA: centred N x N kernels. */
static double
naive_rbf(const float *A, int Da, const float *B, int Db, int N, double ga,
    double gb)
{
	double *K = malloc(sizeof(double) * N * N), *L = malloc(sizeof(double) * N * N);
	double *mk = calloc(N, sizeof(double)), *ml = calloc(N, sizeof(double));
	double ak = 0, al = 0, kl = 0, kk = 0, ll = 0;
	int i, j, d;

	for (i = 0; i < N; i++)
		for (j = 0; j < N; j++) {
			double da = 0, db = 0;
			for (d = 0; d < Da; d++)
				da += ((double)A[i * Da + d] - A[j * Da + d]) *
				    ((double)A[i * Da + d] - A[j * Da + d]);
			for (d = 0; d < Db; d++)
				db += ((double)B[i * Db + d] - B[j * Db + d]) *
				    ((double)B[i * Db + d] - B[j * Db + d]);
			K[i * N + j] = exp(-ga * da);
			L[i * N + j] = exp(-gb * db);
			mk[i] += K[i * N + j] / N;
			ml[i] += L[i * N + j] / N;
		}
	for (i = 0; i < N; i++) {
		ak += mk[i] / N;
		al += ml[i] / N;
	}
	for (i = 0; i < N; i++)
		for (j = 0; j < N; j++) {
			double k = K[i * N + j] - mk[i] - mk[j] + ak;
			double l = L[i * N + j] - ml[i] - ml[j] + al;
			kl += k * l;
			kk += k * k;
			ll += l * l;
		}
	free(K);
	free(L);
	free(mk);
	free(ml);
	return kl / sqrt(kk * ll);
}

static void
test_rbf(void)
{
	static const float line3[] = { 0, 1, 3 }, line4[] = { 0, 1, 2, 4 };
	enum { N = 300, Da = 6, Db = 3 };
	struct mm_rng r;
	float *A = malloc(sizeof(float) * N * Da), *B = malloc(sizeof(float) * N * Db);
	double m, ga, gb, v, v2, w;
	int i;

	mm_align_rbf_median(line3, 3, 1, 1, &m);
	is_double(m, 1.0, 0, "median of {0,0,0,1,1,4,4,9,9} (N^2 odd)");
	mm_align_rbf_median(line4, 4, 1, 1, &m);
	is_double(m, 2.5, 0, "N^2 even: the mean of the two middle values");
	ok(mm_align_rbf_median(line3, MM_ALIGN_RBF_MAXN + 1, 1, 1, &m) ==
	    MM_EINVAL, "more rows than the limit: refused before allocating");

	mm_rng_seed(&r, 5);
	randn(&r, A, N * Da);
	for (i = 0; i < N; i++) {
		B[i * Db] = (float)tanh(A[i * Da]);
		B[i * Db + 1] = A[i * Da + 1] * A[i * Da + 2];
		B[i * Db + 2] = (float)mm_rng_normal(&r);
	}
	mm_align_rbf_median(A, N, Da, 1, &m);
	ga = 1.0 / (2.0 * 0.7 * 0.7 * m);
	mm_align_rbf_median(B, N, Db, 1, &m);
	gb = 1.0 / (2.0 * 0.7 * 0.7 * m);
	mm_align_cka_rbf(A, Da, B, Db, N, ga, gb, 1, &v);
	w = naive_rbf(A, Da, B, Db, N, ga, gb);
	is_double(v, w, 1e-10, "cka_rbf (tiles of 256 rows, N 300) = the "
	    "centred N x N formula (%.8f)", w);
	mm_align_cka_rbf(A, Da, B, Db, N, ga, gb, 2, &v2);
	ok(v == v2, "cka_rbf: 2 threads, the same bits");
	mm_align_cka_rbf(A, Da, A, Da, N, ga, ga, 1, &v);
	is_double(v, 1.0, 1e-12, "cka_rbf of a side with itself is 1");
	free(A);
	free(B);
}


/* The next permutation of p (n) in lexicographic order; 0 after the
 * last. */
static int
next_perm(int32_t *p, int n)
{
	int i = n - 2, j, t;

	while (i >= 0 && p[i] > p[i + 1])
		i--;
	if (i < 0)
		return 0;
	for (j = n - 1; p[j] < p[i]; j--)
		;
	t = p[i], p[i] = p[j], p[j] = t;
	for (i++, j = n - 1; i < j; i++, j--)
		t = p[i], p[i] = p[j], p[j] = t;
	return 1;
}

/* CKA's closed-form permutation moments: against all N! permutations of a
 * small N (the moments exactly), and against sampled permutations of a
 * larger one (within a few standard errors), on sides of unequal widths,
 * offset columns and unequal scales. */
static void
test_cka_moments(void)
{
	enum { N1 = 8, Da = 3, Db = 2, N2 = 150, D2 = 6, P2 = 4000 };
	struct mm_align_cka_parts c;
	struct mm_rng r;
	float A[N2 * D2], B[N2 * D2];
	int32_t perm[N2], inv[N2];
	double m[2], sd[2], s1[2] = { 0, 0 }, s2[2] = { 0, 0 }, x[2], cnt = 0;
	int i, u, okm = 1;

	mm_rng_seed(&r, 41);
	randn(&r, A, N1 * Da);
	randn(&r, B, N1 * Db);
	for (i = 0; i < N1 * Da; i++)
		A[i] = A[i] * (1 + i % Da) + 2.0f;
	for (i = 0; i < N1 * Db; i++)
		B[i] = 0.5f * B[i] + 0.3f * A[(i / Db) * Da] - 1.0f;
	mm_align_cka_parts(&c, A, Da, B, Db, N1, 1, 0);
	mm_align_cka_null_moments(&c, &m[0], &sd[0], &m[1], &sd[1]);
	for (i = 0; i < N1; i++)
		perm[i] = i;
	do {
		mm_align_cka_eval(&c, perm, 1, &x[0], &x[1]);
		for (u = 0; u < 2; u++) {
			s1[u] += x[u];
			s2[u] += x[u] * x[u];
		}
		cnt++;
	} while (next_perm(perm, N1));
	mm_align_cka_free(&c);
	for (u = 0; u < 2; u++) {
		double em = s1[u] / cnt, es = sqrt(s2[u] / cnt - em * em);
		diag("%s over all %g permutations: mean %.15f sd %.15f; "
		    "closed form %.15f %.15f", u ? "cka_unbiased" : "cka", cnt,
		    em, es, m[u], sd[u]);
		okm &= fabs(em - m[u]) < 1e-12 && fabs(es - sd[u]) < 1e-12;
	}
	ok(okm, "CKA, unbiased CKA: the closed-form mean and sd = those over "
	    "all 8! permutations");
	is_double(sd[1], sqrt(2.0 / (N1 * (N1 - 3.0))), 1e-15,
	    "unbiased CKA's null sd is sqrt(2 / (N (N - 3)))");

	/* sampled, N 150 */
	randn(&r, A, N2 * D2);
	randn(&r, B, N2 * D2);
	for (i = 0; i < N2 * D2; i++) {
		A[i] = A[i] * A[i] * (i % D2 == 0 ? 4.0f : 1.0f);
		B[i] = B[i] + 5.0f;
	}
	mm_align_cka_parts(&c, A, D2, B, D2, N2, 1, 0);
	mm_align_cka_null_moments(&c, &m[0], &sd[0], &m[1], &sd[1]);
	s1[0] = s1[1] = s2[0] = s2[1] = 0;
	for (i = 0; i < P2; i++) {
		mm_align_perm(&r, N2, perm, inv);
		mm_align_cka_eval(&c, perm, 1, &x[0], &x[1]);
		for (u = 0; u < 2; u++) {
			s1[u] += x[u];
			s2[u] += x[u] * x[u];
		}
	}
	mm_align_cka_free(&c);
	okm = 1;
	for (u = 0; u < 2; u++) {
		double em = s1[u] / P2, es = sqrt((s2[u] - P2 * em * em) /
		    (P2 - 1.0));
		diag("%s, %d sampled permutations: mean %.6f sd %.6f; closed "
		    "form %.6f %.6f", u ? "cka_unbiased" : "cka", P2, em, es,
		    m[u], sd[u]);
		/* the mean within 4 standard errors; the sd within 10 %
		 * (its relative standard error is ~ 1 / sqrt(2 P) plus the
		 * skew, a few per cent) */
		okm &= fabs(em - m[u]) < 4.0 * sd[u] / sqrt((double)P2) &&
		    fabs(es / sd[u] - 1.0) < 0.1;
	}
	ok(okm, "sampled null mean and sd of CKA, unbiased CKA agree with the "
	    "closed form (%d permutations)", P2);
}

/* mm_align_cka_null_ge: its decisions against the values of
 * mm_align_cka_eval() on the same permutations, for aligned sides (the
 * bounds decide, few full products), independent ones (near the null:
 * full products) and sides wider than the components kept (q < D), on 1
 * and 2 threads. */
static void
test_cka_decide(void)
{
	enum { N = 600, Da = 150, Db = 140, P = 40 };
	static float A[N * Da], B[N * Db], Z[N * 6];
	struct mm_rng r;
	int32_t perm[N], inv[N];
	int set, j, i;

	mm_rng_seed(&r, 321);
	for (set = 0; set < 3; set++) {
		struct mm_align_cka_parts c;
		struct mm_align_cka_null z, z2;
		double a, b, x, y;
		int same = 1, ge, uge, ge2, uge2, ng = 0;
		randn(&r, Z, N * 6);
		randn(&r, A, N * Da);
		randn(&r, B, N * Db);
		/* set 0: a shared 6-d signal, strong; 1: weak; 2: none */
		for (i = 0; i < N * Da && set < 2; i++)
			A[i] = 0.5f * A[i] + (set ? 0.05f : 3.0f) *
			    Z[(i / Da) * 6 + i % 6] * (1 + i % 7) + 1.0f;
		for (i = 0; i < N * Db && set < 2; i++)
			B[i] = B[i] + (set ? 0.05f : 2.0f) *
			    Z[(i / Db) * 6 + (i * 5) % 6];
		mm_align_cka_parts(&c, A, Da, B, Db, N, 1, 1);
		mm_align_cka_eval(&c, NULL, 1, &a, &b);
		if (mm_align_cka_null_init(&z, &c, a, b, 1) < 0 ||
		    mm_align_cka_null_init(&z2, &c, a, b, 2) < 0)
			diag("%s", mm_errmsg());
		for (j = 0; j < P; j++) {
			mm_align_perm(&r, N, perm, inv);
			mm_align_cka_eval(&c, perm, 1, &x, &y);
			mm_align_cka_null_ge(&z, &c, perm, 1, &ge, &uge);
			mm_align_cka_null_ge(&z2, &c, perm, 2, &ge2, &uge2);
			same &= ge == (x >= a) && uge == (y >= b) &&
			    ge == ge2 && uge == uge2;
			ng += ge + uge;
		}
		diag("set %d: cka %.4f, unbiased %.4f; q %d, %lld block "
		    "columns, %lld full products of %d; %d reached", set, a, b,
		    z.q, (long long)z.cols, (long long)z.full, P, ng);
		ok(same, "CKA null decisions = comparisons of the values (%s; "
		    "1 and 2 threads)", set == 0 ? "aligned" : set == 1 ?
		    "weakly aligned" : "independent");
		if (set == 0)
			ok(z.full == 0 && z.q < Db, "aligned: every permutation "
			    "decided by the bounds, q %d < D", z.q);
		mm_align_cka_null_free(&z);
		mm_align_cka_null_free(&z2);
		mm_align_cka_free(&c);
	}
}

int
main(void)
{
	test_perm();
	test_summary();
	test_cka_moments();
	test_cka_decide();
	test_uniform();
	test_suite_null();
	test_suite_uniform();
	test_rbf();
	return done_testing();
}
