#!/bin/bash
# train-edge.t - mmib-train at its edges: --epochs 0 (the initialised
# model, an untrained baseline), a batch larger than the data, a bare
# "mlp-flatten:", pair values too large for BatchNorm, a log on a full
# disk.
. "$(dirname "$0")/lib.sh"
plan 13

mmib-gen -q -d dsprites -n 200 -s 3 --essence posX --part train -o "$TMP/tr.mts" &&
mmib-gen -q -d dsprites -n 200 -s 3 --essence posX --part test -o "$TMP/te.mts"
ok $? "paired streams generated"
T=(mmib-train --image-encoder mlp-flatten:32/8 --batch-size 32)
meta() { mmib-info "$1" | awk -F'\t' -v k="$2" '$1 == "meta" && $2 == k { print $3; exit }'; }

run_cmd "${T[@]}" --epochs 0 "$TMP/tr.mts" -o "$TMP/m0.mts"
ok $RC "--epochs 0 writes a model"
like "$ERR" "epochs 0: writing the model as initialised" "... and says it is untrained"
is "$(meta "$TMP/m0.mts" train.epoch)" 0 "... recorded as epoch 0"
run_cmd mmib-encode -m "$TMP/m0.mts" -o "$TMP/e0.mts" "$TMP/te.mts"
ok $RC "the untrained model encodes (a baseline)"
"${T[@]}" -q --epochs 0 --checkpoint "$TMP/tr.mts" -o "$TMP/c0.mts" &&
"${T[@]}" -q --epochs 2 --resume "$TMP/c0.mts" "$TMP/tr.mts" -o "$TMP/r2.mts" &&
"${T[@]}" -q --epochs 2 "$TMP/tr.mts" -o "$TMP/s2.mts"
cmp -s "$TMP/r2.mts" "$TMP/s2.mts"
ok $? "a checkpoint at epoch 0 resumes to the straight run's bytes"

# a batch larger than the data: clamped, the same model as a batch of N
run_cmd mmib-train -q --image-encoder mlp-flatten:32/8 --batch-size 65536 \
	--epochs 1 "$TMP/tr.mts" -o "$TMP/big.mts"
ok $RC "--batch-size 65536 on $(meta "$TMP/tr.mts" rows) pairs trains"
n=$(meta "$TMP/tr.mts" rows)
is "$(meta "$TMP/big.mts" train.batch_size)" "$n" "... in batches of the data's $n rows"
mmib-train -q --image-encoder mlp-flatten:32/8 --batch-size "$n" --epochs 1 \
	"$TMP/tr.mts" -o "$TMP/bign.mts"
cmp -s "$TMP/big.mts" "$TMP/bign.mts"
ok $? "... the same model as --batch-size $n"

# "mlp-flatten:" is "mlp-flatten": one Linear map
mmib-train -q --image-encoder mlp-flatten: --code-size 8 --epochs 1 "$TMP/tr.mts" -o "$TMP/l1.mts" &&
mmib-train -q --image-encoder mlp-flatten --code-size 8 --epochs 1 "$TMP/tr.mts" -o "$TMP/l2.mts"
ok $? "mlp-flatten: and mlp-flatten both train"
is "$(meta "$TMP/l1.mts" model.image_depth):$(meta "$TMP/l2.mts" model.image_depth)" \
	"0:0" "... both one Linear map (depth 0)"

# pair values that would overflow BatchNorm's running variance
"$MMIB_TOP/$MMIB_BUILD/tests/t-stream.t" --scale-pair "$TMP/tr.mts" "$TMP/huge.mts" 1e30 2>/dev/null ||
	true
run_cmd "${T[@]}" -q --epochs 1 "$TMP/huge.mts" -o "$TMP/h.mts"
like "$RC:$ERR" "^1:.*huge.mts: pair value 1e\+30 at row 0, column [0-9]+: not finite or beyond" \
	"pair values of 1e30 refused before training"

# a log on a full disk
if [ -w /dev/full ]; then
	run_cmd "${T[@]}" -q --epochs 1 --log /dev/full "$TMP/tr.mts" -o "$TMP/f.mts"
	like "$RC:$ERR" "^1:mmib-train: /dev/full: cannot write the log" \
		"--log on a full disk fails with a message"
else
	skip "no /dev/full"
fi
done_testing
