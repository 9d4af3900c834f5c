#!/bin/bash
# threads.t - mmib-train oversubscribed (-t 8 and -t 16 on however few
# cores): a ResNet's model and log are byte for byte those of -t 1 (the
# batch is cut into a fixed set of slices whose sums are added in slice
# order; beyond 16 threads it uses 16); an mlp encoder, whose products
# run on the BLAS's own threads, trains to the same losses up to the last
# bits of those sums.  Tiny data and two epochs, so it runs in seconds.
. "$(dirname "$0")/lib.sh"
plan 12

mmib-gen -q -d dsprites -n 192 -s 3 --essence posX --part train -o "$TMP/tr.mts"
ok $? "paired stream generated"

# the log without its seconds column (the last), which is timing
nolast() { awk -F'\t' -v OFS='\t' '{ NF--; print }' "$1"; }

train() { # train ENCODER THREADS NAME
	mmib-train -q --image-encoder "$1" --batch-size 64 --epochs 2 \
	    --temperature 0.1 -t "$2" --log "$TMP/$3.tsv" "$TMP/tr.mts" \
	    -o "$TMP/$3.mts"
}

train resnet8 1 r1
ok $? "resnet8 trains on 1 thread"
for t in 8 16 24; do
	train resnet8 "$t" "r$t" &&
		cmp -s "$TMP/r1.mts" "$TMP/r$t.mts"
	ok $? "resnet8 on $t threads: the model of 1 thread, byte for byte"
done
same=1
for t in 8 16 24; do
	[ "$(nolast "$TMP/r1.tsv")" = "$(nolast "$TMP/r$t.tsv")" ] || same=0
done
ok $((1 - same)) "... and the same log (but for the seconds)"
mmib-encode -q -t 16 -m "$TMP/r1.mts" "$TMP/tr.mts" -o "$TMP/e16.mts" &&
	mmib-encode -q -t 1 -m "$TMP/r1.mts" "$TMP/tr.mts" -o "$TMP/e1.mts" &&
	cmp -s "$TMP/e1.mts" "$TMP/e16.mts"
ok $? "resnet8 encodings on 16 threads: those of 1 thread"

MLP=mlp-flatten:64,32/16
train "$MLP" 1 m1
ok $? "$MLP trains on 1 thread"
for t in 8 16; do
	train "$MLP" "$t" "m$t"
	ok $? "$MLP trains on $t threads"
	# train_loss (column 4) of every epoch within 1e-4 of 1 thread's
	paste "$TMP/m1.tsv" "$TMP/m$t.tsv" | awk -F'\t' '
		NR > 1 { d = $4 - $12; if (d < 0) d = -d; if (d > 1e-4) bad = 1 }
		END { exit bad || NR != 3 }'
	ok $? "... to the losses of 1 thread (within 1e-4)"
done

done_testing
