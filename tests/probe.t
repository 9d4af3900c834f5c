#!/bin/bash
# mmib-probe: agreement with scikit-learn 1.2 on the committed fixture
# (tests/ref/probe_ref.py), output formats and options, and clear errors
# on bad input with no output file left behind.
. "$(dirname "$0")/lib.sh"
plan 51

R=$MMIB_TOP/tests/ref
TR=$R/probe_train.mts
TE=$R/probe_test.mts

# compare columns nmi, acc (and iters) with sklearn's
# check FILE TOL ITERS: prints the rows that disagree
check() {
	awk -F'\t' -v tol="$2" -v iters="$3" '
	function abs(x) { return x < 0 ? -x : x }
	NR == FNR { if (FNR > 1) { n[$1 "/" $2] = $5; a[$1 "/" $2] = $6;
		it[$1 "/" $2] = $7; cv[$1 "/" $2] = $8; want++ } next }
	FNR > 1 && $3 != "group" { k = $1 "/" $2; seen++
		if (!(k in n) || abs($8 - n[k]) > tol || abs($9 - a[k]) > tol ||
		    (iters && ($10 != it[k] || $11 != cv[k])))
			print k, $8, n[k], $9, a[k], $10, it[k], $11, cv[k] }
	END { if (seen != want) print "rows:", seen, "expected", want }' \
	    "$R/probe_expected.tsv" "$1"
}

run_cmd mmib-probe --train "$TR" "$TE"
is "$RC" 0 "probe runs on the fixture"
cp "$TMP/.out" "$TMP/p.tsv"
like "$ERR" "factor const has 1 class: skipped" "K = 1 factor: documented skip"
is "$(head -1 "$TMP/p.tsv")" "$(printf 'modality\tfactor\trole\tK\tlnK\tce\tmi\tnmi\tacc\titers\tconverged')" "header row"
like "$ERR" "img/hue: no convergence in 100 iterations \(--max-iter reached\)" "a fit stopped at --max-iter: warned (ConvergenceWarning)"
is "$(grep -c 'no convergence' "$TMP/.err")" 1 "... and only that one"
is "$(check "$TMP/p.tsv" 0.005 0)" "" "nMI and accuracy within 0.005 of scikit-learn"
is "$(check "$TMP/p.tsv" 0.00002 1)" "" "... in fact within 2e-5, with the same iteration counts and convergence"
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

# numpy input: the fixture's arrays exported by mmib-info (.npy) and
# zipped (.npz, deflated and stored)
for s in train test; do
	for t in z_img z_fac classes; do
		mmib-info --npy $t -o "$TMP/${s}_$t.npy" "$R/probe_$s.mts"
	done
done
N5=shape,size,hue,pos,const
run_cmd mmib-probe --train "$TMP/train_z_img.npy" --train-labels "$TMP/train_classes.npy" --labels "$TMP/test_classes.npy" --names $N5 "$TMP/test_z_img.npy"
is "$RC" 0 ".npy embeddings with .npy labels: runs"
is "$(cut -f1,2,4- "$TMP/.out")" "$(grep -v group "$TMP/p.tsv" | grep -v '^fac' | cut -f1,2,4-)" ".npy: the same probes as the stream, to the digit"
is "$(cut -f3 "$TMP/.out" | sort -u | tr '\n' ' ')" "- role " "no roles in numpy labels: role '-', no group rows"
like "$ERR" "factor const has 1 class: skipped" ".npy labels: K = largest label + 1 (const: 1)"
mmib-probe -q --train "$TMP/train_z_img.npy" --train-labels "$TMP/train_classes.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy" > "$TMP/y.tsv"
is "$(cut -f2 "$TMP/y.tsv" | tr '\n' ' ')" "factor y1 y2 y3 y4 " "without --names: columns y1..yF"
if command -v zip > /dev/null; then
	for s in train test; do
		mkdir -p "$TMP/$s"
		cp "$TMP/${s}_z_img.npy" "$TMP/$s/z_img.npy"
		cp "$TMP/${s}_z_fac.npy" "$TMP/$s/z_fac.npy"
		cp "$TMP/${s}_classes.npy" "$TMP/$s/labels.npy"
	done
	(cd "$TMP/train" && zip -q ../tr.npz z_img.npy z_fac.npy labels.npy)
	(cd "$TMP/test" && zip -q -0 ../te.npz labels.npy z_fac.npy z_img.npy)
	run_cmd mmib-probe --names $N5 --train "$TMP/tr.npz" "$TMP/te.npz"
	is "$(cut -f1,2,4- "$TMP/.out")" "$(grep -v group "$TMP/p.tsv" | cut -f1,2,4-)" ".npz (deflated, stored) holding z_img, z_fac, labels: the stream's probes"
	(cd "$TMP/train" && zip -q ../tr1.npz z_img.npy)
	run_cmd mmib-probe --train "$TMP/tr1.npz" "$TMP/te.npz"
	like "$ERR" "tr1.npz: no 'labels' array" ".npz without labels: clear error"
	run_cmd mmib-probe --train "$TMP/tr1.npz" --train-labels "$TMP/train_classes.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
	is "$RC" 0 ".npz embeddings with .npy labels: runs"
else
	skip "no zip"; skip "no zip"; skip "no zip"
fi
run_cmd mmib-probe --names a,b --train "$TMP/train_z_img.npy" --train-labels "$TMP/train_classes.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "--names: 2 names for 5 label columns" "--names: count checked"
run_cmd mmib-probe --train "$TMP/train_z_img.npy" --train-labels "$TMP/test_classes.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "test_classes.npy: 200 labels for 400 rows of embeddings" "labels of another length: clear error"
run_cmd mmib-probe --train "$TMP/train_z_img.npy" --train-labels "$TMP/train_z_fac.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "train_z_fac.npy: dtype f32: labels must be integers" "float labels: clear error"
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf "%-117s\n" "{'descr': '<i4', 'fortran_order': False, 'shape': (400,), }"; head -c 1600 /dev/zero | tr '\0' '\377'; } > "$TMP/neg.npy"
run_cmd mmib-probe --train "$TMP/train_z_img.npy" --train-labels "$TMP/neg.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "neg.npy: row 0: label -1 \(labels are class indices >= 0\)" "negative labels: clear error"
run_cmd mmib-probe --train "$TMP/train_z_img.npy" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "train_z_img.npy: embeddings without labels" ".npy without --train-labels: clear error"
run_cmd mmib-probe --train "$TR" --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "both streams or both numpy files" "a stream and a .npy: refused"
run_cmd mmib-probe --train "$TR" --labels "$TMP/test_classes.npy" "$TE"
like "$ERR" "--labels: .*: labels go with .npy/.npz embeddings" "--labels with a stream: refused"

done_testing
