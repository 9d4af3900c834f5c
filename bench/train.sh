#!/bin/bash
# Training and encoding throughput (samples/s, batch 128) of the paper's
# configurations (bench/torch-env.bash), with 1 and 2 threads, beside
# PyTorch's on the same machine in the same run when /usr/bin/python3 has
# torch (with jemalloc preloaded, purging off, when it is installed).
# MMIB_BENCH_SECONDS sets the time per measurement (default 3).
# The ViT row is a mid-sized ViT (65 tokens of width 192, 4 blocks): the
# paper's tiny ViT (257 tokens of 384, 12 blocks) takes some 30 s a step
# of 128 and 10 GB of activations.  MMIB_BENCH_ONLY=NAME runs one
# configuration.
# Beside each fp32 row of a ResNet or mlp-flatten configuration, a bf16
# row: mmib-train --precision bf16 (b-train -p bf16) against PyTorch under
# torch.autocast("cpu", dtype=torch.bfloat16); vs_fp32 is its training
# speed over mmib's fp32 row of the same threads; its encode_sps is the
# bf16 forward's (mmib's tools themselves encode in fp32 whatever the
# training precision).  isa and torch_isa name
# the instructions of the products: mmib's kernels, and what oneDNN
# reports for a convolution (with ATen's CPU capability before it in
# fp32).  bench/avx2.sh holds both to AVX2.  Without AVX512-BF16 the bf16 rows are left out
# with a note on stderr.
set -eo pipefail
S=${MMIB_BENCH_SECONDS:-3}
B="$MMIB_BUILD/bench/b-train"
. "$MMIB_TOP/bench/torch-env.bash"

printf 'config\tthreads\ttrain_sps\ttorch_train_sps\tratio\tencode_sps\ttorch_encode_sps\tratio\tgflop_s\tsgemm_gflop_s\tprecision\tvs_fp32\tisa\ttorch_isa\n'
for c in "${configs[@]}"; do
	set -- $c
	[ -n "${MMIB_BENCH_ONLY:-}" ] && [ "$1" != "$MMIB_BENCH_ONLY" ] && continue
	precs=(fp32)
	case "$4" in resnet*|mlp-flatten*) precs=(fp32 bf16) ;; esac
	for t in 1 2; do
	for p in "${precs[@]}"; do
		v=()
		[ "$t" = 1 ] && v=(-v)
		if ! row=$("$B" "${v[@]}" -p "$p" -t "$t" -s "$S" "$2" "$3" "$4" "$5" 2>"${TMPDIR:-/tmp}/b-train.$$"); then
			echo "# $1 $p: $(cat "${TMPDIR:-/tmp}/b-train.$$")" >&2
			continue
		fi
		read -r _ tr gf en ceil isa <<<"$row"
		vs=NA
		if [ "$p" = fp32 ]; then fp32tr=$tr; else
			vs=$(awk -v a="$tr" -v b="$fp32tr" 'BEGIN { printf "%.2f", a / b }')
		fi
		if [ "$torch" = 1 ]; then
			trow=$(torch_step "$t" -p "$p" -s "$S" "$2" "$3" "$4" "$5")
			read -r _ ttr ten tisa <<<"$trow"
			r1=$(awk -v a="$tr" -v b="$ttr" 'BEGIN { printf "%.2f", a / b }')
			r2=$(awk -v a="$en" -v b="$ten" 'BEGIN { printf "%.2f", a / b }')
		else
			ttr=NA ten=NA r1=NA r2=NA tisa=NA
		fi
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$t" "$tr" "$ttr" "$r1" "$en" "$ten" "$r2" "$gf" "$ceil" "$p" "$vs" "$isa" "${tisa// /_}"
		[ "$t" = 1 ] && sed "s/^/# $1 $p: /" "${TMPDIR:-/tmp}/b-train.$$" >&2
	done
	done
done
rm -f "${TMPDIR:-/tmp}/b-train.$$"
