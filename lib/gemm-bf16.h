/*
 * gemm-bf16.h - a matrix product with bf16 inputs and fp32 accumulation,
 * the opt-in mixed precision of mmib (fp32 stays the default):
 *
 *   C (M, N) = beta C + op(A) op(B)     op(A) (M, K), op(B) (K, N)
 *
 * ta = 0: A is stored (M, K) with row stride lda; ta = 1: A is stored
 * (K, M) (op(A) = A^T).  tb = 0: B is stored (K, N) with row stride ldb;
 * tb = 1: B is stored (N, K).  C is (M, N) with row stride ldc; beta = 0
 * does not read C.
 *
 * Numerics (what both kernels do, in this order):
 *  - every input is rounded fp32 -> bf16 to nearest, ties to even (NaN ->
 *    0x7fc0), as PyTorch's autocast does (mm_bf16_round());
 *  - each C element is one fp32 accumulator s, started at beta C (0 when
 *    beta = 0), then for the pairs of K in order, p = 0, 1, ...:
 *      s = s + a[2p+1] b[2p+1];  s = s + a[2p] b[2p]
 *    (an odd K gets a zero last pair member), each addition rounded to
 *    nearest even in fp32.  Products of two bf16 are exact in fp32.
 *    As the vdpbf16ps instruction does, bf16 inputs and the accumulator
 *    below 2^-126 in magnitude are read as zero, and a sum that falls
 *    there is flushed to zero (sign kept).
 * So the result does not depend on blocking or threads, and the reference
 * kernel gives the same bits as the AVX512-BF16 kernel on a CPU whose
 * vdpbf16ps rounds as above (AMD Zen 5 does; tests/t-bf16.c checks the
 * instruction first and falls back to a tolerance otherwise).  Against an
 * fp32 product the relative error is about 2^-8 per input (8-bit
 * significands), i.e. |C - C32| <= ~2^-7 sum_k |a_k b_k| + fp32 rounding.
 *
 * Kernels: for CPUs with AVX512-BF16 (with AVX-512F/BW/VL), chosen at
 * run time from cpuid, two kinds (mm_bf16_kernel()): vdpbf16ps on pairs
 * of bf16, or fp32 FMA on the bf16 values; none for CPUs without it
 * (mm_gemm_bf16() then fails with MM_EUNSUP), while mm_gemm_bf16_ref() is
 * a portable loop with the same numerics, the oracle of the tests (slow).
 * No AMX kernel yet.
 */
#ifndef MM_GEMM_BF16_H
#define MM_GEMM_BF16_H

#include <stddef.h>
#include <stdint.h>

struct mm_pool;

/* fp32 -> bf16, round to nearest even (NaN -> quiet 0x7fc0), and back. */
uint16_t mm_bf16_round(float x);
float mm_bf16_float(uint16_t h);

/* The bf16 level in effect: 1 when the AVX512-BF16 kernel is used, 0 when
 * the CPU (or the build) lacks it.  mm_bf16_level(0) switches the kernel
 * off (for tests of the refusal paths; MMIB_BF16=0 in the environment
 * does it from the start), mm_bf16_level(1) back on where the CPU has it,
 * mm_bf16_level(-1) only queries.  Not thread-safe. */
int mm_bf16_level(int level);
/* Why the level is 0, for messages: "the CPU lacks AVX512-BF16", ... */
const char *mm_bf16_missing(void);
/* Multiply-adds per second of vdpbf16ps over those of fp32 FMA on one
 * core of this CPU, measured once (about 1 ms, the first call); 0 when
 * the level is 0.  About 2 on AMD Zen 5, where bf16 pays; 0.5 on an Intel
 * Xeon of family 6, model 207 (without AMX), where the bf16 kernels are
 * slower than the fp32 ones.  It only steers choices that cannot change a
 * result (the neighbour searches' tiles) and messages. */
double mm_bf16_rate(void);
/* A rate above which bf16 kernels are taken for speed. */
#define MM_BF16_PAYS 1.25

/*
 * The kernels that carry the bf16 products of this file and of the bf16
 * convolution (conv.h), both with the numerics above:
 *   MM_BF16_DP   vdpbf16ps on words of two bf16;
 *   MM_BF16_FMA  fp32 FMA on the bf16 values widened to fp32 (twice the
 *                memory of words), under flush-to-zero and
 *                denormals-are-zero: a product of two bf16 is exact in
 *                fp32, so each FMA rounds as each half of vdpbf16ps does,
 *                and the two kinds give the same bits wherever the CPU's
 *                vdpbf16ps rounds as described (tests/t-bf16 probes it;
 *                a product below 2^-126 aside, which the FMA does not
 *                round on its own).
 * The default is the faster on this CPU, with a margin so that a rate
 * near 1 cannot pick one kind in one run and the other in the next: FMA
 * where mm_bf16_rate() is below MM_BF16_SLOW (an Intel Xeon without AMX:
 * 0.5), vdpbf16ps otherwise.  MMIB_BF16_KERNEL=dp or fma in the
 * environment chooses instead.
 * mm_bf16_kernel(k) sets the kind (for tests), mm_bf16_kernel(-1) only
 * queries; MM_BF16_DP when the level is 0.  The words of
 * mm_conv3x3_bf16_weights() are laid out for the kind in effect when
 * they are made.  Not thread-safe.
 */
#define MM_BF16_DP 0
#define MM_BF16_FMA 1
#define MM_BF16_SLOW 0.75
int mm_bf16_kernel(int k);
/* "vdpbf16ps" or "fp32 FMA" (the kind in effect), for messages */
const char *mm_bf16_kernel_name(void);

/* Bytes of scratch mm_gemm_bf16() needs for this shape (packed panels). */
size_t mm_gemm_bf16_scratch(int M, int N, int K);
/* C = beta C + op(A) op(B) with the AVX512-BF16 kernel.  scratch holds
 * mm_gemm_bf16_scratch(M, N, K) bytes, or is NULL (then it is allocated
 * and freed here).  0, MM_EUNSUP with mm_err detail when the level is 0,
 * MM_ENOMEM, or MM_EINVAL for a bad size or stride. */
int mm_gemm_bf16(int ta, int tb, int M, int N, int K, const float *A,
    int lda, const float *B, int ldb, float beta, float *C, int ldc,
    void *scratch);
/* The same product cut into the slices of mm_gemm_pool() (nn.h) and
 * shared over the threads of pool (NULL: the caller's alone); thread t
 * packs into scratch + t * each bytes, each at least
 * mm_gemm_bf16_scratch(M, N, K) (scratch NULL: allocated per slice).
 * Each element of C is summed whole in the order above, so C is
 * bit-identical to mm_gemm_bf16()'s for any pool.  Errors as there. */
int mm_gemm_bf16_pool(struct mm_pool *pool, int ta, int tb, int M, int N,
    int K, const float *A, int lda, const float *B, int ldb, float beta,
    float *C, int ldc, void *scratch, size_t each);
/* The same numerics in plain loops (any CPU). */
void mm_gemm_bf16_ref(int ta, int tb, int M, int N, int K, const float *A,
    int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The Linear layer of nn.h with bf16 products (same shapes and
 * conventions: forward writes out, backward adds into dinp, dw, db).
 * db stays an fp32 sum.  scratch holds mm_linear_bf16_scratch() bytes
 * (or NULL); 0 or an error of mm_gemm_bf16().  The _pool variants cut
 * each product over the threads of pool (mm_gemm_bf16_pool(), each =
 * mm_linear_bf16_scratch() bytes a thread), with the same bits. */
size_t mm_linear_bf16_scratch(int N, int Din, int Dout);
int mm_linear_forward_bf16(float *out,    /* (N, Dout) */
    const float *inp,                    /* (N, Din) */
    const float *w,                      /* (Dout, Din) */
    const float *b,                      /* (Dout) or NULL */
    int N, int Din, int Dout, void *scratch);
int mm_linear_backward_bf16(float *dinp,  /* (N, Din) or NULL */
    float *dw,                           /* (Dout, Din) */
    float *db,                           /* (Dout) or NULL */
    const float *dout,                   /* (N, Dout) */
    const float *inp,                    /* (N, Din) */
    const float *w,                      /* (Dout, Din) */
    int N, int Din, int Dout, void *scratch);
int mm_linear_forward_bf16_pool(struct mm_pool *pool, float *out,
    const float *inp, const float *w, const float *b, int N, int Din,
    int Dout, void *scratch, size_t each);
int mm_linear_backward_bf16_pool(struct mm_pool *pool, float *dinp,
    float *dw, float *db, const float *dout, const float *inp,
    const float *w, int N, int Din, int Dout, void *scratch, size_t each);

#endif
