#!/bin/bash
# mlp-flatten against PyTorch on one thread, fp32 (the paper's encoders of
# dSprites and Shapes3D, batch 128), robust to a noisy machine:
# MMIB_BENCH_REPEAT (5) rounds, each measuring mmib (b-train) then PyTorch
# (torch_step.py) for MMIB_BENCH_SECONDS (3); prints the median and range
# of the training and encoding samples/s of each and of the per-round
# ratios mmib / PyTorch.  Encoding is the evaluation forward of both
# encoders (mmib's own Linear kernel on AVX-512F, lib/linear-x86.h).
# Skipped when /usr/bin/python3 has no torch.
set -eo pipefail
B="$MMIB_BUILD/bench/b-train"
R=${MMIB_BENCH_REPEAT:-5}
S=${MMIB_BENCH_SECONDS:-3}
PY=/usr/bin/python3
JE=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
if ! [ -x "$PY" ] || ! "$PY" -c 'import torch' 2>/dev/null; then
	echo "mlp rounds skipped: /usr/bin/python3 has no torch"
	exit 0
fi
pre=()
[ -e "$JE" ] && pre=(env LD_PRELOAD="$JE" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1)
configs=(
	"dsprites 1 81 mlp-flatten:2048,2048,1024,1024,512,512/256 mlp:16,16,8,8,16,16"
	"shapes3d 3 42 mlp-flatten:4096,2048,2048,1024,1024/512 mlp:64,64,32,32,64,64"
)
echo "mlp-flatten, 1 thread, fp32, samples/s: $R alternating rounds of ${S} s"
printf 'dataset\ttrain\trange\ttorch_train\trange\tratio\trange\tencode\trange\ttorch_encode\trange\tratio\trange\n'
for c in "${configs[@]}"; do
	set -- $c
	for i in $(seq "$R"); do
		m=$("$B" -t 1 -s "$S" "$2" "$3" "$4" "$5" 2>/dev/null)
		p=$(OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 "${pre[@]}" "$PY" \
		    "$MMIB_TOP/bench/torch_step.py" -t 1 -s "$S" "$2" "$3" "$4" "$5")
		echo "$m" "$p"
	done | awk '{ print $2, $8, $2 / $8, $4, $9, $4 / $9 }' |
	    awk -v fmt='%.1f %.1f %.2f %.1f %.1f %.2f' -f "$MMIB_TOP/bench/median.awk" |
	    sed "s/^/$1\t/"
done
