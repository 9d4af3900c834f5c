#!/bin/bash
# Encoder training-step throughput (forward + backward of the image and
# factor encoders, batch 128) with 1 and 2 BLAS threads, against the sgemm
# ceiling, and against the PyTorch figures of reference/anchors.md (1
# thread: mlp-flatten 673 samples/s, resnet20 62-66; 2 threads: resnet20
# ~100), as is and scaled by the ratio of the sgemm ceilings.  Each
# configuration runs MMIB_BENCH_REPEAT (5) rounds, each timing the sgemm
# ceiling then the steps; the line gives the medians and the range of the
# rounds' own ratios to their ceiling.  MMIB_SIMD=0 in the environment
# measures the portable path (im2col + sgemm) instead of the AVX-512
# kernels.
set -eu
B=${MMIB_BUILD:-build}/bench/b-encoder
R=${MMIB_BENCH_REPEAT:-5}
for t in 1 2; do
	echo "-- $t thread(s)"
	"$B" -t "$t" -r "$R" -l
done
