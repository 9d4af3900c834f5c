/*
 * align.c - alignment metrics between two representations (see align.h).
 *
 * Everything is computed in float64 from the float32 inputs, but the
 * inputs are never copied whole: rows are converted to float64 a block at
 * a time.  Kernel matrices are never formed: CKA and SVCCA accumulate
 * feature-space Gram matrices (D x D) over blocks of rows, the neighbour
 * searches take inner products one tile (rows x candidates) at a time
 * (dgemm) and keep each row's k best across the candidate tiles, and
 * CKNNA only needs the k neighbours of each row.
 *
 * Threads: the Gram matrices use the BLAS's threads (OpenBLAS splits the
 * output, never the sum, so every entry is summed in the same order
 * whatever the count); the neighbour searches run threads of their own,
 * one tile of rows each, the BLAS at one thread.  Tile sizes depend only
 * on the widths and each row's k best under a total order do not depend
 * on the order the candidates arrive in, so results are the same for any
 * number of threads.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "align.h"
#include "pool.h"
#include "err.h"

/* Default blocks: query rows per neighbour tile, and the bytes of float64
 * one candidate tile or one block of Gram rows may take. */
#define TILE_ROWS 256
#define BLOCK_BYTES ((int64_t)16 << 20)

static int tile_rows = TILE_ROWS, tile_cols, gram_rows;

void
mm_align_blocks(int rows, int cols, int grows)
{
	tile_rows = rows > 0 ? rows : TILE_ROWS;
	tile_cols = cols > 0 ? cols : 0;
	gram_rows = grows > 0 ? grows : 0;
}

/* Candidates per tile of a neighbour search: BLOCK_BYTES of float64 rows,
 * a multiple of 64 in [64, 8192]. */
static int64_t
cols_per_tile(int D)
{
	int64_t c = BLOCK_BYTES / (8 * (int64_t)D) / 64 * 64;

	if (tile_cols > 0)
		return tile_cols;
	return c < 64 ? 64 : c > 8192 ? 8192 : c;
}

/* Rows per block of a Gram accumulation: BLOCK_BYTES per side, >= 64. */
static int64_t
rows_per_block(int D)
{
	int64_t r = BLOCK_BYTES / (8 * (int64_t)D);

	if (gram_rows > 0)
		return gram_rows;
	return r < 64 ? 64 : r;
}

/* Rows i0 .. i0 + nb of A (., D) as float64, minus mu (D) when mu, divided
 * by sd (D) when sd, into X (nb, D). */
static void
rows_double(double *X, const float *A, int D, int64_t i0, int64_t nb,
    const double *mu, const double *sd)
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

/* The BLAS's thread count for a phase; returns the previous one. */
static int
blas_threads(int n)
{
	int old = openblas_get_num_threads();

	openblas_set_num_threads(n < 1 ? 1 : n);
	return old;
}

/* ---- a team of threads sharing a queue of items (on lib/pool.h) ---- */

struct team {
	struct mm_pool *pool;
	pthread_mutex_t mu;
	int next, n;		/* items handed out, items in all */
	int rc;			/* the first failure, 0 if none */
	void *(*fn)(void *);
	void *arg;
};

/* The next item, or -1 when none is left or a thread failed. */
static int64_t
team_take(struct team *t)
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

static void
team_fail(struct team *t, int rc)
{
	pthread_mutex_lock(&t->mu);
	if (t->rc == 0)
		t->rc = rc;
	pthread_mutex_unlock(&t->mu);
}

static void
team_body(void *arg, int tid)
{
	struct team *t = arg;

	(void)tid;
	t->fn(t->arg);
}

/* Run fn(arg) on T threads of a pool, the calling thread one of them,
 * over the n items of t; fn takes items until none is left.  The BLAS
 * runs at one thread meanwhile.  Returns t->rc. */
static int
team_run(struct team *t, int64_t n, int T, void *(*fn)(void *), void *arg)
{
	int ob;

	if (n > INT_MAX)
		return mm_err(MM_ESIZE, "too many blocks (%lld)", (long long)n);
	pthread_mutex_init(&t->mu, NULL);
	t->next = 0;
	t->n = (int)n;
	t->rc = 0;
	t->fn = fn;
	t->arg = arg;
	if (T > n)
		T = (int)n;
	t->pool = mm_pool_new(T);   /* NULL (one thread) when T < 2 */
	ob = blas_threads(1);
	mm_pool_run(t->pool, team_body, t);
	blas_threads(ob);
	mm_pool_free(t->pool);
	pthread_mutex_destroy(&t->mu);
	return t->rc;
}

/* ---- CKA ---- */

/* Squared Frobenius norm of X^T Y (Dx, Dy) for X = A - muA (N, Dx) and
 * Y = B - muB (N, Dy) (no centring where mu is NULL), accumulated over
 * blocks of rows in a fixed order on the BLAS's `threads` threads. */
static int
cross_fro2(const float *A, int Dx, const double *muA, const float *B,
    int Dy, const double *muB, int64_t N, int threads, double *out)
{
	int64_t R = rows_per_block(Dx > Dy ? Dx : Dy), i0, n;
	int self = A == B && muA == muB, ob;
	double *X, *Y, *G, s = 0.0;

	if (R > N)
		R = N;
	X = malloc(sizeof(double) * R * Dx);
	Y = self ? X : malloc(sizeof(double) * R * Dy);
	G = malloc(sizeof(double) * Dx * Dy);
	if (!X || !Y || !G) {
		free(X);
		if (!self)
			free(Y);
		free(G);
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	}
	ob = blas_threads(threads);
	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		rows_double(X, A, Dx, i0, nb, muA, NULL);
		if (!self)
			rows_double(Y, B, Dy, i0, nb, muB, NULL);
		/* G (Dx, Dy) += X^T Y over this block */
		cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Dx, Dy,
		    (int)nb, 1.0, X, Dx, Y, Dy, i0 ? 1.0 : 0.0, G, Dy);
	}
	blas_threads(ob);
	for (n = 0; n < (int64_t)Dx * Dy; n++)
		s += G[n] * G[n];
	free(X);
	if (!self)
		free(Y);
	free(G);
	*out = s;
	return 0;
}

/* Column sums (D) of A (N, D), row after row. */
static void
col_sums(const float *A, int64_t N, int D, double *s)
{
	int64_t i;
	int d;

	memset(s, 0, sizeof(double) * D);
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++)
			s[d] += A[i * D + d];
}

/* Unbiased HSIC of K = X X^T and L = Y Y^T in feature space. */
static int
hsic_unbiased(const float *X, int Dx, const float *Y, int Dy, int64_t N,
    int threads, double *out)
{
	double m = (double)N, t1, sk = 0.0, sl = 0.0, t3 = 0.0;
	double *sx = malloc(sizeof(double) * Dx), *sy = malloc(sizeof(double) * Dy);
	int64_t i;
	int d, rc;

	if (!sx || !sy) {
		free(sx);
		free(sy);
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	}
	col_sums(X, N, Dx, sx);
	col_sums(Y, N, Dy, sy);
	/* sum(K~ o L~^T) = |X^T Y|^2 - sum_i K_ii L_ii;
	 * sum(K~) = |X^T 1|^2 - sum_i K_ii;  1^T K~ L~ 1 = (K~ 1).(L~ 1)
	 * with K~ 1 = X (X^T 1) - diag K */
	if ((rc = cross_fro2(X, Dx, NULL, Y, Dy, NULL, N, threads, &t1)) < 0) {
		free(sx);
		free(sy);
		return rc;
	}
	for (d = 0; d < Dx; d++)
		sk += sx[d] * sx[d];
	for (d = 0; d < Dy; d++)
		sl += sy[d] * sy[d];
	for (i = 0; i < N; i++) {
		double kii = 0.0, lii = 0.0, kr = 0.0, lr = 0.0;
		for (d = 0; d < Dx; d++) {
			double x = X[i * Dx + d];
			kii += x * x;
			kr += x * sx[d];
		}
		for (d = 0; d < Dy; d++) {
			double y = Y[i * Dy + d];
			lii += y * y;
			lr += y * sy[d];
		}
		t1 -= kii * lii;
		sk -= kii;
		sl -= lii;
		t3 += (kr - kii) * (lr - lii);
	}
	free(sx);
	free(sy);
	*out = (t1 + sk * sl / ((m - 1.0) * (m - 2.0)) - 2.0 * t3 / (m - 2.0)) /
	    (m * (m - 3.0));
	return 0;
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
    int threads, double *cka, double *cka_unbiased)
{
	double kl, kk, ll, *ma, *mb;
	int d, rc = 0;

	*cka = *cka_unbiased = NAN;
	if (N >= 4) {
		if ((rc = hsic_unbiased(A, Da, B, Db, N, threads, &kl)) < 0 ||
		    (rc = hsic_unbiased(A, Da, A, Da, N, threads, &kk)) < 0 ||
		    (rc = hsic_unbiased(B, Db, B, Db, N, threads, &ll)) < 0)
			return rc;
		/* a constant code's HSIC is 0 but comes out as rounding noise
		 * of terms of size (|X|_F^2 / N)^2, and the ratio of two
		 * noises is anything (18.3, -1.0): below the noise level the
		 * denominator is 0 and the CKA undefined */
		{
			double fa = 0.0, fb = 0.0, tol = 16.0 * (double)N *
			    DBL_EPSILON;
			int64_t j;

			for (j = 0; j < N * Da; j++)
				fa += (double)A[j] * A[j];
			for (j = 0; j < N * Db; j++)
				fb += (double)B[j] * B[j];
			fa /= (double)N;
			fb /= (double)N;
			if (kk > tol * fa * fa && ll > tol * fb * fb)
				*cka_unbiased = ratio(kl, kk, ll);
		}
	}
	if (N < 2)
		return 0;
	/* centred columns: HSIC_biased = |Ac^T Bc|^2 */
	ma = malloc(sizeof(double) * Da);
	mb = malloc(sizeof(double) * Db);
	if (!ma || !mb) {
		free(ma);
		free(mb);
		return mm_err(MM_ENOMEM, "CKA: out of memory");
	}
	col_sums(A, N, Da, ma);
	for (d = 0; d < Da; d++)
		ma[d] /= (double)N;
	col_sums(B, N, Db, mb);
	for (d = 0; d < Db; d++)
		mb[d] /= (double)N;
	if ((rc = cross_fro2(A, Da, ma, B, Db, mb, N, threads, &kl)) == 0 &&
	    (rc = cross_fro2(A, Da, ma, A, Da, ma, N, threads, &kk)) == 0 &&
	    (rc = cross_fro2(B, Db, mb, B, Db, mb, N, threads, &ll)) == 0)
		*cka = ratio(kl, kk, ll);
	free(ma);
	free(mb);
	return rc;
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

/* The distinct rows of a candidate matrix (N, D): distinct row t has the
 * value of row u[t] (the lowest index holding it; u increasing) and
 * stands for rows mem[start[t] .. start[t + 1]), in increasing order.
 * O(N) memory. */
struct distinct {
	int64_t n;
	int64_t *u, *start, *mem;
};

static void
distinct_free(struct distinct *ds)
{
	free(ds->u);
	free(ds->start);
	free(ds->mem);
	ds->u = ds->start = ds->mem = NULL;
}

static int
distinct_rows(struct distinct *ds, const float *A, int64_t N, int D)
{
	int64_t *rep = row_reps(A, N, D), *pos = malloc(sizeof(int64_t) * N);
	int64_t i, n = 0;

	ds->u = malloc(sizeof(int64_t) * N);
	ds->start = calloc((size_t)N + 1, sizeof(int64_t));
	ds->mem = malloc(sizeof(int64_t) * N);
	if (!rep || !pos || !ds->u || !ds->start || !ds->mem) {
		free(rep);
		free(pos);
		distinct_free(ds);
		return mm_err(MM_ENOMEM, "neighbours: out of memory");
	}
	for (i = 0; i < N; i++)
		if (rep[i] == i) {
			pos[i] = n;
			ds->u[n++] = i;
		}
	ds->n = n;
	/* rep[i] becomes the group of row i; counts, then offsets */
	for (i = 0; i < N; i++) {
		rep[i] = pos[rep[i]];
		ds->start[rep[i] + 1]++;
	}
	for (i = 0; i < n; i++)
		ds->start[i + 1] += ds->start[i];
	memcpy(pos, ds->start, sizeof(int64_t) * n);
	for (i = 0; i < N; i++)
		ds->mem[pos[rep[i]]++] = i;
	free(rep);
	free(pos);
	return 0;
}

/* A search of the k best candidates C_j (j in 0 .. N) of every query Q_i
 * by inner product, then lower index; j = i skipped when self.  Either
 * the lists (nn, (N, k), best first) or, for retrieval, the rank of
 * candidate i in query i's list (rank (N), k when it is not in it). */
struct search {
	const float *Q, *C;
	int64_t N;
	int D, k, self;
	const struct distinct *ds;
	int32_t *nn, *rank;
	int64_t rows, cols;	/* tile: queries x distinct candidates */
	struct team team;
};

/* Put (v, j) among the n best (bv, bj) (k places, best first), ranked by
 * value then lower index; returns the new n. */
static int
topk_insert(double *bv, int32_t *bj, int n, int k, double v, int32_t j)
{
	int p = n < k ? n++ : k - 1;

	while (p > 0 && (bv[p - 1] < v || (bv[p - 1] == v && bj[p - 1] > j))) {
		bv[p] = bv[p - 1];
		bj[p] = bj[p - 1];
		p--;
	}
	bv[p] = v;
	bj[p] = j;
	return n;
}

static void *
search_worker(void *arg)
{
	struct search *s = arg;
	const struct distinct *ds = s->ds;
	int64_t R = s->rows, CT = s->cols, it, t0, c;
	int D = s->D, k = s->k, r;
	double *Qb = malloc(sizeof(double) * R * D);
	double *Cb = malloc(sizeof(double) * CT * D);
	double *S = malloc(sizeof(double) * R * CT);
	double *bv = malloc(sizeof(double) * R * k);
	int32_t *bj = malloc(sizeof(int32_t) * R * k);
	int *cnt = malloc(sizeof(int) * R);

	if (!Qb || !Cb || !S || !bv || !bj || !cnt) {
		team_fail(&s->team, mm_err(MM_ENOMEM,
		    "neighbours: out of memory"));
		goto done;
	}
	while ((it = team_take(&s->team)) >= 0) {
		int64_t i0 = it * R, nb = s->N - i0 < R ? s->N - i0 : R;
		rows_double(Qb, s->Q, D, i0, nb, NULL, NULL);
		memset(cnt, 0, sizeof(int) * R);
		for (t0 = 0; t0 < ds->n; t0 += CT) {
			int64_t nc = ds->n - t0 < CT ? ds->n - t0 : CT;
			for (c = 0; c < nc; c++)
				rows_double(Cb + c * D, s->C, D, ds->u[t0 + c],
				    1, NULL, NULL);
			/* S (nb, nc) = Qb Cb^T */
			cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
			    (int)nb, (int)nc, D, 1.0, Qb, D, Cb, D, 0.0, S,
			    (int)nc);
			for (r = 0; r < nb; r++) {
				const double *sr = S + r * nc;
				double *b = bv + (int64_t)r * k;
				int32_t *j = bj + (int64_t)r * k;
				int64_t i = i0 + r, m;
				int n = cnt[r];
				for (c = 0; c < nc; c++) {
					double v = sr[c];
					/* every row of the group has value v */
					if (n == k && v < b[k - 1])
						continue;
					for (m = ds->start[t0 + c];
					    m < ds->start[t0 + c + 1]; m++) {
						int64_t jm = ds->mem[m];
						if (s->self && jm == i)
							continue;
						/* members grow: once one loses
						 * a tie, so do the rest */
						if (n == k && !(v > b[k - 1]) &&
						    jm > j[k - 1])
							break;
						n = topk_insert(b, j, n, k, v,
						    (int32_t)jm);
					}
				}
				cnt[r] = n;
			}
		}
		for (r = 0; r < nb; r++) {
			int64_t i = i0 + r;
			const int32_t *j = bj + (int64_t)r * k;
			int p;
			if (s->nn)
				memcpy(s->nn + i * k, j, sizeof(int32_t) * k);
			if (s->rank) {
				for (p = 0; p < cnt[r] && j[p] != i; p++)
					;
				s->rank[i] = p < cnt[r] ? p : k;
			}
		}
	}
done:
	free(Qb);
	free(Cb);
	free(S);
	free(bv);
	free(bj);
	free(cnt);
	return NULL;
}

/* Fill s->nn or s->rank: row tiles shared among T threads. */
static int
search_run(struct search *s, int T)
{
	/* the k best of a tile's rows stay within BLOCK_BYTES too (large k
	 * in retrieval); like the tiles, this depends on k and D only */
	s->rows = tile_rows;
	if (s->rows * (int64_t)s->k * 12 > BLOCK_BYTES)
		s->rows = BLOCK_BYTES / (12 * (int64_t)s->k);
	if (s->rows < 1)
		s->rows = 1;
	s->cols = cols_per_tile(s->D);
	return team_run(&s->team, (s->N + s->rows - 1) / s->rows, T,
	    search_worker, s);
}

int
mm_align_knn(const float *A, int64_t N, int D, int k, int threads,
    int32_t *nn)
{
	struct distinct ds;
	struct search s;
	int rc;

	if (k < 1 || k >= N)
		return mm_err(MM_EINVAL, "kNN: k = %d needs 1 <= k < N = %lld",
		    k, (long long)N);
	if (N > INT32_MAX)
		return mm_err(MM_EINVAL, "kNN: %lld rows: at most %d",
		    (long long)N, INT32_MAX);
	if ((rc = distinct_rows(&ds, A, N, D)) < 0)
		return rc;
	memset(&s, 0, sizeof s);
	s.Q = s.C = A;
	s.N = N;
	s.D = D;
	s.k = k;
	s.self = 1;
	s.ds = &ds;
	s.nn = nn;
	rc = search_run(&s, threads);
	distinct_free(&ds);
	return rc;
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

/* a . b (D) in float64, in index order */
static double
dotf(const float *a, const float *b, int D)
{
	double s = 0.0;
	int d;

	for (d = 0; d < D; d++)
		s += (double)a[d] * b[d];
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
	struct team team;
};

static void *
pairs_worker(void *arg)
{
	struct pairs *p = arg;
	int64_t it, i, e;
	int t;

	while ((it = team_take(&p->team)) >= 0) {
		e = (it + 1) * PAIR_CHUNK < p->N ? (it + 1) * PAIR_CHUNK : p->N;
		for (i = it * PAIR_CHUNK; i < e; i++)
			for (t = 0; t < p->k; t++) {
				int64_t a = p->nnA[i * p->k + t],
				    b = p->nnB[i * p->k + t];
				p->ka[i * p->k + t] = dotf(p->A + i * p->Da,
				    p->A + a * p->Da, p->Da);
				p->lb[i * p->k + t] = dotf(p->B + i * p->Db,
				    p->B + b * p->Db, p->Db);
			}
	}
	return NULL;
}

int
mm_align_cknna(const float *A, int Da, const float *B, int Db, int64_t N,
    const int32_t *nnA, const int32_t *nnB, int k, int threads, double *out)
{
	struct sparse sp;
	struct pairs pr;
	double *col, kl = NAN, kk = NAN, ll = NAN;
	int64_t i;
	int t, u, pass, rc = 0;

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
	pr.ka = malloc(sizeof(double) * N * k);
	pr.lb = malloc(sizeof(double) * N * k);
	if (!col || !sp.idx || !sp.kv || !sp.lv || !sp.cnt || !pr.ka ||
	    !pr.lb) {
		rc = mm_err(MM_ENOMEM, "CKNNA: out of memory");
		goto done;
	}
	pr.A = A;
	pr.B = B;
	pr.Da = Da;
	pr.Db = Db;
	pr.k = k;
	pr.N = N;
	pr.nnA = nnA;
	pr.nnB = nnB;
	if ((rc = team_run(&pr.team, (N + PAIR_CHUNK - 1) / PAIR_CHUNK,
	    threads, pairs_worker, &pr)) < 0)
		goto done;
	/* pass 0: mask NA & NB with (K, L); 1: NA with (K, K); 2: NB, (L, L) */
	for (pass = 0; pass < 3; pass++) {
		for (i = 0; i < N; i++) {
			const int32_t *l = pass == 2 ? nnB + i * k : nnA + i * k;
			int c = 0;
			for (t = 0; t < k; t++) {
				int64_t j = l[t];
				double kv, lv;
				if (pass == 2) {
					kv = lv = pr.lb[i * k + t];
				} else if (pass == 1) {
					kv = lv = pr.ka[i * k + t];
				} else {
					for (u = 0; u < k && nnB[i * k + u] != j;
					    u++)
						;
					if (u == k)
						continue;
					kv = pr.ka[i * k + t];
					lv = pr.lb[i * k + u];
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
	free(pr.ka);
	free(pr.lb);
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
	int d, q = 0, e, rc, ob;

	*Uout = NULL;
	if (!X || !G || !V || !w || !mu || !sd) {
		rc = mm_err(MM_ENOMEM, "SVCCA: out of memory");
		goto done;
	}
	/* the mean, then the squared deviations, each column summed in row
	 * order */
	col_sums(A, N, D, mu);
	for (d = 0; d < D; d++)
		mu[d] /= (double)N;
	for (i = 0; i < N; i++)
		for (d = 0; d < D; d++) {
			double x = (double)A[i * D + d] - mu[d];
			sd[d] += x * x;
		}
	for (d = 0; d < D; d++)
		sd[d] = sqrt(sd[d] / (double)(N - 1)) + 1e-8;
	/* G = X^T X: dsyrk fills one triangle; mirror it so that the
	 * column-major reading of LAPACK sees the whole matrix */
	ob = blas_threads(threads);
	for (i0 = 0; i0 < N; i0 += R) {
		int64_t nb = N - i0 < R ? N - i0 : R;
		rows_double(X, A, D, i0, nb, mu, sd);
		cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, D, (int)nb,
		    1.0, X, D, i0 ? 1.0 : 0.0, G, D);
	}
	blas_threads(ob);
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
		rows_double(X, A, D, i0, nb, mu, sd);
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nb,
		    q, D, 1.0, X, D, V, nq, 0.0, U + i0 * q, q);
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

int
mm_align_svcca(const float *A, int Da, const float *B, int Db, int64_t N,
    int dim, int threads, double *out)
{
	double *U1 = NULL, *U2 = NULL, *M = NULL, *s = NULL, sum = 0.0;
	int q1, q2, q, a, rc = 0;

	*out = NAN;
	if (N < 2 || dim < 1)
		return mm_err(MM_EINVAL, "SVCCA needs N >= 2 and dim >= 1");
	if ((q1 = top_left(A, N, Da, dim, threads, &U1)) < 0)
		return q1;
	if ((q2 = top_left(B, N, Db, dim, threads, &U2)) < 0) {
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
    const int *ks, int nk, int threads, double *ab, double *ba)
{
	struct distinct ds;
	struct search s;
	int32_t *rank = malloc(sizeof(int32_t) * N);
	int64_t i, hits;
	int dir, t, K = 0, rc = 0;

	if (!rank)
		return mm_err(MM_ENOMEM, "recall: out of memory");
	for (t = 0; t < nk; t++)
		if (ks[t] > K)
			K = ks[t];
	if (K < 1 || K > N || N > INT32_MAX) {
		free(rank);
		return mm_err(MM_EINVAL, "recall: k = %d with %lld rows", K,
		    (long long)N);
	}
	/* the partner's rank among all N candidates (itself included) is
	 * its place in the query's K best, or >= K when it is not there */
	for (dir = 0; dir < 2 && rc == 0; dir++) {
		if ((rc = distinct_rows(&ds, dir ? A : B, N, D)) < 0)
			break;
		memset(&s, 0, sizeof s);
		s.Q = dir ? B : A;
		s.C = dir ? A : B;
		s.N = N;
		s.D = D;
		s.k = K;
		s.ds = &ds;
		s.rank = rank;
		rc = search_run(&s, threads);
		distinct_free(&ds);
		for (t = 0; rc == 0 && t < nk; t++) {
			for (i = hits = 0; i < N; i++)
				hits += rank[i] < ks[t];
			(dir ? ba : ab)[t] = (double)hits / (double)N;
		}
	}
	free(rank);
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
