/*
 * t-align.c - alignment metrics: the neighbour tie rule on hand-made
 * examples, the feature-space CKA forms against the literal N x N
 * formulas, invariances (CKA, CKNNA, SVCCA of a representation with
 * itself or a rotation of itself), and recall, cosine and gap by hand.
 * Agreement with numpy on fixtures is in tests/align.t.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "align-impl.h"
#include "err.h"
#include "rng.h"
#include "tap.h"

static void
randn(struct mm_rng *r, float *X, int n)
{
	int i;

	for (i = 0; i < n; i++)
		X[i] = (float)mm_rng_normal(r);
}

static int
same(const int32_t *a, const int32_t *b, int n)
{
	return memcmp(a, b, sizeof(int32_t) * n) == 0;
}

static void
test_ties(void)
{
	/* rows 0, 1, 3 identical; every inner product exact in binary */
	static const float A[] = {
		1, 0,  1, 0,  0.5f, 0.5f,  1, 0,  0, 1,  0.5f, 0.5f
	};
	int32_t nn[6 * 3];
	static const int32_t want0[] = { 1, 3, 2 }, want2[] = { 0, 1 },
	    want4[] = { 2, 5 }, want3[] = { 0, 1, 2 };
	int rc;

	rc = mm_align_knn(A, 6, 2, 3, 1, nn);
	ok(rc == 0, "kNN runs");
	ok(same(nn, want0, 3), "row 0: duplicates first, lower index first "
	    "(%d %d %d)", nn[0], nn[1], nn[2]);
	ok(same(nn + 9, want3, 3), "row 3: its duplicates 0, 1, then 2 of "
	    "the tied 0.5s (%d %d %d)", nn[9], nn[10], nn[11]);
	mm_align_knn(A, 6, 2, 2, 1, nn);
	ok(same(nn + 4, want2, 2), "row 2: five-way tie at 0.5 -> lowest "
	    "indices 0, 1 (%d %d)", nn[4], nn[5]);
	ok(same(nn + 8, want4, 2), "row 4: tie of 2 and 5 at 0.5 before the "
	    "zeros (%d %d)", nn[8], nn[9]);
	rc = mm_align_knn(A, 6, 2, 6, 1, nn);
	ok(rc == MM_EINVAL, "k >= N refused (%s)", mm_errmsg());
}

/* Duplicates far apart in a matrix larger than one row block: the tie
 * must not depend on where BLAS places the columns. */
static void
test_ties_blocks(void)
{
	struct mm_rng r;
	int N = 700, D = 7, k = 4, i, bad = 0;
	float *A = malloc(sizeof(float) * N * D);
	int32_t *nn = malloc(sizeof(int32_t) * N * k);

	mm_rng_seed(&r, 3);
	randn(&r, A, N * D);
	/* rows 5, 300, 333, 699 equal: each one's neighbours are the other
	 * three, in index order */
	memcpy(A + 300 * D, A + 5 * D, sizeof(float) * D);
	memcpy(A + 333 * D, A + 5 * D, sizeof(float) * D);
	memcpy(A + 699 * D, A + 5 * D, sizeof(float) * D);
	for (i = 0; i < D; i++)       /* make row 5 the longest vector */
		A[5 * D + i] *= 10.0f, A[300 * D + i] *= 10.0f,
		A[333 * D + i] *= 10.0f, A[699 * D + i] *= 10.0f;
	mm_align_knn(A, N, D, k, 1, nn);
	{
		static const int32_t w5[] = { 300, 333, 699 },
		    w333[] = { 5, 300, 699 }, w699[] = { 5, 300, 333 };
		bad += !same(nn + 5 * k, w5, 3);
		bad += !same(nn + 333 * k, w333, 3);
		bad += !same(nn + 699 * k, w699, 3);
	}
	ok(bad == 0, "duplicates across row blocks rank in index order "
	    "(row 699: %d %d %d)", nn[699 * k], nn[699 * k + 1],
	    nn[699 * k + 2]);
	free(A);
	free(nn);
}

/* Literal HSICs from N x N kernels. */
static double
hsic_lit(const double *K, const double *L, int n, int unbiased)
{
	double s = 0.0;
	int i, j, l;

	if (!unbiased) {
		/* tr(K H L H) = sum_ij Kc_ij Lc_ij with double centring */
		double *Kc = malloc(sizeof(double) * n * n);
		double *Lc = malloc(sizeof(double) * n * n);
		double *rk = calloc(n, sizeof(double)), *rl = calloc(n,
		    sizeof(double)), tk = 0, tl = 0;
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				rk[i] += K[i * n + j] / n;
				rl[i] += L[i * n + j] / n;
			}
		for (i = 0; i < n; i++) {
			tk += rk[i] / n;
			tl += rl[i] / n;
		}
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				Kc[i * n + j] = K[i * n + j] - rk[i] - rk[j] + tk;
				Lc[i * n + j] = L[i * n + j] - rl[i] - rl[j] + tl;
				s += Kc[i * n + j] * Lc[i * n + j];
			}
		free(Kc);
		free(Lc);
		free(rk);
		free(rl);
		return s;
	} else {
		double t1 = 0, sk = 0, sl = 0, t3 = 0;
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				double k = i == j ? 0 : K[i * n + j];
				double lv = i == j ? 0 : L[j * n + i];
				t1 += k * lv;
				sk += k;
				sl += i == j ? 0 : L[i * n + j];
			}
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				double kl = 0;
				for (l = 0; l < n; l++)
					kl += (i == l ? 0 : K[i * n + l]) *
					    (l == j ? 0 : L[l * n + j]);
				t3 += kl;
			}
		return (t1 + sk * sl / ((n - 1.0) * (n - 2.0)) -
		    2.0 * t3 / (n - 2.0)) / (n * (n - 3.0));
	}
}

static void
gram(const float *A, int n, int D, double *K)
{
	int i, j, d;

	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++) {
			double s = 0;
			for (d = 0; d < D; d++)
				s += (double)A[i * D + d] * A[j * D + d];
			K[i * n + j] = s;
		}
}

static void
test_cka(void)
{
	struct mm_rng r;
	enum { N = 60, Da = 5, Db = 3 };
	float A[N * Da], B[N * Db], C[N * Da];
	double K[N * N], L[N * N], cka, ucka, want, uwant;
	int i, d;

	mm_rng_seed(&r, 11);
	randn(&r, A, N * Da);
	for (i = 0; i < N; i++)       /* B depends on A, plus noise and offset */
		for (d = 0; d < Db; d++)
			B[i * Db + d] = A[i * Da + d] + A[i * Da + d] *
			    A[i * Da + d + 1] + 0.5f * (float)mm_rng_normal(&r) +
			    3.0f;
	gram(A, N, Da, K);
	gram(B, N, Db, L);
	want = hsic_lit(K, L, N, 0) / sqrt(hsic_lit(K, K, N, 0) *
	    hsic_lit(L, L, N, 0));
	uwant = hsic_lit(K, L, N, 1) / sqrt(hsic_lit(K, K, N, 1) *
	    hsic_lit(L, L, N, 1));
	ok(mm_align_cka(A, Da, B, Db, N, 1, &cka, &ucka) == 0, "CKA runs");
	is_double(cka, want, 1e-10, "biased CKA = tr(KHLH) form (%.10f)", want);
	is_double(ucka, uwant, 1e-10, "unbiased CKA = Song et al. N x N form "
	    "(%.10f)", uwant);
	mm_align_cka(A, Da, A, Da, N, 1, &cka, &ucka);
	ok(fabs(cka - 1) < 1e-12 && fabs(ucka - 1) < 1e-12,
	    "CKA(A, A) = 1 (%.15f, %.15f)", cka, ucka);
	/* rotation in the (0, 1) plane and isotropic scaling: invariant */
	for (i = 0; i < N; i++) {
		for (d = 0; d < Da; d++)
			C[i * Da + d] = 2.5f * A[i * Da + d];
		C[i * Da + 0] = 2.5f * (0.6f * A[i * Da] - 0.8f * A[i * Da + 1]);
		C[i * Da + 1] = 2.5f * (0.8f * A[i * Da] + 0.6f * A[i * Da + 1]);
	}
	mm_align_cka(A, Da, C, Da, N, 1, &cka, &ucka);
	ok(fabs(cka - 1) < 1e-6 && fabs(ucka - 1) < 1e-6,
	    "CKA invariant to rotation and scale (%.9f, %.9f)", cka, ucka);
}

static void
test_knn_metrics(void)
{
	/* neighbour lists by hand, k = 2, N = 4 */
	static const int32_t a[] = { 1, 2,  0, 2,  3, 0,  2, 1 };
	static const int32_t b[] = { 2, 1,  3, 2,  1, 3,  0, 1 };
	/* overlaps: {1,2}&{2,1} = 2; {0,2}&{3,2} = 1; {3,0}&{1,3} = 1;
	 * {2,1}&{0,1} = 1 -> (1 + .5 + .5 + .5) / 4 */
	is_double(mm_align_mutual_knn(a, b, 4, 2), 0.625, 1e-15,
	    "mutual kNN by hand");
	/* cycle: i=0: B {2,1}, A(2)={3,0} has 0 -> hit; i=1: B {3,2},
	 * A(3)={2,1} -> hit; i=2: B {1,3}, A(1)={0,2} -> hit; i=3: B {0,1},
	 * A(0)={1,2}, A(1)={0,2}: no 3 -> miss */
	is_double(mm_align_cycle_knn(a, b, 4, 2), 0.75, 1e-15,
	    "cycle kNN by hand");
}

static void
test_cknna_svcca(void)
{
	struct mm_rng r;
	enum { N = 80, D = 4 };
	float A[N * D], B[N * D], C[N * 6];
	int32_t na[N * 5], nb[N * 5];
	double v;
	int i, d, rc;

	mm_rng_seed(&r, 5);
	randn(&r, A, N * D);
	mm_align_knn(A, N, D, 5, 1, na);
	rc = mm_align_cknna(A, D, A, D, N, na, na, 5, 1, &v);
	ok(rc == 0 && fabs(v - 1) < 1e-12, "CKNNA(A, A) = 1 (%.15f)", v);
	rc = mm_align_cknna(A, D, A, D, N, na, na, 1, 1, &v);
	ok(rc == MM_EINVAL, "CKNNA k = 1 refused");
	randn(&r, B, N * D);
	mm_align_knn(B, N, D, 5, 1, nb);
	mm_align_cknna(A, D, B, D, N, na, nb, 5, 1, &v);
	ok(fabs(v) < 0.5, "CKNNA of independent data small (%.4f)", v);

	/* SVCCA: invariant to any invertible map when all directions kept */
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			B[i * D + d] = A[i * D + d] + 0.5f * A[i * D + (d + 1) % D]
			    - 2.0f;
	rc = mm_align_svcca(A, D, B, D, N, 10, 1, &v);
	ok(rc == 0 && fabs(v - 1) < 1e-9, "SVCCA(A, A M) = 1 (%.12f)", v);
	/* only dim directions: A's first 2 columns carry most variance */
	for (i = 0; i < N; i++) {
		for (d = 0; d < 6; d++)
			C[i * 6 + d] = (float)mm_rng_normal(&r) * 0.01f;
		C[i * 6 + 0] += A[i * D + 0] * 5.0f;
		C[i * 6 + 3] += A[i * D + 1] * 5.0f;
	}
	mm_align_svcca(A, D, C, 6, N, 2, 1, &v);
	ok(v > 0.3 && v <= 1.0 + 1e-12, "SVCCA with dim 2: in (0.3, 1] (%.6f)",
	    v);
	/* rank-deficient side: a constant column and a copy */
	for (i = 0; i < N; i++) {
		C[i * 6 + 1] = 1.0f;
		C[i * 6 + 2] = C[i * 6 + 0];
	}
	rc = mm_align_svcca(A, D, C, 6, N, 10, 1, &v);
	ok(rc == 0 && isfinite(v), "SVCCA drops null directions (%.6f)", v);
}

static void
test_eig(void)
{
	double S[9] = { 4, 1, -2,  1, 2, 0,  -2, 0, 3 }, S0[9], w[3], V[9],
	    w2[2], V2[6];
	double e = 0, o = 0;
	int i, j, l;

	memcpy(S0, S, sizeof S);
	ok(mm_align_eigsym_top(S, 3, 3, w, V) == 0, "dsyevr: all 3 pairs");
	for (i = 0; i < 3; i++)
		for (j = 0; j < 3; j++) {
			double a = 0, b = 0;
			for (l = 0; l < 3; l++) {
				a += V[i * 3 + l] * w[l] * V[j * 3 + l];
				b += V[l * 3 + i] * V[l * 3 + j];
			}
			e = fmax(e, fabs(a - S0[i * 3 + j]));
			o = fmax(o, fabs(b - (i == j)));
		}
	ok(e < 1e-12 && o < 1e-12 && w[0] >= w[1] && w[1] >= w[2],
	    "eigsym: V diag(w) V^T = S, V orthogonal, w sorted (%.2g, %.2g)",
	    e, o);
	is_double(w[0] + w[1] + w[2], 9.0, 1e-12, "eigenvalues sum to the "
	    "trace");
	/* the top 2 only: the same values and vectors (up to sign) */
	memcpy(S, S0, sizeof S);
	mm_align_eigsym_top(S, 3, 2, w2, V2);
	e = 0;
	for (l = 0; l < 2; l++) {
		double dp = 0;
		for (i = 0; i < 3; i++)
			dp += V2[i * 2 + l] * V[i * 3 + l];
		e = fmax(e, fabs(fabs(dp) - 1) + fabs(w2[l] - w[l]));
	}
	ok(e < 1e-12, "eigsym top 2 = the first 2 of the full set (%.2g)", e);
	ok(mm_align_eigsym_top(S, 3, 4, w, V) == MM_EINVAL, "q > n refused");
}

static void
test_cross(void)
{
	/* B has a duplicate of row 2 at row 0: for query 2 the tie with
	 * candidate 0 ranks 0 first, so recall@1 misses row 2 */
	static const float A[] = { 1, 0,  0, 1,  0.6f, 0.8f,  -1, 0 };
	static const float B[] = { 0.6f, 0.8f,  0, 1,  0.6f, 0.8f,  -1, 0 };
	int ks[] = { 1, 2 };
	double ab[2], ba[2], cs, gap;

	mm_align_recall(A, B, 4, 2, ks, 2, 1, ab, ba);
	/* A->B: q0 (1,0): scores .6 0 .6 -1, partner 0 rank 0 -> hit;
	 * q1 (0,1): .8 1 .8 0 -> hit; q2 (.6,.8): 1 .8 1 -.6, partner 2
	 * ties with 0 -> rank 1: miss at 1, hit at 2; q3 (-1,0): hit */
	ok(ab[0] == 0.75 && ab[1] == 1.0, "recall A->B with a tied "
	    "duplicate (%.2f, %.2f)", ab[0], ab[1]);
	/* B->A: q0 (.6,.8) vs A: .6 .8 1 -.6: partner 0 rank 2: miss at 1
	 * and 2; q1 (0,1): 0 1 .8 0 hit; q2 same as q0 -> partner 2 best,
	 * hit; q3 (-1,0): -1 0 -.6 1 hit */
	ok(ba[0] == 0.75 && ba[1] == 0.75, "recall B->A (%.2f, %.2f)", ba[0],
	    ba[1]);
	mm_align_paired(A, A, 4, 2, &cs, &gap);
	ok(fabs(cs - 1) < 1e-12 && gap == 0.0, "cosine 1, gap 0 with itself");
	mm_align_paired(A, B, 4, 2, &cs, &gap);
	/* cosines: .6, 1, 1, 1 -> .9; centroids (.15,.45) and (.05,.65) */
	is_double(cs, 0.9, 1e-7, "mean paired cosine by hand");
	is_double(gap, sqrt(0.1 * 0.1 + 0.2 * 0.2), 1e-7, "modality gap by "
	    "hand");
}

/* ---- against naive O(N^2) versions ---- */

/* Small integers: every inner product is exact, so ties between rows of
 * different values are exact too, and every third row copies an earlier
 * one. */
static void
int_rows(struct mm_rng *r, float *X, int N, int D)
{
	int i, d;

	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			X[i * D + d] = i % 3 == 2 ?
			    X[(int)(mm_rng_uniform(r) * i) * D + d] :
			    (float)((int)(mm_rng_uniform(r) * 4) - 1);
}

/* The k best j (!= i when self) of query i by Q_i . C_j, then lower j,
 * from the whole row of scores: nn (N, k); rank (N) of candidate i. */
static void
naive_search(const float *Q, const float *C, int N, int D, int k, int self,
    int32_t *nn, int *rank)
{
	double *s = malloc(sizeof(double) * N);
	int i, j, t, d;

	for (i = 0; i < N; i++) {
		for (j = 0; j < N; j++) {
			s[j] = 0;
			for (d = 0; d < D; d++)
				s[j] += (double)Q[i * D + d] * C[j * D + d];
		}
		if (rank) {
			rank[i] = 0;
			for (j = 0; j < N; j++)
				rank[i] += s[j] > s[i] || (s[j] == s[i] && j < i);
		}
		if (nn)
			for (t = 0; t < k; t++) {
				int b = -1;
				for (j = 0; j < N; j++)
					if (!(self && j == i) && s[j] != -INFINITY &&
					    (b < 0 || s[j] > s[b]))
						b = j;
				nn[i * k + t] = b;
				s[b] = -INFINITY;
			}
	}
	free(s);
}

static void
test_naive(void)
{
	enum { N = 700, D = 5, K = 9 };
	static float A[N * D], B[N * D];
	static int32_t want[N * K], got[N * K], wb[N * K];
	static int rab[N], rba[N];
	struct mm_rng r;
	int ks[] = { 1, 4, 9 }, i, t, th, bad, ties = 0;
	double ab[3], ba[3];

	mm_rng_seed(&r, 17);
	int_rows(&r, A, N, D);
	int_rows(&r, B, N, D);
	for (i = 0; i < N; i += 2)    /* half the pairs match */
		memcpy(B + i * D, A + i * D, sizeof(float) * D);
	naive_search(A, A, N, D, K, 1, want, NULL);
	naive_search(B, B, N, D, K, 1, wb, NULL);
	naive_search(A, B, N, D, 0, 0, NULL, rab);
	naive_search(B, A, N, D, 0, 0, NULL, rba);
	for (i = 0; i < N; i++) {     /* the fixture must be full of ties */
		int a = want[i * K], b = want[i * K + 1];
		double sa = 0, sb = 0;
		for (t = 0; t < D; t++) {
			sa += A[i * D + t] * A[a * D + t];
			sb += A[i * D + t] * A[b * D + t];
		}
		ties += sa == sb && memcmp(A + a * D, A + b * D,
		    sizeof(float) * D) != 0;
	}
	ok(ties > 100, "naive: %d rows whose best two neighbours are "
	    "different rows with exactly equal scores", ties);
	/* default tiles, then small ones (several row and candidate tiles,
	 * duplicates split across them), on one and two threads */
	for (th = 0; th < 4; th++) {
		int T = 1 + th % 2;
		if (th == 2)
			mm_align_blocks(64, 64, 0);
		mm_align_knn(A, N, D, K, T, got);
		bad = 0;
		for (i = 0; i < N * K; i++)
			bad += got[i] != want[i];
		ok(bad == 0, "kNN = naive sort of the full rows (tiles %s, "
		    "%d threads): %d entries differ", th < 2 ? "default" :
		    "64 x 64", T, bad);
		mm_align_knn(B, N, D, K, T, got);
		ok(memcmp(got, wb, sizeof got) == 0, "kNN of B = naive (%d "
		    "threads)", T);
		mm_align_recall(A, B, N, D, ks, 3, T, ab, ba);
		bad = 0;
		for (t = 0; t < 3; t++) {
			int ha = 0, hb = 0;
			for (i = 0; i < N; i++) {
				ha += rab[i] < ks[t];
				hb += rba[i] < ks[t];
			}
			bad += ab[t] != (double)ha / N || ba[t] != (double)hb / N;
		}
		ok(bad == 0, "recall@1,4,9 both ways = naive ranks (%d "
		    "threads; %.4f %.4f %.4f)", T, ab[0], ab[1], ab[2]);
	}
	mm_align_blocks(0, 0, 0);
}

/* CKNNA against the dense masks and the literal unbiased HSIC. */
static void
test_cknna_naive(void)
{
	enum { N = 120, Da = 6, Db = 4, k = 6 };
	static float A[N * Da], B[N * Db];
	static double K[N * N], L[N * N], MK[N * N], ML[N * N], AK[N * N],
	    BL[N * N];
	int32_t na[N * k], nb[N * k];
	struct mm_rng r;
	double v, want;
	int i, j, t;

	mm_rng_seed(&r, 23);
	int_rows(&r, A, N, Da);
	randn(&r, B, N * Db);
	for (i = 0; i < N; i++)
		B[i * Db] += A[i * Da] + A[i * Da + 1];
	gram(A, N, Da, K);
	gram(B, N, Db, L);
	naive_search(A, A, N, Da, k, 1, na, NULL);
	mm_align_knn(B, N, Db, k, 1, nb);
	memset(MK, 0, sizeof MK);
	memset(ML, 0, sizeof ML);
	memset(AK, 0, sizeof AK);
	memset(BL, 0, sizeof BL);
	for (i = 0; i < N; i++)
		for (t = 0; t < k; t++) {
			int a = na[i * k + t], b = nb[i * k + t];
			AK[i * N + a] = K[i * N + a];
			BL[i * N + b] = L[i * N + b];
		}
	for (i = 0; i < N * N; i++)
		if (AK[i] != 0 && BL[i] != 0) {
			MK[i] = K[i];
			ML[i] = L[i];
		}
	/* an entry of K that is exactly 0 drops out of the mask here but
	 * adds 0 in the sparse form: the same sums */
	want = hsic_lit(MK, ML, N, 1) / sqrt(hsic_lit(AK, AK, N, 1) *
	    hsic_lit(BL, BL, N, 1));
	j = mm_align_cknna(A, Da, B, Db, N, na, nb, k, 2, &v);
	ok(j == 0 && fabs(v - want) < 1e-10, "CKNNA = literal masked HSICs "
	    "(%.12f, want %.12f)", v, want);
}

/* Every metric on one and two threads, to the bit; Gram matrices summed
 * over blocks of 64 rows agree with one block to rounding. */
static void
test_threads(void)
{
	enum { N = 1000, Da = 40, Db = 24, k = 7 };
	static float A[N * Da], B[N * Da];
	static int32_t na[2][N * k], nb[2][N * k];
	struct mm_rng r;
	double v[2][4], ab[2][2], ba[2][2], vb[3];
	int ks[] = { 1, 7 }, T;

	mm_rng_seed(&r, 29);
	randn(&r, A, N * Da);
	randn(&r, B, N * Da);
	for (T = 1; T <= 2; T++) {
		double *w = v[T - 1];
		mm_align_cka(A, Da, B, Db, N, T, &w[0], &w[1]);
		mm_align_svcca(A, Da, B, Db, N, 10, T, &w[2]);
		mm_align_knn(A, N, Da, k, T, na[T - 1]);
		mm_align_knn(B, N, Db, k, T, nb[T - 1]);
		mm_align_cknna(A, Da, B, Db, N, na[T - 1], nb[T - 1], k, T,
		    &w[3]);
		mm_align_recall(A, B, N, Da, ks, 2, T, ab[T - 1], ba[T - 1]);
	}
	ok(memcmp(v[0], v[1], sizeof v[0]) == 0, "CKA, unbiased CKA, SVCCA, "
	    "CKNNA: 1 and 2 threads to the bit (%.17g %.17g %.17g %.17g)",
	    v[0][0], v[0][1], v[0][2], v[0][3]);
	ok(memcmp(na[0], na[1], sizeof na[0]) == 0 && memcmp(nb[0], nb[1],
	    sizeof nb[0]) == 0 && memcmp(ab[0], ab[1], sizeof ab[0]) == 0 &&
	    memcmp(ba[0], ba[1], sizeof ba[0]) == 0, "kNN lists and recall: "
	    "1 and 2 threads equal");
	{
		/* wide enough for several slices of every Gram product, and
		 * a depth (1500 = 4 mod 8) at which OpenBLAS's own threads
		 * would change the sums on some of its kernels */
		enum { N3 = 1500, D3 = 320 };
		float *X = malloc(sizeof(float) * N3 * D3);
		float *Y = malloc(sizeof(float) * N3 * D3);
		double w[3][5];
		randn(&r, X, N3 * D3);
		randn(&r, Y, N3 * D3);
		for (T = 0; T < N3 * D3; T++)
			Y[T] += 0.5f * X[T] + 1.0f;
		for (T = 1; T <= 3; T++) {
			double *x = w[T - 1];
			mm_align_cka(X, D3, Y, D3 - 7, N3, T, &x[0], &x[1]);
			mm_align_svcca(X, D3, Y, D3 - 7, N3, 20, T, &x[2]);
			mm_align_cka_rbf(X, D3, Y, D3 - 7, N3, 1e-3, 2e-3, T,
			    &x[3]);
			mm_align_rbf_median(Y, N3, D3 - 7, T, &x[4]);
		}
		ok(memcmp(w[0], w[1], sizeof w[0]) == 0 && memcmp(w[0], w[2],
		    sizeof w[0]) == 0, "CKA, unbiased CKA, SVCCA, RBF CKA, "
		    "median distance at N %d, D %d: 1, 2 and 3 threads to the "
		    "bit (%.17g %.17g %.17g %.17g %.17g)", N3, D3, w[0][0],
		    w[0][1], w[0][2], w[0][3], w[0][4]);
		free(X);
		free(Y);
	}
	mm_align_blocks(0, 0, 64);
	mm_align_cka(A, Da, B, Db, N, 2, &vb[0], &vb[1]);
	mm_align_svcca(A, Da, B, Db, N, 10, 2, &vb[2]);
	mm_align_blocks(0, 0, 0);
	ok(fabs(vb[0] - v[0][0]) < 1e-12 && fabs(vb[1] - v[0][1]) < 1e-12 &&
	    fabs(vb[2] - v[0][2]) < 1e-10, "Gram blocks of 64 rows = one block "
	    "(%.2g %.2g %.2g)", vb[0] - v[0][0], vb[1] - v[0][1],
	    vb[2] - v[0][2]);
}

/* Near-ties: rows of 30 base vectors, each copy scaled by 1 + 2^-22 t
 * (t = -3 .. 3) and every fifth an exact copy of an earlier row, so that
 * many candidates lie within the float32 and bf16 bounds of each other;
 * B is A plus a little noise, every seventh row a copy of an earlier one.
 * The lists and ranks (both ways) of every path, block size and thread
 * count equal the naive full sort of mm_align_dot() values. */
static void
test_paths(void)
{
	enum { N = 600, D = 96, K = 7 };
	static float A[N * D], B[N * D], base[30 * D];
	static int32_t want[N * K], got[N * K], wx[N * K], gx[N * K];
	static int rank[N], rankb[N];
	struct mm_rng r;
	int ks[] = { 1, 3, 7 }, i, d, t, path, bad, badx, badr, tie = 0;
	double ab[3], ba[3];

	mm_rng_seed(&r, 41);
	randn(&r, base, 30 * D);
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++) {
			if (i % 5 == 4) {
				A[i * D + d] = A[(i / 2) * D + d];
				continue;
			}
			A[i * D + d] = base[(i % 30) * D + d] * (float)(1.0 +
			    ldexp((double)(i % 7) - 3.0, -22));
		}
	randn(&r, B, N * D);
	for (i = 0; i < N * D; i++)   /* B: A plus a little noise */
		B[i] = A[i] + 1e-3f * B[i];
	for (i = 6; i < N; i += 7)
		memcpy(B + i * D, B + (i / 3) * D, sizeof(float) * D);
	naive_search(A, A, N, D, K, 1, want, NULL);
	naive_search(A, B, N, D, K, 0, wx, NULL);
	naive_search(A, B, N, D, 0, 0, NULL, rank);
	naive_search(B, A, N, D, 0, 0, NULL, rankb);
	for (i = 0; i < N; i++) {     /* the k-th and (k+1)-th within 1e-5 */
		double s1 = 0, s2 = 0;
		int j1 = want[i * K + K - 2], j2 = want[i * K + K - 1];
		for (d = 0; d < D; d++) {
			s1 += (double)A[i * D + d] * A[j1 * D + d];
			s2 += (double)A[i * D + d] * A[j2 * D + d];
		}
		tie += fabs(s1 - s2) < 1e-5 * fabs(s1);
	}
	ok(tie > N / 2, "near-ties: %d of %d rows with their last two "
	    "neighbours within 1e-5", tie, N);
	for (path = MM_ALIGN_PATH_F64; path <= MM_ALIGN_PATH_BF16; path++)
		for (t = 0; t < 6; t++) {
			int T = 1 + t % 3;
			mm_align_search_path(path);
			mm_align_blocks(t < 3 ? 0 : 64, t < 3 ? 0 : 48, 0);
			bad = badx = badr = 0;
			if (mm_align_knn(A, N, D, K, T, got) < 0 ||
			    mm_align_knn_cross(A, B, N, D, K, T, gx) < 0 ||
			    mm_align_recall(A, B, N, D, ks, 3, T, ab, ba) < 0)
				diag("%s", mm_errmsg());
			for (i = 0; i < N * K; i++) {
				bad += got[i] != want[i];
				badx += gx[i] != wx[i];
			}
			for (i = 0; i < 3; i++) {
				int h = 0, hb = 0, j;
				for (j = 0; j < N; j++) {
					h += rank[j] < ks[i];
					hb += rankb[j] < ks[i];
				}
				badr += ab[i] != (double)h / N;
				badr += ba[i] != (double)hb / N;
			}
			ok(bad == 0 && badx == 0 && badr == 0, "path %s, tiles "
			    "%s, %d threads: kNN, cross kNN and recall both ways = naive "
			    "(%d, %d, %d differ)", path == MM_ALIGN_PATH_F64 ?
			    "float64" : path == MM_ALIGN_PATH_F32 ? "float32" :
			    "bf16", t < 3 ? "default" : "64/48", T, bad, badx,
			    badr);
		}
	mm_align_search_path(0);
	mm_align_blocks(0, 0, 0);
	/* rows too long for float32 sums: float64, same lists */
	for (i = 0; i < N * D; i++)
		B[i] = A[i] * 0x1p60f;
	naive_search(B, B, N, D, K, 1, wx, NULL);
	ok(mm_align_knn(B, N, D, K, 2, gx) == 0 &&
	    memcmp(gx, wx, sizeof gx) == 0, "|a|^2 near 2^126: float64 "
	    "search, the naive lists");
	B[5] = INFINITY;
	ok(mm_align_knn(B, N, D, K, 1, gx) == MM_EINVAL, "an infinite value "
	    "refused (%s)", mm_errmsg());
}

/* Rows to unit length: against a double computation rounded once, a
 * zero row kept; on (.1, .2, .7) dividing by the norm rounded to float
 * first (nn.h's way) gives another last value. */
static void
test_normalise(void)
{
	float Z[3 * 3] = { 3, 4, 0,  0, 0, 0,  0.1f, 0.2f, 0.7f };
	float y[3], nr;
	double s = 0;
	int d, same = 1, other = 0;

	mm_align_normalise(Z, 3, 3);
	ok(Z[0] == 0.6f && Z[1] == 0.8f && Z[2] == 0,
	    "(3, 4, 0) -> (.6, .8, 0)");
	ok(Z[3] == 0 && Z[4] == 0 && Z[5] == 0, "a zero row stays zero");
	y[0] = 0.1f;
	y[1] = 0.2f;
	y[2] = 0.7f;
	for (d = 0; d < 3; d++)
		s += (double)y[d] * y[d];
	s = sqrt(s);
	nr = (float)s;
	for (d = 0; d < 3; d++) {
		same &= Z[6 + d] == (float)(y[d] / s);
		other |= Z[6 + d] != y[d] / nr;
	}
	ok(same, "each value divided in double, rounded once");
	ok(other, "... which is not a division by the float norm");
}

/* mm_align_dgemm(): every transposition, the triangle, shapes of one
 * slice and of many, against the plain sums to rounding, and on 1, 2,
 * 3 and 16 threads (more than the slices) to the bit. */
static void
test_dgemm(void)
{
	static const int shapes[][3] = {	/* M, N, K */
		{ 1, 1, 1 }, { 7, 5, 3 }, { 300, 40, 1500 }, { 37, 513, 500 },
		{ 320, 320, 1500 }, { 129, 129, 77 }, { 1000, 256, 64 },
	};
	static const int nt[] = { 1, 2, 3, 16 };
	struct mm_rng r;
	int i, up, ta, tb, T, bad = 0, diff = 0, n = 0;
	double worst = 0.0;

	mm_rng_seed(&r, 41);
	for (i = 0; i < (int)(sizeof shapes / sizeof shapes[0]); i++)
	for (up = 0; up < 2; up++)
	for (ta = 0; ta < 2; ta++)
	for (tb = 0; tb < 2; tb++) {
		int M = shapes[i][0], N = up ? M : shapes[i][1];
		int K = shapes[i][2], lda = ta ? M : K, ldb = tb ? K : N;
		int64_t a, b, k;
		double *A, *B, *C[4], beta = i % 2 ? 0.5 : 0.0;
		float *f;

		if (up && tb == ta)	/* the triangle is A' A'^T */
			continue;
		A = malloc(sizeof(double) * M * K);
		B = up ? A : malloc(sizeof(double) * N * K);
		f = malloc(sizeof(float) * (M > N ? M : N) * K);
		randn(&r, f, M * K);
		for (k = 0; k < (int64_t)M * K; k++)
			A[k] = f[k];
		if (!up) {
			randn(&r, f, N * K);
			for (k = 0; k < (int64_t)N * K; k++)
				B[k] = f[k];
		}
		for (T = 0; T < 4; T++) {
			C[T] = malloc(sizeof(double) * M * N);
			for (k = 0; k < (int64_t)M * N; k++)
				C[T][k] = (double)(k % 7) - 3.0;
			mm_align_dgemm(ta, tb, M, N, K, -2.0, A, lda, B, ldb,
			    beta, C[T], N, up, nt[T]);
		}
		for (a = 0; a < M; a++)
			for (b = up ? a : 0; b < N; b++) {
				double s = 0.0, e;
				for (k = 0; k < K; k++)
					s += (ta ? A[k * lda + a] : A[a * lda +
					    k]) * (tb ? B[b * ldb + k] :
					    B[k * ldb + b]);
				s = -2.0 * s + beta * ((double)((a * N + b) %
				    7) - 3.0);
				e = fabs(C[0][a * N + b] - s) / (1.0 +
				    fabs(s));
				worst = e > worst ? e : worst;
				bad += !(e < 1e-12);
				for (T = 1; T < 4; T++)
					diff += C[T][a * N + b] != C[0][a * N +
					    b];
			}
		if (up)		/* below the diagonal blocks: untouched */
			for (a = MM_ALIGN_TRI_WIDTH; a < M; a++)
				for (b = 0; b < a / MM_ALIGN_TRI_WIDTH *
				    MM_ALIGN_TRI_WIDTH; b++)
					bad += C[0][a * N + b] !=
					    (double)((a * N + b) % 7) - 3.0;
		n++;
		for (T = 0; T < 4; T++)
			free(C[T]);
		if (!up)
			free(B);
		free(A);
		free(f);
	}
	ok(bad == 0, "sliced float64 products = the plain sums, %d shapes "
	    "and transpositions (worst relative error %.2g)", n, worst);
	ok(diff == 0, "... and the same bits on 1, 2, 3 and 16 threads (%d "
	    "entries differ)", diff);
}

int
main(void)
{
	test_ties();
	test_ties_blocks();
	test_cka();
	test_knn_metrics();
	test_cknna_svcca();
	test_eig();
	test_cross();
	test_naive();
	test_cknna_naive();
	test_threads();
	test_dgemm();
	test_paths();
	test_normalise();
	return done_testing();
}
