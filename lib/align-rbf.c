/*
 * align-rbf.c - CKA with Gaussian (RBF) kernels (see align.h): the median
 * squared distance that sets each side's bandwidth, then the biased HSIC
 * of the two kernels accumulated over tiles of rows, so that only the
 * median's half matrix, never a kernel, is N x N in memory.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "align.h"
#include "align-impl.h"
#include "err.h"

#define RBF_TILE 256    /* query rows per tile of distances */

/* Rows i0 .. i0+nb of A (N, D) as float64 into X (nb, D). */
static void
to_double(double *X, const float *A, int D, int64_t i0, int64_t nb)
{
	int64_t n;

	for (n = 0; n < nb * D; n++)
		X[n] = A[i0 * D + n];
}

/* Squared row norms (N) of A, each summed in float64 in column order. */
static void
sq_norms(const float *A, int64_t N, int D, double *n2)
{
	int64_t i;
	int d;

	for (i = 0; i < N; i++) {
		double s = 0.0;
		for (d = 0; d < D; d++)
			s += (double)A[i * D + d] * A[i * D + d];
		n2[i] = s;
	}
}

/* The squared distances of rows i0 .. i0+nb of A to every row:
 * T (nb, N) = n2_i + n2_j - 2 A_i.A_j, with Xd (N, D) A in float64, the
 * product on `threads` threads (mm_align_dgemm()). */
static int
dist_tile(const double *Xd, const double *n2, int64_t N, int D, int64_t i0,
    int64_t nb, int threads, double *T)
{
	int64_t r, j;
	int rc;

	if ((rc = mm_align_dgemm(0, 1, (int)nb, (int)N, D, -2.0, Xd + i0 * D,
	    D, Xd, D, 0.0, T, (int)N, 0, threads)) < 0)
		return rc;
	for (r = 0; r < nb; r++)
		for (j = 0; j < N; j++)
			T[r * N + j] += n2[i0 + r] + n2[j];
	return 0;
}

/* The k-th smallest (0-based) of v (n), v reordered (quickselect with
 * the median of three as pivot). */
static double
select_kth(double *v, int64_t n, int64_t k)
{
	int64_t lo = 0, hi = n - 1;

	while (hi > lo) {
		int64_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		double a = v[lo], b = v[mid], c = v[hi], p, t;
		p = a < b ? (b < c ? b : (a < c ? c : a)) :
		    (a < c ? a : (b < c ? c : b));
		while (i <= j) {
			while (v[i] < p)
				i++;
			while (v[j] > p)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return v[k];
	}
	return v[k];
}

/* Element r (0-based, ascending) of the N x N distance matrix whose
 * strict upper triangle is u (m values, reordered by the selection), with
 * each off-diagonal value present twice and N zeros on the diagonal;
 * nneg of the u are below zero (rounding). */
static double
full_at(double *u, int64_t m, int64_t N, int64_t nneg, int64_t r)
{
	if (r < 2 * nneg)
		return select_kth(u, m, r / 2);
	if (r < 2 * nneg + N)
		return 0.0;
	return select_kth(u, m, (r - N) / 2);
}

int
mm_align_rbf_median(const float *A, int64_t N, int D, int threads,
    double *med2)
{
	int64_t m = N * (N - 1) / 2, i0, r, j, nneg = 0, at = 0, c = N * N;
	double *u, *Xd, *n2, *T;
	int rc = 0;

	*med2 = NAN;
	if (N < 2 || N > MM_ALIGN_RBF_MAXN)
		return mm_err(MM_EINVAL, "cka_rbf: %lld rows (it needs 2 to %d: "
		    "the median distance takes N (N - 1) / 2 values)",
		    (long long)N, MM_ALIGN_RBF_MAXN);
	u = malloc(sizeof(double) * m);
	Xd = malloc(sizeof(double) * N * D);
	n2 = malloc(sizeof(double) * N);
	T = malloc(sizeof(double) * RBF_TILE * N);
	if (!u || !Xd || !n2 || !T) {
		free(u);
		free(Xd);
		free(n2);
		free(T);
		return mm_err(MM_ENOMEM, "cka_rbf: out of memory for the "
		    "%lld distances of the median", (long long)m);
	}
	to_double(Xd, A, D, 0, N);
	sq_norms(A, N, D, n2);
	for (i0 = 0; i0 < N && rc == 0; i0 += RBF_TILE) {
		int64_t nb = N - i0 < RBF_TILE ? N - i0 : RBF_TILE;
		if ((rc = dist_tile(Xd, n2, N, D, i0, nb, threads, T)) < 0)
			break;
		for (r = 0; r < nb; r++)
			for (j = i0 + r + 1; j < N; j++) {
				double d = T[r * N + j];
				nneg += d < 0.0;
				u[at++] = d;
			}
	}
	free(Xd);
	free(n2);
	free(T);
	if (rc < 0) {
		free(u);
		return rc;
	}
	/* numpy's median of the N^2 values: the middle one, or the mean of
	 * the two middle ones when N^2 is even */
	if (c % 2)
		*med2 = full_at(u, m, N, nneg, c / 2);
	else
		*med2 = 0.5 * (full_at(u, m, N, nneg, c / 2 - 1) +
		    full_at(u, m, N, nneg, c / 2));
	free(u);
	return 0;
}

/* Sums of a kernel pair over tiles: sum K.L, sum K.K, sum L.L and the row
 * sums of K and L. */
struct ksums {
	double kl, kk, ll;
	double *rk, *rl;    /* (N) */
};

static double
hsic_of(double s, const double *ra, const double *rb, int64_t N)
{
	double dot = 0.0, sa = 0.0, sb = 0.0, n = (double)N;
	int64_t i;

	for (i = 0; i < N; i++) {
		dot += ra[i] * rb[i];
		sa += ra[i];
		sb += rb[i];
	}
	/* tr(K H L H) = sum K.L - 2/N (K 1).(L 1) + (1'K1)(1'L1)/N^2 */
	return s - 2.0 * dot / n + sa * sb / (n * n);
}

int
mm_align_cka_rbf(const float *A, int Da, const float *B, int Db, int64_t N,
    double ga, double gb, int threads, double *out)
{
	double *Xa, *Xb, *na, *nb2, *Ta, *Tb, hkl, hkk, hll, den;
	struct ksums s;
	int64_t i0, r, j;
	int rc = 0;

	*out = NAN;
	if (N < 2)
		return mm_err(MM_EINVAL, "cka_rbf needs N >= 2");
	Xa = malloc(sizeof(double) * N * Da);
	Xb = malloc(sizeof(double) * N * Db);
	na = malloc(sizeof(double) * N);
	nb2 = malloc(sizeof(double) * N);
	Ta = malloc(sizeof(double) * RBF_TILE * N);
	Tb = malloc(sizeof(double) * RBF_TILE * N);
	s.rk = calloc(N, sizeof(double));
	s.rl = calloc(N, sizeof(double));
	s.kl = s.kk = s.ll = 0.0;
	if (!Xa || !Xb || !na || !nb2 || !Ta || !Tb || !s.rk || !s.rl) {
		rc = mm_err(MM_ENOMEM, "cka_rbf: out of memory");
		goto done;
	}
	to_double(Xa, A, Da, 0, N);
	to_double(Xb, B, Db, 0, N);
	sq_norms(A, N, Da, na);
	sq_norms(B, N, Db, nb2);
	for (i0 = 0; i0 < N; i0 += RBF_TILE) {
		int64_t n = N - i0 < RBF_TILE ? N - i0 : RBF_TILE;
		if ((rc = dist_tile(Xa, na, N, Da, i0, n, threads, Ta)) < 0 ||
		    (rc = dist_tile(Xb, nb2, N, Db, i0, n, threads, Tb)) < 0)
			goto done;
		for (r = 0; r < n; r++) {
			double rk = 0.0, rl = 0.0;
			for (j = 0; j < N; j++) {
				/* the diagonal is exactly 1: a point is at
				 * distance 0 from itself */
				double k = i0 + r == j ? 1.0 :
				    exp(-ga * Ta[r * N + j]);
				double l = i0 + r == j ? 1.0 :
				    exp(-gb * Tb[r * N + j]);
				s.kl += k * l;
				s.kk += k * k;
				s.ll += l * l;
				rk += k;
				rl += l;
			}
			s.rk[i0 + r] = rk;
			s.rl[i0 + r] = rl;
		}
	}
	hkl = hsic_of(s.kl, s.rk, s.rl, N);
	hkk = hsic_of(s.kk, s.rk, s.rk, N);
	hll = hsic_of(s.ll, s.rl, s.rl, N);
	den = hkk * hll;
	*out = den > 0.0 ? hkl / sqrt(den) : NAN;
done:
	free(Xa);
	free(Xb);
	free(na);
	free(nb2);
	free(Ta);
	free(Tb);
	free(s.rk);
	free(s.rl);
	return rc;
}
