/*
 * autovec.h - the compiler settings of the numeric files (nn.c,
 * bn-slices.c, conv.c, conv-x86.c), included after the system headers.
 *
 * GCC's -O2 vectorises only loops whose trip count is a known multiple of
 * the vector width, and never a loop with a float comparison while float
 * comparisons may trap; the channel loops of these files have run-time
 * lengths and ReLU masks, so ask for its usual cost model and
 * non-trapping compares.  Neither changes a result (no reassociation,
 * unlike -ffast-math); clang vectorises these loops at -O2 anyway.  The
 * short copies of im2col stay inline loops rather than memcpy calls.
 * The flat BatchNorm loops of bn-slices.c are in addition compiled once
 * per SIMD level (bn-kern.h, chosen by mm_nn_simd()); -std=c99 keeps
 * GCC from contracting them into fused multiply-adds, so every level
 * rounds alike.
 */
#ifndef MM_AUTOVEC_H
#define MM_AUTOVEC_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic", \
    "no-trapping-math", "no-tree-loop-distribute-patterns")
#endif

#endif
