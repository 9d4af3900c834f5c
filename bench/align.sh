#!/bin/bash
# The alignment suite on N x D float32 embeddings given as two .npy files
# (a shared 64-d latent through two random maps plus noise, so that the
# metrics are not trivial), per metric: mmib-align's seconds at 1 and 2
# threads (its own timer: the metrics, not reading), numpy float64 (the
# definitions of tests/ref/ in fast numpy forms) and PyTorch float32 (the
# platonic-rep formulas: full N x N kernels, topk) at 2 threads, and
# mmib's speed-up over the faster of the two; then the whole suite, and
# the permutation null (--permutations P) against one evaluation, per
# metric.  Python columns NA when /usr/bin/python3 lacks numpy or torch.
#   ALIGN_N (10000) rows, ALIGN_D (768) width, ALIGN_K (10) for -k,
#   ALIGN_P (1000) permutations (0: no null rows); ALIGN_KEEP=1 keeps
#   the work directory.
set -eo pipefail
TOP=${MMIB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${MMIB_BIN:-$TOP/bin}
PY=/usr/bin/python3
N=${ALIGN_N:-10000} D=${ALIGN_D:-768} K=${ALIGN_K:-10} P=${ALIGN_P:-1000}
W=$(mktemp -d "${TMPDIR:-/tmp}/mmib-bench.XXXXXX")
trap '[ -n "$ALIGN_KEEP" ] || rm -rf "$W"' EXIT
METRICS="cka cka_unbiased svcca mutual_knn cycle_knn cknna recall"

# the data: by numpy when there is one, else by perl (uniform noise)
if $PY -c 'import numpy' 2>/dev/null; then
	$PY - "$W" "$N" "$D" <<'PYEOF'
import sys
import numpy as np
w, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = np.random.default_rng(7)
Z = r.standard_normal((n, 64)).astype(np.float32)
for side in "ab":
    X = Z @ r.standard_normal((64, d)).astype(np.float32) + \
        3 * r.standard_normal((n, d), dtype=np.float32)
    np.save("%s/%s.npy" % (w, side), X.astype(np.float32))
PYEOF
	HAVE_NP=1
else
	for s in a b; do
		perl -e '
		my ($out, $n, $d, $seed) = @ARGV;
		srand($seed);
		open(my $f, ">:raw", $out) or die "$out: $!";
		my $h = sprintf("{\x27descr\x27: \x27<f4\x27, \x27fortran_order\x27: False, \x27shape\x27: (%d, %d), }", $n, $d);
		print $f "\x93NUMPY\x01\x00", pack("v", 118), $h, " " x (117 - length $h), "\n";
		print $f pack("f<*", map { rand() - 0.5 } 1 .. $d) for 1 .. $n;
		close $f or die;' "$W/$s.npy" "$N" "$D" $([ $s = a ] && echo 1 || echo 2)
	done
	HAVE_NP=
fi
$PY -c 'import torch' 2>/dev/null && HAVE_TORCH=1 || HAVE_TORCH=

# mm SECONDS-FILE ARGS...: mmib-align's own timer of the metrics
mm() {
	local out=$1
	shift
	"$BIN/mmib-align" -v -k "$K" "$@" "$W/a.npy" "$W/b.npy" 2>&1 >/dev/null |
	    sed -n 's/.*metrics.* in \([0-9.]*\) s$/\1/p' > "$out"
}
for m in $METRICS; do
	mm "$W/$m.t1" -t 1 --metrics "$m"
	mm "$W/$m.t2" -t 2 --metrics "$m"
done
mm "$W/all.t1" -t 1 --metrics "$(echo $METRICS | tr ' ' ,)"
mm "$W/all.t2" -t 2 --metrics "$(echo $METRICS | tr ' ' ,)"
if [ -n "$HAVE_NP" ]; then
	OPENBLAS_NUM_THREADS=2 $PY "$TOP/bench/align_bench.py" np "$W/a.npy" \
	    "$W/b.npy" "$K" > "$W/np.tsv"
fi
if [ -n "$HAVE_TORCH" ]; then
	$PY "$TOP/bench/align_bench.py" torch "$W/a.npy" "$W/b.npy" "$K" 2 \
	    > "$W/torch.tsv"
fi
col() {		# col FILE METRIC: the seconds of METRIC in FILE, or NA
	[ -s "$1" ] && awk -F'\t' -v m="$2" '$1 == m { print $2 }' "$1" || echo NA
}

echo "mmib-align on $N x $D float32 embeddings (two .npy), -k $K; $(nproc)" \
    "CPUs:$(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo)"
printf '%-14s %8s %8s %10s %10s %9s\n' metric "mmib -t1" "mmib -t2" \
    "numpy f64" "torch f32" "speed-up"
for m in $METRICS all; do
	t1=$(cat "$W/$m.t1") t2=$(cat "$W/$m.t2")
	if [ $m = all ]; then
		np=NA to=NA
		if [ -s "$W/np.tsv" ]; then np=$(awk -F'\t' '{ s += $2 } END { printf "%.3f", s }' "$W/np.tsv"); fi
		if [ -s "$W/torch.tsv" ]; then to=$(awk -F'\t' '{ s += $2 } END { printf "%.3f", s }' "$W/torch.tsv"); fi
	else
		np=$(col "$W/np.tsv" $m) to=$(col "$W/torch.tsv" $m)
	fi
	su=$(awk -v a="$np" -v b="$to" -v t="$t2" 'BEGIN {
		f = a == "NA" ? b : b == "NA" ? a : (a < b ? a : b);
		if (f == "NA" || t <= 0) print "NA"; else printf "%.1fx", f / t }')
	printf '%-14s %8s %8s %10s %10s %9s\n' "$m" "$t1" "$t2" "$np" "$to" "$su"
done
echo "(seconds; speed-up: the faster of numpy and torch over mmib -t 2;" \
    "all: the seven metrics in one run, the Python ones summed)"

[ "$P" -gt 0 ] || exit 0
echo "permutation null, --permutations $P at -t 2: seconds, and against one evaluation"
printf '%-14s %8s %10s %8s\n' metric "one" "with null" "ratio"
for m in $METRICS all; do
	ms=$m
	[ $m = all ] && ms=$(echo $METRICS | tr ' ' ,)
	mm "$W/$m.p" -t 2 --metrics "$ms" --permutations "$P"
	printf '%-14s %8s %10s %8s\n' "$m" "$(cat "$W/$m.t2")" "$(cat "$W/$m.p")" \
	    "$(awk -v a="$(cat "$W/$m.t2")" -v b="$(cat "$W/$m.p")" \
	    'BEGIN { if (a > 0) printf "%.1fx", b / a; else print "NA" }')"
done
