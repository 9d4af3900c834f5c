/*
 * align.h - alignment metrics between two representations of the same N
 * samples: A (N, Da) and B (N, Db), row i of each describing sample i.
 *
 * Definitions (as in the "Platonic representation hypothesis" metric
 * suite of Huh et al. 2024, computed exactly and in float64):
 *   cka           linear CKA, biased HSIC: |Ac^T Bc|_F^2 /
 *                 (|Ac^T Ac|_F |Bc^T Bc|_F) with column-centred A, B
 *                 (equal to tr(KHLH) / sqrt(tr(KHKH) tr(LHLH)) for
 *                 K = A A^T, L = B B^T), computed in feature space.
 *   cka_unbiased  the same ratio with the unbiased HSIC estimator of Song
 *                 et al. 2012 (diagonals of K and L zeroed), computed in
 *                 feature space: O(N D^2), never an N x N matrix.
 *   mutual_knn@k  mean over i of |NA_k(i) & NB_k(i)| / k.
 *   cycle_knn@k   fraction of i such that i is in NA_k(j) for some j in
 *                 NB_k(i) (B's neighbours, then A's neighbours, back to i).
 *   cknna@k       CKA with unbiased HSIC restricted to the pairs (i, j)
 *                 with j in NA_k(i) and NB_k(i): hsic(M.K, M.L) /
 *                 sqrt(hsic(MA.K, MA.K) hsic(MB.L, MB.L)); k >= 2.
 *   svcca         columns centred and divided by (their N-1 std + 1e-8);
 *                 the top `dim` left singular vectors of each; the mean
 *                 of the canonical correlations between the two sets
 *                 (singular values of U1^T U2).  Exact SVD and CCA instead
 *                 of randomised SVD and iterative CCA; directions whose
 *                 singular value is below 1e-5 of the largest are dropped.
 *   recall@k      A->B: fraction of i whose partner B_i ranks among the k
 *                 best B_j by inner product with A_i; B->A likewise.
 *   cosine        mean_i cos(A_i, B_i).
 *   gap           |mean_i A_i - mean_i B_i|, the distance between the two
 *                 modality centroids.
 * NA_k(i) are the k rows j != i with the largest inner products A_i.A_j.
 * Ties: candidates are ranked by inner product, then by lower index, and
 * rows with identical values are treated as exactly tied (their inner
 * products are taken from one computation).  Undefined ratios (a zero or
 * negative denominator) are NaN.
 *
 * Scale: memory is bounded by blocks, not by N x N.  Beside the inputs,
 * CKA takes O(D^2) (one Gram matrix at a time), SVCCA O(D^2 + N dim),
 * the neighbour searches O(N) plus, per thread, a tile of 256 query rows
 * (fewer when k > 5000) by up to 16 MB of float64 candidates, and the
 * lists themselves (N, k).  Each candidate that enters a row's k best
 * costs O(k): k is meant to be small next to N.
 * `threads` (>= 1): the Gram matrices run on that many BLAS threads, the
 * neighbour searches and CKNNA's kernel values on that many threads of
 * their own; every result is the same for any number of threads.  The
 * BLAS's own thread count is restored on return.
 */
#ifndef MM_ALIGN_H
#define MM_ALIGN_H

#include <stdint.h>

/* Linear CKA, biased and unbiased.  N >= 2 (biased), N >= 4 (unbiased). */
int mm_align_cka(const float *A, int Da, const float *B, int Db, int64_t N,
    int threads, double *cka, double *cka_unbiased);

/* k nearest neighbours by inner product, self excluded, ties by lower
 * index: nn (N, k), best first.  1 <= k < N <= INT32_MAX.  The lists at
 * a smaller k are the prefixes of these. */
int mm_align_knn(const float *A, int64_t N, int D, int k, int threads,
    int32_t *nn);

double mm_align_mutual_knn(const int32_t *nnA, const int32_t *nnB,
    int64_t N, int k);
double mm_align_cycle_knn(const int32_t *nnA, const int32_t *nnB,
    int64_t N, int k);
/* nnA, nnB from mm_align_knn at the same k (>= 2). */
int mm_align_cknna(const float *A, int Da, const float *B, int Db,
    int64_t N, const int32_t *nnA, const int32_t *nnB, int k, int threads,
    double *out);

/* SVCCA with `dim` singular directions per side (10 in the suite). */
int mm_align_svcca(const float *A, int Da, const float *B, int Db,
    int64_t N, int dim, int threads, double *out);

/* Cross-modal retrieval: recall@k for every k in ks (nk values), A->B
 * into ab[] and B->A into ba[].  Needs Da == Db. */
int mm_align_recall(const float *A, const float *B, int64_t N, int D,
    const int *ks, int nk, int threads, double *ab, double *ba);

/* Mean paired cosine and modality gap.  Needs Da == Db. */
int mm_align_paired(const float *A, const float *B, int64_t N, int D,
    double *cosine, double *gap);

/* Scale every row of Z (N, D) to unit length in place (mmib-align -n):
 * the norm summed and rooted in double, each value divided by it in
 * double and rounded once to float; a zero row stays zero.  (nn.h's
 * mm_l2norm_rows, torch's normalize, divides by the norm rounded to
 * float: the two can differ in the last bit.) */
void mm_align_normalise(float *Z, int64_t N, int D);

/* The q largest eigenvalues of a symmetric n x n matrix S (row-major,
 * destroyed) by LAPACK's dsyevr: w (q) in decreasing order and the
 * eigenvectors as the columns of V (n, q), row-major.  1 <= q <= n. */
int mm_align_eigsym_top(double *S, int n, int q, double *w, double *V);

/* The blocks (for tests; 0 keeps the default): query rows per neighbour
 * tile (256), distinct candidates per tile (16 MB of float64 rows, 64 to
 * 8192) and rows per block of a Gram accumulation (16 MB per side).  Not
 * thread-safe: set before any metric runs.  The neighbour lists do not
 * depend on them; sums of Gram blocks may differ in their last bits. */
void mm_align_blocks(int tile_rows, int tile_cols, int gram_rows);

/* ---- RBF CKA (align-rbf.c) ----
 * cka_rbf  biased CKA of the Gaussian kernels K_ij = exp(-ga |A_i - A_j|^2)
 *          and L_ij = exp(-gb |B_i - B_j|^2): tr(KHLH) /
 *          sqrt(tr(KHKH) tr(LHLH)), as Kornblith et al. 2019 ("Similarity
 *          of neural network representations revisited", their code's
 *          kernel_metric='rbf'): g = 1 / (2 s^2 m2), m2 the median of the
 *          N x N matrix of squared distances (diagonal included, numpy's
 *          median), s the bandwidth as a fraction of the median distance
 *          (mmib-align --rbf-sigma, 1 by default as in their code).
 * Squared distances are n_i + n_j - 2 A_i.A_j in float64 (the kernel's
 * diagonal exactly 1).  The kernels are never stored: tiles of 256 rows by
 * N, two per side, O(N^2 (Da + Db)) time; the median holds the
 * N (N - 1) / 2 distances of one side (8 bytes each), hence the limit. */
#define MM_ALIGN_RBF_MAXN 16384
/* m2 (the median squared distance) of A (N, D); 2 <= N <= the limit. */
int mm_align_rbf_median(const float *A, int64_t N, int D, int threads,
    double *med2);
int mm_align_cka_rbf(const float *A, int Da, const float *B, int Db,
    int64_t N, double ga, double gb, int threads, double *out);

/* ---- null calibration (align-null.c) ----
 * The null of a metric is its value after a random permutation pi of the
 * rows of B (B'_i = B_pi(i)): the pairing is broken, everything else kept.
 * A permutation of B maps B's neighbour lists instead of searching again:
 * NB'(i) = pi^-1(NB(pi(i))) (exact ties keep B's order). */

/* Fill perm (N) with a uniform random permutation from rng (Fisher-Yates)
 * and inv (N) with its inverse. */
struct mm_rng;
void mm_align_perm(struct mm_rng *rng, int64_t N, int32_t *perm,
    int32_t *inv);
/* Bp (N, D) = the rows of B in the order perm. */
void mm_align_perm_rows(const float *B, int64_t N, int D,
    const int32_t *perm, float *Bp);
/* nnp (N, k) = the lists nn (N, k) of B mapped to B' (above). */
void mm_align_perm_lists(const int32_t *nn, int64_t N, int k,
    const int32_t *perm, const int32_t *inv, int32_t *nnp);
/* The summary of P null values: their mean and standard deviation (with
 * P - 1), the permutation p-value (1 + #{null >= obs}) / (1 + P) and the
 * calibrated score obs - mean.  NaN values (in obs or null) give NaN. */
struct mm_align_null {
	double mean, sd, p, calibrated;
};
void mm_align_null_summary(double obs, const double *null, int P,
    struct mm_align_null *s);

#endif
