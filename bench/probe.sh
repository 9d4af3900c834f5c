#!/bin/bash
# Speed of mmib-probe and mmib-align on one dsprites evaluation (codes of a
# briefly trained mlp-flatten model: 7,500 train / 2,500 test rows, dim 64,
# both modalities, 5 factors), side by side with scikit-learn 1.2 and numpy
# when /usr/bin/python3 has them (tests/ref/probe_ref.py, align_ref.py
# --bench), printing ratios, and the largest nMI / accuracy difference to
# scikit-learn on these real codes.  Best of 3 wall-clock runs each.  Then
# b-probe-kern: one evaluation of the fused kernels against dgemm.
# Anchor (reference/anchors.md): sklearn's nine probes ~3.6 s; the goal is
# 5x faster.
set -eo pipefail
TOP=${MMIB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${MMIB_BIN:-$TOP/bin}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
W=$(mktemp -d "${TMPDIR:-/tmp}/mmib-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT

"$BIN/mmib-gen" -q -d dsprites -n 10000 -s 1 --missing posX --part train -o "$W/train.mts"
"$BIN/mmib-gen" -q -d dsprites -n 10000 -s 1 --missing posX --part test -o "$W/test.mts"
"$BIN/mmib-train" -q --image-encoder mlp-flatten:512,256 --code-size 64 \
	--epochs 3 --temperature 0.1 -s 1 "$W/train.mts" -o "$W/model.mts"
"$BIN/mmib-encode" -q -m "$W/model.mts" "$W/train.mts" -o "$W/etrain.mts"
"$BIN/mmib-encode" -q -m "$W/model.mts" "$W/test.mts" -o "$W/etest.mts"

now() { date +%s.%N; }
# best CMD...: the best wall time of three runs, in seconds
best() {
	local b= t0 t1 i
	for i in 1 2 3; do
		t0=$(now)
		"$@" > "$W/out" 2>/dev/null
		t1=$(now)
		b=$(awk -v a="$t0" -v b="$t1" -v m="$b" 'BEGIN { t = b - a;
			if (m == "" || t < m) m = t; print m }')
	done
	echo "$b"
}

# bestpy CMD...: the best of three times printed by CMD (its own timer,
# so Python's start-up and imports are not counted)
bestpy() {
	local b= t i
	for i in 1 2 3; do
		t=$("$@" | head -1)
		b=$(awk -v t="$t" -v m="$b" 'BEGIN { if (m == "" || t < m) m = t; print m }')
	done
	echo "$b"
}

P1=$(best "$BIN/mmib-probe" --train "$W/etrain.mts" "$W/etest.mts")
cp "$W/out" "$W/probe.tsv"
P2=$(best "$BIN/mmib-probe" -t 2 --train "$W/etrain.mts" "$W/etest.mts")
PD=$(MMIB_SIMD=0 best "$BIN/mmib-probe" --train "$W/etrain.mts" "$W/etest.mts")
cp "$W/out" "$W/dgemm.tsv"
A1=$(best "$BIN/mmib-align" "$W/etest.mts")
printf '%-36s %8s %8s\n' "measure" "seconds" "vs ref"
have=0
if $PY -c 'import sklearn, scipy, numpy' 2>/dev/null; then
	have=1
	SK=$(bestpy $PY "$TOP/tests/ref/probe_ref.py" --bench "$W/etrain.mts" \
		"$W/etest.mts" "$W/sk.tsv")
	NP=$(bestpy $PY "$TOP/tests/ref/align_ref.py" --bench "$W/etest.mts")
	SK2=$(OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 bestpy $PY \
		"$TOP/tests/ref/probe_ref.py" --bench "$W/etrain.mts" "$W/etest.mts" \
		"$W/sk2.tsv")
	printf '%-36s %8.3f %8s\n' "sklearn: 10 probes (1 thread)" "$SK" "1"
	printf '%-36s %8.3f %8s\n' "sklearn: 10 probes (2 BLAS threads)" "$SK2" "1"
fi
ratio() { [ $have = 1 ] && awk -v r="$1" -v t="$2" 'BEGIN { printf "%.1fx", r / t }' || echo -; }
printf '%-36s %8.3f %8s\n' "mmib-probe: 10 probes, 1 thread" "$P1" "$(ratio "${SK:-0}" "$P1")"
printf '%-36s %8.3f %8s\n' "mmib-probe: 10 probes, -t 2" "$P2" "$(ratio "${SK:-0}" "$P2")"
printf '%-36s %8s %8s\n' "  -t 2 against sklearn on 2 threads" "" "$(ratio "${SK2:-0}" "$P2")"
printf '%-36s %8.3f %8s\n' "mmib-probe, dgemm path (MMIB_SIMD=0)" "$PD" "$(ratio "${SK:-0}" "$PD")"
printf '%-36s %8s %8s\n' "  against the anchor's sklearn 3.6 s:" \
	"$(awk -v t="$P1" 'BEGIN { printf "%.1fx", 3.6 / t }')" \
	"$(awk -v t="$P2" 'BEGIN { printf "%.1fx", 3.6 / t }') (-t 2)"
if [ $have = 1 ]; then
	printf '%-36s %8.3f %8s\n' "numpy: CKA, unbiased CKA, kNN@1,5" "$NP" "1"
fi
printf '%-36s %8.3f %8s\n' "mmib-align: all metrics, k 1,5" "$A1" "$(ratio "${NP:-0}" "$A1")"
# agree FILE LABEL: the largest differences to sklearn, and where
agree() {
	awk -F'\t' -v label="$2" 'NR == FNR { n[$1 "/" $2] = $3; a[$1 "/" $2] = $4; next }
	FNR > 1 && $3 != "group" { k = $1 "/" $2
		d = $8 - n[k]; if (d < 0) d = -d; if (d > dn) { dn = d; kn = k }
		d = $9 - a[k]; if (d < 0) d = -d; if (d > da) { da = d; ka = k } }
	END { printf "%s vs sklearn: max |d nMI| %.5f (%s), max |d acc| %.5f (%s)\n",
		label, dn, kn, da, ka }' "$W/sk.tsv" "$1"
}
if [ $have = 1 ]; then
	agree "$W/probe.tsv" "fused kernels"
	agree "$W/dgemm.tsv" "dgemm path"
fi
echo
# one evaluation of the five probes against the BLAS ceiling
"${MMIB_BUILD:-$TOP/build}/bench/b-probe-kern" 
