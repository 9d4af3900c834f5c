/*
 * align.c - alignment metrics between two representations (see align.h).
 *
 * Everything is computed in float64 from the float32 inputs.  Kernel
 * matrices are never formed whole: CKA works in feature space, the
 * neighbour searches take N x N inner products one block of rows at a
 * time (dgemm), and CKNNA only needs the k neighbours of each row.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "align.h"
#include "err.h"

#define ROWBLOCK 256

static double *
to_double(const float *A, int64_t N, int D)
{
	double *d = malloc(sizeof(double) * (size_t)N * D);
	int64_t i;

	if (d)
		for (i = 0; i < N * D; i++)
			d[i] = A[i];
	return d;
}

/* ---- CKA ---- */

/* Squared Frobenius norm of X^T Y for X (N, Dx), Y (N, Dy). */
static double
cross_fro2(const double *X, int Dx, const double *Y, int Dy, int64_t N,
    double *tmp)
{
	double s = 0.0;
	int i;

	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Dx, Dy, (int)N,
	    1.0, X, Dx, Y, Dy, 0.0, tmp, Dy);
	for (i = 0; i < Dx * Dy; i++)
		s += tmp[i] * tmp[i];
	return s;
}

/* Unbiased HSIC of K = X X^T and L = Y Y^T in feature space. */
static double
hsic_unbiased(const double *X, int Dx, const double *Y, int Dy, int64_t N,
    double *tmp)
{
	double m = (double)N, t1, sk = 0.0, sl = 0.0, t3 = 0.0;
	double *sx = calloc(Dx, sizeof(double)), *sy = calloc(Dy, sizeof(double));
	int64_t i;
	int d;

	if (!sx || !sy) {
		free(sx);
		free(sy);
		return NAN;
	}
	for (i = 0; i < N; i++) {
		for (d = 0; d < Dx; d++)
			sx[d] += X[i * Dx + d];
		for (d = 0; d < Dy; d++)
			sy[d] += Y[i * Dy + d];
	}
	/* sum(K~ o L~^T) = |X^T Y|^2 - sum_i K_ii L_ii;
	 * sum(K~) = |X^T 1|^2 - sum_i K_ii;  1^T K~ L~ 1 = (K~ 1).(L~ 1)
	 * with K~ 1 = X (X^T 1) - diag K */
	t1 = cross_fro2(X, Dx, Y, Dy, N, tmp);
	for (d = 0; d < Dx; d++)
		sk += sx[d] * sx[d];
	for (d = 0; d < Dy; d++)
		sl += sy[d] * sy[d];
	for (i = 0; i < N; i++) {
		double kii = 0.0, lii = 0.0, kr = 0.0, lr = 0.0;
		for (d = 0; d < Dx; d++) {
			kii += X[i * Dx + d] * X[i * Dx + d];
			kr += X[i * Dx + d] * sx[d];
		}
		for (d = 0; d < Dy; d++) {
			lii += Y[i * Dy + d] * Y[i * Dy + d];
			lr += Y[i * Dy + d] * sy[d];
		}
		t1 -= kii * lii;
		sk -= kii;
		sl -= lii;
		t3 += (kr - kii) * (lr - lii);
	}
	free(sx);
	free(sy);
	return (t1 + sk * sl / ((m - 1.0) * (m - 2.0)) - 2.0 * t3 / (m - 2.0)) /
	    (m * (m - 3.0));
}

static double
ratio(double kl, double kk, double ll)
{
	double den = kk * ll;

	if (!(den > 0.0))
		return NAN;
	return kl / sqrt(den);
}

int
mm_align_cka(const float *A, int Da, const float *B, int Db, int64_t N,
    double *cka, double *cka_unbiased)
{
	double *X = to_double(A, N, Da), *Y = to_double(B, N, Db), *tmp;
	int Dm = Da > Db ? Da : Db, d;
	int64_t i;

	tmp = malloc(sizeof(double) * Dm * Dm);
	if (!X || !Y || !tmp) {
		free(X);
		free(Y);
		free(tmp);
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	}
	*cka = *cka_unbiased = NAN;
	if (N >= 4)
		*cka_unbiased = ratio(hsic_unbiased(X, Da, Y, Db, N, tmp),
		    hsic_unbiased(X, Da, X, Da, N, tmp),
		    hsic_unbiased(Y, Db, Y, Db, N, tmp));
	if (N >= 2) {
		/* centre the columns: HSIC_biased = |Xc^T Yc|^2 */
		double *mx = calloc(Dm, sizeof(double));
		if (!mx) {
			free(X);
			free(Y);
			free(tmp);
			return mm_err(MM_ENOMEM, "CKA: out of memory");
		}
		for (i = 0; i < N; i++)
			for (d = 0; d < Da; d++)
				mx[d] += X[i * Da + d];
		for (i = 0; i < N; i++)
			for (d = 0; d < Da; d++)
				X[i * Da + d] -= mx[d] / (double)N;
		memset(mx, 0, sizeof(double) * Dm);
		for (i = 0; i < N; i++)
			for (d = 0; d < Db; d++)
				mx[d] += Y[i * Db + d];
		for (i = 0; i < N; i++)
			for (d = 0; d < Db; d++)
				Y[i * Db + d] -= mx[d] / (double)N;
		free(mx);
		*cka = ratio(cross_fro2(X, Da, Y, Db, N, tmp),
		    cross_fro2(X, Da, X, Da, N, tmp),
		    cross_fro2(Y, Db, Y, Db, N, tmp));
	}
	free(X);
	free(Y);
	free(tmp);
	return 0;
}

/* ---- identical rows ---- */

struct hrow {
	uint64_t h;
	int64_t i;
};

static int
hrow_cmp(const void *a, const void *b)
{
	const struct hrow *x = a, *y = b;

	if (x->h != y->h)
		return x->h < y->h ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
same_row(const float *A, int D, int64_t i, int64_t j)
{
	int d;

	for (d = 0; d < D; d++)
		if (A[i * D + d] != A[j * D + d])
			return 0;
	return 1;
}

/* rep[j] = the lowest index whose row equals row j (by value, so -0 and
 * +0 agree).  Rows sharing a representative get bit-identical inner
 * products, which makes ties exact whatever the BLAS summation order. */
static int64_t *
row_reps(const float *A, int64_t N, int D)
{
	struct hrow *h = malloc(sizeof *h * N);
	int64_t *rep = malloc(sizeof(int64_t) * N), i, s, e, *dist;

	if (!h || !rep) {
		free(h);
		free(rep);
		return NULL;
	}
	for (i = 0; i < N; i++) {
		uint64_t x = 1469598103934665603ULL;
		int d;
		for (d = 0; d < D; d++) {
			float v = A[i * D + d] + 0.0f;
			uint32_t b;
			memcpy(&b, &v, 4);
			x = (x ^ b) * 1099511628211ULL;
		}
		h[i].h = x;
		h[i].i = i;
	}
	qsort(h, N, sizeof *h, hrow_cmp);
	dist = malloc(sizeof(int64_t) * N);
	if (!dist) {
		free(h);
		free(rep);
		return NULL;
	}
	for (s = 0; s < N; s = e) {
		int64_t nd = 0, t;
		for (e = s; e < N && h[e].h == h[s].h; e++) {
			int64_t r = h[e].i;
			for (t = 0; t < nd; t++)
				if (same_row(A, D, dist[t], h[e].i)) {
					r = dist[t];
					break;
				}
			if (r == h[e].i)
				dist[nd++] = r;
			rep[h[e].i] = r;
		}
	}
	free(dist);
	free(h);
	return rep;
}

/* ---- neighbours ---- */

int
mm_align_knn(const float *A, int64_t N, int D, int k, int32_t *nn)
{
	double *X, *S, *bs;
	int64_t *rep, i0, j;
	int32_t *bj;

	if (k < 1 || k >= N)
		return mm_err(MM_EINVAL, "kNN: k = %d needs 1 <= k < N = %lld",
		    k, (long long)N);
	X = to_double(A, N, D);
	S = malloc(sizeof(double) * ROWBLOCK * N);
	rep = row_reps(A, N, D);
	bs = malloc(sizeof(double) * k);
	bj = malloc(sizeof(int32_t) * k);
	if (!X || !S || !rep || !bs || !bj) {
		free(X);
		free(S);
		free(rep);
		free(bs);
		free(bj);
		return mm_err(MM_ENOMEM, "kNN: out of memory");
	}
	for (i0 = 0; i0 < N; i0 += ROWBLOCK) {
		int nb = (int)(N - i0 < ROWBLOCK ? N - i0 : ROWBLOCK), r;
		/* S (nb, N) = X[i0:i0+nb] X^T */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, (int)N,
		    D, 1.0, X + i0 * D, D, X, D, 0.0, S, (int)N);
		for (r = 0; r < nb; r++) {
			const double *s = S + (int64_t)r * N;
			int64_t i = i0 + r;
			int n = 0, p;
			for (j = 0; j < N; j++) {
				double v;
				if (j == i)
					continue;
				v = s[rep[j]];
				/* j grows, so a tie with the k-th never wins */
				if (n == k && !(v > bs[k - 1]))
					continue;
				p = n < k ? n++ : k - 1;
				while (p > 0 && bs[p - 1] < v) {
					bs[p] = bs[p - 1];
					bj[p] = bj[p - 1];
					p--;
				}
				bs[p] = v;
				bj[p] = (int32_t)j;
			}
			memcpy(nn + i * k, bj, sizeof(int32_t) * k);
		}
	}
	free(X);
	free(S);
	free(rep);
	free(bs);
	free(bj);
	return 0;
}

static int
in_list(const int32_t *l, int k, int64_t v)
{
	int t;

	for (t = 0; t < k; t++)
		if (l[t] == v)
			return 1;
	return 0;
}

double
mm_align_mutual_knn(const int32_t *nnA, const int32_t *nnB, int64_t N, int k)
{
	double s = 0.0;
	int64_t i;
	int t;

	for (i = 0; i < N; i++) {
		int c = 0;
		for (t = 0; t < k; t++)
			c += in_list(nnB + i * k, k, nnA[i * k + t]);
		s += (double)c / k;
	}
	return s / (double)N;
}

double
mm_align_cycle_knn(const int32_t *nnA, const int32_t *nnB, int64_t N, int k)
{
	int64_t i, hits = 0;
	int t;

	for (i = 0; i < N; i++)
		for (t = 0; t < k; t++)
			if (in_list(nnA + (int64_t)nnB[i * k + t] * k, k, i)) {
				hits++;
				break;
			}
	return (double)hits / (double)N;
}

/* ---- CKNNA ---- */

/* A sparse N x N kernel restricted to a neighbour mask: row i holds cnt[i]
 * entries (idx, kv, lv) of the two kernels. */
struct sparse {
	int64_t N;
	int k;
	int32_t *idx;
	double *kv, *lv;
	int *cnt;
};

static double
dotd(const double *a, const double *b, int D)
{
	double s = 0.0;
	int d;

	for (d = 0; d < D; d++)
		s += a[d] * b[d];
	return s;
}

/* Unbiased HSIC of the two masked kernels (the mask excludes i == j). */
static double
hsic_sparse(const struct sparse *sp, double *col)
{
	int64_t N = sp->N, i;
	double m = (double)N, t1 = 0.0, sk = 0.0, sl = 0.0, t3 = 0.0;
	int t, u;

	memset(col, 0, sizeof(double) * N);
	for (i = 0; i < N; i++)
		for (t = 0; t < sp->cnt[i]; t++) {
			int64_t j = sp->idx[i * sp->k + t];
			double kv = sp->kv[i * sp->k + t];
			sk += kv;
			sl += sp->lv[i * sp->k + t];
			col[j] += kv;
			/* sum_ij K_ij L_ji: is (j, i) in the mask? */
			for (u = 0; u < sp->cnt[j]; u++)
				if (sp->idx[j * sp->k + u] == i) {
					t1 += kv * sp->lv[j * sp->k + u];
					break;
				}
		}
	/* 1^T K L 1 = sum_j colsum(K)_j rowsum(L)_j */
	for (i = 0; i < N; i++) {
		double rl = 0.0;
		for (t = 0; t < sp->cnt[i]; t++)
			rl += sp->lv[i * sp->k + t];
		t3 += col[i] * rl;
	}
	return (t1 + sk * sl / ((m - 1.0) * (m - 2.0)) - 2.0 * t3 / (m - 2.0)) /
	    (m * (m - 3.0));
}

int
mm_align_cknna(const float *A, int Da, const float *B, int Db, int64_t N,
    const int32_t *nnA, const int32_t *nnB, int k, double *out)
{
	struct sparse sp;
	double *X, *Y, *col, kl = NAN, kk = NAN, ll = NAN;
	int64_t i;
	int t, pass, rc = 0;

	if (k < 2)
		return mm_err(MM_EINVAL, "CKNNA needs k >= 2 (got %d)", k);
	if (N < 4)
		return mm_err(MM_EINVAL, "CKNNA needs at least 4 rows");
	sp.N = N;
	sp.k = k;
	X = to_double(A, N, Da);
	Y = to_double(B, N, Db);
	col = malloc(sizeof(double) * N);
	sp.idx = malloc(sizeof(int32_t) * N * k);
	sp.kv = malloc(sizeof(double) * N * k);
	sp.lv = malloc(sizeof(double) * N * k);
	sp.cnt = malloc(sizeof(int) * N);
	if (!X || !Y || !col || !sp.idx || !sp.kv || !sp.lv || !sp.cnt) {
		rc = mm_err(MM_ENOMEM, "CKNNA: out of memory");
		goto out;
	}
	/* pass 0: mask NA & NB with (K, L); 1: NA with (K, K); 2: NB, (L, L) */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < N; i++) {
			const int32_t *l = pass == 2 ? nnB + i * k : nnA + i * k;
			int c = 0;
			for (t = 0; t < k; t++) {
				int64_t j = l[t];
				double kv, lv;
				if (pass == 0 && !in_list(nnB + i * k, k, j))
					continue;
				if (pass == 2) {
					kv = lv = dotd(Y + i * Db, Y + j * Db, Db);
				} else {
					kv = dotd(X + i * Da, X + j * Da, Da);
					lv = pass == 0 ?
					    dotd(Y + i * Db, Y + j * Db, Db) : kv;
				}
				sp.idx[i * k + c] = (int32_t)j;
				sp.kv[i * k + c] = kv;
				sp.lv[i * k + c] = lv;
				c++;
			}
			sp.cnt[i] = c;
		}
		if (pass == 0)
			kl = hsic_sparse(&sp, col);
		else if (pass == 1)
			kk = hsic_sparse(&sp, col);
		else
			ll = hsic_sparse(&sp, col);
	}
	*out = ratio(kl, kk, ll);
out:
	free(X);
	free(Y);
	free(col);
	free(sp.idx);
	free(sp.kv);
	free(sp.lv);
	free(sp.cnt);
	return rc;
}

/* ---- SVCCA ---- */

/* LAPACK (Fortran symbols of the OpenBLAS already linked: Debian's
 * libopenblas-dev ships no lapacke.h).  Matrices are column-major; a
 * row-major symmetric matrix is its own transpose, and a row-major
 * (m, n) matrix is the column-major (n, m) transpose, which has the same
 * singular values. */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo,
    const int *n, double *a, const int *lda, const double *vl,
    const double *vu, const int *il, const int *iu, const double *abstol,
    int *m, double *w, double *z, const int *ldz, int *isuppz, double *work,
    const int *lwork, int *iwork, const int *liwork, int *info);
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a,
    const int *lda, double *s, double *u, const int *ldu, double *vt,
    const int *ldvt, double *work, const int *lwork, int *iwork, int *info);

int
mm_align_eigsym_top(double *S, int n, int q, double *w, double *V)
{
	int il = n - q + 1, iu = n, m = 0, info = 0, lwork = -1, liwork = -1,
	    iw, e, r, *isuppz, *iwork;
	double vl = 0.0, vu = 0.0, abstol = 0.0, wq, *work, *Z, *wa;

	if (q < 1 || q > n)
		return mm_err(MM_EINVAL, "eigsym: %d of %d eigenpairs", q, n);
	/* workspace query */
	dsyevr_("V", "I", "U", &n, S, &n, &vl, &vu, &il, &iu, &abstol, &m,
	    w, V, &n, NULL, &wq, &lwork, &iw, &liwork, &info);
	if (info != 0)
		return mm_err(MM_ENUM, "dsyevr workspace query: info %d", info);
	lwork = (int)wq;
	liwork = iw;
	work = malloc(sizeof(double) * lwork);
	iwork = malloc(sizeof(int) * liwork);
	isuppz = malloc(sizeof(int) * 2 * (size_t)n);
	Z = malloc(sizeof(double) * (size_t)n * q);
	wa = malloc(sizeof(double) * n);
	if (!work || !iwork || !isuppz || !Z || !wa) {
		free(work);
		free(iwork);
		free(isuppz);
		free(Z);
		free(wa);
		return mm_err(MM_ENOMEM, "eigsym: out of memory");
	}
	dsyevr_("V", "I", "U", &n, S, &n, &vl, &vu, &il, &iu, &abstol, &m,
	    wa, Z, &n, isuppz, work, &lwork, iwork, &liwork, &info);
	free(work);
	free(iwork);
	free(isuppz);
	if (info != 0 || m != q) {
		free(Z);
		free(wa);
		return mm_err(MM_ENUM, "dsyevr failed (info %d, %d of %d "
		    "eigenpairs)", info, m, q);
	}
	/* LAPACK: ascending, vector e is column e of Z (n, q) column-major;
	 * here: descending, V (n, q) row-major */
	for (e = 0; e < q; e++) {
		w[e] = wa[q - 1 - e];
		for (r = 0; r < n; r++)
			V[(size_t)r * q + e] = Z[(size_t)(q - 1 - e) * n + r];
	}
	free(Z);
	free(wa);
	return 0;
}

/* Singular values (descending) of the row-major (m, n) matrix M
 * (destroyed) into s (min(m, n)). */
static int
singular_values(double *M, int m, int n, double *s)
{
	int info = 0, lwork = -1, mn = m < n ? m : n, *iwork;
	double wq, *work, dummy = 0.0;
	int one = 1;

	/* column-major (n, m) = M^T: same singular values */
	dgesdd_("N", &n, &m, M, &n, s, &dummy, &one, &dummy, &one, &wq,
	    &lwork, NULL, &info);
	if (info != 0)
		return mm_err(MM_ENUM, "dgesdd workspace query: info %d", info);
	lwork = (int)wq;
	work = malloc(sizeof(double) * lwork);
	iwork = malloc(sizeof(int) * 8 * (size_t)mn);
	if (!work || !iwork) {
		free(work);
		free(iwork);
		return mm_err(MM_ENOMEM, "SVCCA: out of memory");
	}
	dgesdd_("N", &n, &m, M, &n, s, &dummy, &one, &dummy, &one, work,
	    &lwork, iwork, &info);
	free(work);
	free(iwork);
	if (info != 0)
		return mm_err(MM_ENUM, "dgesdd failed (info %d)", info);
	return 0;
}

/* The top `dim` left singular vectors (N, q) of the standardised X (N, D):
 * the top eigenpairs (w, V) of the Gram matrix X^T X (D, D), O(N D^2 +
 * D^2 dim) and never an N x N or N x D SVD, then U = X V / sqrt(w).
 * Returns q (directions kept) or < 0. */
static int
top_left(const float *A, int64_t N, int D, int dim, double **Uout)
{
	int nq = dim < D ? dim : D;
	double *X = to_double(A, N, D), *G = malloc(sizeof(double) * D * D);
	double *V = malloc(sizeof(double) * D * nq), *w = malloc(sizeof(double) * nq);
	double *U = NULL;
	int64_t i;
	int d, q = 0, e, rc;

	if (!X || !G || !V || !w) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	for (d = 0; d < D; d++) {
		double mu = 0.0, var = 0.0, sd;
		for (i = 0; i < N; i++)
			mu += X[i * D + d];
		mu /= (double)N;
		for (i = 0; i < N; i++) {
			X[i * D + d] -= mu;
			var += X[i * D + d] * X[i * D + d];
		}
		sd = sqrt(var / (double)(N - 1)) + 1e-8;
		for (i = 0; i < N; i++)
			X[i * D + d] /= sd;
	}
	/* G = X^T X: dsyrk fills one triangle; mirror it so that the
	 * column-major reading of LAPACK sees the whole matrix */
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, (int)N, 1.0, X,
	    D, 0.0, G, D);
	for (d = 0; d < D; d++)
		for (e = 0; e < d; e++)
			G[(size_t)d * D + e] = G[(size_t)e * D + d];
	if ((rc = mm_align_eigsym_top(G, D, nq, w, V)) < 0)
		goto done;
	for (e = 0; e < nq; e++) {
		if (!(w[e] > 0.0) || sqrt(w[e]) <= 1e-5 * sqrt(w[0]))
			break;
		q++;
	}
	rc = q;
	*Uout = NULL;
	if (q == 0)
		goto done;
	if (!(U = malloc(sizeof(double) * N * q))) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* U (N, q) = X (N, D) V[:, :q]; then column e / sqrt(w_e) */
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, q, D,
	    1.0, X, D, V, nq, 0.0, U, q);
	for (i = 0; i < N; i++)
		for (e = 0; e < q; e++)
			U[i * q + e] /= sqrt(w[e]);
	*Uout = U;
done:
	free(X);
	free(G);
	free(V);
	free(w);
	return rc;
}

int
mm_align_svcca(const float *A, int Da, const float *B, int Db, int64_t N,
    int dim, double *out)
{
	double *U1 = NULL, *U2 = NULL, *M = NULL, *s = NULL, sum = 0.0;
	int q1, q2, q, a, rc = 0;

	*out = NAN;
	if (N < 2 || dim < 1)
		return mm_err(MM_EINVAL, "SVCCA needs N >= 2 and dim >= 1");
	if ((q1 = top_left(A, N, Da, dim, &U1)) < 0)
		return q1;
	if ((q2 = top_left(B, N, Db, dim, &U2)) < 0) {
		free(U1);
		return q2;
	}
	if (q1 == 0 || q2 == 0)
		goto done;
	q = q1 < q2 ? q1 : q2;
	M = malloc(sizeof(double) * q1 * q2);
	s = malloc(sizeof(double) * q);
	if (!M || !s) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* canonical correlations of two orthonormal, centred bases: the
	 * singular values of U1^T U2 (q1, q2) */
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, q1, q2, (int)N,
	    1.0, U1, q1, U2, q2, 0.0, M, q2);
	if ((rc = singular_values(M, q1, q2, s)) < 0)
		goto done;
	for (a = 0; a < q; a++)
		sum += s[a];
	*out = sum / q;
done:
	free(U1);
	free(U2);
	free(M);
	free(s);
	return rc;
}

/* ---- cross-modal ---- */

int
mm_align_recall(const float *A, const float *B, int64_t N, int D,
    const int *ks, int nk, double *ab, double *ba)
{
	double *X = to_double(A, N, D), *Y = to_double(B, N, D), *S;
	int64_t *repA = row_reps(A, N, D), *repB = row_reps(B, N, D);
	int64_t *hits = calloc(2 * (size_t)nk, sizeof(int64_t));
	int dir, t, rc = 0;

	S = malloc(sizeof(double) * ROWBLOCK * N);
	if (!X || !Y || !S || !repA || !repB || !hits) {
		rc = mm_err(MM_ENOMEM, "recall: out of memory");
		goto done;
	}
	for (dir = 0; dir < 2; dir++) {
		const double *Q = dir ? Y : X, *C = dir ? X : Y;
		const int64_t *rep = dir ? repA : repB;
		int64_t i0, j;
		for (i0 = 0; i0 < N; i0 += ROWBLOCK) {
			int nb = (int)(N - i0 < ROWBLOCK ? N - i0 : ROWBLOCK), r;
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb,
			    (int)N, D, 1.0, Q + i0 * D, D, C, D, 0.0, S, (int)N);
			for (r = 0; r < nb; r++) {
				const double *s = S + (int64_t)r * N;
				int64_t i = i0 + r, rank = 0;
				double target = s[rep[i]];
				/* candidates ranked before the partner */
				for (j = 0; j < N; j++) {
					double v = s[rep[j]];
					rank += v > target || (v == target && j < i);
				}
				for (t = 0; t < nk; t++)
					hits[dir * nk + t] += rank < ks[t];
			}
		}
	}
	for (t = 0; t < nk; t++) {
		ab[t] = (double)hits[t] / (double)N;
		ba[t] = (double)hits[nk + t] / (double)N;
	}
done:
	free(X);
	free(Y);
	free(S);
	free(repA);
	free(repB);
	free(hits);
	return rc;
}

int
mm_align_paired(const float *A, const float *B, int64_t N, int D,
    double *cosine, double *gap)
{
	double *ma = calloc(D, sizeof(double)), *mb = calloc(D, sizeof(double));
	double cs = 0.0, g = 0.0;
	int64_t i;
	int d;

	if (!ma || !mb) {
		free(ma);
		free(mb);
		return mm_err(MM_ENOMEM, "out of memory");
	}
	for (i = 0; i < N; i++) {
		double ab = 0.0, aa = 0.0, bb = 0.0;
		for (d = 0; d < D; d++) {
			double a = A[i * D + d], b = B[i * D + d];
			ab += a * b;
			aa += a * a;
			bb += b * b;
			ma[d] += a;
			mb[d] += b;
		}
		cs += aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : 0.0;
	}
	for (d = 0; d < D; d++) {
		double t = (ma[d] - mb[d]) / (double)N;
		g += t * t;
	}
	*cosine = cs / (double)N;
	*gap = sqrt(g);
	free(ma);
	free(mb);
	return 0;
}

void
mm_align_normalise(float *Z, int64_t N, int D)
{
	int64_t i;
	int d;

	for (i = 0; i < N; i++) {
		float *z = Z + i * D;
		double s = 0.0;

		for (d = 0; d < D; d++)
			s += (double)z[d] * z[d];
		s = sqrt(s);
		if (s > 0.0)
			for (d = 0; d < D; d++)
				z[d] = (float)(z[d] / s);
	}
}
