/*
 * probe-kern.c - fused float64 objective of several multinomial logistic
 * regressions sharing one data matrix (see probe-kern.h).
 *
 * Rows go through in blocks of RB.  A block is converted to float64
 * (xb, RB x Dp, zero-padded), its logits Z = xb W + b are computed by
 * kernel A (4 rows x NV vectors of classes per register tile, the weight
 * panel kept in L1), each probe's softmax turns its columns of Z into
 * P - Y in place, and kernel C adds xb^T (P - Y) into Gt (4 features x NV
 * vectors per tile).  The whole matrix is read once per evaluation, in
 * float32 (7,500 x 64 rows: 1.9 MB, which stays in L2).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "probe-kern.h"
#include "nn.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MM_X86 1
#endif

#define RB 64                   /* rows per block */

int
mm_probe_kern_level(void)
{
	return mm_nn_simd(-1);
}

static int
round4(int D)
{
	return (D + 3) & ~3;
}

size_t
mm_probe_kern_scratch(int D, int Kt)
{
	return (size_t)RB * round4(D) + (size_t)RB * Kt + 12 * RB +
	    (size_t)Kt / 8 + 8;
}

/* exp(t) for t <= 0: t = n ln 2 + r (Cody-Waite, |r| <= ln 2 / 2), the
 * Taylor polynomial of degree 12 for e^r (truncation < 2e-16), 2^n built
 * in the exponent bits; t < -600 gives 0. */
#define EXP_LOG2E 1.4426950408889634
#define EXP_MAGIC 6755399441055744.0      /* 1.5 * 2^52: rounds to integer */
#define EXP_LN2HI 0.6931471805599453
#define EXP_LN2LO 2.3190468138462996e-17
#define EXP_MIN (-600.0)
static const double ecoef[13] = {
	1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720,
	1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800,
	1.0 / 39916800, 1.0 / 479001600
};

/* The horizontal sum of eight lanes, in one fixed order for both kernel
 * levels. */
static double
hsum8(const double *a)
{
	return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* Row bookkeeping after a softmax row: the loss terms (sum of the max
 * minus the label's logit, product of the sums, folded into a log when
 * large: 1 <= s <= K). */
static inline void
row_loss(double *fs, double *prod, double mx, double zy, double s)
{
	*fs += mx - zy;
	*prod *= s;
	if (*prod > 1e250) {
		*fs += log(*prod);
		*prod = 1.0;
	}
}

#ifdef MM_X86
/*
 * The kernels of both levels come from one template, so that they do the
 * same operations in the same order: VD is a vector of W doubles (8 with
 * AVX-512F, 4 with AVX2), tiles are 4 x NV vectors, NV <= MAXV.
 *
 * EXP: exp of each lane (see ecoef); ZERO_LT(v, x, lo) zeroes the lanes
 * where x < lo.
 * KA: Z rows r0..r0+3, columns c0..c0+W NV = b + xb W.
 * KC: Gt rows d0..d0+3, columns c0..c0+W NV += sum over rows r < nr of
 * xb[r, d] (P - Y)[r, c].
 * PANEL_A, PANEL_C: the same for a run-time nv, dispatched to constants.
 */
#define LRK_TEMPLATE(SUF, TGT, VD, VI, W, MAXV, LD, ST, SET1, FMA, FNMA,     \
    SUB, MAX, MUL, CMPLT_ZERO, SET1I, ADDI, SLLI, CASTDI, CASTID)            \
static inline __attribute__((always_inline, target(TGT))) VD                 \
exp##SUF(VD x)                                                               \
{                                                                            \
	const VD lo = SET1(EXP_MIN);                                         \
	VD x0 = x, kn, n, r, p;                                              \
	VI e;                                                                \
	int k;                                                               \
	x = MAX(x, lo);                                                      \
	kn = FMA(x, SET1(EXP_LOG2E), SET1(EXP_MAGIC));                       \
	n = SUB(kn, SET1(EXP_MAGIC));                                        \
	r = FNMA(n, SET1(EXP_LN2HI), x);                                     \
	r = FNMA(n, SET1(EXP_LN2LO), r);                                     \
	p = SET1(ecoef[12]);                                                 \
	_Pragma("GCC unroll 12")                                             \
	for (k = 11; k >= 0; k--)                                            \
		p = FMA(p, r, SET1(ecoef[k]));                               \
	e = SLLI(ADDI(CASTDI(kn), SET1I(1023)), 52);                         \
	return CMPLT_ZERO(MUL(p, CASTID(e)), x0, lo);                        \
}                                                                            \
                                                                             \
static inline __attribute__((always_inline, target(TGT))) void               \
ka##SUF(double *Z, int Kt, const double *xb, int Dp, int D,                  \
    const double *Wt, const double *b, int r0, int c0, const int NV)        \
{                                                                            \
	VD acc[4][MAXV], w[MAXV];                                            \
	int d, j, k;                                                         \
	_Pragma("GCC unroll 6")                                              \
	for (k = 0; k < NV; k++) {                                           \
		w[k] = LD(b + c0 + W * k);                                   \
		_Pragma("GCC unroll 4")                                      \
		for (j = 0; j < 4; j++)                                      \
			acc[j][k] = w[k];                                    \
	}                                                                    \
	for (d = 0; d < D; d++) {                                            \
		const double *wr = Wt + (size_t)d * Kt + c0;                 \
		_Pragma("GCC unroll 6")                                      \
		for (k = 0; k < NV; k++)                                     \
			w[k] = LD(wr + W * k);                               \
		_Pragma("GCC unroll 4")                                      \
		for (j = 0; j < 4; j++) {                                    \
			VD x = SET1(xb[(size_t)(r0 + j) * Dp + d]);          \
			_Pragma("GCC unroll 6")                              \
			for (k = 0; k < NV; k++)                             \
				acc[j][k] = FMA(x, w[k], acc[j][k]);         \
		}                                                            \
	}                                                                    \
	_Pragma("GCC unroll 4")                                              \
	for (j = 0; j < 4; j++)                                              \
		_Pragma("GCC unroll 6")                                      \
		for (k = 0; k < NV; k++)                                     \
			ST(Z + (size_t)(r0 + j) * Kt + c0 + W * k, acc[j][k]); \
}                                                                            \
                                                                             \
static inline __attribute__((always_inline, target(TGT))) void               \
kc##SUF(double *Gt, int Kt, const double *xb, int Dp, const double *Z,       \
    int nr, int d0, int c0, const int NV)                                    \
{                                                                            \
	VD acc[4][MAXV], p[MAXV];                                            \
	int r, j, k;                                                         \
	_Pragma("GCC unroll 4")                                              \
	for (j = 0; j < 4; j++)                                              \
		_Pragma("GCC unroll 6")                                      \
		for (k = 0; k < NV; k++)                                     \
			acc[j][k] = LD(Gt + (size_t)(d0 + j) * Kt + c0 +     \
			    W * k);                                          \
	for (r = 0; r < nr; r++) {                                           \
		const double *zr = Z + (size_t)r * Kt + c0;                  \
		const double *xr = xb + (size_t)r * Dp + d0;                 \
		_Pragma("GCC unroll 6")                                      \
		for (k = 0; k < NV; k++)                                     \
			p[k] = LD(zr + W * k);                               \
		_Pragma("GCC unroll 4")                                      \
		for (j = 0; j < 4; j++) {                                    \
			VD x = SET1(xr[j]);                                  \
			_Pragma("GCC unroll 6")                              \
			for (k = 0; k < NV; k++)                             \
				acc[j][k] = FMA(x, p[k], acc[j][k]);         \
		}                                                            \
	}                                                                    \
	_Pragma("GCC unroll 4")                                              \
	for (j = 0; j < 4; j++)                                              \
		_Pragma("GCC unroll 6")                                      \
		for (k = 0; k < NV; k++)                                     \
			ST(Gt + (size_t)(d0 + j) * Kt + c0 + W * k,          \
			    acc[j][k]);                                      \
}                                                                            \
                                                                             \
__attribute__((target(TGT))) static void                                     \
panel_a##SUF(double *Z, int Kt, const double *xb, int Dp, int D,             \
    const double *Wt, const double *b, int r0, int c0, int nv)              \
{                                                                            \
	switch (nv) {                                                        \
	case 1: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, 1); break;          \
	case 2: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, 2); break;          \
	case 3: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, 3); break;          \
	case 4: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, LRK_MIN(4, MAXV));  \
		break;                                                       \
	case 5: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, LRK_MIN(5, MAXV));  \
		break;                                                       \
	default: ka##SUF(Z, Kt, xb, Dp, D, Wt, b, r0, c0, MAXV); break;      \
	}                                                                    \
}                                                                            \
                                                                             \
__attribute__((target(TGT))) static void                                     \
panel_c##SUF(double *Gt, int Kt, const double *xb, int Dp, const double *Z,  \
    int nr, int d0, int c0, int nv)                                          \
{                                                                            \
	switch (nv) {                                                        \
	case 1: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, 1); break;            \
	case 2: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, 2); break;            \
	case 3: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, 3); break;            \
	case 4: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, LRK_MIN(4, MAXV));    \
		break;                                                       \
	case 5: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, LRK_MIN(5, MAXV));    \
		break;                                                       \
	default: kc##SUF(Gt, Kt, xb, Dp, Z, nr, d0, c0, MAXV); break;        \
	}                                                                    \
}

#define LRK_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ZERO_LT512(v, x, lo) \
	_mm512_maskz_mov_pd(_mm512_cmp_pd_mask(x, lo, _CMP_NLT_UQ), v)
#define ZERO_LT256(v, x, lo) \
	_mm256_andnot_pd(_mm256_cmp_pd(x, lo, _CMP_LT_OQ), v)

/* ---------------- AVX-512F ---------------- */
LRK_TEMPLATE(512, "avx512f", __m512d, __m512i, 8, 6, _mm512_loadu_pd,
    _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd,
    _mm512_sub_pd, _mm512_max_pd, _mm512_mul_pd, ZERO_LT512,
    _mm512_set1_epi64, _mm512_add_epi64, _mm512_slli_epi64,
    _mm512_castpd_si512, _mm512_castsi512_pd)

/*
 * Eight rows' horizontal reductions at once: lane i of the result is
 * the reduction of v[i]'s eight lanes, summed in hsum8's order
 * ((0+4)+(2+6))+((1+5)+(3+7)) (or their maximum).  Three stages of
 * 256-, 128- and 64-bit shuffles, then a permutation into row order.
 */
#define TREE8(NAME, OP)                                                      \
static inline __attribute__((always_inline, target("avx512f"))) __m512d      \
NAME(const __m512d *v)                                                       \
{                                                                            \
	__m512d s1[4], s2[2], lo, hi;                                        \
	int i;                                                               \
	for (i = 0; i < 4; i++)         /* rows 2i, 2i+1: (l, l+4) */        \
		s1[i] = OP(_mm512_shuffle_f64x2(v[2 * i], v[2 * i + 1], 0x44),   \
		    _mm512_shuffle_f64x2(v[2 * i], v[2 * i + 1], 0xee));         \
	for (i = 0; i < 2; i++)         /* rows 4i..4i+3: (l, l+2) */        \
		s2[i] = OP(_mm512_shuffle_f64x2(s1[2 * i], s1[2 * i + 1], 0x88), \
		    _mm512_shuffle_f64x2(s1[2 * i], s1[2 * i + 1], 0xdd));       \
	lo = _mm512_unpacklo_pd(s2[0], s2[1]);                               \
	hi = _mm512_unpackhi_pd(s2[0], s2[1]);                               \
	/* lanes now hold rows 0 4 1 5 2 6 3 7 */                            \
	return _mm512_permutexvar_pd(_mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0), \
	    OP(lo, hi));                                                     \
}
TREE8(tree_sum8, _mm512_add_pd)
TREE8(tree_max8, _mm512_max_pd)

/* One probe's softmax over rows 0..nr-1 of the block: its columns of Z
 * become P - Y, gb gathers their sums, fs and prod the loss (row_loss).
 * Passes over the rows: maxima (eight rows per reduction tree);
 * exponentials and their lane sums (four rows interleaved); the sums and
 * their reciprocals (eight rows at once); normalisation.  Rows from nr up
 * to a multiple of 8 hold finite logits (kernel A computes them from zero
 * rows) and are computed and ignored.  t holds 12 RB doubles. */
__attribute__((target("avx512f"))) static void
softmax512(double *Z, int Kt, int nr, const struct mm_probe_kern_seg *s,
    const int32_t *y, double *fs, double *prod, double *gb, double *t)
{
	int nc = (s->K + 7) / 8, nr8 = (nr + 7) & ~7, r, c, i;
	double *mx = t, *zy = t + RB, *inv = t + 2 * RB, *sum = t + 3 * RB;
	double *lane = t + 4 * RB;
	const __m512i iota = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
	const __m512i eight = _mm512_set1_epi64(8);
	const __m512d one = _mm512_set1_pd(1.0);
	__m512d m8[8];

	for (r = 0; r < nr8; r += 8) {
		for (i = 0; i < 8; i++) {
			const double *z = Z + (size_t)(r + i) * Kt + s->off;
			m8[i] = _mm512_loadu_pd(z);
			for (c = 1; c < nc; c++)
				m8[i] = _mm512_max_pd(m8[i],
				    _mm512_loadu_pd(z + 8 * c));
		}
		_mm512_storeu_pd(mx + r, tree_max8(m8));
	}
	for (r = 0; r < nr; r++)
		zy[r] = Z[(size_t)r * Kt + s->off + y[r]];
	/* four rows at a time: four independent exp chains */
	for (r = 0; r < nr8; r += 4) {
		double *z = Z + (size_t)r * Kt + s->off;
		__m512d m0 = _mm512_set1_pd(mx[r]), a0 = _mm512_setzero_pd();
		__m512d m1 = _mm512_set1_pd(mx[r + 1]), a1 = a0;
		__m512d m2 = _mm512_set1_pd(mx[r + 2]), a2 = a0;
		__m512d m3 = _mm512_set1_pd(mx[r + 3]), a3 = a0, v0, v1, v2, v3;
		for (c = 0; c < nc; c++) {
			double *z0 = z + 8 * c, *z1 = z0 + Kt, *z2 = z1 + Kt;
			double *z3 = z2 + Kt;
			v0 = exp512(_mm512_sub_pd(_mm512_loadu_pd(z0), m0));
			v1 = exp512(_mm512_sub_pd(_mm512_loadu_pd(z1), m1));
			v2 = exp512(_mm512_sub_pd(_mm512_loadu_pd(z2), m2));
			v3 = exp512(_mm512_sub_pd(_mm512_loadu_pd(z3), m3));
			a0 = _mm512_add_pd(a0, v0);
			a1 = _mm512_add_pd(a1, v1);
			a2 = _mm512_add_pd(a2, v2);
			a3 = _mm512_add_pd(a3, v3);
			_mm512_storeu_pd(z0, v0);
			_mm512_storeu_pd(z1, v1);
			_mm512_storeu_pd(z2, v2);
			_mm512_storeu_pd(z3, v3);
		}
		_mm512_storeu_pd(lane + 8 * r, a0);
		_mm512_storeu_pd(lane + 8 * r + 8, a1);
		_mm512_storeu_pd(lane + 8 * r + 16, a2);
		_mm512_storeu_pd(lane + 8 * r + 24, a3);
	}
	for (r = 0; r < nr8; r += 8) {
		__m512d sv;
		for (i = 0; i < 8; i++)
			m8[i] = _mm512_loadu_pd(lane + 8 * (r + i));
		sv = tree_sum8(m8);
		_mm512_storeu_pd(sum + r, sv);
		_mm512_storeu_pd(inv + r, _mm512_div_pd(one, sv));
	}
	for (r = 0; r < nr; r++) {
		double *z = Z + (size_t)r * Kt + s->off, *g = gb + s->off;
		__m512d m = _mm512_set1_pd(inv[r]);
		__m512i idx = iota, yv = _mm512_set1_epi64(y[r]);
		row_loss(fs, prod, mx[r], zy[r], sum[r]);
		for (c = 0; c < nc; c++) {
			__m512d p = _mm512_mul_pd(_mm512_loadu_pd(z + 8 * c), m);
			p = _mm512_mask_sub_pd(p, _mm512_cmpeq_epi64_mask(idx, yv),
			    p, one);
			idx = _mm512_add_epi64(idx, eight);
			_mm512_storeu_pd(z + 8 * c, p);
			_mm512_storeu_pd(g + 8 * c, _mm512_add_pd(
			    _mm512_loadu_pd(g + 8 * c), p));
		}
	}
}

/* ---------------- AVX2 + FMA ----------------
 * The same operations on four lanes: a vector of eight classes is two
 * registers (lanes 0-3 and 4-7), so every sum is formed in the same order
 * as above. */

LRK_TEMPLATE(256, "avx2,fma", __m256d, __m256i, 4, 3, _mm256_loadu_pd,
    _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd,
    _mm256_sub_pd, _mm256_max_pd, _mm256_mul_pd, ZERO_LT256,
    _mm256_set1_epi64x, _mm256_add_epi64, _mm256_slli_epi64,
    _mm256_castpd_si256, _mm256_castsi256_pd)

__attribute__((target("avx2,fma"))) static void
softmax256(double *Z, int Kt, int nr, const struct mm_probe_kern_seg *s,
    const int32_t *y, double *fs, double *prod, double *gb, double *t)
{
	int nc = (s->K + 7) / 8, r, c;
	double *mx = t, *zy = t + RB, *lane = t + 2 * RB, a[4];

	for (r = 0; r < nr; r++) {
		const double *z = Z + (size_t)r * Kt + s->off;
		__m256d m0 = _mm256_loadu_pd(z), m1 = _mm256_loadu_pd(z + 4);
		for (c = 1; c < nc; c++) {
			m0 = _mm256_max_pd(m0, _mm256_loadu_pd(z + 8 * c));
			m1 = _mm256_max_pd(m1, _mm256_loadu_pd(z + 8 * c + 4));
		}
		_mm256_storeu_pd(a, _mm256_max_pd(m0, m1));
		mx[r] = a[0] > a[1] ? a[0] : a[1];
		mx[r] = a[2] > mx[r] ? a[2] : mx[r];
		mx[r] = a[3] > mx[r] ? a[3] : mx[r];
		zy[r] = z[y[r]];
	}
	for (r = 0; r < nr; r++) {
		double *z = Z + (size_t)r * Kt + s->off;
		__m256d m = _mm256_set1_pd(mx[r]), a0 = _mm256_setzero_pd();
		__m256d a1 = a0, v0, v1;
		for (c = 0; c < nc; c++) {
			v0 = exp256(_mm256_sub_pd(_mm256_loadu_pd(z + 8 * c), m));
			v1 = exp256(_mm256_sub_pd(_mm256_loadu_pd(z + 8 * c + 4),
			    m));
			a0 = _mm256_add_pd(a0, v0);
			a1 = _mm256_add_pd(a1, v1);
			_mm256_storeu_pd(z + 8 * c, v0);
			_mm256_storeu_pd(z + 8 * c + 4, v1);
		}
		_mm256_storeu_pd(lane + 8 * r, a0);
		_mm256_storeu_pd(lane + 8 * r + 4, a1);
	}
	for (r = 0; r < nr; r++) {
		double *z = Z + (size_t)r * Kt + s->off, sum = hsum8(lane + 8 * r);
		__m256d m;
		row_loss(fs, prod, mx[r], zy[r], sum);
		__m256i idx = _mm256_set_epi64x(3, 2, 1, 0);
		__m256i yv = _mm256_set1_epi64x(y[r]);
		m = _mm256_set1_pd(1.0 / sum);
		for (c = 0; c < 2 * nc; c++) {
			__m256d p = _mm256_mul_pd(_mm256_loadu_pd(z + 4 * c), m);
			__m256d hit = _mm256_castsi256_pd(_mm256_cmpeq_epi64(idx,
			    yv));
			p = _mm256_sub_pd(p, _mm256_and_pd(hit,
			    _mm256_set1_pd(1.0)));
			idx = _mm256_add_epi64(idx, _mm256_set1_epi64x(4));
			_mm256_storeu_pd(z + 4 * c, p);
			_mm256_storeu_pd(gb + s->off + 4 * c, _mm256_add_pd(
			    _mm256_loadu_pd(gb + s->off + 4 * c), p));
		}
	}
}

#endif

#ifdef MM_X86
/* o[0..) = x[0..) for the multiples of 4 below D; returns how many */
__attribute__((target("avx2"))) static int
cvt_row(double *o, const float *x, int D)
{
	int d;

	for (d = 0; d + 4 <= D; d += 4)
		_mm256_storeu_pd(o + d, _mm256_cvtps_pd(_mm_loadu_ps(x + d)));
	return d;
}

/* Block preparation: xb (RB, Dp) = rows i0..i0+nr of X in float64, zero
 * elsewhere. */
static void
load_block(double *xb, const float *X, int64_t i0, int nr, int D, int Dp)
{
	int r, d;

	for (r = 0; r < RB; r++) {
		double *o = xb + (size_t)r * Dp;
		if (r < nr) {
			const float *x = X + (i0 + r) * (int64_t)D;
			for (d = cvt_row(o, x, D); d < D; d++)
				o[d] = x[d];
			for (; d < Dp; d++)
				o[d] = 0.0;
		} else {
			memset(o, 0, sizeof(double) * Dp);
		}
	}
}

/* The kernels of one level. */
struct kernels {
	int lanes, maxv;        /* doubles per vector, vectors per tile */
	void (*panel_a)(double *, int, const double *, int, int,
	    const double *, const double *, int, int, int);
	void (*softmax)(double *, int, int, const struct mm_probe_kern_seg *,
	    const int32_t *, double *, double *, double *, double *);
	void (*panel_c)(double *, int, const double *, int, const double *,
	    int, int, int, int);
};
static const struct kernels k512 = { 8, 6, panel_a512, softmax512,
    panel_c512 };
static const struct kernels k256 = { 4, 3, panel_a256, softmax256,
    panel_c256 };
#endif

void
mm_probe_kern_eval(int level, const float *X, int64_t N, int D, int Kt,
    const double *Wt, const double *b, int np,
    const struct mm_probe_kern_seg *seg, double *f, double *Gt, double *gb,
    double *scratch)
{
	int Dp = round4(D), j;
	/* 64-byte aligned work space */
	double *xb = (double *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
	double *Z = xb + (size_t)RB * Dp;
	double *t = Z + (size_t)RB * Kt;        /* softmax's (12 RB) */
	double *prod = t + 12 * RB;             /* (np <= Kt / 8) */

	memset(Gt, 0, sizeof(double) * Dp * Kt);
	memset(gb, 0, sizeof(double) * Kt);
	for (j = 0; j < np; j++) {
		f[j] = 0.0;
		prod[j] = 1.0;
	}
#ifdef MM_X86
	{
		const struct kernels *k = level >= 2 ? &k512 : &k256;
		int V = Kt / k->lanes, w, nv, nr, nr8, r0, d0, c0;
		int64_t i0;

		/* panels of at most maxv vectors, as even as possible */
		w = (V + k->maxv - 1) / k->maxv;
		w = (V + w - 1) / w;
		for (i0 = 0; i0 < N; i0 += RB) {
			nr = N - i0 < RB ? (int)(N - i0) : RB;
			nr8 = (nr + 7) & ~7;    /* softmax512 reads up to here */
			load_block(xb, X, i0, nr, D, Dp);
			for (c0 = 0; c0 < Kt; c0 += k->lanes * nv) {
				nv = (Kt - c0) / k->lanes < w ?
				    (Kt - c0) / k->lanes : w;
				for (r0 = 0; r0 < nr8; r0 += 4)
					k->panel_a(Z, Kt, xb, Dp, D, Wt, b, r0, c0,
					    nv);
			}
			for (j = 0; j < np; j++)
				k->softmax(Z, Kt, nr, &seg[j], seg[j].y + i0,
				    &f[j], &prod[j], gb, t);
			for (c0 = 0; c0 < Kt; c0 += k->lanes * nv) {
				nv = (Kt - c0) / k->lanes < w ?
				    (Kt - c0) / k->lanes : w;
				for (d0 = 0; d0 < Dp; d0 += 4)
					k->panel_c(Gt, Kt, xb, Dp, Z, nr, d0, c0,
					    nv);
			}
		}
	}
#else
	/* no kernels in this build (mm_probe_kern_level() is 0) */
	(void)level; (void)X; (void)N; (void)Wt; (void)b; (void)seg;
#endif
	for (j = 0; j < np; j++)
		f[j] += log(prod[j]);
}
