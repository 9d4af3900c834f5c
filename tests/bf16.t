#!/bin/bash
# bf16.t - mmib-train --precision bf16 tracks fp32: a ResNet (resnet8) and
# an mlp-flatten, 3 epochs on a small generated dSprites set.  Each epoch's
# training loss must lie within 0.05 + 0.02 |fp32| of fp32's (bf16 keeps 8
# significant bits of each product's inputs: the logs seen here differ by
# 0.005-0.035), its regulariser within 0.02, and the loss must fall as
# fp32's does.  bf16 on 1, 2 and 16 threads must give the same log (but
# the seconds) and the same model bits, and so must the other kind of
# product kernel (MMIB_BF16_KERNEL).  Skipped without AVX512-BF16.
. "$(dirname "$0")/lib.sh"
plan 27

mmib-gen -q -d dsprites -n 512 -s 3 --essence posX --part train -o "$TMP/tr.mts"
ok $? "a small paired stream generated"

# cols FILE: the log without its seconds
cols() { cut -f1-7 "$1"; }

# the measured rate of vdpbf16ps against fp32 FMA, under -v; a CPU where
# bf16 does fewer multiply-adds per second is told bf16 is no faster there,
# and the products run on fp32 FMA there (vdpbf16ps elsewhere)
run_cmd mmib-train --image-encoder mlp-flatten:64/16 --epochs 1 --batch-size 64 \
	-v --precision bf16 -o "$TMP/rate.mts" "$TMP/tr.mts"
rate=$(printf '%s\n' "$ERR" | sed -n 's/.*vdpbf16ps does \([0-9.]*\) times the multiply-adds per second of fp32 FMA on this CPU (measured)$/\1/p')
if [ "$RC" -ne 0 ] && [[ "$ERR" == *AVX512-BF16* ]]; then
	skip "the CPU lacks AVX512-BF16"; skip "the CPU lacks AVX512-BF16"; skip "the CPU lacks AVX512-BF16"
else
	like "$rate" '^[0-9]+\.[0-9][0-9]$' "bf16: -v gives the measured rate of vdpbf16ps against fp32 FMA ($rate)"
	slow=$(printf '%s\n' "$ERR" | grep -c 'bf16 trains no faster than fp32 here')
	is "$slow" "$(awk -v r="$rate" 'BEGIN { print (r < 1 ? 1 : 0) }')" "bf16: no faster than fp32 said when the rate is below 1, only then"
	kind=$(printf '%s\n' "$ERR" | sed -n 's/.*bf16: the products run on \(.*\) (MMIB_BF16_KERNEL.*/\1/p')
	is "$kind" "$(awk -v r="$rate" 'BEGIN { print (r < 0.75 ? "fp32 FMA" : "vdpbf16ps") }')" "bf16: the products on the faster kernels ($kind; FMA below a rate of 0.75)"
fi

for e in resnet8 mlp-flatten:64/16; do
	n=${e%%:*}
	A=(--image-encoder "$e" --epochs 3 --batch-size 64 -q "$TMP/tr.mts")
	run_cmd mmib-train "${A[@]}" --precision bf16 -t 1 --log "$TMP/$n.b1.tsv" \
		-o "$TMP/$n.b1.mts"
	if [ "$RC" -ne 0 ] && [[ "$ERR" == *AVX512-BF16* ]]; then
		for i in $(seq 11); do skip "the CPU lacks AVX512-BF16: $ERR"; done
		continue
	fi
	ok $RC "$n: bf16 trains on 1 thread ($ERR)"
	# 16: oversubscribed on however few cores (the ResNet's 16 fixed
	# slices, the mlp's products cut by their shapes)
	for t in 2 16; do
		mmib-train "${A[@]}" --precision bf16 -t $t --log "$TMP/$n.b$t.tsv" \
			-o "$TMP/$n.b$t.mts" 2>/dev/null
		ok $? "$n: bf16 trains on $t threads"
		is "$(cols "$TMP/$n.b$t.tsv")" "$(cols "$TMP/$n.b1.tsv")" \
			"$n: bf16 logs the same on 1 and $t threads"
		cmp -s "$TMP/$n.b1.mts" "$TMP/$n.b$t.mts"
		ok $? "$n: bf16 gives the same model bits on 1 and $t threads"
	done
	# the other kind of product kernel (fp32 FMA on the bf16 values, or
	# vdpbf16ps where FMA is the default): vdpbf16ps's arithmetic, the
	# same bits end to end
	other=fma
	[ "$kind" = "fp32 FMA" ] && other=dp
	MMIB_BF16_KERNEL=$other mmib-train "${A[@]}" --precision bf16 -t 2 \
		--log "$TMP/$n.bk.tsv" -o "$TMP/$n.bk.mts" 2>/dev/null
	cmp -s "$TMP/$n.b1.mts" "$TMP/$n.bk.mts"
	ok $? "$n: bf16 gives the same model bits with MMIB_BF16_KERNEL=$other"
	mmib-train "${A[@]}" -t 1 --log "$TMP/$n.f.tsv" -o "$TMP/$n.f.mts" 2>/dev/null
	ok $? "$n: fp32 trains"
	# epoch by epoch: train_loss ($4) and reg ($6) of fp32 (f) and bf16 (b)
	bad=$(paste "$TMP/$n.f.tsv" "$TMP/$n.b1.tsv" | awk -F'\t' '
		NR > 1 {
			d = $4 - $12; d = d < 0 ? -d : d
			m = $4 < 0 ? -$4 : $4
			r = $6 - $14; r = r < 0 ? -r : r
			if (d > 0.05 + 0.02 * m || r > 0.02)
				printf "epoch %s: fp32 %s %s, bf16 %s %s; ", $1, $4, $6, $12, $14
			n++
		}
		END { if (n != 3) print "expected 3 epochs, got " n }')
	is "$bad" "" "$n: bf16 losses within 0.05 + 0.02 |fp32| of fp32's, reg within 0.02"
	awk -F'\t' 'NR == 2 { a = $4 } NR == 4 { b = $4 } END { exit !(b < a - 0.3) }' \
		"$TMP/$n.b1.tsv"
	ok $? "$n: the bf16 loss falls over 3 epochs"
done
run_cmd mmib-info "$TMP/resnet8.b1.mts"
if [ -e "$TMP/resnet8.b1.mts" ]; then
	like "$ERR$(cat "$TMP/.out")" "train.precision	bf16" "the ResNet records train.precision=bf16"
else
	skip "no bf16 model (the CPU lacks AVX512-BF16)"
fi
done_testing
