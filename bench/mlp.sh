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
. "$MMIB_TOP/bench/torch-env.bash"
if [ "$torch" = 0 ]; then
	echo "mlp rounds skipped: /usr/bin/python3 has no torch"
	exit 0
fi
echo "mlp-flatten, 1 thread, fp32, samples/s: $R alternating rounds of ${S} s"
printf 'config\ttrain\trange\ttorch_train\trange\tratio\trange\tencode\trange\ttorch_encode\trange\tratio\trange\n'
for c in "${configs[@]}"; do
	set -- $c
	case "$4" in mlp-flatten*) ;; *) continue ;; esac
	for i in $(seq "$R"); do
		m=$("$B" -t 1 -s "$S" "$2" "$3" "$4" "$5" 2>/dev/null)
		p=$(torch_step 1 -s "$S" "$2" "$3" "$4" "$5")
		echo "$m" "$p"
	done | awk '{ print $2, $8, $2 / $8, $4, $9, $4 / $9 }' |
	    awk -v fmt='%.1f %.1f %.2f %.1f %.1f %.2f' -f "$MMIB_TOP/bench/median.awk" |
	    sed "s/^/$1\t/"
done
