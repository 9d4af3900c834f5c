#!/bin/bash
# bench/gen.sh - mmib-gen speed: 10,000 samples of each dataset on one core
# (the bar: under 2 s each), written to a file so the stream encoding counts
# too; plus the whole dSprites grid (-n all) with its peak memory, which
# must stay about one batch whatever the grid size.
set -eo pipefail
BIN=${MMIB_BIN:-$(dirname "$0")/../bin}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mmib-bench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
one() { if command -v taskset >/dev/null; then taskset -c 0 "$@"; else "$@"; fi; }
now() { date +%s.%N; }
printf 'what\tseconds\tbytes\tverdict\n'
for d in dsprites shapes3d mpi3d; do
	t0=$(now)
	one "$BIN/mmib-gen" -q -d $d -n 10000 -s 1 -o "$TMP/$d.mts"
	t1=$(now)
	s=$(echo "$t1 - $t0" | bc -l)
	v=$(echo "$s < 2" | bc -l)
	printf '%s -n 10000\t%.3f\t%s\t%s\n' $d "$s" "$(stat -c %s "$TMP/$d.mts")" \
		"$([ "$v" = 1 ] && echo ok || echo SLOW)"
done
if [ -x /usr/bin/time ]; then
	/usr/bin/time -f "%e %M" -o "$TMP/rss" taskset -c 0 "$BIN/mmib-gen" -q -d dsprites -n all -o /dev/null
	read -r s kb < "$TMP/rss"
	printf 'dsprites -n all (737,280 rows)\t%s\t-\tpeak RSS %s KiB\n' "$s" "$kb"
fi
