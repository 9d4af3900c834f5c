#!/bin/bash
# bf16 against fp32 for the ResNet-20 training step (dSprites, batch 128),
# robust to a noisy machine: MMIB_BENCH_REPEAT (5) rounds, each measuring
# fp32 then bf16 for MMIB_BENCH_SECONDS (5) at 1 and 2 threads; prints the
# median and range of each and of the per-round ratio bf16 / fp32.  On a
# shared virtual machine a single 3-second figure of train.sh can be 20 %
# off in either direction; the median of alternating rounds is the figure
# to quote.  Skipped (with the reason) on a CPU without AVX512-BF16.
set -eo pipefail
B="$MMIB_BUILD/bench/b-train"
R=${MMIB_BENCH_REPEAT:-5}
S=${MMIB_BENCH_SECONDS:-5}
cfg=(1 81 resnet20 mlp:16,16,8,8,16,16)
if ! "$B" -p bf16 -t 1 -s 0.1 "${cfg[@]}" >/dev/null 2>"${TMPDIR:-/tmp}/bf16.$$"; then
	echo "bf16 rounds skipped: $(cat "${TMPDIR:-/tmp}/bf16.$$")"
	rm -f "${TMPDIR:-/tmp}/bf16.$$"
	exit 0
fi
rm -f "${TMPDIR:-/tmp}/bf16.$$"
echo "vdpbf16ps does $("$B" -B | cut -f4) times the multiply-adds per second of fp32 FMA on one core (measured)"
echo "ResNet-20 training step, samples/s: $R alternating rounds of ${S} s"
printf 'threads\tfp32_median\tfp32_range\tbf16_median\tbf16_range\tratio_median\tratio_range\n'
for t in 1 2; do
	for i in $(seq "$R"); do
		a=$("$B" -p fp32 -t "$t" -s "$S" "${cfg[@]}" 2>/dev/null | cut -f2)
		b=$("$B" -p bf16 -t "$t" -s "$S" "${cfg[@]}" 2>/dev/null | cut -f2)
		echo "$a $b"
	done | awk '{ print $1, $2, $2 / $1 }' |
	    awk -v fmt='%.1f %.1f %.2f' -f "$MMIB_TOP/bench/median.awk" |
	    sed "s/^/$t\t/"
done
