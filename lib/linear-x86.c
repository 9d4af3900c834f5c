/*
 * linear-x86.c - the evaluation forward of linear-x86.h.
 *
 * Layout: the input is packed once per call, transposed into panels of
 * NB = 32 rows: panel j holds, for each k, inp[32 j + q][k] at q = 0..31
 * (rows past N are zeros).  The result goes to yt (Dout rounded up to
 * OB, Np) - out transposed - whose row o starts at b[o]; the tiles add
 * into it; a last pass writes yt back into out (N, Dout).  Both
 * transposes go 16 x 16 blocks at a time through registers (mm_tr16).
 * The epilogue (mm_linear_epi) applies on the way back, to each row of
 * yt (one output) before its block is transposed: a folded BatchNorm and
 * ReLU cost no pass of their own over out.
 *
 * Prefetch: the weights are read from memory once per call (up to 200 MB
 * for a first layer of 12288 x 4096), in pieces of 12 rows by KB values
 * that the hardware prefetchers cannot foresee.  While a tile works on
 * the first panel of one piece it prefetches the next piece (the next
 * rows of its item at the same k, or the item's first rows at the next
 * k block), one line per k: 2-3 % on the large layers of mlp-flatten.
 *
 * The AVX-512F tile: OB = 12 rows of w by the 32 rows of a panel, 24
 * zmm accumulators; per k it loads the panel's two vectors and
 * broadcasts one weight of each of its 12 rows (w[o][k]: 12 streams
 * along the rows of w), 24 FMAs.  Blocks of KB values of k keep the
 * panel's part in L1 (KB 32 floats = 32 KiB) while the 12 rows' part,
 * the piece (12 KiB), is reused across the panels.  The piece is read in
 * place, unless its rows crowd one set of the L1 (rows a multiple of
 * 4 KiB apart: every layer of mlp-flatten, 1024 to 12288 wide): 12 lines
 * per k on 8 ways evict each other before their next 15 values are
 * read, and the prefetched next piece lands on the same sets.  Then each
 * piece is first copied into a block of its own (rows KB floats apart,
 * each read once, in order), and the tiles read the copy: 7-35 % faster
 * on those layers on a Zen 4 (same bits; the copy costs ~3 % where rows
 * do not crowd, so it is not made there).  Work items are groups of
 * OITEM rows of w, shared over the pool with mm_pool_next(); each out
 * element is computed by one tile sequence in k order, so neither the
 * item sizes nor the threads change a bit.
 *
 * The AVX2 + FMA level keeps the layout, blocks and items and halves the
 * tile: 6 rows of w by 16 rows of a panel (each panel in two halves), 12
 * ymm accumulators, 2 vector loads and 6 broadcasts for 12 FMAs per k
 * (6 rows never crowd an 8-way set: its pieces are read in place;
 * copied, they ran from 5 % slower to 3 % faster on the Zen 4).  Its
 * element sums are the same fmaf chains, so both levels give the same
 * bits.  Its transposes go 8 x 8 blocks at a time through registers.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv.h"
#include "linear-x86.h"
#include "pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include "x86-tr16.h"
#define MM_X86 1
#endif

#define NB 32           /* rows of inp in a panel (two zmm vectors) */
#define OB 12           /* rows of w in a tile (AVX-512F; AVX2: OB / 2) */
#define KB 256          /* values of k in a block */
#define OITEM (OB * 8)  /* rows of w in a work item */

static size_t
roundup(size_t a, size_t m)
{
	return (a + m - 1) / m * m;
}

int
mm_linear_eval_ok(void)
{
#ifdef MM_X86
	return mm_nn_simd(-1) >= 1;
#else
	return 0;
#endif
}

size_t
mm_linear_eval_scratch(int N, int Din, int Dout)
{
	size_t np = roundup(N > 0 ? N : 1, NB);

	return np * (size_t)Din + np * roundup(Dout > 0 ? Dout : 1, OB) + 16;
}

void
mm_linear_eval_ref(float *out, const float *inp, const float *w,
    const float *b, int N, int Din, int Dout)
{
	int n, o, k;
	float s;

	for (n = 0; n < N; n++)
		for (o = 0; o < Dout; o++) {
			s = b ? b[o] : 0.0f;
			for (k = 0; k < Din; k++)
				s = fmaf(inp[(size_t)n * Din + k],
				    w[(size_t)o * Din + k], s);
			out[(size_t)n * Dout + o] = s;
		}
}

/* v of output o after epi (not NULL) */
static float
epi1(float v, const struct mm_linear_epi *epi, int o)
{
	if (epi->scale)
		v = v * epi->scale[o] + epi->shift[o];
	return epi->relu ? (v > 0 ? v : 0) : v;
}

/* the reference with epi (may be NULL) applied to each element */
static void
eval_ref_epi(float *out, const float *inp, const float *w, const float *b,
    int N, int Din, int Dout, const struct mm_linear_epi *epi)
{
	size_t i, n = (size_t)N * Dout;

	mm_linear_eval_ref(out, inp, w, b, N, Din, Dout);
	for (i = 0; epi && i < n; i++)
		out[i] = epi1(out[i], epi, (int)(i % (size_t)Dout));
}

/* One level's kernels: the tile adds into c (ob rows of ldc, cols
 * columns) the rows w[r][0..kc) times the panel part xp (kc, NB apart). */
struct level {
	void (*pack)(float *xt, const float *inp, int N, int Din, int Np);
	void (*tile)(float *c, size_t ldc, const float *const *w,
	    const float *xp, int kc, const float *const *pf);
	void (*unpack)(float *out, const float *yt, int N, int Np, int Dout,
	    int o0, int o1, const struct mm_linear_epi *epi);
	int ob, cols;
};

struct job {
	const struct level *lv;
	const struct mm_linear_epi *epi;
	const float *w, *b;
	float *out, *xt, *yt;
	int N, Np, Din, Dout, items, next, copy;
	struct mm_pool *pool;
};

#ifdef MM_X86

/*
 * The tile of each level, written once over its vector type VT, its
 * intrinsics VP(op) (_mm512_op_ps, _mm256_op_ps) and its width VL, all
 * defined before each tile: ROW(r) adds w_r[p] times the panel's two
 * vectors x0, x1 to row r's accumulator pair; LOAD and STORE move the
 * pair from and to c, and LOAD names the row's weights w_r.
 */
#define ROW(r) do { \
	VT b_ = VP(set1)(w##r[p]); \
	a##r##0 = VP(fmadd)(b_, x0, a##r##0); \
	a##r##1 = VP(fmadd)(b_, x1, a##r##1); \
} while (0)
#define LOAD(r) \
	VT a##r##0 = VP(load)(c + (size_t)(r) * ldc), \
	    a##r##1 = VP(load)(c + (size_t)(r) * ldc + VL); \
	const float *w##r = w[r]
#define STORE(r) do { \
	VP(store)(c + (size_t)(r) * ldc, a##r##0); \
	VP(store)(c + (size_t)(r) * ldc + VL, a##r##1); \
} while (0)
/* the next piece's line number p (one per k, up to 16 a row: KB / 16) */
#define PREFETCH(pf, p) \
	_mm_prefetch((const char *)((pf)[(p) >> 4] + ((p) & 15) * 16), \
	    _MM_HINT_T0)
/* the panel's two vectors at k = p */
#define PANEL() \
	VT x0 = VP(load)(xp + (size_t)NB * p), \
	    x1 = VP(load)(xp + (size_t)NB * p + VL)

#define VT __m512
#define VP(op) _mm512_##op##_ps
#define VL 16
/* c (12 rows of ldc) += the 12 rows w[r][0..kc) times the panel part
 * xp (kc, 32); with pf, the first 12 KB / 16 lines of the rows pf[0..12)
 * prefetched on the way */
__attribute__((target("avx512f"))) static void
tile_512(float *c, size_t ldc, const float *const *w, const float *xp, int kc,
    const float *const *pf)
{
	LOAD(0); LOAD(1); LOAD(2); LOAD(3); LOAD(4); LOAD(5);
	LOAD(6); LOAD(7); LOAD(8); LOAD(9); LOAD(10); LOAD(11);
	int p = 0, pe = pf ? (kc < OB * KB / 16 ? kc : OB * KB / 16) : 0;

	for (; p < pe; p++) {
		PANEL();

		PREFETCH(pf, p);
		ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
		ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11);
	}
	for (; p < kc; p++) {
		PANEL();

		ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
		ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11);
	}
	STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5);
	STORE(6); STORE(7); STORE(8); STORE(9); STORE(10); STORE(11);
}
#undef VT
#undef VP
#undef VL

/* xt, panels of NB rows: for each k the rows n0 .. n0 + NB - 1 of inp
 * (zeros past N), 16 by 16 through mm_tr16 */
__attribute__((target("avx512f"))) static void
pack_512(float *xt, const float *inp, int N, int Din, int Np)
{
	__m512i r[16];
	int n0, h, k0, q, m, kc;

	for (n0 = 0; n0 < Np; n0 += NB)
		for (h = 0; h < NB; h += 16)
			for (k0 = 0; k0 < Din; k0 += 16) {
				kc = Din - k0 < 16 ? Din - k0 : 16;
				for (q = 0; q < 16; q++)
					r[q] = n0 + h + q < N ?
					    _mm512_maskz_loadu_epi32((__mmask16)
					    ((1u << kc) - 1), inp + (size_t)
					    (n0 + h + q) * Din + k0) :
					    _mm512_setzero_si512();
				mm_tr16(r);
				for (m = 0; m < kc; m++)
					_mm512_store_si512(xt + (size_t)n0 *
					    Din + (size_t)(k0 + m) * NB + h,
					    r[m]);
			}
}

/* the 16 values of output o in v after epi (not NULL): epi1() lane by
 * lane (no contraction: a product, then a sum) */
static inline __attribute__((always_inline, target("avx512f"))) __m512i
epi_512(__m512i v, const struct mm_linear_epi *epi, int o)
{
	__m512 f = _mm512_castsi512_ps(v);

	if (epi->scale)
		f = _mm512_add_ps(_mm512_mul_ps(f, _mm512_set1_ps(
		    epi->scale[o])), _mm512_set1_ps(epi->shift[o]));
	if (epi->relu)
		f = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(f,
		    _mm512_setzero_ps(), _CMP_GT_OQ), f);
	return _mm512_castps_si512(f);
}

/* out (N, Dout), columns o0 .. o1 - 1, from the rows o0 .. of yt (Np
 * apart) after epi (may be NULL), 16 by 16 through mm_tr16 */
__attribute__((target("avx512f"))) static void
unpack_512(float *out, const float *yt, int N, int Np, int Dout, int o0,
    int o1, const struct mm_linear_epi *epi)
{
	__m512i r[16];
	int o, n0, q, oc;

	for (o = o0; o < o1; o += 16) {
		oc = o1 - o < 16 ? o1 - o : 16;
		for (n0 = 0; n0 < N; n0 += 16) {
			for (q = 0; q < 16; q++)
				r[q] = q < oc ? _mm512_load_si512(yt + (size_t)
				    (o + q) * Np + n0) : _mm512_setzero_si512();
			for (q = 0; epi && q < oc; q++)
				r[q] = epi_512(r[q], epi, o + q);
			mm_tr16(r);
			for (q = 0; q < 16 && n0 + q < N; q++)
				_mm512_mask_storeu_epi32(out + (size_t)(n0 +
				    q) * Dout + o, (__mmask16)((1u << oc) - 1),
				    r[q]);
		}
	}
}

/* ---- AVX2 + FMA ---- */

#define VT __m256
#define VP(op) _mm256_##op##_ps
#define VL 8

/* c (6 rows of ldc, 16 columns) += the 6 rows w[r][0..kc) times half a
 * panel part xp (kc, NB apart, 16 wide), prefetching as tile_512() does */
__attribute__((target("avx2,fma"))) static void
tile_256(float *c, size_t ldc, const float *const *w, const float *xp, int kc,
    const float *const *pf)
{
	LOAD(0); LOAD(1); LOAD(2); LOAD(3); LOAD(4); LOAD(5);
	int p = 0, pe = pf ? (kc < OB / 2 * KB / 16 ? kc : OB / 2 * KB / 16) :
	    0;

	for (; p < pe; p++) {
		PANEL();

		PREFETCH(pf, p);
		ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
	}
	for (; p < kc; p++) {
		PANEL();

		ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
	}
	STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5);
}
#undef VT
#undef VP
#undef VL

/* an 8 x 8 transpose in registers: r[a] lane b goes to r[b] lane a */
static inline __attribute__((always_inline, target("avx2,fma"))) void
tr8(__m256 r[8])
{
	__m256 t[8], u[8];
	int i;

#pragma GCC unroll 4
	for (i = 0; i < 4; i++) {
		t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
	}
#pragma GCC unroll 2
	for (i = 0; i < 2; i++) {
		u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
		u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
		u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3],
		    0x44);
		u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3],
		    0xee);
	}
#pragma GCC unroll 4
	for (i = 0; i < 4; i++) {
		r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
		r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
	}
}

/* the first n of 8 lanes */
static inline __attribute__((always_inline, target("avx2,fma"))) __m256i
lanes8(int n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32(n),
	    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* pack_512()'s panels, 8 x 8 at a time */
__attribute__((target("avx2,fma"))) static void
pack_256(float *xt, const float *inp, int N, int Din, int Np)
{
	__m256 r[8];
	__m256i m;
	int n0, h, k0, q, kc;

	for (n0 = 0; n0 < Np; n0 += NB)
		for (h = 0; h < NB; h += 8)
			for (k0 = 0; k0 < Din; k0 += 8) {
				kc = Din - k0 < 8 ? Din - k0 : 8;
				m = lanes8(kc);
				for (q = 0; q < 8; q++)
					r[q] = n0 + h + q < N ?
					    _mm256_maskload_ps(inp + (size_t)
					    (n0 + h + q) * Din + k0, m) :
					    _mm256_setzero_ps();
				tr8(r);
				for (q = 0; q < kc; q++)
					_mm256_store_ps(xt + (size_t)n0 * Din +
					    (size_t)(k0 + q) * NB + h, r[q]);
			}
}

/* epi_512() on 8 lanes */
static inline __attribute__((always_inline, target("avx2,fma"))) __m256
epi_256(__m256 f, const struct mm_linear_epi *epi, int o)
{
	if (epi->scale)
		f = _mm256_add_ps(_mm256_mul_ps(f, _mm256_set1_ps(
		    epi->scale[o])), _mm256_set1_ps(epi->shift[o]));
	if (epi->relu)
		f = _mm256_and_ps(f, _mm256_cmp_ps(f, _mm256_setzero_ps(),
		    _CMP_GT_OQ));
	return f;
}

/* unpack_512()'s copy, 8 x 8 at a time */
__attribute__((target("avx2,fma"))) static void
unpack_256(float *out, const float *yt, int N, int Np, int Dout, int o0,
    int o1, const struct mm_linear_epi *epi)
{
	__m256 r[8];
	__m256i m;
	int o, n0, q, oc;

	for (o = o0; o < o1; o += 8) {
		oc = o1 - o < 8 ? o1 - o : 8;
		m = lanes8(oc);
		for (n0 = 0; n0 < N; n0 += 8) {
			for (q = 0; q < 8; q++)
				r[q] = q < oc ? _mm256_load_ps(yt + (size_t)
				    (o + q) * Np + n0) : _mm256_setzero_ps();
			for (q = 0; epi && q < oc; q++)
				r[q] = epi_256(r[q], epi, o + q);
			tr8(r);
			for (q = 0; q < 8 && n0 + q < N; q++)
				_mm256_maskstore_ps(out + (size_t)(n0 + q) *
				    Dout + o, m, r[q]);
		}
	}
}

/* Whether the ob rows of a piece, Din floats apart, crowd the L1: more
 * than 6 of their lines on the same set at each k (an L1 of 64 sets of
 * 64-byte lines, 8 ways: Zen 4's, and Intel's up to 48 KiB with 12
 * ways).  Rows under 16 floats apart share lines instead. */
static int
crowded(int Din, int ob)
{
	int n[64] = { 0 }, r, most = 0;

	for (r = 0; r < ob; r++) {
		int s = (int)((size_t)r * (size_t)Din / 16 % 64);

		if (++n[s] > most)
			most = n[s];
	}
	return Din >= 16 && most > 6;
}

static const struct level lv512 = { pack_512, tile_512, unpack_512, OB,
	NB };
static const struct level lv256 = { pack_256, tile_256, unpack_256, OB / 2,
	NB / 2 };

/* Rows it OITEM .. of w: start yt at the bias, add the tiles block by
 * block of k, write the rows back into out. */
static void
item(const struct job *j, int it)
{
	const struct level *lv = j->lv;
	int o0 = it * OITEM, o1 = o0 + OITEM, o, r, k0, kc, pj, h, n, no, nk;
	const float *w[OB], *pf[OB];
	size_t Np = j->Np;
	float wp[OB * KB] __attribute__((aligned(64)));

	if (o1 > j->Dout)
		o1 = j->Dout;
	for (o = o0; o < o1; o++) {
		float v = j->b ? j->b[o] : 0.0f, *y = j->yt + o * Np;

		for (n = 0; n < (int)Np; n++)
			y[n] = v;
	}
	for (k0 = 0; k0 < j->Din; k0 += KB) {
		kc = j->Din - k0 < KB ? j->Din - k0 : KB;
		for (o = o0; o < o1; o += lv->ob) {
			/* rows past Dout repeat the last one; their yt
			 * rows (padding) are never read.  Crowded rows are
			 * read from their copy in wp */
			for (r = 0; r < lv->ob; r++) {
				w[r] = j->w + (size_t)(o + r < j->Dout ? o + r :
				    j->Dout - 1) * j->Din + k0;
				if (j->copy) {
					memcpy(wp + r * KB, w[r], (size_t)kc *
					    sizeof *wp);
					w[r] = wp + r * KB;
				}
			}
			/* the next piece: rows o + ob at k0, else the
			 * item's first rows at the next block */
			no = o + lv->ob < o1 ? o + lv->ob : o0;
			nk = o + lv->ob < o1 ? k0 : k0 + KB;
			for (r = 0; r < lv->ob; r++)
				pf[r] = j->w + (size_t)(no + r < j->Dout ?
				    no + r : j->Dout - 1) * j->Din + nk;
			for (pj = 0; pj < (int)Np; pj += NB)
				for (h = 0; h < NB; h += lv->cols)
					lv->tile(j->yt + o * Np + pj + h, Np,
					    w, j->xt + ((size_t)pj * j->Din +
					    (size_t)k0 * NB) + h, kc,
					    pj == 0 && h == 0 && nk < j->Din ?
					    pf : NULL);
		}
	}
	lv->unpack(j->out, j->yt, j->N, (int)Np, j->Dout, o0, o1, j->epi);
}

static void
run(void *arg, int tid)
{
	struct job *j = arg;
	int it;

	(void)tid;
	while ((it = mm_pool_next(j->pool, &j->next)) < j->items)
		item(j, it);
}

void
mm_linear_eval(struct mm_pool *pool, float *out, const float *inp,
    const float *w, const float *b, int N, int Din, int Dout,
    const struct mm_linear_epi *epi, float *scratch)
{
	struct job j;
	size_t Np = roundup(N, NB);
	float *xt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);

	if (N < 1 || Dout < 1)
		return;
	if (!mm_linear_eval_ok()) {
		eval_ref_epi(out, inp, w, b, N, Din, Dout, epi);
		return;
	}
	j.lv = mm_nn_simd(-1) >= 2 ? &lv512 : &lv256;
	j.lv->pack(xt, inp, N, Din, (int)Np);
	j.epi = epi;
	j.w = w;
	j.b = b;
	j.out = out;
	j.xt = xt;
	j.yt = xt + Np * Din;
	j.N = N;
	j.Np = (int)Np;
	j.Din = Din;
	j.Dout = Dout;
	j.items = (Dout + OITEM - 1) / OITEM;
	j.copy = crowded(Din, j.lv->ob);
	j.next = 0;
	j.pool = pool;
	if (!pool || j.items == 1)
		run(&j, 0);
	else
		mm_pool_run(pool, run, &j);
}

#else

void
mm_linear_eval(struct mm_pool *pool, float *out, const float *inp,
    const float *w, const float *b, int N, int Din, int Dout,
    const struct mm_linear_epi *epi, float *scratch)
{
	(void)pool;
	(void)scratch;
	eval_ref_epi(out, inp, w, b, N, Din, Dout, epi);
}

#endif
