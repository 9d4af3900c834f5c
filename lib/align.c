/*
 * align.c - alignment metrics between two representations (see align.h):
 * CKA, CKNNA, SVCCA, the paired metrics, and what the other align-*.c
 * files share (align-impl.h).  The neighbour searches are in align-knn.c.
 *
 * Everything is computed in float64 from the float32 inputs, but the
 * inputs are never copied whole: rows are converted to float64 a block at
 * a time.  Kernel matrices are never formed: CKA and SVCCA accumulate
 * feature-space Gram matrices (D x D) over blocks of rows, and CKNNA only
 * needs the k neighbours of each row.
 *
 * Threads: the Gram products are cut into slices fixed by their shape,
 * each one call of the BLAS on one thread (mm_align_dgemm()), and
 * CKNNA's kernel values are each computed alone, so results are the same
 * for any number of threads.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "align.h"
#include "align-impl.h"
#include "nn.h"
#include "pool.h"
#include "err.h"

int mm_align_tile_rows, mm_align_tile_cols, mm_align_gram_rows;

void
mm_align_blocks(int rows, int cols, int grows)
{
	mm_align_tile_rows = rows > 0 ? rows : 0;
	mm_align_tile_cols = cols > 0 ? cols : 0;
	mm_align_gram_rows = grows > 0 ? grows : 0;
}

/* Rows per block of a Gram accumulation: MM_ALIGN_BLOCK_BYTES per side,
 * >= 64. */
static int64_t
rows_per_block(int D)
{
	int64_t r = MM_ALIGN_BLOCK_BYTES / (8 * (int64_t)D);

	if (mm_align_gram_rows > 0)
		return mm_align_gram_rows;
	return r < 64 ? 64 : r;
}

void
mm_align_rows_double(double *X, const float *A, int D, int64_t i0,
    int64_t nb, const double *mu, const double *sd)
{
	int64_t i;
	int d;

	for (i = 0; i < nb; i++) {
		const float *a = A + (i0 + i) * D;
		double *x = X + i * D;
		for (d = 0; d < D; d++) {
			x[d] = a[d];
			if (mu)
				x[d] -= mu[d];
			if (sd)
				x[d] /= sd[d];
		}
	}
}

double
mm_align_dot(const float *a, const float *b, int D)
{
	double s = 0.0;
	int d;

	for (d = 0; d < D; d++)
		s += (double)a[d] * b[d];
	return s;
}

int
mm_align_blas_threads(int n)
{
	int old = openblas_get_num_threads();

	openblas_set_num_threads(n < 1 ? 1 : n);
	return old;
}

/* ---- a team of threads sharing a queue of items (on lib/pool.h) ---- */

int64_t
mm_align_team_take(struct mm_align_team *t)
{
	int rc, i;

	pthread_mutex_lock(&t->mu);
	rc = t->rc;
	pthread_mutex_unlock(&t->mu);
	if (rc)
		return -1;
	i = mm_pool_next(t->pool, &t->next);
	return i < t->n ? i : -1;
}

void
mm_align_team_fail(struct mm_align_team *t, int rc)
{
	pthread_mutex_lock(&t->mu);
	if (t->rc == 0)
		t->rc = rc;
	pthread_mutex_unlock(&t->mu);
}

static void
team_body(void *arg, int tid)
{
	struct mm_align_team *t = arg;

	(void)tid;
	t->fn(t->arg);
}

int
mm_align_team_run(struct mm_align_team *t, int64_t n, int T,
    void *(*fn)(void *), void *arg)
{
	int ob;

	if (n > INT_MAX)
		return mm_err(MM_ESIZE, "too many blocks (%lld)", (long long)n);
	if (n < 1)
		return 0;
	pthread_mutex_init(&t->mu, NULL);
	t->next = 0;
	t->n = (int)n;
	t->rc = 0;
	t->fn = fn;
	t->arg = arg;
	if (T > n)
		T = (int)n;
	t->pool = mm_pool_new(T);   /* NULL (one thread) when T < 2 */
	ob = mm_align_blas_threads(1);
	mm_pool_run(t->pool, team_body, t);
	mm_align_blas_threads(ob);
	mm_pool_free(t->pool);
	pthread_mutex_destroy(&t->mu);
	return t->rc;
}

/* ---- float64 products in slices fixed by the shape ---- */

struct dgemm_job {
	struct mm_align_team team;
	int ta, tb, M, N, K, lda, ldb, ldc, upper, width, S;
	double alpha, beta;
	const double *A, *B;
	double *C;
};

/* Slice s of C: columns s w .. s w + w - 1 (with upper, only down to the
 * diagonal: the block on it by dsyrk, the rows above by dgemm), or rows
 * when C is taller than wide. */
static void
dgemm_slice(const struct dgemm_job *j, int s)
{
	enum CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans;
	enum CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
	int o = s * j->width, M = j->M, N = j->N;
	const double *A = j->A, *B = j->B;
	double *C = j->C;

	if (j->upper) {
		N = N - o < j->width ? N - o : j->width;
		cblas_dsyrk(CblasRowMajor, CblasUpper, ta, N, j->K, j->alpha,
		    A + (j->ta ? (size_t)o : (size_t)o * j->lda), j->lda,
		    j->beta, C + (size_t)o * j->ldc + o, j->ldc);
		if (o > 0)
			cblas_dgemm(CblasRowMajor, ta, tb, o, N, j->K, j->alpha,
			    A, j->lda, B + (j->tb ? (size_t)o * j->ldb :
			    (size_t)o), j->ldb, j->beta, C + o, j->ldc);
		return;
	}
	if (M > N) {
		M = M - o < j->width ? M - o : j->width;
		A += j->ta ? (size_t)o : (size_t)o * j->lda;
		C += (size_t)o * j->ldc;
	} else {
		N = N - o < j->width ? N - o : j->width;
		B += j->tb ? (size_t)o * j->ldb : (size_t)o;
		C += o;
	}
	cblas_dgemm(CblasRowMajor, ta, tb, M, N, j->K, j->alpha, A, j->lda,
	    B, j->ldb, j->beta, C, j->ldc);
}

static void *
dgemm_body(void *arg)
{
	struct dgemm_job *j = arg;
	int64_t s;

	/* the triangle's widest slices first: they take longest */
	while ((s = mm_align_team_take(&j->team)) >= 0)
		dgemm_slice(j, j->upper ? j->S - 1 - (int)s : (int)s);
	return NULL;
}

int
mm_align_dgemm(int ta, int tb, int M, int N, int K, double alpha,
    const double *A, int lda, const double *B, int ldb, double beta,
    double *C, int ldc, int upper, int threads)
{
	struct dgemm_job j;

	if (M < 1 || N < 1)
		return 0;
	memset(&j, 0, sizeof j);
	j.ta = ta;
	j.tb = tb;
	j.M = M;
	j.N = N;
	j.K = K;
	j.lda = lda;
	j.ldb = ldb;
	j.ldc = ldc;
	j.upper = upper;
	j.alpha = alpha;
	j.beta = beta;
	j.A = A;
	j.B = B;
	j.C = C;
	if (upper) {
		j.width = MM_ALIGN_TRI_WIDTH;
		j.S = (N + j.width - 1) / j.width;
	} else
		j.S = mm_gemm_cut(M, N, K, &j.width);
	return mm_align_team_run(&j.team, j.S, threads, dgemm_body, &j);
}

/* ---- CKA ----
 * Three Gram products of the column-centred sides, each once: the cross
 * Gc = Ac^T B'c (dgemm) and the self terms Ac^T Ac, Bc^T Bc (dsyrk, one
 * triangle, half the flops).  Rows are centred as they are converted to
 * float64 a block at a time (that pass exists anyway), so no centred copy
 * is made and no large uncentred product is corrected afterwards.
 * Both estimators come from the same products: the unbiased HSIC is
 * invariant to centring the columns (K -> K + u 1^T + 1 u^T leaves
 * Song et al.'s estimator unchanged), and for centred rows the row sums
 * of K are 0, so with k_i = |Ac_i|^2, l_i = |Bc_i|^2 (m = N)
 *   m (m - 3) HSIC_u = |Gc|_F^2 - (1 + 2 / (m - 2)) sum_i k_i l_i
 *                      + sum_i k_i sum_i l_i / ((m - 1) (m - 2)),
 * and HSIC_b = |Gc|_F^2 up to the factor (m - 1)^-2 that the ratio
 * cancels. */

/* Rows i0 .. i0 + nb of A (., D) minus mu (D) as float64 into X (nb, D):
 * mm_align_rows_double(), and the squared norms of the centred rows into
 * k (nb) when k, and of the raw rows added to *raw when raw. */
static void
rows_centred(double *X, const float *A, int D, int64_t i0, int64_t nb,
    const double *mu, double *k, double *raw)
{
	int64_t i;
	int d;

	for (i = 0; i < nb; i++) {
		const float *a = A + (i0 + i) * D;
		double *x = X + i * D, s = 0.0, r = 0.0;
		for (d = 0; d < D; d++) {
			r += (double)a[d] * a[d];
			x[d] = a[d] - mu[d];
			s += x[d] * x[d];
		}
		if (k)
			k[i] = s;
		if (raw)
			*raw += r;
	}
}

/* |Gc|_F^2 for Gc (Da, Db) = X^T Y, X = A - mx (N, Da) and Y = B' - my
 * (N, Db), B' the rows of B in the order perm (NULL: as they are),
 * accumulated over blocks of c->rows rows in a fixed order on `threads`
 * threads (mm_align_dgemm()), in c->work. */
static int
cross_fro2(const struct mm_align_cka_parts *c, const int32_t *perm,
    int threads, double *out)
{
	int64_t N = c->N, R = c->rows, i0, i, n;
	int Dx = c->Da, Dy = c->Db, rc;
	double *X = c->work, *Y = X + R * Dx, *G = Y + R * Dy, s = 0.0;

	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		rows_centred(X, c->A, Dx, i0, nb, c->mx, NULL, NULL);
		if (perm)
			for (i = 0; i < nb; i++)
				rows_centred(Y + i * Dy, c->B, Dy, perm[i0 + i],
				    1, c->my, NULL, NULL);
		else
			rows_centred(Y, c->B, Dy, i0, nb, c->my, NULL, NULL);
		/* G (Dx, Dy) += X^T Y over this block */
		if ((rc = mm_align_dgemm(1, 0, Dx, Dy, (int)nb, 1.0, X, Dx, Y,
		    Dy, i0 ? 1.0 : 0.0, G, Dy, 0, threads)) < 0)
			return rc;
	}
	for (n = 0; n < (int64_t)Dx * Dy; n++)
		s += G[n] * G[n];
	*out = s;
	return 0;
}

/* One side's self terms: |Ac^T Ac|_F^2 into *fro2 by dsyrk over blocks
 * of rows (the upper triangle, the off-diagonal entries counted twice),
 * the centred rows' squared norms into k (N) and the sum of the raw
 * squares into *raw; in c->work, or with keep the Gram matrix (D, D) in
 * a new *keep. */

/* Rows per block of CKA's products: 4 MB of float64 per side, in
 * multiples of 256 rows (the BLAS's depth of a panel), >= 256; fewer
 * and smaller blocks than the 16 MB of the other Gram products because
 * each CKA call converts whole sides and fresh pages are dear. */
static int64_t
cka_rows(int D, int64_t N)
{
	int64_t r = (((int64_t)4 << 20) / (8 * (int64_t)D)) / 256 * 256;

	if (mm_align_gram_rows > 0)
		r = mm_align_gram_rows;
	else if (r < 256)
		r = 256;
	return r < N ? r : N;
}

static int
self_terms(const struct mm_align_cka_parts *c, const float *A, int D,
    const double *mu, int threads, double *fro2, double *k, double *raw,
    double **keep)
{
	int64_t N = c->N, R = c->rows, i0;
	double *X = c->work, *G = X + R * (c->Da + c->Db), s = 0.0, t = 0.0;
	int rc, a, b;

	if (keep && !(G = *keep = malloc(sizeof(double) * D * D)))
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	*raw = 0.0;
	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		rows_centred(X, A, D, i0, nb, mu, k + i0, raw);
		if ((rc = mm_align_dgemm(1, 0, D, D, (int)nb, 1.0, X, D, X, D,
		    i0 ? 1.0 : 0.0, G, D, 1, threads)) < 0)
			return rc;
	}
	for (a = 0; a < D; a++) {
		t += G[(int64_t)a * D + a] * G[(int64_t)a * D + a];
		for (b = a + 1; b < D; b++)
			s += G[(int64_t)a * D + b] * G[(int64_t)a * D + b];
	}
	*fro2 = 2.0 * s + t;
	return 0;
}

/* Column means (D) of A (N, D), the sums row after row. */
static void
col_means(const float *A, int64_t N, int D, double *s)
{
	int64_t i;
	int d;

	memset(s, 0, sizeof(double) * D);
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			s[d] += A[i * D + d];
	for (d = 0; d < D; d++)
		s[d] /= (double)N;
}

static double
ratio(double kl, double kk, double ll)
{
	double den = kk * ll;

	if (!(den > 0.0))
		return NAN;
	return kl / sqrt(den);
}

/* m (m - 3) HSIC_u from |Gc|_F^2 = g, sum k_i l_i = kl and the two
 * traces (above). */
static double
hsic_u(double g, double kl, double tk, double tl, double m)
{
	return g - (1.0 + 2.0 / (m - 2.0)) * kl + tk * tl / ((m - 1.0) *
	    (m - 2.0));
}

void
mm_align_cka_free(struct mm_align_cka_parts *c)
{
	free(c->mx);
	free(c->my);
	free(c->kii);
	free(c->lii);
	free(c->ga);
	free(c->gb);
	free(c->work);
	memset(c, 0, sizeof *c);
}

int
mm_align_cka_parts(struct mm_align_cka_parts *c, const float *A, int Da,
    const float *B, int Db, int64_t N, int threads, int keep)
{
	double m = (double)N, fa, fb, tol = 16.0 * m * DBL_EPSILON;
	int64_t i;
	int rc;

	memset(c, 0, sizeof *c);
	c->A = A;
	c->B = B;
	c->Da = Da;
	c->Db = Db;
	c->N = N;
	if (N < 2)
		return mm_err(MM_EINVAL, "CKA needs N >= 2");
	c->mx = malloc(sizeof(double) * Da);
	c->my = malloc(sizeof(double) * Db);
	c->kii = malloc(sizeof(double) * N);
	c->lii = malloc(sizeof(double) * N);
	c->rows = cka_rows(Da > Db ? Da : Db, N);
	c->work = malloc(sizeof(double) * (c->rows * (Da + Db) +
	    (int64_t)(Da > Db ? Da : Db) * (Da > Db ? Da : Db)));
	if (!c->mx || !c->my || !c->kii || !c->lii || !c->work) {
		mm_align_cka_free(c);
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	}
	col_means(A, N, Da, c->mx);
	col_means(B, N, Db, c->my);
	if ((rc = self_terms(c, A, Da, c->mx, threads, &c->kk, c->kii, &fa,
	    keep ? &c->ga : NULL)) < 0 || (rc = self_terms(c, B, Db, c->my,
	    threads, &c->ll, c->lii, &fb, keep ? &c->gb : NULL)) < 0) {
		mm_align_cka_free(c);
		return rc;
	}
	for (i = 0; i < N; i++) {
		c->tk += c->kii[i];
		c->tl += c->lii[i];
		c->kk2 += c->kii[i] * c->kii[i];
		c->ll2 += c->lii[i] * c->lii[i];
	}
	/* the unbiased denominators.  A constant code's HSIC is 0 but can
	 * come out as rounding noise of terms of size (|X|_F^2 / N)^2, and
	 * the ratio of two noises is anything: below the noise level the
	 * denominator is 0 and the CKA undefined (NaN) */
	c->ukk = c->ull = NAN;
	if (N >= 4) {
		double uk = hsic_u(c->kk, c->kk2, c->tk, c->tk, m) /
		    (m * (m - 3.0));
		double ul = hsic_u(c->ll, c->ll2, c->tl, c->tl, m) /
		    (m * (m - 3.0));
		fa /= m;
		fb /= m;
		if (uk > tol * fa * fa && ul > tol * fb * fb) {
			c->ukk = uk;
			c->ull = ul;
		}
	}
	return 0;
}

int
mm_align_cka_eval(const struct mm_align_cka_parts *c, const int32_t *perm,
    int threads, double *cka, double *cka_unbiased)
{
	int64_t N = c->N, i;
	double m = (double)N, g = 0.0, kl = 0.0;
	int rc;

	*cka = *cka_unbiased = NAN;
	if ((rc = cross_fro2(c, perm, threads, &g)) < 0)
		return rc;
	*cka = ratio(g, c->kk, c->ll);
	if (!isnan(c->ukk)) {
		for (i = 0; i < N; i++)
			kl += c->kii[i] * c->lii[perm ? perm[i] : i];
		*cka_unbiased = ratio(hsic_u(g, kl, c->tk, c->tl, m) /
		    (m * (m - 3.0)), c->ukk, c->ull);
	}
	return 0;
}

int
mm_align_cka(const float *A, int Da, const float *B, int Db, int64_t N,
    int threads, double *cka, double *cka_unbiased)
{
	struct mm_align_cka_parts c;
	int rc;

	*cka = *cka_unbiased = NAN;
	if (N < 2)
		return 0;
	if ((rc = mm_align_cka_parts(&c, A, Da, B, Db, N, threads, 0)) < 0)
		return rc;
	rc = mm_align_cka_eval(&c, NULL, threads, cka, cka_unbiased);
	mm_align_cka_free(&c);
	return rc;
}

/* ---- CKA's sampled null: bounds in the principal bases ----
 * With the eigendecompositions Ac^T Ac = Va diag(S) Va^T and
 * Bc^T Bc = Vb diag(T) Vb^T (decreasing), the principal components
 * U = Ac Va (N, Da) and W = Bc Vb (N, Db) have orthogonal columns of
 * squared norms S_i and T_j, and for a permutation P
 *   |Ac^T P Bc|_F^2 = |U^T P W|_F^2 = sum_ij S_i T_j c_ij^2,
 * c_ij the cosine of U_i and P W_j, with sum_i c_ij^2 <= 1 and
 * sum_j c_ij^2 <= 1.  The leading r x r block of U^T P W (O(N r^2)) is
 * a lower bound, and the rest is at most
 *   S_r+1 tr L + T_r+1 (S_1 + ... + S_r)
 * (rows i > r, then the columns j > r of the rows i <= r).  When the
 * observed value lies outside [block, block + rest], whether the
 * permutation's CKA reaches it is decided without the full product; else
 * r doubles, up to the columns kept, and then the full product
 * Ac^T P Bc decides (mm_align_cka_eval()).  Aligned embeddings are far
 * above their null and mostly decided at small r. */

/* The leading q principal components of one side into *U (N, q): its
 * Gram matrix G (D, D, upper triangle; destroyed) decomposed, the
 * centred rows times the eigenvectors; the eigenvalues into e (q + 1,
 * the last 0 when q = D), clamped at 0. */
static int
components(const float *A, int D, const double *mu, int64_t N, double *G,
    int q, int threads, double *e, double **U)
{
	int64_t R = rows_per_block(D), i0;
	int qq = q < D ? q + 1 : D, a, b, rc, ob;
	double *V = malloc(sizeof(double) * D * qq), *X;

	*U = NULL;
	if (R > N)
		R = N;
	X = malloc(sizeof(double) * R * D);
	if (!V || !X || !(*U = malloc(sizeof(double) * N * q))) {
		free(V);
		free(X);
		return mm_err(MM_ENOMEM, "CKA null: out of memory");
	}
	for (a = 0; a < D; a++)		/* mirror dsyrk's upper triangle */
		for (b = a + 1; b < D; b++)
			G[(int64_t)b * D + a] = G[(int64_t)a * D + b];
	/* LAPACK on one BLAS thread: the same vectors for any -t */
	ob = mm_align_blas_threads(1);
	rc = mm_align_eigsym_top(G, D, qq, e, V);
	mm_align_blas_threads(ob);
	if (rc < 0) {
		free(V);
		free(X);
		free(*U);
		*U = NULL;
		return rc;
	}
	if (qq == q)
		e[q] = 0.0;
	for (a = 0; a <= q; a++)
		if (!(e[a] > 0.0))
			e[a] = 0.0;
	for (i0 = 0; i0 < N && rc >= 0; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		rows_centred(X, A, D, i0, nb, mu, NULL, NULL);
		/* U rows (nb, q) = X (nb, D) V (D, q of qq) */
		rc = mm_align_dgemm(0, 0, (int)nb, q, D, 1.0, X, D, V, qq, 0.0,
		    *U + i0 * q, q, 0, threads);
	}
	free(V);
	free(X);
	if (rc < 0) {
		free(*U);
		*U = NULL;
	}
	return rc < 0 ? rc : 0;
}

void
mm_align_cka_null_free(struct mm_align_cka_null *z)
{
	free(z->U);
	free(z->W);
	free(z->S);
	free(z->T);
	free(z->Wp);
	free(z->C);
	memset(z, 0, sizeof *z);
}

int
mm_align_cka_null_init(struct mm_align_cka_null *z,
    struct mm_align_cka_parts *c, double cka, double cka_unbiased,
    int threads)
{
	int64_t N = c->N;
	int D = c->Da < c->Db ? c->Da : c->Db, q, rc = 0;
	double m = (double)N, f;

	memset(z, 0, sizeof *z);
	/* the columns kept: 128 at most, 32 MB a side */
	q = (int)(((int64_t)4 << 20) / N);
	q = q > 128 ? 128 : q < 1 ? 1 : q;
	z->q = q > D ? D : q;
	z->cka = cka;
	z->ucka = cka_unbiased;
	z->obs = cka * sqrt(c->kk * c->ll);
	z->uobs = isnan(c->ukk) ? NAN : cka_unbiased * sqrt(c->ukk * c->ull) *
	    m * (m - 3.0);
	z->S = malloc(sizeof(double) * (z->q + 1));
	z->T = malloc(sizeof(double) * (z->q + 1));
	z->Wp = malloc(sizeof(double) * N * z->q);
	z->C = malloc(sizeof(double) * z->q * z->q);
	if (!z->S || !z->T || !z->Wp || !z->C) {
		mm_align_cka_null_free(z);
		return mm_err(MM_ENOMEM, "CKA null: out of memory");
	}
	/* the Gram matrices: those the parts kept (taken over: the
	 * decomposition destroys them), else afresh (Wp: scratch for the
	 * row norms, N <= N q) */
	if ((c->ga || (rc = self_terms(c, c->A, c->Da, c->mx, threads, &f,
	    z->Wp, &f, &c->ga)) == 0) && (c->gb || (rc = self_terms(c, c->B,
	    c->Db, c->my, threads, &f, z->Wp, &f, &c->gb)) == 0) &&
	    (rc = components(c->A, c->Da, c->mx, N, c->ga, z->q, threads,
	    z->S, &z->U)) == 0)
		rc = components(c->B, c->Db, c->my, N, c->gb, z->q, threads,
		    z->T, &z->W);
	free(c->ga);
	free(c->gb);
	c->ga = c->gb = NULL;
	if (rc < 0)
		mm_align_cka_null_free(z);
	return rc;
}

/* Whether the permuted value g = |Ac^T P Bc|_F^2 is >= th: 1 or 0 when
 * the bounds [lo, lo + rest] decide, -1 when not (a margin for the
 * rounding of the eigenvectors and sums). */
static int
decide(double lo, double rest, double th)
{
	double slack = 1e-9 * (fabs(th) + lo + rest);

	if (lo >= th + slack)
		return 1;
	if (lo + rest + slack < th)
		return 0;
	return -1;
}

int
mm_align_cka_null_ge(struct mm_align_cka_null *z,
    const struct mm_align_cka_parts *c, const int32_t *perm, int threads,
    int *ge, int *uge)
{
	int64_t N = c->N, i;
	double m = (double)N, kl = 0.0, uth = NAN, lo, rest, sr;
	int r, q = z->q, j, db, du, rc;

	*ge = *uge = -1;
	db = isnan(z->obs) ? 0 : -1;
	du = isnan(z->uobs) ? 0 : -1;
	if (du < 0) {
		/* hsic_u(g, kl) >= uobs <=> g >= uth */
		for (i = 0; i < N; i++)
			kl += c->kii[i] * c->lii[perm[i]];
		uth = z->uobs + (1.0 + 2.0 / (m - 2.0)) * kl - c->tk * c->tl /
		    ((m - 1.0) * (m - 2.0));
	}
	/* from the block that decided the last permutation (they are
	 * alike), 16 at first */
	r = z->r0 > 0 ? z->r0 : 16;
	for (r = q < r ? q : r; db < 0 || du < 0; r *= 2) {
		if (r > q)
			r = q;
		/* Wp (N, r) = the rows of W's first r columns in the order
		 * perm; C (r, r) = U^T Wp */
		for (i = 0; i < N; i++)
			memcpy(z->Wp + i * r, z->W + (int64_t)perm[i] * q,
			    sizeof(double) * r);
		if ((rc = mm_align_dgemm(1, 0, r, r, (int)N, 1.0, z->U, q,
		    z->Wp, r, 0.0, z->C, r, 0, threads)) < 0)
			return rc;
		lo = 0.0;
		for (j = 0; j < r * r; j++)
			lo += z->C[j] * z->C[j];
		sr = 0.0;
		for (j = 0; j < r; j++)
			sr += z->S[j];
		rest = z->S[r] * c->tl + z->T[r] * sr;
		if (db < 0)
			db = decide(lo, rest, z->obs);
		if (du < 0)
			du = decide(lo, rest, uth);
		z->cols += r;
		if (db >= 0 && du >= 0)
			z->r0 = r;
		if (r == q)
			break;
	}
	if (db < 0 || du < 0) {
		/* undecided: the full product */
		double a, b;
		z->full++;
		if ((rc = mm_align_cka_eval(c, perm, threads, &a, &b)) < 0)
			return rc;
		if (db < 0)
			db = a >= z->cka;
		if (du < 0)
			du = b >= z->ucka;
	}
	*ge = db;
	*uge = du;
	return 0;
}

/* The permutation moments of linear CKA (align.h). */
static void
rv_side(double tr, double fro2, double d2, double n, double *beta,
    double *tau)
{
	*beta = tr * tr / fro2;
	*tau = (n - 1.0) / ((n - 3.0) * (n - 1.0 - *beta)) *
	    (n * (n + 1.0) * d2 / fro2 - (n - 1.0) * (*beta + 2.0));
}

void
mm_align_cka_null_moments(const struct mm_align_cka_parts *c,
    double *mean, double *sd, double *umean, double *usd)
{
	double n = (double)c->N, bx, by, tx, ty, v;

	*mean = *sd = *umean = *usd = NAN;
	if (c->N < 4)
		return;
	if (c->kk > 0.0 && c->ll > 0.0) {
		rv_side(c->tk, c->kk, c->kk2, n, &bx, &tx);
		rv_side(c->tl, c->ll, c->ll2, n, &by, &ty);
		*mean = sqrt(bx * by) / (n - 1.0);
		v = 2.0 * (n - 1.0 - bx) * (n - 1.0 - by) / ((n + 1.0) *
		    (n - 1.0) * (n - 1.0) * (n - 2.0)) * (1.0 + (n - 3.0) /
		    (2.0 * n * (n - 1.0)) * tx * ty);
		*sd = v > 0.0 ? sqrt(v) : 0.0;
	}
	if (!isnan(c->ukk)) {
		*umean = 0.0;
		*usd = sqrt(2.0 / (n * (n - 3.0)));
	}
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

/* The kernel values of every neighbour pair: ka (N, k) = A_i . A_j for j
 * in nnA's row i, lb (N, k) = B_i . B_j for j in nnB's; chunks of rows
 * shared among threads. */
#define PAIR_CHUNK 1024

struct pairs {
	const float *A, *B;
	int Da, Db, k;
	int64_t N;
	const int32_t *nnA, *nnB;
	double *ka, *lb;
	struct mm_align_team team;
};

static void *
pairs_worker(void *arg)
{
	struct pairs *p = arg;
	int64_t it, i, e;
	int t;

	while ((it = mm_align_team_take(&p->team)) >= 0) {
		e = (it + 1) * PAIR_CHUNK < p->N ? (it + 1) * PAIR_CHUNK : p->N;
		for (i = it * PAIR_CHUNK; i < e; i++)
			for (t = 0; t < p->k; t++) {
				int64_t a = p->nnA[i * p->k + t],
				    b = p->nnB[i * p->k + t];
				p->ka[i * p->k + t] = mm_align_dot(p->A + i * p->Da,
				    p->A + a * p->Da, p->Da);
				p->lb[i * p->k + t] = mm_align_dot(p->B + i * p->Db,
				    p->B + b * p->Db, p->Db);
			}
	}
	return NULL;
}

int
mm_align_cknna_values(const float *A, int Da, const float *B, int Db,
    int64_t N, const int32_t *nnA, const int32_t *nnB, int k, int threads,
    double *ka, double *lb)
{
	struct pairs pr;

	pr.A = A;
	pr.B = B;
	pr.Da = Da;
	pr.Db = Db;
	pr.k = k;
	pr.N = N;
	pr.nnA = nnA;
	pr.nnB = nnB;
	pr.ka = ka;
	pr.lb = lb;
	return mm_align_team_run(&pr.team, (N + PAIR_CHUNK - 1) / PAIR_CHUNK,
	    threads, pairs_worker, &pr);
}

int
mm_align_cknna_hsic(int64_t N, const int32_t *nnA, const int32_t *nnB,
    int k, const double *ka, const double *lb, double *out)
{
	struct sparse sp;
	double *col, kl = NAN, kk = NAN, ll = NAN;
	int64_t i;
	int t, u, pass, rc = 0;

	*out = NAN;
	if (k < 2)
		return mm_err(MM_EINVAL, "CKNNA needs k >= 2 (got %d)", k);
	if (N < 4)
		return mm_err(MM_EINVAL, "CKNNA needs at least 4 rows");
	sp.N = N;
	sp.k = k;
	col = malloc(sizeof(double) * N);
	sp.idx = malloc(sizeof(int32_t) * N * k);
	sp.kv = malloc(sizeof(double) * N * k);
	sp.lv = malloc(sizeof(double) * N * k);
	sp.cnt = malloc(sizeof(int) * N);
	if (!col || !sp.idx || !sp.kv || !sp.lv || !sp.cnt) {
		rc = mm_err(MM_ENOMEM, "CKNNA: out of memory");
		goto done;
	}
	/* pass 0: mask NA & NB with (K, L); 1: NA with (K, K); 2: NB, (L, L) */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < N; i++) {
			const int32_t *l = pass == 2 ? nnB + i * k : nnA + i * k;
			int c = 0;
			for (t = 0; t < k; t++) {
				int64_t j = l[t];
				double kv, lv;
				if (pass == 2) {
					kv = lv = lb[i * k + t];
				} else if (pass == 1) {
					kv = lv = ka[i * k + t];
				} else {
					for (u = 0; u < k && nnB[i * k + u] != j;
					    u++)
						;
					if (u == k)
						continue;
					kv = ka[i * k + t];
					lv = lb[i * k + u];
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
done:
	free(col);
	free(sp.idx);
	free(sp.kv);
	free(sp.lv);
	free(sp.cnt);
	return rc;
}

int
mm_align_cknna(const float *A, int Da, const float *B, int Db, int64_t N,
    const int32_t *nnA, const int32_t *nnB, int k, int threads, double *out)
{
	double *ka, *lb;
	int rc;

	*out = NAN;
	if (k < 2)
		return mm_err(MM_EINVAL, "CKNNA needs k >= 2 (got %d)", k);
	if (N < 4)
		return mm_err(MM_EINVAL, "CKNNA needs at least 4 rows");
	ka = malloc(sizeof(double) * N * k);
	lb = malloc(sizeof(double) * N * k);
	if (!ka || !lb)
		rc = mm_err(MM_ENOMEM, "CKNNA: out of memory");
	else if ((rc = mm_align_cknna_values(A, Da, B, Db, N, nnA, nnB, k,
	    threads, ka, lb)) == 0)
		rc = mm_align_cknna_hsic(N, nnA, nnB, k, ka, lb, out);
	free(ka);
	free(lb);
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
 * the top eigenpairs (w, V) of the Gram matrix X^T X (D, D), accumulated
 * over blocks of rows (dsyrk on the BLAS's `threads` threads), then
 * U = X V / sqrt(w), a block of rows at a time: O(N D^2) time, O(D^2 +
 * N dim) memory, never an N x N matrix, an N x D SVD or a float64 copy
 * of A.  Returns q (directions kept) or < 0. */
static int
top_left(const float *A, int64_t N, int D, int dim, int threads,
    double **Uout)
{
	int nq = dim < D ? dim : D;
	int64_t R = rows_per_block(D) < N ? rows_per_block(D) : N, i, i0;
	double *X = malloc(sizeof(double) * R * D);
	double *G = malloc(sizeof(double) * D * D);
	double *V = malloc(sizeof(double) * D * nq), *w = malloc(sizeof(double) * nq);
	double *mu = calloc(D, sizeof(double)), *sd = calloc(D, sizeof(double));
	double *U = NULL;
	int d, q = 0, e, rc;

	*Uout = NULL;
	if (!X || !G || !V || !w || !mu || !sd) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* the mean, then the squared deviations, each column summed in row
	 * order */
	col_means(A, N, D, mu);
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++) {
			double x = (double)A[i * D + d] - mu[d];
			sd[d] += x * x;
		}
	for (d = 0; d < D; d++)
		sd[d] = sqrt(sd[d] / (double)(N - 1)) + 1e-8;
	/* G = X^T X: dsyrk fills one triangle; mirror it so that the
	 * column-major reading of LAPACK sees the whole matrix */
	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		mm_align_rows_double(X, A, D, i0, nb, mu, sd);
		if ((rc = mm_align_dgemm(1, 0, D, D, (int)nb, 1.0, X, D, X, D,
		    i0 ? 1.0 : 0.0, G, D, 1, threads)) < 0)
			goto done;
	}
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
	if (q == 0)
		goto done;
	if (!(U = malloc(sizeof(double) * N * q))) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* U (N, q) = X (N, D) V[:, :q], a block of rows at a time; then
	 * column e / sqrt(w_e) */
	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		int e2;

		mm_align_rows_double(X, A, D, i0, nb, mu, sd);
		if ((e2 = mm_align_dgemm(0, 0, (int)nb, q, D, 1.0, X, D, V, nq,
		    0.0, U + i0 * q, q, 0, threads)) < 0) {
			free(U);
			rc = e2;
			goto done;
		}
	}
	for (i = 0; i < N; i++)
		for (e = 0; e < q; e++)
			U[i * q + e] /= sqrt(w[e]);
	*Uout = U;
done:
	free(X);
	free(G);
	free(V);
	free(w);
	free(mu);
	free(sd);
	return rc;
}

void
mm_align_svcca_free(struct mm_align_svcca_bases *sb)
{
	free(sb->U1);
	free(sb->U2);
	sb->U1 = sb->U2 = NULL;
}

int
mm_align_svcca_bases(struct mm_align_svcca_bases *sb, const float *A, int Da,
    const float *B, int Db, int64_t N, int dim, int threads)
{
	memset(sb, 0, sizeof *sb);
	sb->N = N;
	if (N < 2 || dim < 1)
		return mm_err(MM_EINVAL, "SVCCA needs N >= 2 and dim >= 1");
	if ((sb->q1 = top_left(A, N, Da, dim, threads, &sb->U1)) < 0)
		return sb->q1;
	if ((sb->q2 = top_left(B, N, Db, dim, threads, &sb->U2)) < 0) {
		int rc = sb->q2;
		mm_align_svcca_free(sb);
		return rc;
	}
	return 0;
}

int
mm_align_svcca_eval(const struct mm_align_svcca_bases *sb,
    const int32_t *perm, double *out)
{
	int q1 = sb->q1, q2 = sb->q2, q = q1 < q2 ? q1 : q2, a, rc = 0;
	double *M = NULL, *s = NULL, *U2p = NULL, sum = 0.0;
	int64_t i;

	*out = NAN;
	if (q1 == 0 || q2 == 0)
		return 0;
	M = malloc(sizeof(double) * q1 * q2);
	s = malloc(sizeof(double) * q);
	if (perm)
		U2p = malloc(sizeof(double) * sb->N * q2);
	if (!M || !s || (perm && !U2p)) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* B's rows permuted permute the rows of its basis, nothing else */
	if (perm)
		for (i = 0; i < sb->N; i++)
			memcpy(U2p + i * q2, sb->U2 + (int64_t)perm[i] * q2,
			    sizeof(double) * q2);
	/* canonical correlations of two orthonormal, centred bases: the
	 * singular values of U1^T U2 (q1, q2) */
	cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, q1, q2,
	    (int)sb->N, 1.0, sb->U1, q1, perm ? U2p : sb->U2, q2, 0.0, M, q2);
	if ((rc = singular_values(M, q1, q2, s)) < 0)
		goto done;
	for (a = 0; a < q; a++)
		sum += s[a];
	*out = sum / q;
done:
	free(M);
	free(s);
	free(U2p);
	return rc;
}

int
mm_align_svcca(const float *A, int Da, const float *B, int Db, int64_t N,
    int dim, int threads, double *out)
{
	struct mm_align_svcca_bases sb;
	int rc;

	*out = NAN;
	if ((rc = mm_align_svcca_bases(&sb, A, Da, B, Db, N, dim, threads)) < 0)
		return rc;
	rc = mm_align_svcca_eval(&sb, NULL, out);
	mm_align_svcca_free(&sb);
	return rc;
}

/* ---- paired ---- */

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
