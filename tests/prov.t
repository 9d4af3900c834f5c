#!/bin/bash
# prov.t - provenance: the fingerprints mmib-gen, mmib-train and
# mmib-encode record, and the mixes each tool refuses (with one message
# naming both sides) unless --force; streams without fingerprints pass.
. "$(dirname "$0")/lib.sh"
plan 51

G="mmib-gen -q -n 256"
$G -d dsprites -s 5 --missing posX --part train -o "$TMP/tr.mts" &&
$G -d dsprites -s 5 --missing posX --part test -o "$TMP/te.mts" &&
$G -d dsprites -s 6 --missing posX --part test -o "$TMP/te6.mts" &&
$G -d dsprites -s 5 --missing posY --part test -o "$TMP/teY.mts" &&
$G -d shapes3d -s 5 --essence floor_hue,wall_hue,object_hue,scale,shape --part train -o "$TMP/s3.mts" &&
$G -d mpi3d -s 5 --essence object_size,horizontal_axis --part test -o "$TMP/mpi.mts"
ok $? "paired streams generated"
meta() { mmib-info "$1" | awk -F'\t' -v k="$2" '$1 == "meta" && $2 == k { print $3; exit }'; }
like "$(meta "$TMP/tr.mts" fp.data)" '^[0-9a-f]{16}$' "mmib-gen writes fp.data"
is "$(meta "$TMP/tr.mts" fp.split)" "$(meta "$TMP/te.mts" fp.split)" \
	"train and test parts share fp.split"
[ "$(meta "$TMP/tr.mts" fp.data)" != "$(meta "$TMP/te.mts" fp.data)" ]
ok $? "... and differ in fp.data"
[ "$(meta "$TMP/te.mts" fp.split)" != "$(meta "$TMP/te6.mts" fp.split)" ]
ok $? "another seed, another fp.split"
is "$(meta "$TMP/te.mts" fp.pairing)" "$(meta "$TMP/te6.mts" fp.pairing)" \
	"... the same fp.pairing"
[ "$(meta "$TMP/te.mts" fp.pairing)" != "$(meta "$TMP/teY.mts" fp.pairing)" ]
ok $? "another essence, another fp.pairing"

T=(mmib-train -q --image-encoder mlp-flatten:32/8 --batch-size 32 --epochs 1)
"${T[@]}" "$TMP/tr.mts" -o "$TMP/m.mts" &&
"${T[@]}" -s 2 "$TMP/tr.mts" -o "$TMP/m2.mts" &&
"${T[@]}" "$TMP/s3.mts" -o "$TMP/ms3.mts"
ok $? "three models trained"
like "$(meta "$TMP/m.mts" model.fp)" '^[0-9a-f]{16}$' "mmib-train writes model.fp"
is "$(meta "$TMP/m.mts" model.data_fp)" "$(meta "$TMP/tr.mts" fp.data)" \
	"model.data_fp is the training data's fp.data"
[ "$(meta "$TMP/m.mts" model.fp)" != "$(meta "$TMP/m2.mts" model.fp)" ]
ok $? "another seed, another model.fp"

# mmib-train --test
run_cmd "${T[@]}" --test "$TMP/te6.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
ok $((RC == 0)) "--test of another seed's split refused"
like "$ERR" "te6.mts: not a held-out part of the training data's split: .*seed=5 part=train.*seed=6 part=test" \
	"... naming both sides"
[ ! -e "$TMP/x.mts" ]; ok $? "... and no model written"
run_cmd "${T[@]}" --test "$TMP/tr.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
like "$RC:$ERR" "^1:.*the test data is the training data" "--test naming the training data refused"
run_cmd "${T[@]}" --test "$TMP/teY.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
ok $((RC == 0)) "--test of another pairing refused"
run_cmd "${T[@]}" --force --test "$TMP/te6.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
ok $RC "--force: another split accepted"
run_cmd "${T[@]}" --test "$TMP/te.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
ok $RC "the held-out part accepted"

# mmib-encode
run_cmd mmib-encode -m "$TMP/m.mts" "$TMP/teY.mts" -o "$TMP/e.mts"
like "$RC:$ERR" "^1:mmib-encode: .*m.mts, .*teY.mts: the model was trained on dsprites essence=[a-z,]*posY.*the data is dsprites essence=[a-z,]*posX" \
	"a model without posX refuses data without posY (same width)"
[ ! -e "$TMP/e.mts" ]; ok $? "... and no output"
run_cmd mmib-encode -m "$TMP/ms3.mts" "$TMP/mpi.mts" -o "$TMP/e.mts"
like "$RC:$ERR" "^1:.*trained on shapes3d .*the data is mpi3d" \
	"a Shapes3D model refuses MPI3D data (both 3x64x64, 42-wide pairs)"
run_cmd mmib-encode --force -m "$TMP/m.mts" "$TMP/teY.mts" -o "$TMP/e.mts"
ok $RC "--force encodes it anyway"
mmib-encode -m "$TMP/m.mts" "$TMP/tr.mts" -o "$TMP/etr.mts" &&
mmib-encode -m "$TMP/m.mts" "$TMP/te.mts" -o "$TMP/ete.mts" &&
mmib-encode -m "$TMP/m2.mts" "$TMP/te.mts" -o "$TMP/ete2.mts" &&
mmib-encode -m "$TMP/m.mts" "$TMP/te6.mts" -o "$TMP/ete6.mts"
ok $? "the matching data encodes"
is "$(meta "$TMP/ete.mts" model.fp)" "$(meta "$TMP/m.mts" model.fp)" \
	"the embeddings carry the model's model.fp"
is "$(meta "$TMP/ete.mts" fp.data)" "$(meta "$TMP/te.mts" fp.data)" \
	"... and the data's fp.data"

# mmib-probe
run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/ete2.mts"
like "$RC:$ERR" "^1:.*embeddings of two models \(model.fp [0-9a-f]{16} from .*m.mts, [0-9a-f]{16} from .*m2.mts\)" \
	"mmib-probe: train and test of two models refused"
run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/ete6.mts"
like "$RC:$ERR" "^1:.*embeddings of two splits" "mmib-probe: two splits refused"
run_cmd mmib-probe --force --train "$TMP/etr.mts" "$TMP/ete2.mts"
ok $RC "--force probes them anyway"
run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/ete.mts"
ok $RC "one model, one split: probed"

# mmib-align
cat "$TMP/ete.mts" "$TMP/ete2.mts" > "$TMP/mixed.mts"
run_cmd mmib-align "$TMP/mixed.mts"
like "$RC:$ERR" "^1:.*segments from two models .*one stream, one model" \
	"mmib-align: a cat of two models' embeddings refused"
run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/mixed.mts"
like "$RC:$ERR" "^1:.*segments from two models" "... by mmib-probe too"
run_cmd mmib-align --force "$TMP/mixed.mts"
ok $RC "--force aligns it as one set"
cat "$TMP/etr.mts" "$TMP/ete.mts" > "$TMP/one.mts"
run_cmd mmib-align "$TMP/one.mts"
ok $RC "a cat of one model's embeddings is one set"

# streams of an older mmib (no fingerprints) pass, with a note under -v
if "$MMIB_TOP/$MMIB_BUILD/tests/t-stream.t" --strip-keys "$TMP/teY.mts" \
    "$TMP/oldY.mts" fp.pairing fp.split fp.data 2>/dev/null; then
	run_cmd mmib-encode -v -m "$TMP/m.mts" "$TMP/oldY.mts" -o "$TMP/e.mts"
	ok $RC "data without fingerprints encodes"
	like "$ERR" "no data fingerprint" "... with a note under -v"
	"$MMIB_TOP/$MMIB_BUILD/tests/t-stream.t" --strip-keys "$TMP/ete2.mts" \
	    "$TMP/old2.mts" model.fp fp.split
	run_cmd mmib-probe --train "$TMP/etr.mts" "$TMP/old2.mts"
	ok $RC "test embeddings without fingerprints are probed"
	"$MMIB_TOP/$MMIB_BUILD/tests/t-stream.t" --strip-keys "$TMP/te6.mts" \
	    "$TMP/old6.mts" fp.split fp.data fp.pairing
	run_cmd "${T[@]}" --test "$TMP/old6.mts" "$TMP/tr.mts" -o "$TMP/x.mts"
	ok $RC "a --test without fingerprints is accepted"
else
	for i in 1 2 3 4; do skip "t-stream.t --strip-keys unavailable"; done
fi

# --resume keeps its settings
"${T[@]}" --checkpoint "$TMP/tr.mts" -o "$TMP/c.mts"
for o in "--lr 0.01" "-s 9" "--batch-size 16" "--beta 0.5"; do
	run_cmd "${T[@]}" --epochs 2 $o --resume "$TMP/c.mts" "$TMP/tr.mts" -o "$TMP/r.mts"
	ok $((RC == 0)) "--resume with $o refused ($ERR)"
done
for o in "--weight-decay 0.1" "--step-size 7" "--gamma 0.5" "--objective siglip" "--temperature 0.2" "--optimizer sgd"; do
	run_cmd "${T[@]}" --epochs 2 $o --resume "$TMP/c.mts" "$TMP/tr.mts" -o "$TMP/r.mts"
	ok $((RC == 0)) "--resume with $o refused ($ERR)"
done
run_cmd "${T[@]}" --epochs 2 --resume "$TMP/c.mts" "$TMP/te.mts" -o "$TMP/r.mts"
like "$RC:$ERR" "^1:.*training data: .*part=train in the checkpoint, .*part=test now" \
	"--resume on another training file refused"
run_cmd "${T[@]}" --epochs 3 --resume "$TMP/c.mts" "$TMP/tr.mts" -o "$TMP/r.mts"
ok $RC "--resume with the same settings and more epochs goes on"
is "$(meta "$TMP/r.mts" train.seed):$(meta "$TMP/r.mts" train.epoch)" "1:3" \
	"... its metadata tells the truth (seed 1, epoch 3)"
[ ! -e "$TMP/x.mts.tmp" ] && [ "$(meta "$TMP/c.mts" train.epoch)" = 1 ]
ok $? "the refused resumes left the checkpoint as it was"
done_testing
