#!/bin/bash
# Each 3x3 convolution shape of ResNet-20 (64x64 images, batch 128) alone
# on one thread, fp32 against bf16, each as a share of its instruction's
# peak (fp32 FMA, vdpbf16ps) measured in the same run (bench/b-conv.c):
# the forward, the forward with the BatchNorm statistics, the backward,
# and the weight gradient alone; the best of MMIB_BENCH_REPEAT (5) calls.
# Where the bf16 step gains less than its products could: a low share in
# a row is the packing and copying passes around the product kernels.
set -eu
B=${MMIB_BUILD:-build}/bench/b-conv
"$B" -r "${MMIB_BENCH_REPEAT:-5}"
