#!/bin/bash
# A user's own factor dataset end to end: a dataset made at test time
# (build/tests/t-owndata.t --write: 32 x 32 RGB, three factors of 4, 3, 5
# classes with unequal marginals, labels not from 0, not full factorial)
# through mmib-gen (every pairing, --png, --list), mmib-train (mlp-flatten,
# resnet, vit), mmib-encode, mmib-probe (nMI over the empirical entropy,
# checked against scikit-learn on a committed fixture) and mmib-align;
# broken files refused in one line naming the member, no output left.
. "$(dirname "$0")/lib.sh"
plan 39

D=$TMP/d
"$MMIB_TOP/$MMIB_BUILD/tests/t-owndata.t" --write "$D"; H5=$?
[ -e "$D/own.npz" ] || { echo "Bail out! no dataset written"; exit 1; }

# ---- mmib-gen
run_cmd mmib-gen --list --from "$D/own.npz"
is "$(tail -1 "$TMP/.out" | cut -f1-4)" "$(printf 'own\t3\t480\tcolor:4,size:3,pos:5')" "--list --from: name, channels, rows, factors"
run_cmd mmib-gen --from "$D/own.npz" -n 400 --part train --missing pos -o "$TMP/tr.mts"
is "$RC" 0 "gen --missing, train part"
mmib-gen -q --from "$D/own.npz" -n 400 --part test --missing pos -o "$TMP/te.mts"
M=$(mmib-info "$TMP/tr.mts")
like "$M" $'meta\tdataset\town\n' "dataset named after the file"
like "$M" $'cardinalities\t4,3,5\n' "cardinalities counted"
like "$M" $'meta\tmarginals\tmeasured' "marginals=measured"
like "$M" $'values.size\t-1,0,5\n' "stored label values kept (values.size)"
like "$M" $'class_names.color\tred,green,blue,yellow' "class names from class_names_color"
like "$M" $'images\tu8\t300x3x32x32' "images (300, 3, 32, 32)"
like "$M" $'pair\tf32\t300x7' "pair: one-hot of color and size (4 + 3)"
run_cmd mmib-gen --from "$D/own.npz" -n 100 --essence pos -o "$TMP/e.mts"
like "$(mmib-info "$TMP/e.mts")" $'pair\tf32\t100x5' "--essence pos"
run_cmd mmib-gen --from "$D/own.npz" -n 100 --random-split -s 3 -o "$TMP/r.mts"
is "$RC" 0 "--random-split"
run_cmd mmib-gen --from "$D/own.npz" -n all -o "$TMP/all.mts"
like "$(mmib-info "$TMP/all.mts")" $'images\tu8\t480x3x32x32' "-n all: every row"
run_cmd mmib-gen --from "$D/own.npz" -n 1000 -o "$TMP/big.mts"
like "$ERR" "the own dataset has only 480 rows" "-n beyond the rows refused"
run_cmd mmib-gen --from "$D/own.npz" --part train -o "$TMP/dflt.mts"
like "$(mmib-info "$TMP/dflt.mts")" $'images\tu8\t360x3x32x32' \
	"no -n: a file smaller than the default sample gives all its rows (360 to train)"
run_cmd mmib-gen --from "$D/own.npz" -n 100 --png "$TMP/s.png"
is "$(head -c 4 "$TMP/s.png" | tail -c 3)" "PNG" "--png: a contact sheet"
run_cmd mmib-gen --from "$D/own-chw.npz" --images x --labels y --name mine -n 100 --part test -o "$TMP/chw.mts"
like "$(mmib-info "$TMP/chw.mts")" $'dataset\tmine\n' "float (N, C, H, W) with --images, --labels, --name"
run_cmd mmib-gen -d generic --from "$D/own-grey.npz" -n 50 --png "$TMP/g.png"
is "$RC" 0 "-d generic: float64 grey (N, H, W), named factor0.."
run_cmd mmib-gen -d dsprites --from "$D/own.npz" --labels labels
like "$ERR" "are for a generic dataset" "generic options with a built-in -d refused"

# ---- train (every encoder kind), encode, probe, align
for e in mlp-flatten:64/16 resnet8 vit:patch=8,dim=32,depth=1,heads=2,mlp=64; do
	run_cmd mmib-train --image-encoder "$e" --epochs 1 --batch-size 64 -s 1 -o "$TMP/m.mts" "$TMP/tr.mts"
	is "$RC" 0 "train $e on 32 x 32 RGB"
done
run_cmd mmib-train --image-encoder vit:patch=5 --epochs 1 -o "$TMP/v.mts" "$TMP/tr.mts"
like "$ERR" "patch 5 does not divide the image 3x32x32" "vit: a patch that does not divide the image refused"
[ ! -e "$TMP/v.mts" ]; ok $? "... no model left"
mmib-encode -q -m "$TMP/m.mts" -o "$TMP/etr.mts" "$TMP/tr.mts" &&
mmib-encode -q -m "$TMP/m.mts" -o "$TMP/ete.mts" "$TMP/te.mts"; ok $? "encode both parts"
run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/ete.mts"
is "$RC" 0 "probe"
cp "$TMP/.out" "$TMP/p.tsv"
# the entropy of the test labels, from the classes of the test stream
mmib-info --npy classes -o "$TMP/c.npy" "$TMP/te.mts"
H=$(od -An -v -t d4 -j 128 "$TMP/c.npy" | tr -s ' ' '\n' | grep . |
	awk '{ f = (NR - 1) % 3; n[f, $1]++; t[f]++ } END {
		for (k in n) { split(k, a, SUBSEP); p = n[k] / t[a[1]]; h[a[1]] -= p * log(p) }
		printf "%.6f %.6f %.6f", h[0], h[1], h[2] }')
is "$(awk -F'\t' '$1 == "img" && $3 != "group" { printf "%s%s", s, $5; s = " " }' "$TMP/p.tsv")" "$H" "lnK column: the entropy of the test labels"
is "$(awk -F'\t' 'NR > 1 && $3 != "group" { d = $8 - ($5 - $6) / $5; if (d < 0) d = -d; if (d > 2e-6) print }' "$TMP/p.tsv")" "" "nMI = (H - CE) / H on every row"
run_cmd mmib-align "$TMP/ete.mts"
like "$(cat "$TMP/.out")" $'^cka\t-\t' "align"

# scikit-learn on the committed fixture (tests/ref/owndata_ref.py)
R=$MMIB_TOP/tests/ref
mmib-probe -q --train "$R/owndata_train.mts" "$R/owndata_test.mts" > "$TMP/ref.tsv"
is "$(awk -F'\t' 'function abs(x) { return x < 0 ? -x : x }
	NR == FNR { if (FNR > 1) { h[$1 "/" $2] = $4; n[$1 "/" $2] = $6; a[$1 "/" $2] = $7 } next }
	FNR > 1 && $3 != "group" { k = $1 "/" $2; seen++
		if (abs($5 - h[k]) > 1e-6 || abs($8 - n[k]) > 2e-5 || abs($9 - a[k]) > 2e-5) print k }
	END { if (seen != 6) print "rows", seen }' "$R/owndata_expected.tsv" "$TMP/ref.tsv")" "" \
	"non-uniform marginals: H, nMI and accuracy as scikit-learn's within 2e-5"

# ---- HDF5
if [ "$H5" -eq 0 ]; then
	mmib-gen -q --from "$D/own.h5" -n 100 -o "$TMP/h5.mts"
	mmib-gen -q --from "$D/own.npz" -n 100 -o "$TMP/npz.mts"
	mmib-info --npy images -o "$TMP/a.npy" "$TMP/h5.mts"
	mmib-info --npy images -o "$TMP/b.npy" "$TMP/npz.mts"
	cmp -s "$TMP/a.npy" "$TMP/b.npy"; ok $? "the HDF5 file gives the npz's images"
else
	skip "built without HDF5"
fi

# ---- pipelines: DATASETS naming the file (a dry run: the runs it plans)
run_cmd make --no-print-directory -C "$MMIB_TOP" -n BIN="$MMIB_BIN" RUNS="$TMP/runs" \
	RESULTS="$TMP/results" PIPE_DEPS=0 remove-msi DATASETS="$D/own.npz" TEMPS=0.1 DEPTHS= SEEDS=1
G=$(grep -o 'mmib-gen -q --name own -n [0-9]* -s 1 --missing [a-z]* --from [^ ]* --part train' "$TMP/.out" | sed 's/--from [^ ]*/--from F/' | sort | tr '\n' ';')
is "$G" "mmib-gen -q --name own -n 480 -s 1 --missing color --from F --part train;mmib-gen -q --name own -n 480 -s 1 --missing pos --from F --part train;mmib-gen -q --name own -n 480 -s 1 --missing size --from F --part train;" \
	"make remove-msi DATASETS=own.npz: each factor left out, N capped at the 480 rows"
like "$(cat "$TMP/.out")" "--factor-encoder mlp:16,16,8,8,16,16" "... with the default factor encoder"

# ---- broken files: one line naming the member, exit non-zero, no output
bad() { # bad FILE REGEX NAME
	rm -f "$TMP/bad.mts"
	run_cmd mmib-gen --from "$D/$1" -n all -o "$TMP/bad.mts"
	if [ "$RC" -ne 0 ] && [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] &&
	    [ ! -e "$TMP/bad.mts" ] && printf '%s' "$ERR" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else ok 1 "$3"; diag "rc $RC: $ERR"; fi
}
bad bad-n.npz "images has 479 rows but the labels 480" "mismatched N"
bad bad-float.npz "labels: float elements" "non-integer labels"
bad bad-one.npz "labels: column 1 has a single value" "a factor with one class"
bad bad-empty.npz "labels: empty array" "empty arrays"
bad bad-zero.npz "images: images of 0 size" "images of 0 size"
bad bad-rank.npz "labels: a 1-d array" "labels of the wrong rank"
bad bad-nan.npz "images: image 240 holds nan" "NaN in float images"
done_testing
