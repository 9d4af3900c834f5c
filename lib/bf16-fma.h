/*
 * bf16-fma.h - the arithmetic of the FMA kind of bf16 kernel
 * (mm_bf16_kernel(), gemm-bf16.h), shared by gemm-bf16.c and
 * conv-bf16.c.  Internal to the library; included after <immintrin.h>,
 * on x86-64 with GCC-compatible compilers only.
 */
#ifndef MM_BF16_FMA_H
#define MM_BF16_FMA_H

/* One vdpbf16ps lane on widened values: acc + ah bh, then + al bl (the
 * high halves' product first), each rounded: exact products, so under
 * mm_ftz_daz() the bits of vdpbf16ps. */
static inline __attribute__((always_inline, target("avx512f"))) __m512
mm_dpf(__m512 acc, __m512 ah, __m512 bh, __m512 al, __m512 bl)
{
	return _mm512_fmadd_ps(al, bl, _mm512_fmadd_ps(ah, bh, acc));
}

/* Flush-to-zero and denormals-are-zero on, vdpbf16ps's treatment of
 * denormals, for the FMA kind's kernels only (not the fp32 arithmetic
 * around them); returns the MXCSR to give back with _mm_setcsr(). */
static inline unsigned
mm_ftz_daz(void)
{
	unsigned m = _mm_getcsr();

	_mm_setcsr(m | 0x8040);
	return m;
}

#endif
