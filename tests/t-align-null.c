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

int
main(void)
{
	test_perm();
	test_summary();
	test_uniform();
	test_rbf();
	return done_testing();
}
