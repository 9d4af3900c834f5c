#!/bin/bash
# The AVX2 level, as on a laptop without AVX-512: mmib's fp32 training and
# encoding with its kernels held to AVX2 + FMA (MMIB_SIMD=1) against
# PyTorch held to the same (ATEN_CPU_CAPABILITY=avx2 for ATen's kernels,
# ONEDNN_MAX_CPU_ISA=AVX2 for oneDNN's convolutions), both on OpenBLAS's
# Haswell kernels (OPENBLAS_CORETYPE=Haswell), which are also the sgemm
# ceiling of the row.  ResNet-20 and mlp-flatten on dSprites, batch 128,
# 1 and 2 threads; MMIB_BENCH_REPEAT (3) alternating rounds of
# MMIB_BENCH_SECONDS (3) each, medians and ranges.  ceil_pct is mmib's
# training GFLOP/s over that ceiling, measured in the same process.
# Only the vector width is held: the cores, caches and clock are this
# machine's, so the ratios (to PyTorch, to the ceiling) are the figures
# that carry over to an AVX2 machine, not the samples/s.  bf16 needs
# AVX512-BF16, so there is no bf16 row.  Skipped on a CPU without AVX2 +
# FMA; without torch the PyTorch columns are 0.
set -eo pipefail
B="$MMIB_BUILD/bench/b-train"
R=${MMIB_BENCH_REPEAT:-3}
S=${MMIB_BENCH_SECONDS:-3}
. "$MMIB_TOP/bench/torch-env.bash"
export OPENBLAS_CORETYPE=Haswell
row=$(MMIB_SIMD=1 "$B" -t 1 -s 0.1 1 81 mlp:16 mlp:16 2>/dev/null) || true
case "$row" in
*AVX2+FMA) ;;
*)
	echo "AVX2 rounds skipped: the CPU has no AVX2 + FMA (b-train: ${row:-failed})"
	exit 0 ;;
esac
echo "fp32 at the AVX2 level (mmib MMIB_SIMD=1; PyTorch ATen avx2, oneDNN AVX2; OpenBLAS Haswell), samples/s: $R alternating rounds of ${S} s"
printf 'config\tthreads\ttrain\trange\ttorch_train\trange\tratio\trange\tencode\trange\ttorch_encode\trange\tratio\trange\tceil_pct\trange\ttorch_isa\n'
for c in "${configs[@]}"; do
	set -- $c
	case "$1" in dsprites-resnet20|dsprites-mlpflatten) ;; *) continue ;; esac
	for t in 1 2; do
		rounds= tisa=NA
		for i in $(seq "$R"); do
			read -r _ tr gf en ceil _ <<<"$(MMIB_SIMD=1 "$B" -t "$t" -s "$S" "$2" "$3" "$4" "$5" 2>/dev/null)"
			ttr=NA ten=NA
			if [ "$torch" = 1 ]; then
				read -r _ ttr ten tisa <<<"$(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 torch_step "$t" -s "$S" "$2" "$3" "$4" "$5")"
			fi
			rounds+="$tr $ttr $en $ten $gf $ceil"$'\n'
		done
		printf '%s' "$rounds" |
		    awk '{ r1 = $2 == "NA" ? 0 : $1 / $2; r2 = $4 == "NA" ? 0 : $3 / $4
			print $1, ($2 == "NA" ? 0 : $2), r1, $3, ($4 == "NA" ? 0 : $4), r2, 100 * $5 / $6 }' |
		    awk -v fmt='%.1f %.1f %.2f %.1f %.1f %.2f %.0f' -f "$MMIB_TOP/bench/median.awk" |
		    sed "s/^/$1\t$t\t/; s/\$/\t${tisa// /_}/"
	done
done
