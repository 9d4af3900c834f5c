/* util-bf16.h - the probe of this CPU's vdpbf16ps shared by the bf16
 * tests. */
#ifndef MM_UTIL_BF16_H
#define MM_UTIL_BF16_H

struct mm_rng;

/* Of n random single pairs (1 x 1 x 2 products of values in (-4, 4) from
 * a start in (-8, 8), drawn from r), how many the vdpbf16ps kind of
 * mm_gemm_bf16() sums to the bits of mm_gemm_bf16_ref(): n where the
 * instruction adds as gemm-bf16.h says.  The kind in effect is kept. */
int util_bf16_probe(struct mm_rng *r, int n);

#endif
