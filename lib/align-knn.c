/*
 * align-knn.c - the neighbour searches of the alignment metrics (see
 * align.h): each row's k nearest rows by inner product, the rank of each
 * row's partner for retrieval, and the metrics on the lists.
 *
 * Exact lists from a fast search.  Rows rank by mm_align_dot(), the
 * float64 inner product with the products summed in index order (the one
 * order, whatever the BLAS, tile or thread), then by lower index.  The
 * candidates are found with a product of tiles in lower precision (bf16
 * with the AVX512-BF16 kernel, float32 sgemm, or float64 dgemm), each
 * value s of which is within a rigorous bound E of the float64 one x:
 *
 *   |s - x| <= gamma(D, u) m_a m_b      the tile product's own rounding,
 *                                       any order of summation
 *            + e_a m_b + n_a e_b        the inputs rounded to bf16
 *            + gamma(D, 2^-53) n_a n_b  x's rounding
 *            + 2 D 2^-126               underflow (bf16 flushes to zero)
 *
 * with n = |a|, e = |a - bf16(a)| (0 for float32 and float64), m = n + e
 * >= |bf16(a)|, gamma(D, u) = D u / (1 - D u), u = 2^-24 for bf16 (fp32
 * accumulation of exact products) and float32, 2^-53 for float64; the
 * first two lines are Higham's bound for a dot product (Accuracy and
 * Stability of Numerical Algorithms, 2nd ed., eq. 3.5) and Cauchy-Schwarz.
 * The bound is taken 2^-10 larger to cover its own rounding.  A row keeps
 * every candidate whose upper bound s + E reaches the (k+1)-th largest
 * lower bound s - E among its candidates (counting duplicate rows), so
 * the true k + 1 best are kept whatever the order the tiles arrive in;
 * at the end the survivors are rescored with mm_align_dot() and ranked.
 * Lists are thus the same for every path, block size and thread count.
 * Float32 and bf16 need the partial sums finite: when some |a|^2 reaches
 * 2^126 the search runs in float64.
 *
 * The self search takes each pair of row blocks once (A A^T is
 * symmetric): the tile of blocks (I, J), I <= J, serves the rows of I and
 * those of J, under the two blocks' locks.  Retrieval counts, for each
 * query, the candidates certainly above its partner (lower bound above
 * the partner's score), rescoring only the uncertain ones, and stops at
 * the largest k asked for.
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
#include "gemm-bf16.h"
#include "err.h"

/* Default rows (and candidates) per tile; at most 16 MB of float64 rows. */
#define TILE 1024

static int search_path;		/* MM_ALIGN_PATH_*, 0: the fastest */

int
mm_align_search_path(int path)
{
	int old = search_path;

	if (path >= 0 && path <= MM_ALIGN_PATH_BF16)
		search_path = path;
	return old;
}

/* The path a search of these rows takes: bf16 where the CPU has it and
 * it is faster than fp32 there (mm_bf16_rate()), float32 otherwise,
 * float64 when asked or when float32 could overflow (mmax2 = the largest
 * (|a| + e)^2).  Every path finds the same neighbours. */
int
mm_align_search_default(void)
{
	if (search_path)
		return search_path;
	return mm_bf16_level(-1) && mm_bf16_rate() >= MM_BF16_PAYS ?
	    MM_ALIGN_PATH_BF16 : MM_ALIGN_PATH_F32;
}

static int
path_for(double mmax2)
{
	int p = mm_align_search_default();

	if (p == MM_ALIGN_PATH_BF16 && !mm_bf16_level(-1))
		p = MM_ALIGN_PATH_F32;
	if (!(mmax2 < 0x1p126))
		p = MM_ALIGN_PATH_F64;
	return p;
}

/* Tile rows of a search: the set size, or TILE within 16 MB of float64. */
static int
tile_of(int set, int D)
{
	int64_t r = MM_ALIGN_BLOCK_BYTES / (8 * (int64_t)D);

	if (set > 0)
		return set;
	if (r > TILE)
		r = TILE;
	return r < 16 ? 16 : (int)r;
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
 * products, and the searches take each distinct row once. */
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

/* ---- bounds ---- */

/* The rows' norms and the coefficients of their bound (above): for row
 * (or distinct row) t, n, e and m, and ca, cb with E(i, g) = ca_i m_g +
 * cb_i e_g + eta (margins included). */
struct bounds {
	double *n, *e, *m, *ca, *cb;
	double eta;
	int path;
};

static void
bounds_free(struct bounds *b)
{
	free(b->n);
	free(b->e);
	free(b->m);
	free(b->ca);
	free(b->cb);
	memset(b, 0, sizeof *b);
}

static double
gamma_of(int D, double u)
{
	return D * u / (1.0 - D * u);
}

/* Norms of the rows idx[0 .. cnt) of A (idx NULL: rows 0 .. cnt) and
 * their bf16 rounding errors (as the kernel reads them: below 2^-126
 * zero).  Refuses values that are not finite. */
static int
bounds_rows(struct bounds *b, const float *A, int D, const int64_t *idx,
    int64_t cnt)
{
	int64_t t;
	int d;

	b->n = malloc(sizeof(double) * cnt);
	b->e = malloc(sizeof(double) * cnt);
	b->m = malloc(sizeof(double) * cnt);
	b->ca = malloc(sizeof(double) * cnt);
	b->cb = malloc(sizeof(double) * cnt);
	if (!b->n || !b->e || !b->m || !b->ca || !b->cb) {
		bounds_free(b);
		return mm_err(MM_ENOMEM, "neighbours: out of memory");
	}
	for (t = 0; t < cnt; t++) {
		const float *a = A + (idx ? idx[t] : t) * D;
		double s = 0.0, q = 0.0;
		for (d = 0; d < D; d++) {
			float y = mm_bf16_float(mm_bf16_round(a[d]));
			if (fabsf(y) < 0x1p-126f)
				y = 0.0f;
			s += (double)a[d] * a[d];
			q += ((double)a[d] - y) * ((double)a[d] - y);
		}
		if (!isfinite(s)) {
			bounds_free(b);
			return mm_err(MM_EINVAL, "neighbours: row %lld is not "
			    "finite", (long long)(idx ? idx[t] : t));
		}
		b->n[t] = sqrt(s);
		b->e[t] = sqrt(q);
	}
	return 0;
}

/* The largest m^2 the bf16 path would see. */
static double
bounds_max2(const struct bounds *b, int64_t cnt)
{
	double x = 0.0;
	int64_t t;

	for (t = 0; t < cnt; t++) {
		double m = b->n[t] + b->e[t];
		if (!(m * m <= x))
			x = m * m;
	}
	return x;
}

/* m, ca, cb and eta for a path; D the width. */
static void
bounds_set(struct bounds *b, int64_t cnt, int D, int path)
{
	double u = path == MM_ALIGN_PATH_F64 ? 0x1p-53 : 0x1p-24;
	double g = gamma_of(D, u), g64 = gamma_of(D, 0x1p-53);
	double f = 1.0 + 0x1p-10;
	int64_t t;

	b->path = path;
	b->eta = 2.0 * D * 0x1p-126;
	for (t = 0; t < cnt; t++) {
		if (path != MM_ALIGN_PATH_BF16)
			b->e[t] = 0.0;
		b->m[t] = b->n[t] + b->e[t];
		/* 2^-50 m: the rounding of s + E, s - E and the bound */
		b->ca[t] = f * (g * b->m[t] + b->e[t] + g64 * b->n[t] +
		    0x1p-50 * b->m[t]);
		b->cb[t] = f * b->n[t];
	}
}

/* E for query row i of q against a candidate (or a block's maxima) of
 * norm bound m and rounding bound e: ca_i m + cb_i e + eta. */
static double
bound(const struct bounds *q, int64_t i, double m, double e)
{
	return q->ca[i] * m + q->cb[i] * e + q->eta;
}

/* The largest m and e of the groups g0 .. g0 + cnt. */
static void
block_max(const struct bounds *b, int64_t g0, int64_t cnt, double *mm,
    double *me)
{
	int64_t t;

	*mm = *me = 0.0;
	for (t = g0; t < g0 + cnt; t++) {
		if (b->m[t] > *mm)
			*mm = b->m[t];
		if (b->e[t] > *me)
			*me = b->e[t];
	}
}

/* The float32 filter of a tile: a value below thr = L - E_max (rounded
 * down, with a margin for the rounding of the difference) is certainly
 * out. */
static double
thr_double(double L, double emax)
{
	double x = L - emax;

	return x - fabs(x) * 0x1p-50;
}

static float
thr_float(double L, double emax)
{
	double x = thr_double(L, emax);
	float f = (float)x;

	if ((double)f > x)
		f = nextafterf(f, -INFINITY);
	return f;
}

/* ---- the tile product ---- */

/* Per thread: two blocks of rows and a tile of products, in the path's
 * precision. */
struct tiles {
	void *X, *Y, *S, *scratch;
	int path, D;
};

static void
tiles_free(struct tiles *w)
{
	free(w->X);
	free(w->Y);
	free(w->S);
	free(w->scratch);
}

static int
tiles_init(struct tiles *w, int path, int R, int Rc, int D)
{
	size_t es = path == MM_ALIGN_PATH_F64 ? 8 : 4;

	memset(w, 0, sizeof *w);
	w->path = path;
	w->D = D;
	w->X = malloc(es * R * D);
	w->Y = malloc(es * Rc * D);
	w->S = malloc(es * R * Rc);
	if (path == MM_ALIGN_PATH_BF16)
		w->scratch = malloc(mm_gemm_bf16_scratch(R, Rc, D));
	if (!w->X || !w->Y || !w->S || (path == MM_ALIGN_PATH_BF16 &&
	    !w->scratch)) {
		tiles_free(w);
		return mm_err(MM_ENOMEM, "neighbours: out of memory");
	}
	return 0;
}

/* The rows idx[r0 .. r0 + nr) of A (idx NULL: rows r0 ..) in the path's
 * precision: a pointer into A when they are contiguous floats, else
 * copied into buf. */
static const void *
gather(const struct tiles *w, const float *A, const int64_t *idx,
    int64_t r0, int nr, void *buf)
{
	int D = w->D, r;

	if (w->path == MM_ALIGN_PATH_F64) {
		for (r = 0; r < nr; r++)
			mm_align_rows_double((double *)buf + (int64_t)r * D, A, D,
			    idx ? idx[r0 + r] : r0 + r, 1, NULL, NULL);
		return buf;
	}
	if (!idx)
		return A + r0 * D;
	for (r = 0; r < nr; r++)
		memcpy((float *)buf + (int64_t)r * D, A + idx[r0 + r] * D,
		    sizeof(float) * D);
	return buf;
}

/* S (nx, ny) = X Y^T in the path's precision. */
static int
tile_product(struct tiles *w, const void *X, int nx, const void *Y, int ny)
{
	int D = w->D;

	if (w->path == MM_ALIGN_PATH_F64)
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nx, ny, D,
		    1.0, X, D, Y, D, 0.0, w->S, ny);
	else if (w->path == MM_ALIGN_PATH_F32)
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nx, ny, D,
		    1.0f, X, D, Y, D, 0.0f, w->S, ny);
	else
		return mm_gemm_bf16(0, 1, nx, ny, D, X, D, Y, D, 0.0f, w->S,
		    ny, w->scratch);
	return 0;
}

/* ---- the self search ---- */

/* A candidate of a row: s its value (tile or rescored), e its bound
 * (0 once rescored), g its distinct row. */
struct cand {
	double s;
	float e;
	int32_t g;
};

/* A row's candidates; L the (k+1)-th largest lower bound seen. */
struct rowset {
	struct cand *c;
	int n, cap;
	double L;
};

struct ksearch {
	const float *A;			/* the candidates' rows */
	const float *Q;			/* the rows' (A itself when self) */
	const int64_t *qrow;		/* row t is Q's row qrow[t] (NULL: t) */
	int D, k1, R, Rc, cross;
	int64_t n, nc;			/* rows; distinct candidates */
	const struct distinct *ds;	/* of the candidates */
	struct bounds b, bq;		/* candidates; rows when cross */
	const struct bounds *rb;	/* the rows' bounds */
	int64_t nb, *pair;		/* blocks; tiles (I, J) as I * nb + J */
	double *Mm, *Me;		/* (nb) block maxima of m and e */
	struct rowset *rs;
	pthread_mutex_t *lock;		/* (nb) */
	int32_t *nn;
	struct mm_align_team team;
};

static int64_t
members(const struct distinct *ds, int64_t g)
{
	return ds->start[g + 1] - ds->start[g];
}

/* Sort c (n) by lower bound, largest first: insertion, as the survivors
 * of the last pruning are in order already and only the newcomers move. */
static void
sort_lower(struct cand *c, int n)
{
	int t, p;

	for (t = 1; t < n; t++) {
		struct cand x = c[t];
		double lx = x.s - x.e;
		for (p = t; p > 0 && c[p - 1].s - c[p - 1].e < lx; p--)
			c[p] = c[p - 1];
		c[p] = x;
	}
}

/* Raise r->L to the (k1)-th largest lower bound (counting the rows of
 * each group) and drop the candidates whose upper bound is below it. */
static void
prune(struct rowset *r, const struct distinct *ds, int k1)
{
	int64_t c = 0;
	int t, w;

	sort_lower(r->c, r->n);
	for (t = 0; t < r->n; t++)
		if ((c += members(ds, r->c[t].g)) >= k1) {
			double L = r->c[t].s - r->c[t].e;
			if (L > r->L)
				r->L = L;
			break;
		}
	for (t = w = 0; t < r->n; t++)
		if (r->c[t].s + r->c[t].e >= r->L)
			r->c[w++] = r->c[t];
	r->n = w;
}

/* a . b_t for four rows b_t: mm_align_dot() of each, the four sums side
 * by side (the same operations in the same order, faster). */
static void
dot4(const float *a, const float *b0, const float *b1, const float *b2,
    const float *b3, int D, double *out)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
	int d;

	for (d = 0; d < D; d++) {
		double x = a[d];
		s0 += x * b0[d];
		s1 += x * b1[d];
		s2 += x * b2[d];
		s3 += x * b3[d];
	}
	out[0] = s0;
	out[1] = s1;
	out[2] = s2;
	out[3] = s3;
}

/* Rescore the candidates of row i with mm_align_dot(), four at a time. */
static void
rescore(struct ksearch *s, int64_t i)
{
	struct rowset *r = s->rs + i;
	const float *a = s->Q + (s->qrow ? s->qrow[i] : i) * s->D, *b[4];
	double v[4];
	int t, q[4], nq = 0, x;

	for (t = 0; t <= r->n; t++) {
		if (t < r->n && r->c[t].e != 0.0f) {
			q[nq] = t;
			b[nq++] = s->A + s->ds->u[r->c[t].g] * s->D;
		}
		if (nq == 4 || (t == r->n && nq > 0)) {
			for (x = nq; x < 4; x++)
				b[x] = b[0];
			dot4(a, b[0], b[1], b[2], b[3], s->D, v);
			for (x = 0; x < nq; x++) {
				r->c[q[x]].s = v[x];
				r->c[q[x]].e = 0.0f;
			}
			nq = 0;
		}
	}
}

/* Room for one more candidate of row i: prune, rescore when many
 * candidates remain uncertain, grow when they are exactly tied. */
static int
make_room(struct ksearch *s, int64_t i)
{
	struct rowset *r = s->rs + i;
	struct cand *c;

	prune(r, s->ds, s->k1);
	if (r->n <= r->cap / 2)
		return 0;
	rescore(s, i);
	prune(r, s->ds, s->k1);
	if (r->n <= r->cap / 2)
		return 0;
	if (r->cap > INT_MAX / 2 ||
	    !(c = realloc(r->c, sizeof *c * 2 * (size_t)r->cap)))
		return mm_err(MM_ENOMEM, "neighbours: out of memory");
	r->c = c;
	r->cap *= 2;
	return 0;
}

/* Candidate g of row i with the tile value v. */
static int
consider(struct ksearch *s, int64_t i, int64_t g, double v)
{
	struct rowset *r = s->rs + i;
	double E = bound(s->rb, i, s->b.m[g], s->b.e[g]);
	float e = (float)E;
	int rc;

	if (e < E)
		e = nextafterf(e, INFINITY);
	if (v + e < r->L)
		return 0;
	if (r->n == r->cap && (rc = make_room(s, i)) < 0)
		return rc;
	r->c[r->n].s = v;
	r->c[r->n].e = e;
	r->c[r->n].g = (int32_t)g;
	r->n++;
	return 0;
}

/* The largest bound of row i against block B. */
static double
emax(const struct ksearch *s, int64_t i, int64_t B)
{
	return bound(s->rb, i, s->Mm[B], s->Me[B]);
}

/* The tile of blocks (I, J): rows of I against the candidates of J and,
 * in the self search when J != I, rows of J against those of I (the
 * tile's columns). */
#define SCAN(NAME, T, THR, INF)						\
static int								\
NAME(struct ksearch *s, const T *S, int64_t BI, int nI, int64_t BJ,	\
    int nJ, T *thrJ)							\
{									\
	int64_t I0 = BI * s->R, J0 = BJ * s->Rc;			\
	int r, c, rc;							\
									\
	for (c = 0; c < nJ; c++)					\
		thrJ[c] = BI == BJ || s->cross ? INF :			\
		    THR(s->rs[J0 + c].L,				\
		    emax(s, J0 + c, BI));				\
	for (r = 0; r < nI; r++) {					\
		const T *sr = S + (int64_t)r * nJ;			\
		int64_t i = I0 + r;					\
		T th = THR(s->rs[i].L, emax(s, i, BJ));			\
		for (c = 0; c < nJ; c++) {				\
			T v = sr[c];					\
			if (v >= th) {					\
				if ((rc = consider(s, i, J0 + c, v)) < 0) \
					return rc;			\
				th = THR(s->rs[i].L, emax(s, i, BJ));	\
			}						\
			if (v >= thrJ[c]) {				\
				if ((rc = consider(s, J0 + c, i, v)) < 0) \
					return rc;			\
				thrJ[c] = THR(s->rs[J0 + c].L,		\
				    emax(s, J0 + c, BI));		\
			}						\
		}							\
	}								\
	return 0;							\
}
SCAN(scan_f, float, thr_float, INFINITY)
SCAN(scan_d, double, thr_double, INFINITY)

/* The tile (I, J) of a search: the product, then the scan under the
 * locks of the blocks whose rows it serves (none for cross searches,
 * whose row blocks are one thread's each). */
static int
do_tile(struct ksearch *s, struct tiles *w, void *thr, int64_t BI,
    int64_t BJ)
{
	/* no duplicates: the distinct rows are the rows */
	const int64_t *u = s->ds->n == s->ds->start[s->ds->n] ? NULL :
	    s->ds->u;
	int nI = (int)(s->n - BI * s->R < s->R ? s->n - BI * s->R : s->R);
	int nJ = (int)(s->nc - BJ * s->Rc < s->Rc ? s->nc - BJ * s->Rc :
	    s->Rc);
	const void *X = gather(w, s->Q, s->qrow == s->ds->u ? u : s->qrow,
	    BI * s->R, nI, w->X);
	const void *Y = BI == BJ && !s->cross ? X : gather(w, s->A, u,
	    BJ * s->Rc, nJ, w->Y);
	int rc, lock = !s->cross;

	if ((rc = tile_product(w, X, nI, Y, nJ)) < 0)
		return rc;
	if (lock) {
		pthread_mutex_lock(s->lock + BI);
		if (BJ != BI)
			pthread_mutex_lock(s->lock + BJ);
	}
	rc = w->path == MM_ALIGN_PATH_F64 ? scan_d(s, w->S, BI, nI, BJ, nJ,
	    thr) : scan_f(s, w->S, BI, nI, BJ, nJ, thr);
	if (lock) {
		if (BJ != BI)
			pthread_mutex_unlock(s->lock + BJ);
		pthread_mutex_unlock(s->lock + BI);
	}
	return rc;
}

/* Items: the tiles (I, J) of the self search, or the row blocks of a
 * cross search (each against every candidate block). */
static void *
tile_worker(void *arg)
{
	struct ksearch *s = arg;
	struct tiles w;
	void *thr;
	int64_t it, BJ;
	int rc = 0;

	if ((rc = tiles_init(&w, s->b.path, s->R, s->Rc, s->D)) < 0) {
		mm_align_team_fail(&s->team, rc);
		return NULL;
	}
	if (!(thr = malloc(8 * (size_t)s->Rc))) {
		tiles_free(&w);
		mm_align_team_fail(&s->team, mm_err(MM_ENOMEM,
		    "neighbours: out of memory"));
		return NULL;
	}
	while (rc == 0 && (it = mm_align_team_take(&s->team)) >= 0) {
		if (!s->cross)
			rc = do_tile(s, &w, thr, s->pair[it] / s->nb,
			    s->pair[it] % s->nb);
		else
			for (BJ = 0; rc == 0 && BJ * s->Rc < s->nc; BJ++)
				rc = do_tile(s, &w, thr, it, BJ);
	}
	if (rc < 0)
		mm_align_team_fail(&s->team, rc);
	tiles_free(&w);
	free(thr);
	return NULL;
}

/* By value, then by lower row: the groups' first rows increase with g. */
static int
rank_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;

	if (a->s != b->s)
		return a->s > b->s ? -1 : 1;
	return a->g < b->g ? -1 : a->g > b->g;
}

static int
i64_cmp(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

	return a < b ? -1 : a > b;
}

#define FINAL_CHUNK 256

/* The lists: each distinct row's survivors rescored and ranked, its k + 1
 * best rows, and every row of the group that list without itself. */
static void *
final_worker(void *arg)
{
	struct ksearch *s = arg;
	const struct distinct *ds = s->ds;
	int64_t it, t, *tmp = NULL, *top = malloc(sizeof(int64_t) * s->k1);
	size_t tcap = 0;
	int k = s->k1 - 1, rc = 0;

	if (!top)
		rc = mm_err(MM_ENOMEM, "neighbours: out of memory");
	while (rc == 0 && (it = mm_align_team_take(&s->team)) >= 0)
		for (t = it * FINAL_CHUNK; t < s->n &&
		    t < (it + 1) * FINAL_CHUNK; t++) {
			struct rowset *r = s->rs + t;
			int f = 0, a = 0, b, x;
			int64_t m, p;
			prune(r, ds, s->k1);
			rescore(s, t);
			qsort(r->c, r->n, sizeof *r->c, rank_cmp);
			/* runs of equal values: their rows in index order */
			while (f < s->k1 && a < r->n) {
				size_t nt = 0;
				for (b = a; b < r->n && r->c[b].s == r->c[a].s;
				    b++) {
					int64_t g = r->c[b].g, e = members(ds, g);
					if (e > s->k1 - f)
						e = s->k1 - f;
					if (nt + e > tcap) {
						int64_t *q = realloc(tmp,
						    sizeof(int64_t) * 2 * (nt + e));
						if (!q) {
							rc = mm_err(MM_ENOMEM,
							    "neighbours: out "
							    "of memory");
							goto done;
						}
						tmp = q;
						tcap = 2 * (nt + e);
					}
					for (m = 0; m < e; m++)
						tmp[nt++] = ds->mem[ds->start[g] + m];
				}
				qsort(tmp, nt, sizeof *tmp, i64_cmp);
				for (x = 0; x < (int)nt && f < s->k1; x++)
					top[f++] = tmp[x];
				a = b;
			}
			if (s->cross)
				for (p = 0; p < f; p++)
					s->nn[t * s->k1 + p] = (int32_t)top[p];
			else
				for (m = ds->start[t]; m < ds->start[t + 1];
				    m++) {
					int64_t i = ds->mem[m];
					int w = 0;
					for (p = 0; p < f && w < k; p++)
						if (top[p] != i)
							s->nn[i * k + w++] =
							    (int32_t)top[p];
				}
		}
done:
	if (rc < 0)
		mm_align_team_fail(&s->team, rc);
	free(tmp);
	free(top);
	return NULL;
}

/* The lists nn of the rows of Q against the rows of C: self (Q == C,
 * each row's k best others, the tiles taken once per block pair) or
 * cross (each row's k best rows of C). */
static int
knn_run(const float *Q, const float *C, int64_t N, int D, int k, int cross,
    int threads, int32_t *nn)
{
	struct distinct ds;
	struct ksearch s;
	int64_t t, BI, d, np = 0, ncb;
	int rc;

	if ((rc = distinct_rows(&ds, C, N, D)) < 0)
		return rc;
	memset(&s, 0, sizeof s);
	s.A = C;
	s.Q = Q;
	s.cross = cross;
	s.qrow = cross ? NULL : ds.u;
	s.D = D;
	s.k1 = cross ? k : k + 1;
	s.n = cross ? N : ds.n;
	s.nc = ds.n;
	s.ds = &ds;
	s.nn = nn;
	s.R = tile_of(mm_align_tile_rows, D);
	s.Rc = cross ? tile_of(mm_align_tile_cols, D) : s.R;
	s.rb = cross ? &s.bq : &s.b;
	if ((rc = bounds_rows(&s.b, C, D, ds.u, ds.n)) < 0 || (cross &&
	    (rc = bounds_rows(&s.bq, Q, D, NULL, N)) < 0))
		goto done;
	d = path_for(fmax(bounds_max2(&s.b, ds.n), cross ?
	    bounds_max2(&s.bq, N) : 0.0));
	bounds_set(&s.b, ds.n, D, (int)d);
	if (cross)
		bounds_set(&s.bq, N, D, (int)d);
	s.nb = (s.n + s.R - 1) / s.R;
	ncb = (s.nc + s.Rc - 1) / s.Rc;
	if (!cross) {
		s.pair = malloc(sizeof(int64_t) * s.nb * (s.nb + 1) / 2);
		s.lock = malloc(sizeof(pthread_mutex_t) * s.nb);
	}
	s.Mm = malloc(sizeof(double) * ncb);
	s.Me = malloc(sizeof(double) * ncb);
	s.rs = calloc(s.n, sizeof *s.rs);
	if ((!cross && (!s.pair || !s.lock)) || !s.Mm || !s.Me || !s.rs) {
		rc = mm_err(MM_ENOMEM, "neighbours: out of memory");
		goto done;
	}
	for (t = 0; t < s.n; t++) {
		s.rs[t].L = -INFINITY;
		s.rs[t].cap = 2 * s.k1 + 14;
		if (!(s.rs[t].c = malloc(sizeof(struct cand) * s.rs[t].cap))) {
			rc = mm_err(MM_ENOMEM, "neighbours: out of memory");
			goto done;
		}
	}
	for (BI = 0; BI < ncb; BI++)
		block_max(&s.b, BI * s.Rc, s.nc - BI * s.Rc < s.Rc ?
		    s.nc - BI * s.Rc : s.Rc, s.Mm + BI, s.Me + BI);
	if (cross) {
		rc = mm_align_team_run(&s.team, s.nb, threads, tile_worker, &s);
	} else {
		/* the tiles by diagonals: the blocks' own tiles first, so
		 * that every row soon has a bound to filter with */
		for (d = 0; d < s.nb; d++)
			for (BI = 0; BI + d < s.nb; BI++)
				s.pair[np++] = BI * s.nb + BI + d;
		for (BI = 0; BI < s.nb; BI++)
			pthread_mutex_init(s.lock + BI, NULL);
		rc = mm_align_team_run(&s.team, np, threads, tile_worker, &s);
		for (BI = 0; BI < s.nb; BI++)
			pthread_mutex_destroy(s.lock + BI);
	}
	if (rc == 0)
		rc = mm_align_team_run(&s.team, (s.n + FINAL_CHUNK - 1) /
		    FINAL_CHUNK, threads, final_worker, &s);
done:
	if (s.rs)
		for (t = 0; t < s.n; t++)
			free(s.rs[t].c);
	free(s.rs);
	free(s.pair);
	free(s.Mm);
	free(s.Me);
	free(s.lock);
	bounds_free(&s.b);
	bounds_free(&s.bq);
	distinct_free(&ds);
	return rc;
}

int
mm_align_knn(const float *A, int64_t N, int D, int k, int threads,
    int32_t *nn)
{
	if (k < 1 || k >= N)
		return mm_err(MM_EINVAL, "kNN: k = %d needs 1 <= k < N = %lld",
		    k, (long long)N);
	if (N > INT32_MAX)
		return mm_err(MM_EINVAL, "kNN: %lld rows: at most %d",
		    (long long)N, INT32_MAX);
	return knn_run(A, A, N, D, k, 0, threads, nn);
}

int
mm_align_knn_cross(const float *Q, const float *C, int64_t N, int D, int k,
    int threads, int32_t *nn)
{
	if (k < 1 || k > N)
		return mm_err(MM_EINVAL, "kNN: k = %d needs 1 <= k <= N = %lld",
		    k, (long long)N);
	if (N > INT32_MAX)
		return mm_err(MM_EINVAL, "kNN: %lld rows: at most %d",
		    (long long)N, INT32_MAX);
	return knn_run(Q, C, N, D, k, 1, threads, nn);
}

/* ---- retrieval ----
 * For every row i, the rank of its partner in the other modality: of
 * B_i among all rows of B for the query A_i (A to B), and of A_i among
 * the rows of A for the query B_i (B to A).  The candidates ahead of the
 * partner are the rows j with x_ij > x_ii, and those with x_ij = x_ii and
 * j < i (x = mm_align_dot(), symmetric), counted up to K.  Both directions
 * read one product: tiles of the distinct rows of A by the distinct rows
 * of B, scanned along the rows for A's queries and along the columns for
 * B's.  A row of A is the query of its own distinct row's tile row (its
 * twins hold the same values); the bound of a tile value is that of the
 * pair whichever side plays the query (bounds, above). */
struct xsearch {
	const float *A, *B;
	int64_t N;
	int D, K, R, Rc;
	const struct distinct *da, *db;
	struct bounds qa, qb;		/* the rows as queries (N each) */
	struct bounds ca, cb;		/* the distinct rows as candidates */
	int64_t nrb, ncb;		/* blocks of distinct A, of distinct B */
	double *MmA, *MeA, *MmB, *MeB;	/* their block maxima */
	double *x;			/* (N) x_ii */
	int32_t *rab;			/* (N) A to B, final */
	int64_t *cba;			/* (N) B to A, summed over the workers */
	pthread_mutex_t mu;
	struct mm_align_team team;
};

/* Rows of group g below row i (they increase). */
static int64_t
members_below(const struct distinct *ds, int64_t g, int64_t i)
{
	int64_t m, c = 0;

	for (m = ds->start[g]; m < ds->start[g + 1] && ds->mem[m] < i; m++)
		c++;
	return c;
}

/* Query i (rows Q, bounds q) against candidate group g of the rows C
 * (groups ds, bounds c) with tile value v and target x: the rows it puts
 * ahead of the partner. */
static int64_t
ahead(const float *Q, const struct bounds *q, const float *C,
    const struct distinct *ds, const struct bounds *c, int D, int64_t i,
    int64_t g, double v, double x)
{
	double E = bound(q, i, c->m[g], c->e[g]), y;

	if (v + E < x)
		return 0;
	if (v - E > x)
		return members(ds, g);
	y = mm_align_dot(Q + i * D, C + ds->u[g] * D, D);
	return y > x ? members(ds, g) : y == x ? members_below(ds, g, i) : 0;
}

/* Tile S (nI distinct rows of A from group a0, by nJ of B from b0, row
 * block BI, column block BJ) in type T: A's queries along the rows into
 * ra (final counts of A's rows), B's along the columns into cb (this
 * worker's), with th (nJ) scratch for the columns' lowest thresholds. */
#define XSCAN(NAME, T, THR, INF)					\
static void								\
NAME(const struct xsearch *s, const T *S, int64_t a0, int nI,		\
    int64_t b0, int nJ, int64_t BI, int64_t BJ, int64_t *ra,		\
    int64_t *cb, T *th)							\
{									\
	const struct distinct *da = s->da, *db = s->db;			\
	int64_t m, i, j;						\
	int r, c;							\
									\
	for (r = 0; r < nI; r++) {					\
		const T *sr = S + (int64_t)r * nJ;			\
		int64_t g = a0 + r;					\
		for (m = da->start[g]; m < da->start[g + 1]; m++) {	\
			T t;						\
			i = da->mem[m];					\
			if (ra[i] >= s->K)				\
				continue;				\
			t = THR(s->x[i], bound(&s->qa, i, s->MmB[BJ],	\
			    s->MeB[BJ]));				\
			for (c = 0; c < nJ && ra[i] < s->K; c++)	\
				if (sr[c] >= t)				\
					ra[i] += ahead(s->A, &s->qa,	\
					    s->B, db, &s->cb, s->D, i,	\
					    b0 + c, sr[c], s->x[i]);	\
		}							\
	}								\
	for (c = 0; c < nJ; c++) {					\
		int64_t g = b0 + c;					\
		th[c] = INF;						\
		for (m = db->start[g]; m < db->start[g + 1]; m++) {	\
			T t;						\
			j = db->mem[m];					\
			if (cb[j] >= s->K)				\
				continue;				\
			t = THR(s->x[j], bound(&s->qb, j, s->MmA[BI],	\
			    s->MeA[BI]));				\
			if (t < th[c])					\
				th[c] = t;				\
		}							\
	}								\
	for (r = 0; r < nI; r++) {					\
		const T *sr = S + (int64_t)r * nJ;			\
		for (c = 0; c < nJ; c++) {				\
			int64_t g = b0 + c;				\
			if (!(sr[c] >= th[c]))				\
				continue;				\
			for (m = db->start[g]; m < db->start[g + 1]; m++) { \
				j = db->mem[m];				\
				if (cb[j] < s->K)			\
					cb[j] += ahead(s->B, &s->qb,	\
					    s->A, da, &s->ca, s->D, j,	\
					    a0 + r, sr[c], s->x[j]);	\
			}						\
		}							\
	}								\
}
XSCAN(xscan_f, float, thr_float, INFINITY)
XSCAN(xscan_d, double, thr_double, INFINITY)

static void *
rank_worker(void *arg)
{
	struct xsearch *s = arg;
	const int64_t *ua = s->da->n == s->N ? NULL : s->da->u;
	const int64_t *ub = s->db->n == s->N ? NULL : s->db->u;
	size_t es = s->qa.path == MM_ALIGN_PATH_F64 ? 8 : 4;
	struct tiles w;
	int64_t it, BJ, i, *ra = calloc(s->N, sizeof(int64_t));
	int64_t *cb = calloc(s->N, sizeof(int64_t));
	void *th = malloc(es * s->Rc);
	int rc;

	if ((rc = tiles_init(&w, s->qa.path, s->R, s->Rc, s->D)) < 0 ||
	    !ra || !cb || !th) {
		if (rc == 0)
			tiles_free(&w);
		free(ra);
		free(cb);
		free(th);
		mm_align_team_fail(&s->team, rc < 0 ? rc : mm_err(MM_ENOMEM,
		    "retrieval: out of memory"));
		return NULL;
	}
	while ((it = mm_align_team_take(&s->team)) >= 0) {
		int64_t a0 = it * s->R;
		int nI = (int)(s->da->n - a0 < s->R ? s->da->n - a0 : s->R);
		const void *X = gather(&w, s->A, ua, a0, nI, w.X);
		for (BJ = 0; BJ < s->ncb; BJ++) {
			int64_t b0 = BJ * s->Rc;
			int nJ = (int)(s->db->n - b0 < s->Rc ? s->db->n - b0 :
			    s->Rc);
			const void *Y = gather(&w, s->B, ub, b0, nJ, w.Y);
			if ((rc = tile_product(&w, X, nI, Y, nJ)) < 0)
				break;
			if (w.path == MM_ALIGN_PATH_F64)
				xscan_d(s, w.S, a0, nI, b0, nJ, it, BJ, ra, cb,
				    th);
			else
				xscan_f(s, w.S, a0, nI, b0, nJ, it, BJ, ra, cb,
				    th);
		}
		if (rc < 0)
			break;
		/* A's rows of this block are complete */
		for (i = s->da->start[a0]; i < s->da->start[a0 + nI]; i++) {
			int64_t q = s->da->mem[i];
			s->rab[q] = (int32_t)(ra[q] < s->K ? ra[q] : s->K);
		}
	}
	if (rc < 0)
		mm_align_team_fail(&s->team, rc);
	else {
		/* whole counts: the same sum in any order */
		pthread_mutex_lock(&s->mu);
		for (i = 0; i < s->N; i++)
			s->cba[i] += cb[i];
		pthread_mutex_unlock(&s->mu);
	}
	tiles_free(&w);
	free(ra);
	free(cb);
	free(th);
	return NULL;
}

/* The partners' ranks up to K: rab (N) of B_i for the queries A_i, rba
 * (N) of A_i for the queries B_i. */
static int
partner_ranks(const float *A, const float *B, int64_t N, int D, int K,
    int threads, int32_t *rab, int32_t *rba)
{
	struct distinct da, db;
	struct xsearch s;
	int64_t t, i;
	int rc, path;

	memset(&da, 0, sizeof da);
	memset(&db, 0, sizeof db);
	memset(&s, 0, sizeof s);
	if ((rc = distinct_rows(&da, A, N, D)) < 0 ||
	    (rc = distinct_rows(&db, B, N, D)) < 0)
		goto out;
	s.A = A;
	s.B = B;
	s.N = N;
	s.D = D;
	s.K = K;
	s.da = &da;
	s.db = &db;
	s.rab = rab;
	s.R = tile_of(mm_align_tile_rows, D);
	s.Rc = tile_of(mm_align_tile_cols, D);
	if ((rc = bounds_rows(&s.qa, A, D, NULL, N)) < 0 ||
	    (rc = bounds_rows(&s.qb, B, D, NULL, N)) < 0 ||
	    (rc = bounds_rows(&s.ca, A, D, da.u, da.n)) < 0 ||
	    (rc = bounds_rows(&s.cb, B, D, db.u, db.n)) < 0)
		goto done;
	path = path_for(fmax(bounds_max2(&s.qa, N), bounds_max2(&s.qb, N)));
	bounds_set(&s.qa, N, D, path);
	bounds_set(&s.qb, N, D, path);
	bounds_set(&s.ca, da.n, D, path);
	bounds_set(&s.cb, db.n, D, path);
	s.nrb = (da.n + s.R - 1) / s.R;
	s.ncb = (db.n + s.Rc - 1) / s.Rc;
	s.MmA = malloc(sizeof(double) * s.nrb);
	s.MeA = malloc(sizeof(double) * s.nrb);
	s.MmB = malloc(sizeof(double) * s.ncb);
	s.MeB = malloc(sizeof(double) * s.ncb);
	s.x = malloc(sizeof(double) * N);
	s.cba = calloc(N, sizeof(int64_t));
	if (!s.MmA || !s.MeA || !s.MmB || !s.MeB || !s.x || !s.cba) {
		rc = mm_err(MM_ENOMEM, "retrieval: out of memory");
		goto done;
	}
	for (t = 0; t < s.nrb; t++)
		block_max(&s.ca, t * s.R, da.n - t * s.R < s.R ? da.n - t * s.R :
		    s.R, s.MmA + t, s.MeA + t);
	for (t = 0; t < s.ncb; t++)
		block_max(&s.cb, t * s.Rc, db.n - t * s.Rc < s.Rc ? db.n -
		    t * s.Rc : s.Rc, s.MmB + t, s.MeB + t);
	for (i = 0; i < N; i++)
		s.x[i] = mm_align_dot(A + i * D, B + i * D, D);
	pthread_mutex_init(&s.mu, NULL);
	rc = mm_align_team_run(&s.team, s.nrb, threads, rank_worker, &s);
	pthread_mutex_destroy(&s.mu);
	for (i = 0; rc == 0 && i < N; i++)
		rba[i] = (int32_t)(s.cba[i] < K ? s.cba[i] : K);
done:
	free(s.MmA);
	free(s.MeA);
	free(s.MmB);
	free(s.MeB);
	free(s.x);
	free(s.cba);
	bounds_free(&s.qa);
	bounds_free(&s.qb);
	bounds_free(&s.ca);
	bounds_free(&s.cb);
out:
	distinct_free(&da);
	distinct_free(&db);
	return rc;
}

int
mm_align_recall(const float *A, const float *B, int64_t N, int D,
    const int *ks, int nk, int threads, double *ab, double *ba)
{
	int32_t *rank[2];
	int64_t i, hits;
	int dir, t, K = 0, rc = 0;

	for (t = 0; t < nk; t++)
		if (ks[t] > K)
			K = ks[t];
	if (K < 1 || K > N || N > INT32_MAX)
		return mm_err(MM_EINVAL, "recall: k = %d with %lld rows", K,
		    (long long)N);
	rank[0] = malloc(sizeof(int32_t) * N);
	rank[1] = malloc(sizeof(int32_t) * N);
	if (!rank[0] || !rank[1]) {
		free(rank[0]);
		free(rank[1]);
		return mm_err(MM_ENOMEM, "recall: out of memory");
	}
	rc = partner_ranks(A, B, N, D, K, threads, rank[0], rank[1]);
	for (dir = 0; dir < 2 && rc == 0; dir++)
		for (t = 0; t < nk; t++) {
			for (i = hits = 0; i < N; i++)
				hits += rank[dir][i] < ks[t];
			(dir ? ba : ab)[t] = (double)hits / (double)N;
		}
	free(rank[0]);
	free(rank[1]);
	return rc;
}

/* ---- metrics on the lists ---- */

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

