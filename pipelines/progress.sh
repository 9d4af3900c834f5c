#!/bin/sh
# pipelines/progress.sh - the progress line of a sweep, after one run.
#
#   progress.sh LIST ROW TAG [JOBS]
#
# LIST is the experiment's runs.list (one row.tsv per line), ROW the row
# just written, TAG the run's name.  Prints on standard error
#   [k/n] TAG: S s, ~M min left
# k the rows of LIST that exist and are not newer than ROW, n its lines,
# S the run's time (the sum of
# its steps in times.tsv beside ROW, written by step.sh) and the estimate
# the mean time of the finished runs that have one, times the runs left,
# divided by JOBS (make's -j, default 1) run at once.
set -eu
list=${1:?usage: progress.sh LIST ROW TAG [JOBS]}
row=${2:?usage: progress.sh LIST ROW TAG [JOBS]}
tag=${3:?usage: progress.sh LIST ROW TAG [JOBS]}
jobs=${4:-1}
[ -r "$list" ] || { echo "progress.sh: $list: no list of runs" >&2; exit 1; }
# k: the listed rows that exist and are not newer than this one, in one
# look (stat) at the list, so that runs finishing together get distinct
# numbers: newer means a later modification time, or the same time (the
# file clock is coarse) and a larger inode number
k=$( { stat -c '%.9Y %i' "$row"; tr '\n' '\0' < "$list" |
	xargs -0 stat -c '%.9Y %i' 2>/dev/null; } | awk '
	NR == 1 { t = $1; n = $2; next }
	$1 < t || ($1 == t && $2 <= n) { c++ }
	END { print c + 0 }')
awk -v row="$row" -v tag="$tag" -v jobs="$jobs" -v k="$k" '
function secs(f,    s, line, a, r) {
	s = 0; r = 0
	while ((r = (getline line < f)) > 0) { split(line, a, "\t"); s += a[2] }
	close(f)
	return r < 0 ? -1 : s
}
function dur(s) {
	if (s < 90) return sprintf("%d s", s + 0.5)
	if (s < 5400) return sprintf("%d min", s / 60 + 0.5)
	return sprintf("%.1f h", s / 3600)
}
$0 != "" {
	n++
	if ((getline x < $0) < 0) next
	close($0)
	d = $0; sub(/[^\/]*$/, "", d)
	s = secs(d "times.tsv")
	if (s > 0) { tot += s; nt++ }
}
END {
	d = row; sub(/[^\/]*$/, "", d)
	s = secs(d "times.tsv")
	line = sprintf("[%d/%d] %s: %s", k, n, tag, s >= 0 ? dur(s) : "(time not recorded)")
	if (k >= n) line = line ", done"
	else if (nt > 0) {
		j = jobs + 0 < 1 ? 1 : jobs + 0
		left = n - k
		line = line ", ~" dur(int((left + j - 1) / j) * tot / nt) " left"
	}
	print line > "/dev/stderr"
}' "$list"
