/*
 * x86-tr16.h - a 16 x 16 transpose of 32-bit values held in 16 AVX-512
 * registers: r[a] lane b goes to r[b] lane a.  Internal to the library;
 * included by the kernels that pack (gemm-bf16.c, linear-x86.c) after
 * <immintrin.h>, on x86-64 with GCC-compatible compilers only.  AVX-512F
 * is all it needs, so callers with wider targets inline it.
 */
#ifndef MM_X86_TR16_H
#define MM_X86_TR16_H

static inline __attribute__((always_inline, target("avx512f"))) void
mm_tr16(__m512i r[16])
{
	__m512i t[16], u[16], v[4];
	int i, g, c;

	/* pairs of rows, then quads: u[4 g + c], 128-bit lane L, holds
	 * column 4 L + c of rows 4 g .. 4 g + 3 */
#pragma GCC unroll 8
	for (i = 0; i < 8; i++) {
		t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
		t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
	}
#pragma GCC unroll 4
	for (g = 0; g < 4; g++) {
		u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
		u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
		u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1],
		    t[4 * g + 3]);
		u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1],
		    t[4 * g + 3]);
	}
	/* a 4 x 4 transpose of 128-bit lanes for each c */
#pragma GCC unroll 4
	for (c = 0; c < 4; c++) {
		v[0] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x44);
		v[1] = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xee);
		v[2] = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x44);
		v[3] = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xee);
		r[c] = _mm512_shuffle_i32x4(v[0], v[2], 0x88);
		r[4 + c] = _mm512_shuffle_i32x4(v[0], v[2], 0xdd);
		r[8 + c] = _mm512_shuffle_i32x4(v[1], v[3], 0x88);
		r[12 + c] = _mm512_shuffle_i32x4(v[1], v[3], 0xdd);
	}
}

#endif
