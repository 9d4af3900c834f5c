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
 * Ties: candidates are ranked by the float64 inner product with the
 * products summed in index order (one value for a pair, whatever the
 * BLAS or the tiles: rows with identical values are exactly tied), then
 * by lower index.  The searches find their candidates in bf16 or float32
 * under a rigorous error bound and rescore them in float64, so the lists
 * are exact (align-knn.c gives the bound).  Undefined ratios (a zero or
 * negative denominator) are NaN.
 *
 * Scale: memory is bounded by blocks, not by N x N.  Beside the inputs,
 * CKA takes O(D^2) (one Gram matrix at a time), SVCCA O(D^2 + N dim),
 * the neighbour searches O(N k) (each row's candidates; more where many
 * rows are tied within the bound) plus, per thread, two blocks of 1024
 * rows and their 1024 x 1024 tile, and the lists themselves (N, k).
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

/* The same in two steps, for the permutation null: what does not change
 * when B's rows are permuted (column means, the self products and the
 * centred rows' squared norms), then CKA and unbiased CKA of A against
 * the rows of B in the order perm (N; NULL: as they are), one cross
 * product Ac^T B'c (Da, Db) each.  mm_align_cka() is the two steps with
 * perm NULL: three products in all, each computed once (align.c). */
struct mm_align_cka_parts {
	const float *A, *B;
	int Da, Db;
	int64_t N;
	double kk, ll;		/* |Ac^T Ac|_F^2, |Bc^T Bc|_F^2 */
	double ukk, ull;	/* unbiased HSIC(K, K), (L, L); NaN: undefined */
	double tk, tl;		/* tr K, tr L (centred: |Ac|_F^2, |Bc|_F^2) */
	double kk2, ll2;	/* sum_i K_ii^2, sum_i L_ii^2 */
	double *mx, *my;	/* (Da), (Db) column means */
	double *kii, *lii;	/* (N) diagonals of K = Ac Ac^T, L = Bc Bc^T */
	double *ga, *gb;	/* with keep: Ac^T Ac, Bc^T Bc (upper), else NULL */
	int64_t rows;		/* rows per block of the products */
	double *work;		/* their scratch, reused by every evaluation
				 * (so one evaluation at a time) */
};
/* keep: also keep the self products (Da^2 + Db^2 float64) for
 * mm_align_cka_null_init(), which takes them over. */
int mm_align_cka_parts(struct mm_align_cka_parts *c, const float *A, int Da,
    const float *B, int Db, int64_t N, int threads, int keep);
int mm_align_cka_eval(const struct mm_align_cka_parts *c,
    const int32_t *perm, int threads, double *cka, double *cka_unbiased);
/* The sampled null's p-value without a full product per permutation:
 * whether CKA and unbiased CKA of A against B's rows in the order perm
 * reach the observed values cka, cka_unbiased (*ge, *uge: 1 or 0; 0 for
 * a NaN observation).  The leading q (<= 256) principal components of
 * each side are kept (2 N q float64, 32 MB a side at most), and each
 * permutation takes the
 * leading r x r block of their cross product (O(N r^2), r = 16, 32, ...
 * up to q, from the r that decided the previous permutation) until the block and a bound on the rest put the value on one
 * side of the observed one; a full product (mm_align_cka_eval()) only if
 * they never do (align.c gives the bound).  The same decisions as
 * comparing the values, to rounding (a margin of 1e-9 relative).  cols
 * and full count, for benches and tests, the block columns and the full
 * products taken. */
struct mm_align_cka_null {
	int q;
	double cka, ucka;	/* the observed values */
	double obs, uobs;	/* the same as |Ac^T Bc|_F^2, m (m - 3) HSIC_u */
	double *U, *W;		/* (N, q) the leading components of A, B */
	double *S, *T;		/* (q + 1) their squared norms, then the next */
	double *Wp, *C;		/* scratch (N, q), (q, q) */
	int r0;			/* the block that decided the last one */
	int64_t cols, full;
};
int mm_align_cka_null_init(struct mm_align_cka_null *z,
    struct mm_align_cka_parts *c, double cka, double cka_unbiased,
    int threads);
int mm_align_cka_null_ge(struct mm_align_cka_null *z,
    const struct mm_align_cka_parts *c, const int32_t *perm, int threads,
    int *ge, int *uge);
void mm_align_cka_null_free(struct mm_align_cka_null *z);

/* The exact mean and standard deviation of CKA and unbiased CKA over all
 * N! permutations of B's rows, in closed form from the parts (O(1)):
 * biased CKA is the RV coefficient of the centred sides, whose
 * permutation moments are those of Kazi-Aoual, Hitier, Sabatier and
 * Thioulouse (1995), as written by Josse, Pages and Husson (2008): with
 * W = Ac Ac^T, b = (tr W)^2 / tr W^2 and
 * t = (N - 1) / ((N - 3) (N - 1 - b)) (N (N + 1) sum_i W_ii^2 / tr W^2
 * - (N - 1) (b + 2)) per side,
 *   mean = sqrt(bA bB) / (N - 1),
 *   var  = 2 (N - 1 - bA) (N - 1 - bB) / ((N + 1) (N - 1)^2 (N - 2))
 *          (1 + (N - 3) / (2 N (N - 1)) tA tB).
 * Unbiased CKA is the same ratio of the U-centred kernels (zero
 * diagonals and row sums), for which the same moments give mean 0 and
 * variance 2 / (N (N - 3)) whatever the data.  NaN where the CKA is
 * undefined or N < 4. */
void mm_align_cka_null_moments(const struct mm_align_cka_parts *c,
    double *mean, double *sd, double *umean, double *usd);
void mm_align_cka_free(struct mm_align_cka_parts *c);

/* k nearest neighbours by inner product, self excluded, ties by lower
 * index: nn (N, k), best first.  1 <= k < N <= INT32_MAX.  The lists at
 * a smaller k are the prefixes of these. */
int mm_align_knn(const float *A, int64_t N, int D, int k, int threads,
    int32_t *nn);

/* The k best rows of C (N, D) for each row of Q (N, D), ranked alike
 * (no row excluded): nn (N, k).  1 <= k <= N.  Query i's partner C_i
 * ranks r when nn[i][r] = i. */
int mm_align_knn_cross(const float *Q, const float *C, int64_t N, int D,
    int k, int threads, int32_t *nn);

double mm_align_mutual_knn(const int32_t *nnA, const int32_t *nnB,
    int64_t N, int k);
double mm_align_cycle_knn(const int32_t *nnA, const int32_t *nnB,
    int64_t N, int k);
/* nnA, nnB from mm_align_knn at the same k (>= 2). */
int mm_align_cknna(const float *A, int Da, const float *B, int Db,
    int64_t N, const int32_t *nnA, const int32_t *nnB, int k, int threads,
    double *out);
/* The same in two steps, for the permutation null: the kernel values of
 * the listed pairs, ka (N, k) = A_i . A_j for j in nnA's row i and lb
 * (N, k) likewise for B (mm_align_dot()), then CKNNA from lists and
 * values.  A permutation of B's rows permutes the rows of nnB (mapped,
 * mm_align_perm_lists()) and of lb, so the values are computed once. */
int mm_align_cknna_values(const float *A, int Da, const float *B, int Db,
    int64_t N, const int32_t *nnA, const int32_t *nnB, int k, int threads,
    double *ka, double *lb);
int mm_align_cknna_hsic(int64_t N, const int32_t *nnA, const int32_t *nnB,
    int k, const double *ka, const double *lb, double *out);

/* SVCCA with `dim` singular directions per side (10 in the suite). */
int mm_align_svcca(const float *A, int Da, const float *B, int Db,
    int64_t N, int dim, int threads, double *out);
/* The same in two steps, for the permutation null: the two bases U1
 * (N, q1) and U2 (N, q2) once, then SVCCA of A against the rows of B in
 * the order perm (N; NULL: as they are), which permutes the rows of U2
 * only: O(N q1 q2) each. */
struct mm_align_svcca_bases {
	double *U1, *U2;
	int q1, q2;
	int64_t N;
};
int mm_align_svcca_bases(struct mm_align_svcca_bases *sb, const float *A,
    int Da, const float *B, int Db, int64_t N, int dim, int threads);
int mm_align_svcca_eval(const struct mm_align_svcca_bases *sb,
    const int32_t *perm, double *out);
void mm_align_svcca_free(struct mm_align_svcca_bases *sb);

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

/* The blocks (for tests; 0 keeps the default): rows per neighbour tile
 * (1024, fewer when 1024 float64 rows exceed 16 MB; the self search's tiles
 * are square), candidates per retrieval tile (likewise) and rows per block
 * of a Gram accumulation (16 MB per side).  Not thread-safe: set before
 * any metric runs.  The neighbour lists and ranks do not depend on them;
 * sums of Gram blocks may differ in their last bits. */
void mm_align_blocks(int tile_rows, int tile_cols, int gram_rows);

/* The precision the neighbour searches find candidates in (for tests and
 * benches; results do not depend on it): 0 the fastest the CPU has (the
 * default: bf16 when mm_bf16_rate() >= MM_BF16_PAYS), or one of the paths below (bf16 falls back to float32 without
 * the AVX512-BF16 kernel).  Float64 is taken anyway when float32 could
 * overflow.  Returns the previous setting.  Not thread-safe. */
enum { MM_ALIGN_PATH_F64 = 1, MM_ALIGN_PATH_F32 = 2, MM_ALIGN_PATH_BF16 = 3 };
int mm_align_search_path(int path);
/* The path the searches take unless float32 could overflow: the one set,
 * or the default (above). */
int mm_align_search_default(void);

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


/* ---- the suite (align-suite.c) ----
 * The metrics chosen by name, once on the input pairing and, with P > 0,
 * on P random row permutations of B (seeded, the same for any thread
 * count) for their null; each metric's null reuses what one side alone
 * decides (align-suite.c says what). */
enum {
	MM_ALIGN_CKA = 1, MM_ALIGN_UCKA = 2, MM_ALIGN_RBF = 4,
	MM_ALIGN_SVCCA = 8, MM_ALIGN_COS = 16, MM_ALIGN_GAP = 32,
	MM_ALIGN_MKNN = 64, MM_ALIGN_CYCLE = 128, MM_ALIGN_CKNNA = 256,
	MM_ALIGN_RECALL = 512
};
#define MM_ALIGN_DEFAULT (1023 & ~MM_ALIGN_RBF)
#define MM_ALIGN_KNNS (MM_ALIGN_MKNN | MM_ALIGN_CYCLE | MM_ALIGN_CKNNA)
#define MM_ALIGN_MAXK 64
#define MM_ALIGN_MAXROW (8 + 5 * MM_ALIGN_MAXK)
/* The bit of the metric called name, 0 if none is; the names, for
 * messages. */
int mm_align_metric(const char *name);
const char *mm_align_metric_names(void);

struct mm_align_suite {
	/* set by the caller */
	const float *A, *B;	/* (N, Da), (N, Db) */
	int Da, Db;
	int64_t N;
	int sel;		/* MM_ALIGN_* bits */
	const int *ks;		/* nk neighbourhood sizes, 1 <= k < N */
	int nk;
	int svdim;		/* SVCCA's directions per side */
	double ga, gb;		/* cka_rbf's 1 / (2 s^2 m2); INFINITY: NaN */
	int threads, P;
	uint64_t seed;
	/* the rows, in output order: cka, cka_unbiased, cka_rbf, svcca,
	 * cosine, gap (the last two and recall when Da == Db), then per k
	 * mutual_knn, cycle_knn, cknna (k >= 2), recall_img2fac,
	 * recall_fac2img; k 0 for a metric without one */
	int n;
	const char *name[MM_ALIGN_MAXROW];
	int k[MM_ALIGN_MAXROW];
	double value[MM_ALIGN_MAXROW];
	struct mm_align_null null[MM_ALIGN_MAXROW];	/* when P > 0 */
};
int mm_align_suite_run(struct mm_align_suite *s);

#endif
