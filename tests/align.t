#!/bin/bash
# mmib-align: every metric against the literal numpy formulas of
# tests/ref/align_ref.py (to 1e-5) on two fixtures, one full of exact
# ties, then formats, options and clear errors.
. "$(dirname "$0")/lib.sh"
plan 15

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

run_cmd mmib-align "$R/align_codes.mts"
is "$(cut -f1,2 "$TMP/.out" | tr '\t\n' ' ')" "metric k cka - cka_unbiased - svcca - cosine - gap - mutual_knn 1 cycle_knn 1 recall_img2fac 1 recall_fac2img 1 mutual_knn 5 cycle_knn 5 cknna 5 recall_img2fac 5 recall_fac2img 5 " "default -k 1,5; rows in a fixed order"
mmib-align -n -k 1,5,10 "$R/align_codes.mts" > "$TMP/n.tsv"
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

done_testing
