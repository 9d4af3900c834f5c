#!/bin/bash
# train.t - mmib-train end to end: learning, determinism, resume,
# and refusals that leave nothing half-written.
. "$(dirname "$0")/lib.sh"
plan 73

mmib-gen -q -d dsprites -n 1200 -s 3 --essence posX --part train -o "$TMP/tr.mts" &&
mmib-gen -q -d dsprites -n 1200 -s 3 --essence posX --part test -o "$TMP/te.mts"
ok $? "paired streams generated"

TINY=(--image-encoder mlp-flatten:64/16 --temperature 0.1 --batch-size 64
	--step-size 3 -q)
run_cmd mmib-train "${TINY[@]}" --epochs 4 --test "$TMP/te.mts" \
	--log "$TMP/log.tsv" "$TMP/tr.mts" -o "$TMP/m1.mts"
is "$RC" 0 "trains a tiny model ($ERR)"
is "$(head -1 "$TMP/log.tsv")" \
	"$(printf 'epoch\tlr\ttemperature\ttrain_loss\tinfonce\treg\ttest_loss\tseconds')" \
	"log header"
is "$(wc -l < "$TMP/log.tsv")" 5 "one log row per epoch"
first=$(awk -F'\t' 'NR == 2 { print $4 }' "$TMP/log.tsv")
last=$(awk -F'\t' 'NR == 5 { print $4 }' "$TMP/log.tsv")
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.5) }'
ok $? "training loss falls well below its start ($first -> $last)"
is "$(awk -F'\t' 'NR == 5 { print $2 }' "$TMP/log.tsv")" 0.0003 \
	"StepLR: lr 1e-3 * 0.3 from epoch 4"
awk -F'\t' 'NR > 1 && $7 == "NA" { bad = 1 } END { exit bad }' "$TMP/log.tsv"
ok $? "test loss logged"

mmib-train "${TINY[@]}" --epochs 4 "$TMP/tr.mts" -o "$TMP/m2.mts" 2>/dev/null &&
	cmp -s "$TMP/m1.mts" "$TMP/m2.mts"
ok $? "same seed, one thread: bit-identical model"
mmib-train "${TINY[@]}" --epochs 4 -s 2 "$TMP/tr.mts" -o "$TMP/m3.mts" 2>/dev/null &&
	! cmp -s "$TMP/m1.mts" "$TMP/m3.mts"
ok $? "another seed: another model"
mmib-train "${TINY[@]}" --epochs 4 -o "$TMP/m4.mts" < "$TMP/tr.mts" 2>/dev/null &&
	cmp -s "$TMP/m1.mts" "$TMP/m4.mts"
ok $? "reads stdin"

# every objective and optimiser learns
for o in "--symmetric" "--optimizer adamw --weight-decay 0.01" \
	"--optimizer sgd --momentum 0.9 --lr 0.05" "--reg kl --beta 1"; do
	mmib-train "${TINY[@]}" $o --epochs 3 --log "$TMP/o.tsv" "$TMP/tr.mts" \
		-o "$TMP/o.mts" 2>/dev/null &&
	awk -F'\t' 'NR == 2 { a = $4 } NR == 4 { b = $4 } END { exit !(b < a - 0.3) }' \
		"$TMP/o.tsv"
	ok $? "$o: the loss falls over 3 epochs"
done
mmib-train "${TINY[@]}" --epochs 0 --init "$TMP/m1.mts" "$TMP/tr.mts" \
	-o "$TMP/init.mts" 2>/dev/null &&
	mmib-info --npy img.net.0.weight -o "$TMP/w1.npy" "$TMP/m1.mts" &&
	mmib-info --npy img.net.0.weight -o "$TMP/w2.npy" "$TMP/init.mts" &&
	cmp -s "$TMP/w1.npy" "$TMP/w2.npy"
ok $? "--init starts from the given weights"
mmib-train "${TINY[@]}" --learn-temperature --epochs 2 --log "$TMP/lt.tsv" \
	"$TMP/tr.mts" -o "$TMP/lt.mts" 2>/dev/null &&
	awk -F'\t' 'NR == 3 && $3 != 0.1 { moved = 1 } END { exit !moved }' "$TMP/lt.tsv"
ok $? "--learn-temperature: the logged temperature moves from 0.1"

# siglip: the loss falls; --temperature T fixes t' = -ln T while b is
# learnt; by default both are learnt from ln 10 and -10
run_cmd mmib-train "${TINY[@]}" --objective siglip --epochs 3 \
	--log "$TMP/sg.tsv" "$TMP/tr.mts" -o "$TMP/sg.mts"
is "$RC:$(head -1 "$TMP/sg.tsv")" \
	"0:$(printf 'epoch\tlr\tlogit_scale\tlogit_bias\ttrain_loss\tsiglip\treg\ttest_loss\tseconds')" \
	"siglip trains and logs its two scalars ($ERR)"
awk -F'\t' 'NR == 2 { a = $5 } NR == 4 { b = $5 } END { exit !(b < a - 0.3) }' \
	"$TMP/sg.tsv"
ok $? "siglip: the loss falls over 3 epochs ($(awk -F'\t' 'NR > 1 { printf "%s ", $5 }' "$TMP/sg.tsv"))"
awk -F'\t' 'NR > 1 && $3 != 2.30259 { bad = 1 } NR == 4 && $4 == -10 { bad = 1 }
	END { exit bad }' "$TMP/sg.tsv"
ok $? "siglip --temperature 0.1: logit_scale stays ln 10, logit_bias moves"
mmib-train --image-encoder mlp-flatten:64/16 --batch-size 64 -q \
	--learn-temperature --objective siglip --epochs 2 --log "$TMP/sg2.tsv" \
	"$TMP/tr.mts" -o "$TMP/sg2.mts" 2>/dev/null
awk -F'\t' 'NR == 2 && $3 != 2.30259 && $4 != -10 { moved = 1 } END { exit !moved }' \
	"$TMP/sg2.tsv" 2>/dev/null
ok $? "siglip --learn-temperature: both scalars learnt"
mmib-encode -m "$TMP/sg.mts" "$TMP/tr.mts" -o "$TMP/sg-tr.emb" &&
	mmib-encode -m "$TMP/sg.mts" "$TMP/te.mts" -o "$TMP/sg-te.emb" &&
	mmib-probe -q --train "$TMP/sg-tr.emb" "$TMP/sg-te.emb" \
		-o "$TMP/sg.probe.tsv" &&
	mmib-align -q "$TMP/sg-te.emb" -o "$TMP/sg.align.tsv" &&
	[ -s "$TMP/sg.probe.tsv" ] && [ -s "$TMP/sg.align.tsv" ]
ok $? "a siglip model feeds mmib-encode, mmib-probe and mmib-align"
SG=(--image-encoder mlp-flatten:64/16 --objective siglip --reg kl --beta 0.5
	--batch-size 64 --step-size 3 --checkpoint -q)
mmib-train "${SG[@]}" --epochs 2 "$TMP/tr.mts" -o "$TMP/sghalf.mts" &&
	mmib-train "${SG[@]}" --epochs 4 --resume "$TMP/sghalf.mts" \
		"$TMP/tr.mts" -o "$TMP/sgres.mts" &&
	mmib-train "${SG[@]}" --epochs 4 "$TMP/tr.mts" -o "$TMP/sgwhole.mts" &&
	cmp -s "$TMP/sgres.mts" "$TMP/sgwhole.mts"
ok $? "siglip: a resumed run is bit-identical to the uninterrupted one"
same=0
for t in logit_scale logit_bias optim.m optim.v img.net.0.weight; do
	mmib-info --npy $t -o "$TMP/r.npy" "$TMP/sgres.mts" &&
	mmib-info --npy $t -o "$TMP/w.npy" "$TMP/sgwhole.mts" &&
	mmib-info --npy $t -o "$TMP/h.npy" "$TMP/sghalf.mts" &&
	cmp -s "$TMP/r.npy" "$TMP/w.npy" && ! cmp -s "$TMP/h.npy" "$TMP/w.npy" &&
	same=$((same + 1))
done
is "$same" 5 "... logit_scale, logit_bias and the moments equal, moved since the checkpoint"

# resume: a run stopped after 2 epochs and resumed to 4 ends with the
# same bytes as an uninterrupted 4-epoch run (kl samples use the rng too)
KL=(--image-encoder mlp-flatten:64/16 --learn-temperature --reg kl --beta 0.5
	--batch-size 64 --step-size 3 --checkpoint -q)
mmib-train "${KL[@]}" --epochs 2 "$TMP/tr.mts" -o "$TMP/half.mts" &&
	cp "$TMP/half.mts" "$TMP/half.keep" &&
	mmib-train "${KL[@]}" --epochs 4 --resume "$TMP/half.mts" "$TMP/tr.mts" \
		-o "$TMP/resumed.mts" &&
	mmib-train "${KL[@]}" --epochs 4 "$TMP/tr.mts" -o "$TMP/whole.mts"
ok $? "checkpointed runs"
cmp -s "$TMP/resumed.mts" "$TMP/whole.mts"
ok $? "resumed run is bit-identical to the uninterrupted one"
! cmp -s "$TMP/half.mts" "$TMP/whole.mts"
ok $? "... and differs from the half-way checkpoint"

# a Vision Transformer image encoder: it learns (slowly at first: the
# loss moves after some 5 epochs), -t 2 gives the same bytes, a run
# resumed (on 2 threads) equals the uninterrupted one, and the model feeds
# the other tools
VIT=(--image-encoder vit:patch=8,dim=32,depth=1,heads=2,mlp=64
	--temperature 0.1 --batch-size 64 --step-size 20 --checkpoint -q)
run_cmd mmib-train "${VIT[@]}" --epochs 7 --log "$TMP/vit.tsv" "$TMP/tr.mts" \
	-o "$TMP/vit.mts"
is "$RC:$(mmib-info "$TMP/vit.mts" | awk -F'\t' '$2 == "model.image_kind" { print $3 }')" \
	"0:vit" "trains a tiny ViT, model.image_kind vit ($ERR)"
awk -F'\t' 'NR == 2 { a = $4 } NR == 8 { b = $4 } END { exit !(b < a - 0.2) }' \
	"$TMP/vit.tsv"
ok $? "vit: the loss falls over 7 epochs ($(awk -F'\t' 'NR > 1 { printf "%s ", $4 }' "$TMP/vit.tsv"))"
mmib-train "${VIT[@]}" -t 2 --epochs 7 "$TMP/tr.mts" -o "$TMP/vit2.mts" &&
	cmp -s "$TMP/vit.mts" "$TMP/vit2.mts"
ok $? "vit: -t 2 gives a bit-identical model"
mmib-train "${VIT[@]}" --epochs 3 "$TMP/tr.mts" -o "$TMP/vithalf.mts" &&
	mmib-train "${VIT[@]}" -t 2 --epochs 7 --resume "$TMP/vithalf.mts" \
		"$TMP/tr.mts" -o "$TMP/vitres.mts" &&
	cmp -s "$TMP/vitres.mts" "$TMP/vit.mts"
ok $? "vit: a resumed run is bit-identical to the uninterrupted one"
mmib-encode -m "$TMP/vit.mts" "$TMP/tr.mts" -o "$TMP/vit-tr.emb" &&
	mmib-encode -m "$TMP/vit.mts" "$TMP/te.mts" -o "$TMP/vit-te.emb" &&
	mmib-probe -q --train "$TMP/vit-tr.emb" "$TMP/vit-te.emb" \
		-o "$TMP/vit.probe.tsv" &&
	mmib-align -q "$TMP/vit-te.emb" -o "$TMP/vit.align.tsv" &&
	[ -s "$TMP/vit.probe.tsv" ] && [ -s "$TMP/vit.align.tsv" ]
ok $? "a vit model feeds mmib-encode, mmib-probe and mmib-align"
run_cmd mmib-train --image-encoder vit:patch=6 --epochs 1 "$TMP/tr.mts" \
	-o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*patch 6 does not divide the image 1x64x64' \
	"vit: a patch that does not divide the image is refused"

run_cmd mmib-train "${TINY[@]}" --image-encoder mlp-flatten:32/16 --epochs 4 \
	--resume "$TMP/half.mts" "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*another architecture.*mlp-flatten:64.*mlp-flatten:32' \
	"--resume refuses another architecture"
run_cmd mmib-train "${TINY[@]}" --epochs 5 --resume "$TMP/m1.mts" \
	"$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*no optimiser state' \
	"--resume refuses a model written without --checkpoint"

# a diverging run: clear message, no output, the last checkpoint kept
run_cmd mmib-train "${TINY[@]}" --lr 1e30 --epochs 2 "$TMP/tr.mts" \
	-o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*loss is not finite' "non-finite loss stops the run"
run_cmd mmib-train "${KL[@]}" --lr 1e30 --epochs 4 --resume "$TMP/half.mts" \
	"$TMP/tr.mts" -o "$TMP/half.mts"
cmp -s "$TMP/half.mts" "$TMP/half.keep"
ok $? "... and keeps the last good checkpoint untouched ($RC)"

mmib-encode -m "$TMP/m1.mts" "$TMP/te.mts" -o "$TMP/emb.mts" 2>/dev/null
run_cmd mmib-train "${TINY[@]}" "$TMP/emb.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*lacks the 'images' tensor" "an embedding stream is refused"
head -c 5000 "$TMP/tr.mts" > "$TMP/cut.mts"
run_cmd mmib-train "${TINY[@]}" "$TMP/cut.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*cut.mts: .*trunc' "a truncated stream is refused"
run_cmd mmib-train "${TINY[@]}" --epochs 1 "$TMP/tr.mts" -o "$TMP/no/such/dir/m.mts"
like "$RC:$ERR" '^1:.*no/such/dir/m.mts: No such file' "unwritable output"
run_cmd mmib-train --reg l2 "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*--reg: 'l2' is not cos or kl" "unknown regulariser"
run_cmd mmib-train --objective clip "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*--objective: 'clip' is not infonce or siglip" \
	"unknown objective"
run_cmd mmib-train --temperature -1 "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*--temperature" "negative temperature"
run_cmd mmib-train -h
like "$RC:$(tr "\n" " " < "$TMP/.out")" "^0:usage: mmib-train .*encoder SPECs:.*resnet" \
	"-h: usage and the encoder kinds on stdout, exit 0"
run_cmd mmib-train "$TMP/tr.mts"
like "$RC:$ERR" "^2:usage: mmib-train " "no -o: usage on stderr, exit 2"
run_cmd mmib-train "$TMP/tr.mts" "$TMP/te.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^2:usage: mmib-train " "two inputs: usage error, exit 2"
run_cmd mmib-train "${TINY[@]}" --factor-encoder mlp:8/32 "$TMP/tr.mts" \
	-o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*disagrees with the code size 16" "code sizes must agree"
[ ! -e "$TMP/bad.mts" ] && ! ls "$TMP"/bad.mts.tmp* >/dev/null 2>&1
ok $? "no failed run left a file behind"
# a long run says so at once, on a terminal or not; a model or log that
# cannot be written fails before training, not after
# (waits for the line up to 120 s, however slow the build, then stops it)
mmib-train --profile paper "$TMP/tr.mts" -o "$TMP/long.mts" 2> "$TMP/long.err" & pid=$!
for i in $(seq 240); do grep -q "about" "$TMP/long.err" && break; sleep 0.5; done
kill $pid 2>/dev/null; wait $pid 2>/dev/null
like "$(cat "$TMP/long.err")" "about [0-9.]+ (min|h) for 50 epochs .*--profile quick" "--profile paper (ResNet-20, 50 epochs) states its time and the quick way"
[ ! -e "$TMP/long.mts" ]; ok $? "... and an interrupted run leaves no model"
# the default is the quick preset (minutes), recorded in the model; an
# option given overrides its preset value; with every preset value given
# no profile is recorded
run_cmd mmib-train -q --epochs 1 "$TMP/tr.mts" -o "$TMP/q.mts"
info=$(mmib-info "$TMP/q.mts")
[ "$RC" -eq 0 ] && grep -q "train.profile	quick$" <<< "$info"; ok $? "no options: the quick profile, recorded as train.profile"
grep -q "model.image_encoder	mlp-flatten:512,256$" <<< "$info" &&
	grep -q "train.epoch	1$" <<< "$info"; ok $? "quick: mlp-flatten:512,256/64, and --epochs 1 overrides its 10"
run_cmd mmib-train -q --image-encoder mlp-flatten:16/8 --epochs 1 "$TMP/tr.mts" -o "$TMP/q2.mts"
info=$(mmib-info "$TMP/q2.mts")
[ "$RC" -eq 0 ] && ! grep -q "train.profile" <<< "$info"; ok $? "encoder and epochs given: no train.profile"
run_cmd mmib-train --profile slow "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:mmib-train: --profile: 'slow' is not quick or paper" "an unknown profile is refused"
run_cmd mmib-train --image-encoder mlp-flatten:16/8 --epochs 1 "$TMP/tr.mts" -o "$TMP/nodir/m.mts"
like "$ERR" "nodir/m.mts: No such file or directory" "-o in a missing directory: refused before training"
run_cmd mmib-train --image-encoder mlp-flatten:16/8 --epochs 1 --log "$TMP/nodir/l.tsv" "$TMP/tr.mts" -o "$TMP/m9.mts"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/m9.mts" ]; ok $? "--log in a missing directory: refused, no model"
# --precision bf16: the mlp encoders' products in bf16 where the CPU has it
run_cmd mmib-train --image-encoder mlp-flatten:32/16 --precision bf16 --epochs 3 \
	--log "$TMP/bf.log" -s 2 "$TMP/tr.mts" -o "$TMP/bf.mts"
if [ "$RC" -ne 0 ] && [[ "$ERR" == *AVX512-BF16* ]]; then
	skip "the CPU lacks AVX512-BF16: $ERR"
	skip "the CPU lacks AVX512-BF16"
else
	ok $RC "--precision bf16 trains an mlp-flatten model: $ERR"
	like "$(mmib-info "$TMP/bf.mts")" "train.precision	bf16" "the model records train.precision=bf16"
fi
run_cmd mmib-train --image-encoder resnet8 --precision bf16 --epochs 1 "$TMP/tr.mts" -o "$TMP/bfr.mts"
if [ "$RC" -ne 0 ] && [[ "$ERR" == *AVX512-BF16* ]]; then
	skip "the CPU lacks AVX512-BF16: $ERR"
else
	ok $RC "--precision bf16 trains a ResNet: $ERR"
fi
run_cmd mmib-train --image-encoder vit:patch=8,dim=16,depth=1,heads=2,mlp=16 --precision bf16 --epochs 1 "$TMP/tr.mts" -o "$TMP/bfv.mts"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/bfv.mts" ] && [[ "$ERR" == *--precision\ bf16* ]]; ok $? "--precision bf16 with a ViT: refused with the reason ($ERR)"
# the log on --resume goes on from the checkpoint's epochs; --log naming an
# input is refused before anything is written
T=(mmib-train -q --image-encoder mlp-flatten:16/8 -s 1 "$TMP/tr.mts")
"${T[@]}" --epochs 2 --checkpoint --log "$TMP/c.log" -o "$TMP/c.mts" &&
cp "$TMP/c.mts" "$TMP/c1.mts" &&
"${T[@]}" --epochs 4 --resume "$TMP/c.mts" --log "$TMP/c.log" -o "$TMP/c.mts" &&
"${T[@]}" --epochs 4 --log "$TMP/s.log" -o "$TMP/s.mts"
ok $? "checkpoint, resume and a straight run"
is "$(cut -f1-7 "$TMP/c.log")" "$(cut -f1-7 "$TMP/s.log")" "a resumed run's log holds every epoch, as a straight run's"
printf 'something else\n' > "$TMP/other.log"
run_cmd "${T[@]}" --epochs 4 --resume "$TMP/c1.mts" --log "$TMP/other.log" -o "$TMP/c2.mts"
like "$ERR" "other.log: not this run's log" "--resume onto another log: refused"

# --eval-every: probe and alignment columns after 'seconds', NA on the
# epochs not evaluated, the same model bytes as without, the same values
# on 2 threads (a ViT: its training does not depend on -t), a resumed run
# continues the log as a straight one writes it
EV=(--test "$TMP/te.mts" --eval-every 2)
EVH=$(printf 'test_loss\tseconds\timg_shape_nmi\timg_scale_nmi\timg_orientation_nmi\timg_posX_nmi\timg_posY_nmi\timg_ess_nmi\timg_nui_nmi\tcka\tmutual_knn1\teval_seconds')
run_cmd mmib-train "${TINY[@]}" --epochs 4 "${EV[@]}" --log "$TMP/ev.tsv" \
	"$TMP/tr.mts" -o "$TMP/ev.mts"
is "$RC:$(head -1 "$TMP/ev.tsv" | cut -f7-)" "0:$EVH" "--eval-every: the columns after seconds ($ERR)"
cmp -s "$TMP/ev.mts" "$TMP/m1.mts"
ok $? "--eval-every: the model is byte for byte the one without"
awk -F'\t' 'NR > 1 { ev = ($1 % 2 == 0 || $1 == 4)
	for (i = 9; i <= 18; i++) if (($i == "NA") == ev) bad = 1
	if (ev && ($14 < 0 || $14 > 1 || $15 < 0 || $15 > 1 || $16 < 0 || $16 > 1 ||
	    $17 < 0 || $17 > 1 || $18 < 0)) bad = 1
	for (i = 9; ev && i <= 13; i++) if ($i > 1) bad = 1 }
	END { exit bad || NR != 5 }' "$TMP/ev.tsv"
ok $? "values at epochs 2 and 4 (nMI <= 1, group nMI, CKA, kNN in [0, 1]), NA at 1 and 3"
awk -F'\t' 'NR == 5 && $14 > 0.3 && $14 > $15 { good = 1 } END { exit !good }' "$TMP/ev.tsv"
ok $? "the essence (posX) is learnt, more than the nuisance ($(awk -F'\t' 'NR == 5 { print $14, $15 }' "$TMP/ev.tsv"))"
run_cmd mmib-train "${TINY[@]}" --epochs 1 --eval-every 1 "$TMP/tr.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" "^1:.*--eval-every needs --test" "--eval-every without --test: refused"
VT=(--image-encoder vit:patch=8,dim=32,depth=1,heads=2,mlp=64 --temperature 0.1
	--batch-size 64 -q "${EV[@]}")
mmib-train "${VT[@]}" --epochs 3 --log "$TMP/v1.tsv" "$TMP/tr.mts" -o "$TMP/v1.mts" &&
	mmib-train "${VT[@]}" -t 2 --epochs 3 --log "$TMP/v2.tsv" "$TMP/tr.mts" -o "$TMP/v2.mts"
ok $? "vit with --eval-every, -t 1 and -t 2"
is "$(cut -f1-7,9-17 "$TMP/v2.tsv")" "$(cut -f1-7,9-17 "$TMP/v1.tsv")" \
	"-t 2: the same log but for the seconds"
E=(mmib-train "${TINY[@]}" "${EV[@]}" --checkpoint "$TMP/tr.mts")
"${E[@]}" --epochs 2 --log "$TMP/er.tsv" -o "$TMP/er.mts" &&
	"${E[@]}" --epochs 4 --resume "$TMP/er.mts" --log "$TMP/er.tsv" -o "$TMP/er.mts"
ok $? "--eval-every: checkpoint and resume"
is "$(cut -f1-7,9-17 "$TMP/er.tsv")" "$(cut -f1-7,9-17 "$TMP/ev.tsv")" \
	"a resumed run's log with evaluation: every epoch, as a straight run's"
run_cmd "${E[@]}" --epochs 5 --resume "$TMP/er.mts" --test "$TMP/te.mts" --eval-every 3 \
	--log "$TMP/c.log" -o "$TMP/er2.mts"
like "$RC:$ERR" "^1:.*c.log: not this run's log" "--eval-every onto a log without its columns: refused"

cp "$TMP/tr.mts" "$TMP/tr2.mts"
run_cmd mmib-train -q --image-encoder mlp-flatten:16/8 --epochs 1 --log "$TMP/tr2.mts" "$TMP/tr2.mts" -o "$TMP/m8.mts"
[ "$RC" -ne 0 ] && cmp -s "$TMP/tr.mts" "$TMP/tr2.mts"; ok $? "--log naming the training data: refused, the data intact"
done_testing
