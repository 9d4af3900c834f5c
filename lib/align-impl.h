/*
 * align-impl.h - what the files of the alignment metrics share (align.c,
 * align-knn.c, align-rbf.c, align-suite.c); not part of the library's
 * interface.
 */
#ifndef MM_ALIGN_IMPL_H
#define MM_ALIGN_IMPL_H

#include <pthread.h>
#include <stdint.h>

struct mm_pool;

/* The blocks of mm_align_blocks(): 0 means the default. */
extern int mm_align_tile_rows, mm_align_tile_cols, mm_align_gram_rows;

/* Bytes of float64 one candidate tile or one block of Gram rows may take
 * by default. */
#define MM_ALIGN_BLOCK_BYTES ((int64_t)16 << 20)

/* Rows i0 .. i0 + nb of A (., D) as float64, minus mu (D) when mu, divided
 * by sd (D) when sd, into X (nb, D). */
void mm_align_rows_double(double *X, const float *A, int D, int64_t i0,
    int64_t nb, const double *mu, const double *sd);

/* a . b (D): the float64 products summed in index order, d = 0, 1, ...
 * (every product of two floats is exact in float64).  The inner product
 * the neighbour searches rank by and CKNNA's kernel values. */
double mm_align_dot(const float *a, const float *b, int D);

/* The BLAS's thread count for a phase; returns the previous one. */
int mm_align_blas_threads(int n);

/* A team of threads sharing a queue of items (on lib/pool.h). */
struct mm_align_team {
	struct mm_pool *pool;
	pthread_mutex_t mu;
	int next, n;		/* items handed out, items in all */
	int rc;			/* the first failure, 0 if none */
	void *(*fn)(void *);
	void *arg;
};
/* The next item, or -1 when none is left or a thread failed. */
int64_t mm_align_team_take(struct mm_align_team *t);
/* Record a failure (the first one is kept). */
void mm_align_team_fail(struct mm_align_team *t, int rc);
/* Run fn(arg) on T threads, the calling thread one of them, over n items;
 * fn takes items until none is left.  The BLAS runs at one thread
 * meanwhile.  Returns the first failure or 0. */
int mm_align_team_run(struct mm_align_team *t, int64_t n, int T,
    void *(*fn)(void *), void *arg);

/* C (M, N) = alpha A' B' + beta C in float64, row-major, A' = A or A^T
 * (ta), B' = B or B^T (tb), on `threads` threads.  With upper, C = A' A'
 * is symmetric (M = N, B = A, tb = !ta) and only its upper triangle is
 * wanted (entries below it are left as they were).  The same bits for any
 * thread count: C is cut into slices fixed by the shape alone (columns of
 * MM_ALIGN_TRI_WIDTH for the triangle, else mm_gemm_cut()), each slice
 * one call of the BLAS on one thread.  OpenBLAS's own threads would not
 * do: how they split a product, and so the order of its sums, changes
 * with their number on some of its kernels.  A single slice is one call
 * of dgemm (dsyrk with upper) on the whole. */
int mm_align_dgemm(int ta, int tb, int M, int N, int K, double alpha,
    const double *A, int lda, const double *B, int ldb, double beta,
    double *C, int ldc, int upper, int threads);
#define MM_ALIGN_TRI_WIDTH 128

#endif
