/*
 * linear-x86.c - the evaluation forward of linear-x86.h.
 *
 * Layout: the input is packed once per call, transposed into panels of
 * NB = 32 rows: panel j holds, for each k, inp[32 j + q][k] at q = 0..31
 * (rows past N are zeros).  The result goes to yt (Dout rounded up to
 * OB, Np) - out transposed - whose row o starts at b[o]; the tiles add
 * into it; a last pass writes yt back into out (N, Dout).  Both
 * transposes go 16 x 16 blocks at a time through registers (mm_tr16).
 *
 * The tile: OB = 12 rows of w by the 32 rows of a panel, 24 zmm
 * accumulators; per k it loads the panel's two vectors and broadcasts
 * one weight of each of its 12 rows (w[o][k], read in place: 12 streams
 * along the rows of w), 24 FMAs.  Blocks of KB values of k keep the
 * panel's part in L1 (KB 32 floats = 32 KiB) while the 12 rows' part
 * (12 KiB) is reused across the panels.  Work items are groups of OITEM
 * rows of w, shared over the pool with mm_pool_next(); each out element
 * is computed by one tile sequence in k order, so neither the item sizes
 * nor the threads change a bit.
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

#define NB 32           /* rows of inp in a panel (two vectors) */
#define OB 12           /* rows of w in a tile */
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
	return mm_nn_simd(-1) >= 2;
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

struct job {
	const float *w, *b;
	float *out, *xt, *yt;
	int N, Np, Din, Dout, items, next;
	struct mm_pool *pool;
};

#ifdef MM_X86

/* one row r of the tile: its accumulator pair gains w_r[p] times the
 * panel's two vectors */
#define ROW(r) do { \
	__m512 b_ = _mm512_set1_ps(w##r[p]); \
	a##r##0 = _mm512_fmadd_ps(b_, x0, a##r##0); \
	a##r##1 = _mm512_fmadd_ps(b_, x1, a##r##1); \
} while (0)
#define LOAD(r) \
	__m512 a##r##0 = _mm512_load_ps(c + (size_t)(r) * ldc), \
	    a##r##1 = _mm512_load_ps(c + (size_t)(r) * ldc + 16); \
	const float *w##r = w[r]
#define STORE(r) do { \
	_mm512_store_ps(c + (size_t)(r) * ldc, a##r##0); \
	_mm512_store_ps(c + (size_t)(r) * ldc + 16, a##r##1); \
} while (0)

/* c (12 rows of ldc) += the 12 rows w[r][0..kc) times the panel part
 * xp (kc, 32) */
__attribute__((target("avx512f"))) static void
tile(float *c, size_t ldc, const float *const *w, const float *xp, int kc)
{
	LOAD(0); LOAD(1); LOAD(2); LOAD(3); LOAD(4); LOAD(5);
	LOAD(6); LOAD(7); LOAD(8); LOAD(9); LOAD(10); LOAD(11);
	int p;

	for (p = 0; p < kc; p++) {
		__m512 x0 = _mm512_load_ps(xp + (size_t)NB * p),
		    x1 = _mm512_load_ps(xp + (size_t)NB * p + 16);

		ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5);
		ROW(6); ROW(7); ROW(8); ROW(9); ROW(10); ROW(11);
	}
	STORE(0); STORE(1); STORE(2); STORE(3); STORE(4); STORE(5);
	STORE(6); STORE(7); STORE(8); STORE(9); STORE(10); STORE(11);
}

/* xt, panels of NB rows: for each k the rows n0 .. n0 + NB - 1 of inp
 * (zeros past N), 16 by 16 through mm_tr16 */
__attribute__((target("avx512f"))) static void
pack(float *xt, const float *inp, int N, int Din, int Np)
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

/* out (N, Dout), columns o0 .. o1 - 1, from the rows o0 .. of yt (Np
 * apart), 16 by 16 through mm_tr16 */
__attribute__((target("avx512f"))) static void
unpack(float *out, const float *yt, int N, int Np, int Dout, int o0,
    int o1)
{
	__m512i r[16];
	int o, n0, q, oc;

	for (o = o0; o < o1; o += 16) {
		oc = o1 - o < 16 ? o1 - o : 16;
		for (n0 = 0; n0 < N; n0 += 16) {
			for (q = 0; q < 16; q++)
				r[q] = q < oc ? _mm512_load_si512(yt + (size_t)
				    (o + q) * Np + n0) : _mm512_setzero_si512();
			mm_tr16(r);
			for (q = 0; q < 16 && n0 + q < N; q++)
				_mm512_mask_storeu_epi32(out + (size_t)(n0 +
				    q) * Dout + o, (__mmask16)((1u << oc) - 1),
				    r[q]);
		}
	}
}

/* Rows it OITEM .. of w: start yt at the bias, add the tiles block by
 * block of k, write the rows back into out. */
__attribute__((target("avx512f"))) static void
item(const struct job *j, int it)
{
	int o0 = it * OITEM, o1 = o0 + OITEM, o, r, k0, kc, pj, n;
	const float *w[OB];
	size_t Np = j->Np;

	if (o1 > j->Dout)
		o1 = j->Dout;
	for (o = o0; o < o1; o++) {
		float v = j->b ? j->b[o] : 0.0f, *y = j->yt + o * Np;

		for (n = 0; n < (int)Np; n++)
			y[n] = v;
	}
	for (k0 = 0; k0 < j->Din; k0 += KB) {
		kc = j->Din - k0 < KB ? j->Din - k0 : KB;
		for (o = o0; o < o1; o += OB) {
			/* rows past Dout repeat the last one; their yt
			 * rows (padding) are never read */
			for (r = 0; r < OB; r++)
				w[r] = j->w + (size_t)(o + r < j->Dout ? o + r :
				    j->Dout - 1) * j->Din + k0;
			for (pj = 0; pj < (int)Np; pj += NB)
				tile(j->yt + o * Np + pj, Np, w,
				    j->xt + ((size_t)pj * j->Din + (size_t)k0 *
				    NB), kc);
		}
	}
	unpack(j->out, j->yt, j->N, (int)Np, j->Dout, o0, o1);
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
    float *scratch)
{
	struct job j;
	size_t Np = roundup(N, NB);
	float *xt = (float *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);

	if (N < 1 || Dout < 1)
		return;
	if (!mm_linear_eval_ok()) {
		mm_linear_eval_ref(out, inp, w, b, N, Din, Dout);
		return;
	}
	pack(xt, inp, N, Din, (int)Np);
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
    float *scratch)
{
	(void)pool;
	(void)scratch;
	mm_linear_eval_ref(out, inp, w, b, N, Din, Dout);
}

#endif
