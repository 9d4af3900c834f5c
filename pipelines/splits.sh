#!/bin/sh
# pipelines/splits.sh - check an experiment's runs list before any run.
#
#   MMIB_GEN=bin/mmib-gen splits.sh EXPERIMENT RUNS_LIST
#
# A run listed twice (a seed given twice) is an error.  Runs on distinct
# splits (data directory <dataset>-n<N>-s<k>-split) need k within the
# dataset's distinct essence/nuisance splits, which mmib-gen --splits
# lists: asking for more than exist is an error that names the count.
set -eu
exp=${1:?usage: splits.sh EXPERIMENT LIST}
list=${2:?usage: splits.sh EXPERIMENT LIST}
d=$(sort "$list" | uniq -d | head -n 3)
[ -z "$d" ] || { printf '%s: run(s) listed twice (a seed given twice?):\n%s\n' "$exp" "$d" >&2; exit 1; }
sed -n 's|.*/train/\(.*\)-n[0-9]*-s\([0-9]*\)-split/[^/]*/[^/]*/row\.tsv$|\1 \2|p' "$list" |
sort -k1,1 -k2,2n | awk '{ if ($1 != ds) { if (ds != "") print ds, s; ds = $1; s = "" } s = s " " $2 }
	END { if (ds != "") print ds, s }' |
while read -r ds seeds; do
	# a dataset of one's own (OWN_DATASETS: name:file ...) is read from its file
	from=$(for o in ${OWN_DATASETS:-}; do [ "${o%%:*}" = "$ds" ] && printf '%s' "${o#*:}"; done)
	if [ -n "$from" ]; then
		l=$("${MMIB_GEN:-mmib-gen}" --splits --from "$from" --name "$ds") || exit 1
	else
		l=$("${MMIB_GEN:-mmib-gen}" --splits -d "$ds") || exit 1
	fi
	n=$(printf '%s\n' "$l" | awk 'END { print NR - 1 }')
	over=$(for k in $seeds; do [ "$k" -ge 1 ] && [ "$k" -le "$n" ] || printf ' %s' "$k"; done)
	if [ -n "$over" ]; then
		echo "$exp: $ds has $n distinct essence/nuisance splits (mmib-gen --splits -d $ds), not split(s)$over: give SEEDS within 1..$n (or SPLITS=random, which repeats splits)" >&2
		exit 1
	fi
done
