#!/bin/bash
# mmib-align: every metric against the literal numpy formulas of
# tests/ref/align_ref.py (to 1e-5) on two fixtures, one full of exact
# ties, then formats, options and clear errors.
. "$(dirname "$0")/lib.sh"
plan 50

R=$MMIB_TOP/tests/ref

# cmp_tsv GOT WANT TOL: rows that differ (metric, k, value)
cmp_tsv() {
	awk -F'\t' -v tol="$3" '
	function abs(x) { return x < 0 ? -x : x }
	NR == FNR { if (FNR > 1) { w[$1 "@" $2] = $3; want++ } next }
	FNR > 1 { k = $1 "@" $2; seen++
		if (!(k in w) || abs($3 - w[k]) > tol) print k, $3, w[k] }
	END { if (seen != want) print "rows:", seen, "expected", want }' "$2" "$1"
}

for f in codes cont; do
	run_cmd mmib-align -k 1,5,10 "$R/align_$f.mts"
	is "$RC" 0 "$f: runs"
	cp "$TMP/.out" "$TMP/$f.tsv"
	is "$(cmp_tsv "$TMP/$f.tsv" "$R/align_${f}_expected.tsv" 1e-5)" "" "$f: every metric within 1e-5 of numpy"
done
like "$ERR" "z_img \(16\) and z_fac \(10\) differ in width: no cosine, gap or recall" "different widths: cross-modal metrics skipped, said so"

# -v names the tiles of the neighbour searches: bf16 only where the measured
# rate of vdpbf16ps against fp32 FMA reaches the bar it gives; the same table
run_cmd mmib-align -v -k 1,5,10 "$R/align_cont.mts"
line=$(printf '%s\n' "$ERR" | grep 'neighbour searches in')
like "$line" "neighbour searches in (bf16|float32) tiles: " "-v: the tiles of the neighbour searches ($line)"
if [[ "$line" == *"measured; bf16 from"* ]]; then
	ok "$(printf '%s\n' "$line" | sed -E 's/.*in ([a-z0-9]+) tiles: vdpbf16ps does ([0-9.]+) times.*bf16 from ([0-9.]+)\)$/\1 \2 \3/' |
		awk '{ exit !(($1 == "bf16") == ($2 >= $3)) }'; echo $?)" "... bf16 exactly when the rate reaches the bar"
else
	cmp -s "$TMP/.out" "$TMP/cont.tsv"; ok $? "... (no bf16 kernel) and the same table"
fi

for f in codes cont; do
	mmib-align -q -t 2 -k 1,5,10 "$R/align_$f.mts" > "$TMP/${f}2.tsv"
	cmp -s "$TMP/$f.tsv" "$TMP/${f}2.tsv"; ok $? "$f: -t 2 table = -t 1 table, byte for byte"
done
run_cmd mmib-align -t 0 "$R/tiny.mts"
like "$ERR" "-t: '0' is not" "-t 0 refused"

run_cmd mmib-align "$R/align_codes.mts"
is "$(cut -f1,2 "$TMP/.out" | tr '\t\n' ' ')" "metric k cka - cka_unbiased - svcca - cosine - gap - mutual_knn 1 cycle_knn 1 recall_img2fac 1 recall_fac2img 1 mutual_knn 5 cycle_knn 5 cknna 5 recall_img2fac 5 recall_fac2img 5 " "default -k 1,5; rows in a fixed order"
mmib-align --normalize -k 1,5,10 "$R/align_codes.mts" > "$TMP/n.tsv"
is "$(cmp_tsv "$TMP/n.tsv" "$R/align_codes_expected.tsv" 1e-5)" "" "--normalize on unit rows changes nothing"
run_cmd mmib-align --format json -k 2 "$R/align_cont.mts"
like "$(cat "$TMP/.out")" '^\{"rows": 300, "metrics": \[' "--format json: header"
like "$(cat "$TMP/.out")" '\{"metric": "cknna", "k": 2, "value": [0-9.-]+\}' "--format json: metric objects"
mmib-align < "$R/align_codes.mts" > "$TMP/stdin.tsv"
mmib-align -o "$TMP/o.tsv" "$R/align_codes.mts"
cmp -s "$TMP/stdin.tsv" "$TMP/o.tsv"; ok $? "stdin input and -o output"

run_cmd mmib-align "$R/bad_imgonly.mts"
like "$ERR" "needs both z_img and z_fac" "one modality only: clear error"
run_cmd mmib-align "$R/bad_nan.mts"
like "$ERR" "bad_nan.mts: z_img row 3 holds a non-finite value" "NaN: clear error"
run_cmd mmib-align -k 10 -o "$TMP/x.tsv" "$R/tiny.mts"
like "$ERR" "-k: 10 needs more than 10 rows" "k >= N refused"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/x.tsv" ]; ok $? "failure: exit $RC, no output file"
run_cmd mmib-align -k 0 "$R/tiny.mts"
like "$ERR" "-k: '0' is not" "k = 0 refused"

run_cmd mmib-align "$R/bad_nofactors.mts"
is "$RC" 0 "a stream without factor metadata: mmib-align needs none"

# numpy input: arrays made by numpy (fixtures) and by hand here
run_cmd mmib-align -k 1,5,10 "$R/align_cont_img.npy" "$R/align_cont_fac.npy"
is "$(cmp_tsv "$TMP/.out" "$R/align_cont_expected.tsv" 1e-5)" "" "two .npy (f32 16-d, f64 10-d): every metric within 1e-5 of numpy"
cmp -s "$TMP/.out" "$TMP/cont.tsv"; ok $? ".npy input = the same arrays in a stream, to the digit"
run_cmd mmib-align -k 1,5,10 "$R/align_codes.npz"
cmp -s "$TMP/.out" "$TMP/codes.tsv"; ok $? "deflated .npz (z_fac stored before z_img) = the stream"

# mknpy OUT DESCR FORTRAN SHAPE: a .npy header (v1.0, 128 bytes) + stdin
mknpy() {
	local d="{'descr': '$2', 'fortran_order': $3, 'shape': $4, }"
	{ printf '\x93NUMPY\x01\x00\x76\x00%-117s\n' "$d"; cat; } > "$1"
}
zeros() { head -c "$1" /dev/zero; }
zeros 96 | mknpy "$TMP/a.npy" '<f4' False '(6, 4)'
zeros 96 | mknpy "$TMP/b.npy" '<f4' False '(8, 3)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "a.npy has 6 rows and .*b.npy 8: row i of both sides" "rows that differ: clear error"
zeros 96 | mknpy "$TMP/b.npy" '<i4' False '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: dtype i32: embeddings must be float32 or float64" "integer dtype: clear error"
zeros 96 | mknpy "$TMP/b.npy" '>f4' False '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: unsupported dtype '>f4'" "big-endian: clear error"
zeros 96 | mknpy "$TMP/b.npy" '<f4' True '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: Fortran-order arrays are not supported" "Fortran order: clear error"
zeros 24 | mknpy "$TMP/b.npy" '<f4' False '(6,)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: 1-d array: embeddings must be 2-d \(N, D\)" "1-d array: clear error"
{ zeros 52; printf '\x00\x00\xc0\x7f'; zeros 40; } | mknpy "$TMP/b.npy" '<f4' False '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: row 3 holds a non-finite value" "NaN: clear error naming the row"
zeros 90 | mknpy "$TMP/b.npy" '<f4' False '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
like "$ERR" "b.npy: shape of 24 f32 elements needs 96 bytes but the body holds 90" "truncated: clear error"
run_cmd mmib-align "$TMP/a.npy"
like "$ERR" "one .npy holds one side" "one .npy alone: clear error"
zeros 96 | mknpy "$TMP/b.npy" '<f4' False '(6, 4)'
run_cmd mmib-align "$TMP/a.npy" "$TMP/b.npy"
is "$RC" 0 "two well-formed .npy: runs (all-zero rows give NaN ratios, not errors)"

# D = 768 (numpy-made .npy, 100 rows): every metric, and cka_rbf at three
# bandwidths on every fixture, against numpy (align_rbf_ref.py)
run_cmd mmib-align -k 1,5,10 "$R/align_rbf_a.npy" "$R/align_rbf_b.npy"
is "$(cmp_tsv "$TMP/.out" "$R/align_d768_expected.tsv" 1e-6)" "" "D = 768: every metric within 1e-6 of numpy"
for set in codes cont d768; do
	bad=
	for s in 1 0.5 2; do
		case $set in
		d768) in=("$R/align_rbf_a.npy" "$R/align_rbf_b.npy") ;;
		*) in=("$R/align_$set.mts") ;;
		esac
		got=$(mmib-align -q --metrics cka_rbf --rbf-sigma "$s" "${in[@]}" | awk -F'\t' 'NR == 2 { print $3 }')
		want=$(awk -F'\t' -v set="$set" -v s="$s" '$1 == set && $2 == s { print $3 }' "$R/align_rbf_expected.tsv")
		awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; exit !(d < 1e-6 && d > -1e-6) }' || bad="$bad $s:$got/$want"
	done
	is "$bad" "" "$set: cka_rbf at sigma 1, 0.5, 2 within 1e-6 of Kornblith et al.'s numpy code"
done

# --metrics: what runs, in the fixed order
run_cmd mmib-align --metrics mutual_knn,cka,recall -k 5 "$R/align_codes.mts"
is "$(cut -f1,2 "$TMP/.out" | tr '\t\n' ' ')" "metric k cka - mutual_knn 5 recall_img2fac 5 recall_fac2img 5 " "--metrics: the chosen rows only, in the usual order"
is "$(grep -P '^cka\t' "$TMP/.out" | cut -f3)" "$(grep -P '^cka\t' "$TMP/codes.tsv" | cut -f3)" "--metrics: a chosen metric's value as in the full run"
run_cmd mmib-align --metrics cka,bogus "$R/align_codes.mts"
like "$ERR" "--metrics: 'bogus' is not a metric" "--metrics: unknown name refused"
run_cmd mmib-align --metrics cosine "$R/align_cont.mts"
like "$ERR" "differ in width: no cosine" "--metrics cosine on different widths: said so"

# --permutations: the null, seeded, independent of -t
mmib-align -q -k 1,5 "$R/align_codes.mts" > "$TMP/codes5.tsv"
mmib-align -q --permutations 30 -s 4 -k 1,5 "$R/align_codes.mts" > "$TMP/p1.tsv"
mmib-align -q --permutations 30 -s 4 -k 1,5 -t 2 "$R/align_codes.mts" > "$TMP/p2.tsv"
cmp -s "$TMP/p1.tsv" "$TMP/p2.tsv"; ok $? "--permutations: -t 2 = -t 1, byte for byte"
mmib-align -q --permutations 30 -s 5 -k 1,5 "$R/align_codes.mts" > "$TMP/p3.tsv"
! cmp -s "$TMP/p1.tsv" "$TMP/p3.tsv"; ok $? "--permutations: another seed, another null"
is "$(head -1 "$TMP/p1.tsv")" "$(printf 'metric\tk\tvalue\tnull_mean\tnull_sd\tp_value\tcalibrated')" "--permutations: four more columns"
is "$(cut -f1-3 "$TMP/p1.tsv")" "$(cat "$TMP/codes5.tsv")" "--permutations: the observed values unchanged"
is "$(awk -F'\t' '$1 == "cka" { print $6 }' "$TMP/p1.tsv")" "0.03225806" "strongly aligned: cka's p at its floor 1/(1+30)"
is "$(awk -F'\t' '$1 == "gap" { print $4 == $3, $5, $6 }' "$TMP/p1.tsv")" "1 0.00000000 1.00000000" "gap: a permutation leaves the centroids: null = observed, p = 1"
bad=$(awk -F'\t' 'NR > 1 { p = $6 * 31; if (p < 0.999 || p > 31.001 || (p - int(p + 0.5)) ^ 2 > 1e-8 || ($7 - ($3 - $4)) ^ 2 > 1e-14) print }' "$TMP/p1.tsv")
is "$bad" "" "every p is a multiple of 1/31 in [1/31, 1]; calibrated = value - null_mean"
run_cmd mmib-align --permutations 1 "$R/align_codes.mts"
like "$ERR" "--permutations: '1' is not" "--permutations 1 refused (no sd)"
zeros 65540 | mknpy "$TMP/big.npy" '<f4' False '(16385, 1)'
run_cmd mmib-align --metrics cka_rbf "$TMP/big.npy" "$TMP/big.npy"
like "$ERR" "16385 rows: cka_rbf takes at most 16384" "cka_rbf: more rows than its limit refused up front"
done_testing
