#!/bin/bash
# mmib-import: numpy arrays (exported here from the probe fixture by
# mmib-info) packed into a stream that mmib-probe and mmib-align read as
# they read mmib-encode's; metadata from the labels; clear errors.
. "$(dirname "$0")/lib.sh"
plan 12

R=$MMIB_TOP/tests/ref
for s in train test; do
	for t in z_img z_fac classes; do
		mmib-info --npy $t -o "$TMP/${s}_$t.npy" "$R/probe_$s.mts"
	done
	mmib-import --labels "$TMP/${s}_classes.npy" --names shape,size,hue,pos,const \
	    --essence shape,size --batch 64 -o "$TMP/$s.mts" "$TMP/${s}_z_img.npy" "$TMP/${s}_z_fac.npy"
done
mmib-info -c "$TMP/train.mts"; ok $? "the stream is intact (mmib-info -c)"
run_cmd mmib-info "$TMP/test.mts"
like "$(cat "$TMP/.out")" $'meta\tcardinalities\t3,6,10,8,1' "cardinalities: the largest label + 1"
like "$(cat "$TMP/.out")" $'tensor\tclasses\ti32\t200x5\t4' "classes i32 (N, F) in batches of --batch rows"
mmib-probe -q --train "$R/probe_train.mts" "$R/probe_test.mts" > "$TMP/want.tsv"
mmib-probe -q --train "$TMP/train.mts" "$TMP/test.mts" > "$TMP/got.tsv"
cmp -s "$TMP/want.tsv" "$TMP/got.tsv"; ok $? "mmib-probe on the imported streams: the same table as on mmib-encode's"
mmib-align -q "$R/probe_test.mts" > "$TMP/a1.tsv"
mmib-import "$TMP/test_z_img.npy" "$TMP/test_z_fac.npy" | mmib-align -q > "$TMP/a2.tsv"
cmp -s "$TMP/a1.tsv" "$TMP/a2.tsv"; ok $? "without labels: a stream mmib-align reads (no factor metadata)"
mmib-import -z -o "$TMP/z.mts" "$TMP/test_z_img.npy"
is "$(mmib-info "$TMP/z.mts" | grep -c '^tensor')" 1 "-z: a compressed stream of z_img alone"

run_cmd mmib-import --labels "$TMP/train_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "row counts differ \(z_img 200, z_fac 0, labels 400\)" "labels of another length: clear error"
run_cmd mmib-import --names a,b --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "--names: 2 names for 5 label columns" "--names: count checked"
run_cmd mmib-import --essence colour --labels "$TMP/test_classes.npy" "$TMP/test_z_img.npy"
like "$ERR" "--essence: metadata: essence factor 'colour' is not among the factors" "--essence: unknown factor"
run_cmd mmib-import --labels "$TMP/test_z_img.npy" "$TMP/test_z_img.npy"
like "$ERR" "test_z_img.npy: dtype f32: labels must be integers" "float labels refused"
run_cmd mmib-import -o "$TMP/x.mts" "$TMP/test_classes.npy"
like "$ERR" "test_classes.npy: dtype i32: embeddings must be float32" "integer embeddings refused"
[ ! -e "$TMP/x.mts" ]; ok $? "failure: no output file"
done_testing
