#!/bin/bash
# encode.t - mmib-encode: embeddings batch by batch, metadata passed
# through, refusals of mismatched models and streams.
. "$(dirname "$0")/lib.sh"
plan 17

mmib-gen -q -d dsprites -n 900 -s 4 --essence posX,scale --part train \
	-o "$TMP/tr.mts" &&
mmib-gen -q -d dsprites -n 900 -s 4 --essence posX,scale --part test \
	--batch 100 -o "$TMP/te.mts" &&
mmib-train -q --image-encoder mlp-flatten:32/8 --temperature 0.1 --epochs 1 \
	--batch-size 64 "$TMP/tr.mts" -o "$TMP/m.mts"
ok $? "a tiny model trained"

run_cmd mmib-encode -m "$TMP/m.mts" "$TMP/te.mts" -o "$TMP/emb.mts"
is "$RC" 0 "encodes ($ERR)"
info=$(mmib-info "$TMP/emb.mts")
like "$info" $'tensor\tz_img\tf32\t225x8\t3\t' "z_img: every row, code size 8, batches kept"
like "$info" $'tensor\tz_fac\tf32\t225x8\t3\t' "z_fac likewise"
like "$info" $'tensor\tclasses\ti32\t225x5\t3\t' "classes passed through"
like "$info" $'meta\tessence\tscale,posX' "metadata passed through"
like "$info" $'meta\tmodel.image_encoder\tmlp-flatten:32' "model keys added"
like "$info" $'meta\tmodel.image_depth\t1' "image encoder depth recorded"
! printf '%s' "$info" | grep -q images
ok $? "images are not copied"

mmib-encode -m "$TMP/m.mts" < "$TMP/te.mts" > "$TMP/emb2.mts" &&
	cmp -s "$TMP/emb.mts" "$TMP/emb2.mts"
ok $? "stdin to stdout gives the same bytes"

run_cmd mmib-encode --modality img -m "$TMP/m.mts" "$TMP/te.mts" -o "$TMP/img.mts"
info=$(mmib-info "$TMP/img.mts")
like "$RC:$(printf '%s' "$info" | grep -c $'\tz_img\t')" '^0:1$' "--modality img"
! printf '%s' "$info" | grep -q z_fac
ok $? "... writes no z_fac"

mmib-train -q --image-encoder mlp-flatten:32/8 --reg kl --beta 1 --epochs 1 \
	--batch-size 64 "$TMP/tr.mts" -o "$TMP/kl.mts" &&
	mmib-encode -m "$TMP/kl.mts" "$TMP/te.mts" -o "$TMP/klemb.mts"
like "$(mmib-info "$TMP/klemb.mts")" $'tensor\tz_img\tf32\t225x8\t' \
	"a kl model gives the means: code size 8, not 16"

mmib-gen -q -d dsprites -n 120 -s 4 --essence posX,scale --part train \
	-o "$TMP/small.mts" &&
	mmib-train -q --image-encoder resnet8 --epochs 1 --batch-size 30 \
	"$TMP/small.mts" -o "$TMP/rn.mts" &&
	mmib-encode -m "$TMP/rn.mts" "$TMP/small.mts" -o "$TMP/rnemb.mts"
like "$(mmib-info "$TMP/rnemb.mts")" $'tensor\tz_img\tf32\t90x64\t' \
	"a ResNet model trains and encodes (code size 64 by default)"

mmib-gen -q -d dsprites -n 400 -s 4 --missing posX --part test -o "$TMP/other.mts"
run_cmd mmib-encode -m "$TMP/m.mts" "$TMP/other.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*pair vectors have 81 columns, the model .* wants 38' \
	"another essence split is refused"
run_cmd mmib-encode -m "$TMP/te.mts" "$TMP/te.mts" -o "$TMP/bad.mts"
like "$RC:$ERR" '^1:.*te.mts: model metadata lacks model\.' "a data stream is not a model"
[ ! -e "$TMP/bad.mts" ] && ! ls "$TMP"/bad.mts.tmp* >/dev/null 2>&1
ok $? "failed runs leave no file"
done_testing
