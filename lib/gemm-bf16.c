/*
 * gemm-bf16.c - the bf16 matrix product of gemm-bf16.h: the AVX512-BF16
 * kernel, its run-time dispatch, the portable reference, and the Linear
 * layer on top.
 *
 * The AVX512-BF16 kernel packs both operands, rounded to bf16, into
 * panels of 32-bit words, each a pair of consecutive K values (k = 2p in
 * the low half, 2p + 1 in the high half), which is what vdpbf16ps
 * multiplies: each fp32 lane j of the accumulator gains a[2p+1] b[2p+1] and
 * then a[2p] b[2p].
 *   - A blocks of MC rows and KCP pairs: row i at ap + i KCP (words along
 *     p), zero rows up to a multiple of MR; the micro-kernel broadcasts
 *     one word of each of its MR rows.
 *   - B blocks of NC columns and KCP pairs in panels of NR columns: panel
 *     q at bp + q kp NR, word (p, j) at p NR + j; the micro-kernel loads
 *     NV vectors of 16 columns per pair.
 * The micro-kernel holds an MR x NR tile of C in MR NV = 24 registers
 * (the 32 zmm registers less the B vectors and the broadcast) and runs
 * over the kp pairs of a block; blocks of K follow one another in order,
 * the tile going through C between them, so each element's sum has the
 * order gemm-bf16.h defines whatever the blocking.
 * Loops (BLIS's): columns by NC, pairs by KCP (pack B), rows by MC (pack
 * A), panels of NR, tiles of MR.  The B panel (KCP NR words = 16 KiB)
 * stays in L1 while the tiles of A (MC KCP words = 60 KiB) pass from L2.
 * An operand whose K is contiguous in memory (A not transposed, B
 * transposed) lands in its panel through a 16 x 16 transpose of words.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "gemm-bf16.h"
#include "nn.h"
#include "pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include "x86-tr16.h"
#include "bf16-fma.h"
#define MM_X86 1
#endif

#define MR 12           /* rows of a C tile */
#define NV 2            /* vectors of 16 columns in a C tile */
#define NR (16 * NV)    /* columns of a C tile */
#define KCP 128         /* pairs of K in a block (256 values) */
#define MC (MR * 10)    /* rows of A in a block */
#define NC 2048         /* columns of B in a block */
#define KCPF 64         /* pairs of K in a block of the FMA kind */

/* ---- conversion ---- */

uint16_t
mm_bf16_round(float x)
{
	uint32_t u;

	memcpy(&u, &x, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return 0x7fc0;
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

float
mm_bf16_float(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float x;

	memcpy(&x, &u, sizeof x);
	return x;
}

/* ---- the portable reference ---- */

/* Below 2^-126: zero of the same sign (vdpbf16ps's DAZ and FTZ). */
static float
flush(float x)
{
	return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x;
}

/* op(A)(i, k) rounded to bf16 and flushed, 0 past K */
static float
opa(const float *A, int lda, int ta, int i, int k, int K)
{
	if (k >= K)
		return 0;
	return flush(mm_bf16_float(mm_bf16_round(ta ? A[(size_t)k * lda + i] :
	    A[(size_t)i * lda + k])));
}

void
mm_gemm_bf16_ref(int ta, int tb, int M, int N, int K, const float *A,
    int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	int i, j, k;
	float s;

	for (i = 0; i < M; i++)
		for (j = 0; j < N; j++) {
			float *c = C + (size_t)i * ldc + j;
			s = beta == 0 ? 0 : flush(beta * *c);
			for (k = 0; k < K; k += 2) {
				/* op(B)(k, j) is op(B^T)(j, k) */
				s = flush(s + opa(A, lda, ta, i, k + 1, K) *
				    opa(B, ldb, !tb, j, k + 1, K));
				s = flush(s + opa(A, lda, ta, i, k, K) *
				    opa(B, ldb, !tb, j, k, K));
			}
			*c = s;
		}
}

/* ---- dispatch ---- */

static int bf16_level = -1, bf16_max = -1;
static const char *bf16_why = "";

int
mm_bf16_level(int level)
{
	const char *s;

	if (bf16_max < 0) {
		bf16_max = 0;
		bf16_why = "mmib was built without the x86 AVX512-BF16 kernel";
#ifdef MM_X86
		unsigned a, b, c, d;
		/* AVX512_BF16 is CPUID.(EAX=7, ECX=1):EAX bit 5; the
		 * builtins also check that the OS saves the zmm state */
		bf16_why = "the CPU lacks AVX512-BF16 (vdpbf16ps)";
		if (__builtin_cpu_supports("avx512f") &&
		    __builtin_cpu_supports("avx512bw") &&
		    __builtin_cpu_supports("avx512vl") &&
		    __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 5 & 1))
			bf16_max = 1;
#endif
		bf16_level = bf16_max;
		if ((s = getenv("MMIB_BF16")) && *s == '0' && bf16_max) {
			bf16_level = 0;
			bf16_why = "AVX512-BF16 switched off (MMIB_BF16=0)";
		}
	}
	if (level == 0 && bf16_max) {
		bf16_level = 0;
		bf16_why = "AVX512-BF16 switched off";
	} else if (level > 0) {
		bf16_level = bf16_max;
	}
	return bf16_level;
}

const char *
mm_bf16_missing(void)
{
	return mm_bf16_level(-1) ? "" : bf16_why;
}

static int bf16_kind = -1;

int
mm_bf16_kernel(int k)
{
	const char *s;

	if (!mm_bf16_level(-1))
		return MM_BF16_DP;
	if (k == MM_BF16_DP || k == MM_BF16_FMA)
		bf16_kind = k;
	else if (bf16_kind < 0) {
		s = getenv("MMIB_BF16_KERNEL");
		if (s && !strcmp(s, "dp"))
			bf16_kind = MM_BF16_DP;
		else if (s && !strcmp(s, "fma"))
			bf16_kind = MM_BF16_FMA;
		else
			bf16_kind = mm_bf16_rate() < MM_BF16_SLOW ?
			    MM_BF16_FMA : MM_BF16_DP;
	}
	return bf16_kind;
}

const char *
mm_bf16_kernel_name(void)
{
	return mm_bf16_kernel(-1) == MM_BF16_FMA ? "fp32 FMA" : "vdpbf16ps";
}

static int
min(int a, int b)
{
	return a < b ? a : b;
}

static int
roundup(int a, int m)
{
	return (a + m - 1) / m * m;
}

size_t
mm_gemm_bf16_scratch(int M, int N, int K)
{
	int mcw = min(roundup(M > 0 ? M : 1, MR), MC);
	int ncw = min(roundup(N > 0 ? N : 1, NR), NC);
	int kp = min((K + 1) / 2 > 0 ? (K + 1) / 2 : 1, KCP);

	/* A rows at a fixed stride of KCP words (2 KCP floats for the FMA
	 * kind); 64 bytes to align */
	return ((size_t)mcw * KCP + (size_t)ncw * kp) * 8 + 64;
}

#ifdef MM_X86
#define TGT "avx512bf16,avx512f,avx512bw,avx512vl"

/* 16 lanes of x rounded to bf16 (in the low 16 bits of each lane) */
static inline __attribute__((always_inline, target(TGT))) __m512i
round16(__m512 x)
{
	__m512i u = _mm512_castps_si512(x);
	__m512i r = _mm512_add_epi32(u, _mm512_add_epi32(
	    _mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u,
	    16), _mm512_set1_epi32(1))));
	__mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);

	r = _mm512_srli_epi32(r, 16);
	return _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7fc0));
}

/* words from two rows of K: lo holds the k = 2p values, hi k = 2p + 1 */
static inline __attribute__((always_inline, target(TGT))) __m512i
words_rows(__m512 lo, __m512 hi)
{
	return _mm512_or_si512(round16(lo), _mm512_slli_epi32(round16(hi),
	    16));
}

/* 16 words from 32 consecutive values of K (x0: k 0..15, x1: 16..31) */
static inline __attribute__((always_inline, target(TGT))) __m512i
words_along(__m512 x0, __m512 x1)
{
	__m256i h0 = _mm512_cvtepi32_epi16(round16(x0));
	__m256i h1 = _mm512_cvtepi32_epi16(round16(x1));

	return _mm512_inserti64x4(_mm512_castsi256_si512(h0), h1, 1);
}

/* mask of the first n (<= 16, may be <= 0) lanes */
static inline __mmask16
lanes(int n)
{
	return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* 16 words of pairs p0 .. p0 + 15 of a row whose K is contiguous (x
 * points at k = 2 p0; nk values are left in the row) */
static inline __attribute__((always_inline, target(TGT))) __m512i
load_along(const float *x, int nk)
{
	return words_along(_mm512_maskz_loadu_ps(lanes(nk), x),
	    _mm512_maskz_loadu_ps(lanes(nk - 16), x + 16));
}

/*
 * Pack op(A) rows i0 .. i0 + mc - 1 and pairs p0 .. p0 + kp - 1 into ap
 * (row i at ap + i KCP), rows up to a multiple of MR zero.
 */
static __attribute__((target(TGT))) void
pack_a(uint32_t *ap, const float *A, int lda, int ta, int i0, int mc,
    int p0, int kp, int K)
{
	int mcp = roundup(mc, MR), i, p, q, k = 2 * p0;
	__m512i r[16];

	if (!ta) {
		/* K contiguous: the words of a row are in place */
		for (i = 0; i < mcp; i++)
			for (p = 0; p < kp; p += 16) {
				__m512i w = _mm512_setzero_si512();
				if (i < mc)
					w = load_along(A + (size_t)(i0 + i) *
					    lda + k + 2 * p, K - k - 2 * p);
				_mm512_storeu_si512(ap + (size_t)i * KCP + p,
				    w);
			}
		return;
	}
	/* A stored (K, M): words along i for each p, transposed in 16 x 16
	 * tiles */
	for (i = 0; i < mcp; i += 16)
		for (p = 0; p < kp; p += 16) {
			__mmask16 mi = lanes(mc - i);
#pragma GCC unroll 16
			for (q = 0; q < 16; q++) {
				int kk = k + 2 * (p + q);
				const float *x = A + (size_t)kk * lda + i0 + i;
				__m512 lo = _mm512_setzero_ps(), hi = lo;
				if (kk < K)
					lo = _mm512_maskz_loadu_ps(mi, x);
				if (kk + 1 < K)
					hi = _mm512_maskz_loadu_ps(mi, x + lda);
				r[q] = words_rows(lo, hi);
			}
			mm_tr16(r);
			for (q = 0; q < 16 && i + q < mcp; q++)
				_mm512_storeu_si512(ap + (size_t)(i + q) * KCP +
				    p, r[q]);
		}
}

/*
 * Pack op(B) columns j0 .. j0 + nc - 1 and pairs p0 .. p0 + kp - 1 into
 * panels of NR columns (zero past nc): word (p, j) of panel q at
 * bp + q kp NR + p NR + j.
 */
static __attribute__((target(TGT))) void
pack_b(uint32_t *bp, const float *B, int ldb, int tb, int j0, int nc,
    int p0, int kp, int K)
{
	int ncp = roundup(nc, NR), j, p, q, k = 2 * p0;
	__m512i r[16];

	if (!tb) {
		/* B stored (K, N): rows 2p and 2p + 1 interleave */
		for (p = 0; p < kp; p++) {
			int kk = k + 2 * p;
			const float *x = B + (size_t)kk * ldb + j0;
			for (j = 0; j < ncp; j += 16) {
				__mmask16 mj = lanes(nc - j);
				__m512 lo = _mm512_maskz_loadu_ps(mj, x + j);
				__m512 hi = _mm512_setzero_ps();
				if (kk + 1 < K)
					hi = _mm512_maskz_loadu_ps(mj, x + ldb +
					    j);
				_mm512_storeu_si512(bp + (size_t)(j / NR) *
				    kp * NR + (size_t)p * NR + j % NR,
				    words_rows(lo, hi));
			}
		}
		return;
	}
	/* B stored (N, K): words along p for each column, transposed */
	for (j = 0; j < ncp; j += 16)
		for (p = 0; p < kp; p += 16) {
			uint32_t *d = bp + (size_t)(j / NR) * kp * NR + j % NR;
#pragma GCC unroll 16
			for (q = 0; q < 16; q++) {
				r[q] = _mm512_setzero_si512();
				if (j + q < nc)
					r[q] = load_along(B + (size_t)(j0 + j +
					    q) * ldb + k + 2 * p,
					    K - k - 2 * p);
			}
			mm_tr16(r);
			for (q = 0; q < 16 && p + q < kp; q++)
				_mm512_storeu_si512(d + (size_t)(p + q) * NR,
				    r[q]);
		}
}

/*
 * The micro-kernel: the C tile (mr <= MR rows, nr <= NR columns, row
 * stride ldc) = start + the kp pairs of ap (MR rows, stride KCP) and bp
 * (kp x NR), start being 0 (mode 0), C (1) or beta C (2).  F (the FMA
 * kind, below): ap and bp hold floats, A rows at a stride of 2 KCPF,
 * pair p of B as rows 2p and 2p + 1; each pair two FMAs (mm_dpf()).
 */
static inline __attribute__((always_inline, target(TGT))) void
tile(int kp, const void *ap, const void *bp, float *c, int ldc, int mr,
    int nr, int mode, float beta, const int F)
{
	const uint32_t *aw = ap, *bw = bp;
	const float *af = ap, *bf = bp;
	__m512 acc[MR][NV], bh[NV], bl[NV];
	__m512i b[NV], a;
	__mmask16 m[NV];
	int i, v, p;

#pragma GCC unroll 4
	for (v = 0; v < NV; v++)
		m[v] = lanes(nr - 16 * v);
#pragma GCC unroll 16
	for (i = 0; i < MR; i++)
#pragma GCC unroll 4
		for (v = 0; v < NV; v++) {
			acc[i][v] = _mm512_setzero_ps();
			if (mode && i < mr)
				acc[i][v] = _mm512_maskz_loadu_ps(m[v], c +
				    (size_t)i * ldc + 16 * v);
			if (mode == 2)
				acc[i][v] = _mm512_mul_ps(acc[i][v],
				    _mm512_set1_ps(beta));
		}
	for (p = 0; p < kp && F; p++) {
#pragma GCC unroll 4
		for (v = 0; v < NV; v++) {
			bh[v] = _mm512_loadu_ps(bf + (size_t)(2 * p + 1) * NR +
			    16 * v);
			bl[v] = _mm512_loadu_ps(bf + (size_t)2 * p * NR +
			    16 * v);
		}
#pragma GCC unroll 16
		for (i = 0; i < MR; i++) {
			const float *e = af + (size_t)i * 2 * KCPF + 2 * p;
			__m512 ah = _mm512_set1_ps(e[1]), al = _mm512_set1_ps(e[0]);
#pragma GCC unroll 4
			for (v = 0; v < NV; v++)
				acc[i][v] = mm_dpf(acc[i][v], ah, bh[v], al,
				    bl[v]);
		}
	}
	for (p = 0; p < kp && !F; p++) {
#pragma GCC unroll 4
		for (v = 0; v < NV; v++)
			b[v] = _mm512_loadu_si512(bw + (size_t)p * NR + 16 * v);
#pragma GCC unroll 16
		for (i = 0; i < MR; i++) {
			a = _mm512_set1_epi32((int)aw[i * KCP + p]);
#pragma GCC unroll 4
			for (v = 0; v < NV; v++)
				acc[i][v] = _mm512_dpbf16_ps(acc[i][v],
				    (__m512bh)a, (__m512bh)b[v]);
		}
	}
#pragma GCC unroll 16
	for (i = 0; i < MR; i++) {
		if (i >= mr)
			break;
#pragma GCC unroll 4
		for (v = 0; v < NV; v++)
			_mm512_mask_storeu_ps(c + (size_t)i * ldc + 16 * v,
			    m[v], acc[i][v]);
	}
}

static __attribute__((target(TGT))) void
kernel(int kp, const uint32_t *ap, const uint32_t *bp, float *c, int ldc,
    int mr, int nr, int mode, float beta)
{
	tile(kp, ap, bp, c, ldc, mr, nr, mode, beta, 0);
}

static __attribute__((target(TGT))) void
kernel_f(int kp, const float *ap, const float *bp, float *c, int ldc,
    int mr, int nr, int mode, float beta)
{
	tile(kp, ap, bp, c, ldc, mr, nr, mode, beta, 1);
}

/*
 * The FMA kind (mm_bf16_kernel()): the same blocking on panels of the bf16
 * values widened to fp32, K in its own order (k = 2p + h at 2p + h), in
 * blocks of KCPF pairs (the panels' bytes of KCP words): A row i at
 * ap + 2 i KCPF, B panel q at bp + 2 q kp NR with row k at k NR.  The
 * micro-kernel (tile()) adds the products of k = 2p + 1 and then of
 * k = 2p, each with one FMA: a pair's two halves of vdpbf16ps.
 */

/* x rounded to bf16 (as in the words) and widened back to fp32 */
static inline __attribute__((always_inline, target(TGT))) __m512
wide16(__m512 x)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(round16(x), 16));
}

static __attribute__((target(TGT))) void
pack_a_f(float *ap, const float *A, int lda, int ta, int i0, int mc,
    int p0, int kp, int K)
{
	int mcp = roundup(mc, MR), i, kk, q, k = 2 * p0;
	__m512i r[16];

	if (!ta) {
		for (i = 0; i < mcp; i++)
			for (kk = 0; kk < 2 * kp; kk += 16) {
				__m512 v = _mm512_setzero_ps();
				if (i < mc)
					v = wide16(_mm512_maskz_loadu_ps(lanes(K -
					    k - kk), A + (size_t)(i0 + i) * lda +
					    k + kk));
				_mm512_storeu_ps(ap + (size_t)i * 2 * KCPF + kk,
				    v);
			}
		return;
	}
	/* A stored (K, M): rows of K transposed in 16 x 16 tiles */
	for (i = 0; i < mcp; i += 16)
		for (kk = 0; kk < 2 * kp; kk += 16) {
			__mmask16 mi = lanes(mc - i);
#pragma GCC unroll 16
			for (q = 0; q < 16; q++) {
				r[q] = _mm512_setzero_si512();
				if (k + kk + q < K)
					r[q] = _mm512_castps_si512(wide16(
					    _mm512_maskz_loadu_ps(mi, A +
					    (size_t)(k + kk + q) * lda + i0 + i)));
			}
			mm_tr16(r);
			for (q = 0; q < 16 && i + q < mcp; q++)
				_mm512_storeu_si512(ap + (size_t)(i + q) * 2 *
				    KCPF + kk, r[q]);
		}
}

static __attribute__((target(TGT))) void
pack_b_f(float *bp, const float *B, int ldb, int tb, int j0, int nc,
    int p0, int kp, int K)
{
	int ncp = roundup(nc, NR), j, kk, q, k = 2 * p0;
	size_t ps = (size_t)2 * kp * NR;      /* floats of a panel */
	__m512i r[16];

	if (!tb) {
		/* B stored (K, N): its rows in place */
		for (kk = 0; kk < 2 * kp; kk++) {
			const float *x = B + (size_t)(k + kk) * ldb + j0;
			for (j = 0; j < ncp; j += 16) {
				__m512 v = _mm512_setzero_ps();
				if (k + kk < K)
					v = wide16(_mm512_maskz_loadu_ps(
					    lanes(nc - j), x + j));
				_mm512_storeu_ps(bp + (size_t)(j / NR) * ps +
				    (size_t)kk * NR + j % NR, v);
			}
		}
		return;
	}
	/* B stored (N, K): each column's K transposed into rows */
	for (j = 0; j < ncp; j += 16)
		for (kk = 0; kk < 2 * kp; kk += 16) {
			float *d = bp + (size_t)(j / NR) * ps + j % NR;
#pragma GCC unroll 16
			for (q = 0; q < 16; q++) {
				r[q] = _mm512_setzero_si512();
				if (j + q < nc)
					r[q] = _mm512_castps_si512(wide16(
					    _mm512_maskz_loadu_ps(lanes(K - k -
					    kk), B + (size_t)(j0 + j + q) * ldb +
					    k + kk)));
			}
			mm_tr16(r);
			for (q = 0; q < 16 && kk + q < 2 * kp; q++)
				_mm512_storeu_si512(d + (size_t)(kk + q) * NR,
				    r[q]);
		}
}

static void
gemm_x86(int ta, int tb, int M, int N, int K, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc, uint32_t *ap,
    uint32_t *bp, int fma)
{
	int P = (K + 1) / 2, jc, pc, ic, jr, ir, nc, kp, mc, mode;
	int kcp = fma ? KCPF : KCP;
	float *af = (float *)ap, *bf = (float *)bp;

	for (jc = 0; jc < N; jc += NC) {
		nc = min(NC, N - jc);
		for (pc = 0; pc < P || (pc == 0 && P == 0); pc += kcp) {
			kp = min(kcp, P - pc);
			/* the first block starts from 0 or beta C */
			mode = pc > 0 ? 1 : beta == 0 ? 0 : beta == 1 ? 1 : 2;
			if (kp <= 0) {
				/* K = 0: C = beta C */
				for (ic = 0; ic < M; ic++)
					for (jr = 0; jr < nc; jr++) {
						float *c = C + (size_t)ic *
						    ldc + jc + jr;
						*c = beta == 0 ? 0 : flush(beta * *c);
					}
				break;
			}
			if (fma) {
				pack_b_f(bf, B, ldb, tb, jc, nc, pc, kp, K);
				for (ic = 0; ic < M; ic += MC) {
					mc = min(MC, M - ic);
					pack_a_f(af, A, lda, ta, ic, mc, pc, kp,
					    K);
					for (jr = 0; jr < nc; jr += NR)
						for (ir = 0; ir < mc; ir += MR)
							kernel_f(kp, af + (size_t)ir *
							    2 * KCPF, bf + (size_t)jr *
							    2 * kp, C + (size_t)(ic +
							    ir) * ldc + jc + jr, ldc,
							    min(MR, mc - ir),
							    min(NR, nc - jr), mode,
							    beta);
				}
				continue;
			}
			pack_b(bp, B, ldb, tb, jc, nc, pc, kp, K);
			for (ic = 0; ic < M; ic += MC) {
				mc = min(MC, M - ic);
				pack_a(ap, A, lda, ta, ic, mc, pc, kp, K);
				for (jr = 0; jr < nc; jr += NR)
					for (ir = 0; ir < mc; ir += MR)
						kernel(kp, ap + (size_t)ir * KCP,
						    bp + (size_t)jr * kp, C +
						    (size_t)(ic + ir) * ldc +
						    jc + jr, ldc,
						    min(MR, mc - ir),
						    min(NR, nc - jr), mode,
						    beta);
			}
		}
	}
}

/* ---- the instruction's rate against fp32's ---- */

/* Seconds for n rounds of 12 independent chains of vdpbf16ps (bf) or of
 * vfmadd231ps on zmm registers: throughput, not latency, bound. */
static __attribute__((target(TGT), noinline)) double
chains(int bf, long n)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
	__m512 a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0;
	__m512 a11 = a0, x = _mm512_set1_ps(1e-3f);
	__m512bh h = (__m512bh)_mm512_set1_epi32(0x3a833a83);
	struct timespec t0, t1;
	long i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
#define C12(OP) OP(a0); OP(a1); OP(a2); OP(a3); OP(a4); OP(a5); OP(a6); \
	OP(a7); OP(a8); OP(a9); OP(a10); OP(a11)
#define DP(a) a = _mm512_dpbf16_ps(a, h, h)
#define FM(a) a = _mm512_fmadd_ps(x, x, a)
	if (bf)
		for (i = 0; i < n; i++) {
			C12(DP);
			__asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2),
			    "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
			    "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
		}
	else
		for (i = 0; i < n; i++) {
			C12(FM);
			__asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2),
			    "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
			    "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
		}
#undef C12
#undef DP
#undef FM
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec -
	    t0.tv_nsec);
}
#endif

static double bf16_rate;
static pthread_once_t rate_once = PTHREAD_ONCE_INIT;

static void
measure_rate(void)
{
#ifdef MM_X86
	double tb = 1e30, tf = 1e30, t;
	int r;

	mm_bf16_level(-1);
	if (!bf16_max)
		return;
	/* the best of five alternating rounds of about 0.2 ms each (a
	 * vdpbf16ps does 32 multiply-adds, an FMA 16) */
	for (r = 0; r < 5; r++) {
		if ((t = chains(0, 20000)) < tf)
			tf = t;
		if ((t = chains(1, 20000)) < tb)
			tb = t;
	}
	if (tb > 0 && tf > 0)
		bf16_rate = 2.0 * tf / tb;
#endif
}

double
mm_bf16_rate(void)
{
	pthread_once(&rate_once, measure_rate);
	return mm_bf16_level(-1) ? bf16_rate : 0.0;
}

/* the arguments' errors of mm_gemm_bf16() */
static int
check(int ta, int tb, int M, int N, int K, int lda, int ldb, int ldc)
{
	if (M < 0 || N < 0 || K < 0 || ldc < (N > 1 ? N : 1) ||
	    lda < ((ta ? M : K) > 1 ? (ta ? M : K) : 1) ||
	    ldb < ((tb ? K : N) > 1 ? (tb ? K : N) : 1))
		return mm_err(MM_EINVAL, "bf16 product %dx%dx%d: bad size or "
		    "stride", M, N, K);
	if (!mm_bf16_level(-1))
		return mm_err(MM_EUNSUP, "bf16 product: %s", bf16_why);
	/* the kind chosen here, on the caller's thread, before any worker
	 * of mm_gemm_bf16_pool() asks */
	mm_bf16_kernel(-1);
	return 0;
}

int
mm_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A, int lda,
    const float *B, int ldb, float beta, float *C, int ldc, void *scratch)
{
	void *own = NULL;
	int rc = 0;

	if ((rc = check(ta, tb, M, N, K, lda, ldb, ldc)) < 0)
		return rc;
	if (M == 0 || N == 0)
		return 0;
#ifdef MM_X86
	if (!scratch) {
		if (!(own = malloc(mm_gemm_bf16_scratch(M, N, K))))
			return mm_err(MM_ENOMEM, "bf16 product: out of memory");
		scratch = own;
	}
	{
		/* 64-byte aligned panels: A first, then B */
		uintptr_t s = ((uintptr_t)scratch + 63) & ~(uintptr_t)63;
		uint32_t *ap = (uint32_t *)s;
		int mcw = min(roundup(M, MR), MC);
		unsigned csr;

		if (mm_bf16_kernel(-1) == MM_BF16_FMA) {
			csr = mm_ftz_daz();
			gemm_x86(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc,
			    ap, ap + (size_t)mcw * 2 * KCPF, 1);
			_mm_setcsr(csr);
		} else
			gemm_x86(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc,
			    ap, ap + (size_t)mcw * KCP, 0);
	}
#else
	(void)A; (void)B; (void)C; (void)beta;
	rc = mm_err(MM_EUNSUP, "bf16 product: %s", bf16_why);
#endif
	free(own);
	return rc;
}

/* ---- cut over threads ---- */

struct bjob {
	struct mm_gemm_args g;  /* the whole product */
	int width, S, next, rc;
	float beta;
	char *scratch;
	size_t each;
	struct mm_pool *pool;
};

/* Slice s (mm_gemm_narrow()) on thread tid's scratch */
static void
brun(void *arg, int tid)
{
	struct bjob *j = arg;
	struct mm_gemm_args a;
	int s, rc;

	while ((s = mm_pool_next(j->pool, &j->next)) < j->S) {
		a = j->g;
		mm_gemm_narrow(&a, s, j->width);
		rc = mm_gemm_bf16(a.ta, a.tb, a.M, a.N, a.K, a.A, a.lda, a.B,
		    a.ldb, j->beta, a.C, a.ldc, j->scratch ? j->scratch +
		    (size_t)tid * j->each : NULL);
		if (rc < 0)
			j->rc = rc;     /* every failure is the same kind */
	}
}

int
mm_gemm_bf16_pool(struct mm_pool *pool, int ta, int tb, int M, int N,
    int K, const float *A, int lda, const float *B, int ldb, float beta,
    float *C, int ldc, void *scratch, size_t each)
{
	struct bjob j = { { ta, tb, M, N, K, lda, ldb, ldc, A, B, C }, 0, 0,
	    0, 0, beta, scratch, each, pool };
	int rc;

	if ((rc = check(ta, tb, M, N, K, lda, ldb, ldc)) < 0)
		return rc;
	if (M < 1 || N < 1 || !pool ||
	    (j.S = mm_gemm_cut(M, N, K, &j.width)) == 1)
		return mm_gemm_bf16(ta, tb, M, N, K, A, lda, B, ldb, beta, C,
		    ldc, scratch);
	mm_pool_run(pool, brun, &j);
	return j.rc;
}

/* ---- the Linear layer ---- */

size_t
mm_linear_bf16_scratch(int N, int Din, int Dout)
{
	size_t a = mm_gemm_bf16_scratch(N, Dout, Din);
	size_t b = mm_gemm_bf16_scratch(N, Din, Dout);
	size_t c = mm_gemm_bf16_scratch(Dout, Din, N);

	return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

int
mm_linear_forward_bf16(float *out, const float *inp, const float *w,
    const float *b, int N, int Din, int Dout, void *scratch)
{
	return mm_linear_forward_bf16_pool(NULL, out, inp, w, b, N, Din, Dout,
	    scratch, 0);
}

int
mm_linear_backward_bf16(float *dinp, float *dw, float *db, const float *dout,
    const float *inp, const float *w, int N, int Din, int Dout, void *scratch)
{
	return mm_linear_backward_bf16_pool(NULL, dinp, dw, db, dout, inp, w, N,
	    Din, Dout, scratch, 0);
}

int
mm_linear_forward_bf16_pool(struct mm_pool *pool, float *out,
    const float *inp, const float *w, const float *b, int N, int Din,
    int Dout, void *scratch, size_t each)
{
	int n;

	if (b)
		for (n = 0; n < N; n++)
			memcpy(out + (size_t)n * Dout, b, Dout * sizeof *b);
	/* out (N, Dout) (+)= inp (N, Din) w^T, w stored (Dout, Din) */
	return mm_gemm_bf16_pool(pool, 0, 1, N, Dout, Din, inp, Din, w, Din,
	    b ? 1.0f : 0.0f, out, Dout, scratch, each);
}

int
mm_linear_backward_bf16_pool(struct mm_pool *pool, float *dinp, float *dw,
    float *db, const float *dout, const float *inp, const float *w, int N,
    int Din, int Dout, void *scratch, size_t each)
{
	int n, o, rc;

	/* dinp (N, Din) += dout (N, Dout) w (Dout, Din) */
	if (dinp && (rc = mm_gemm_bf16_pool(pool, 0, 0, N, Din, Dout, dout,
	    Dout, w, Din, 1.0f, dinp, Din, scratch, each)) < 0)
		return rc;
	/* dw (Dout, Din) += dout^T (dout stored (N, Dout)) inp (N, Din) */
	if ((rc = mm_gemm_bf16_pool(pool, 1, 0, Dout, Din, N, dout, Dout, inp,
	    Din, 1.0f, dw, Din, scratch, each)) < 0)
		return rc;
	if (db)
		for (n = 0; n < N; n++)
			for (o = 0; o < Dout; o++)
				db[o] += dout[(size_t)n * Dout + o];
	return 0;
}
