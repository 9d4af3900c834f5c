#!/bin/bash
# mmib-probe: agreement with scikit-learn 1.2 on the committed fixture
# (tests/ref/probe_ref.py), output formats and options, and clear errors
# on bad input with no output file left behind.
. "$(dirname "$0")/lib.sh"
plan 34

R=$MMIB_TOP/tests/ref
TR=$R/probe_train.mts
TE=$R/probe_test.mts

# compare columns nmi, acc (and iters) with sklearn's
# check FILE TOL ITERS: prints the rows that disagree
check() {
	awk -F'\t' -v tol="$2" -v iters="$3" '
	function abs(x) { return x < 0 ? -x : x }
	NR == FNR { if (FNR > 1) { n[$1 "/" $2] = $5; a[$1 "/" $2] = $6;
		it[$1 "/" $2] = $7; want++ } next }
	FNR > 1 && $3 != "group" { k = $1 "/" $2; seen++
		if (!(k in n) || abs($8 - n[k]) > tol || abs($9 - a[k]) > tol ||
		    (iters && $10 != it[k]))
			print k, $8, n[k], $9, a[k], $10, it[k] }
	END { if (seen != want) print "rows:", seen, "expected", want }' \
	    "$R/probe_expected.tsv" "$1"
}

run_cmd mmib-probe --train "$TR" "$TE"
is "$RC" 0 "probe runs on the fixture"
cp "$TMP/.out" "$TMP/p.tsv"
like "$ERR" "factor const has 1 class: skipped" "K = 1 factor: documented skip"
is "$(head -1 "$TMP/p.tsv")" "$(printf 'modality\tfactor\trole\tK\tlnK\tce\tmi\tnmi\tacc\titers')" "header row"
is "$(check "$TMP/p.tsv" 0.005 0)" "" "nMI and accuracy within 0.005 of scikit-learn"
is "$(check "$TMP/p.tsv" 0.00002 1)" "" "... in fact within 2e-5, with the same iteration counts"
MMIB_SIMD=0 mmib-probe -q --train "$TR" "$TE" > "$TMP/dgemm.tsv"
cmp -s "$TMP/p.tsv" "$TMP/dgemm.tsv"; ok $? "MMIB_SIMD=0 (dgemm instead of the fused kernels): the same output"

# rows and groups
is "$(grep -c . "$TMP/p.tsv")" 13 "8 probes + 4 group rows + header"
like "$(grep $'^img\tessence\tgroup' "$TMP/p.tsv")" $'^img\tessence\tgroup\t-\t2.890372\t' "group ln K sums ln 3 + ln 6"
is "$(awk -F'\t' '$3 == "group" { d = $8 - $7 / $5; if (d < 0) d = -d; if (d > 1e-6) print }' "$TMP/p.tsv")" "" "group nMI = sum MI / sum ln K"
is "$(awk -F'\t' '$1 == "fac" && $3 == "nuisance" { a += $9; n++ } $1 == "fac" && $2 == "nuisance" { g = $9 } END { d = a / n - g; if (d < 0) d = -d; print (d < 1e-6) }' "$TMP/p.tsv")" 1 "group accuracy = mean accuracy"
like "$(grep $'^fac\thue\t' "$TMP/p.tsv")" $'\t-0\\.07' "negative nMI reported with its sign"
is "$(awk -F'\t' 'NR > 1 && $3 != "group" { d = $7 - ($5 - $6); if (d < 0) d = -d; if (d > 2e-6) print }' "$TMP/p.tsv")" "" "MI = ln K - CE on every row"

# options
run_cmd mmib-probe --factor hue,shape --modality img --train "$TR" "$TE"
is "$(cut -f1-3 "$TMP/.out" | tr '\t\n' ' ')" "modality factor role img shape essence img hue nuisance img essence group img nuisance group " "--factor and --modality select rows (in factor order)"
mmib-probe -q -t 2 --train "$TR" "$TE" > "$TMP/t2.tsv"
cmp -s "$TMP/p.tsv" "$TMP/t2.tsv"; ok $? "-t 2 gives the same output"
mmib-probe -q --train "$TR" < "$TE" > "$TMP/stdin.tsv"
cmp -s "$TMP/p.tsv" "$TMP/stdin.tsv"; ok $? "test set from stdin"
mmib-probe -q --train "$TR" -o "$TMP/o.tsv" "$TE"
cmp -s "$TMP/p.tsv" "$TMP/o.tsv"; ok $? "-o writes the same TSV"
run_cmd mmib-probe --format json --train "$TR" "$TE"
like "$(cat "$TMP/.out")" '"modality": "img", "factor": "shape", "role": "essence", "K": 3, "lnK": 1.098612' "--format json: probe objects"
like "$(cat "$TMP/.out")" '"group": "nuisance", "factors": 2' "--format json: group objects"
is "$(grep -c '"nmi"' "$TMP/.out")" 12 "--format json: 12 objects"
run_cmd mmib-probe --max-iter 3 --train "$TR" "$TE"
is "$(awk -F'\t' 'NR > 1 && $3 != "group" && $10 > 3' "$TMP/.out")" "" "--max-iter caps the iterations"

# errors
run_cmd mmib-probe --train "$R/bad_nan.mts" "$TE"
like "$ERR" "bad_nan.mts: z_img row 3 holds a non-finite value" "NaN embedding: clear error"
run_cmd mmib-probe --train "$TR" "$R/bad_noclasses.mts"
like "$ERR" "bad_noclasses.mts: no 'classes' tensor" "missing classes"
run_cmd mmib-probe --train "$R/bad_badclass.mts" "$R/bad_badclass.mts"
like "$ERR" "class 3 of factor b outside \[0, 3\)" "class beyond the cardinality"
run_cmd mmib-probe --train "$R/bad_nofactors.mts" "$TE"
like "$ERR" "bad_nofactors.mts: metadata has no 'factors' key" "no factor metadata"
run_cmd mmib-probe --train "$TR" "$R/align_cont.mts"
like "$ERR" "train and test name 5 and 1 factors" "train/test metadata mismatch"
run_cmd mmib-probe --train "$R/tiny.mts" "$R/bad_imgonly.mts"
like "$ERR" "train and test hold different embeddings" "train/test modality mismatch"
run_cmd mmib-probe --modality fac --train "$R/bad_imgonly.mts" "$R/bad_imgonly.mts"
like "$ERR" "no z_fac tensor for --modality fac" "--modality absent from the stream"
run_cmd mmib-probe --factor colour --train "$TR" "$TE"
like "$ERR" "--factor: 'colour' is not a factor of .*probe_train.mts \(its factors: shape,size,hue,pos,const\)" "unknown --factor"
run_cmd mmib-probe --factor '' --train "$TR" -o "$TMP/none.tsv" "$TE"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/none.tsv" ]; ok $? "--factor '': an error, no table"
run_cmd mmib-probe --factor const --train "$TR" "$TE"
like "$ERR" "no factor to probe" "--factor naming only a 1-class factor: the reason"
head -c 3000 "$TE" > "$TMP/trunc.mts"
run_cmd mmib-probe --train "$TR" -o "$TMP/x.tsv" "$TMP/trunc.mts"
like "$ERR" "trunc.mts: truncated stream" "truncated test stream"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/x.tsv" ]; ok $? "failure: exit $RC, no output file"
run_cmd mmib-probe "$TE"
like "$ERR" "usage: mmib-probe" "no --train: usage"
run_cmd mmib-probe --C 0 --train "$TR" "$TE"
like "$ERR" "--C: '0' is not" "--C out of range"

done_testing
