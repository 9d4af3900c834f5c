#!/bin/bash
# threads.t - mmib-train oversubscribed (-t 2, 8 and 16 on however few
# cores, and 24 for the ResNet): the model and the log are byte for byte
# those of -t 1 for every encoder kind, the factor encoder and the
# objective included.  A ResNet or ViT cuts the batch into a fixed set of
# slices whose sums are added in slice order (beyond 16 threads a ResNet
# uses 16); the mlp encoders cut each Linear product into slices of its
# output fixed by its shape, every sum whole in one one-thread BLAS call,
# and the objective's products run on one BLAS thread.  The shapes are
# large enough that OpenBLAS's own threads (which round by their count)
# would take these products.  Tiny data and two epochs: seconds.
. "$(dirname "$0")/lib.sh"
plan 19

mmib-gen -q -d dsprites -n 192 -s 3 --essence posX --part train -o "$TMP/tr.mts"
ok $? "paired stream generated"

# the log without its seconds column (the last), which is timing
nolast() { awk -F'\t' -v OFS='\t' '{ NF--; print }' "$1"; }

train() { # train NAME THREADS ENCODER [OPTION...]
	local n=$1 t=$2 enc=$3
	shift 3
	mmib-train -q --image-encoder "$enc" --batch-size 96 --epochs 2 \
	    --temperature 0.1 -t "$t" --log "$TMP/$n$t.tsv" "$@" \
	    "$TMP/tr.mts" -o "$TMP/$n$t.mts"
}

# same NAME THREADS...: models and logs of those threads = those of 1
same() {
	local n=$1 t ok=0
	shift
	for t in "$@"; do
		cmp -s "$TMP/${n}1.mts" "$TMP/$n$t.mts" || ok=1
		[ "$(nolast "$TMP/${n}1.tsv")" = "$(nolast "$TMP/$n$t.tsv")" ] ||
			ok=1
	done
	return $ok
}

check() { # check NAME DESCRIPTION THREADS ENCODER [OPTION...]
	local n=$1 what=$2 ts=$3 enc=$4 t fail=0
	shift 4
	train "$n" 1 "$enc" "$@"
	ok $? "$what trains on 1 thread"
	for t in $ts; do
		train "$n" "$t" "$enc" "$@" || fail=1
	done
	ok $fail "$what trains on $ts threads"
	same "$n" $ts
	ok $? "... to the model and log of 1 thread, byte for byte"
}

check r "resnet8 (+ the mlp factor encoder)" "2 8 16 24" resnet8
check s "resnet8, siglip" "2 16" resnet8 --objective siglip
check m "mlp-flatten:256,128/32" "2 8 16" mlp-flatten:256,128/32 \
    --factor-encoder mlp:64,64/32 --reg kl --beta 0.5
check y "mlp-flatten, symmetric InfoNCE, learned temperature" "2 16" \
    mlp-flatten:256/32 --symmetric --learn-temperature
check v "a ViT" "2 8 16" vit:patch=8,dim=32,depth=1,heads=2,mlp=64

for m in r m; do
	mmib-encode -q -t 16 -m "$TMP/${m}1.mts" "$TMP/tr.mts" -o "$TMP/e16.mts" &&
		mmib-encode -q -t 1 -m "$TMP/${m}1.mts" "$TMP/tr.mts" \
		    -o "$TMP/e1.mts" &&
		cmp -s "$TMP/e1.mts" "$TMP/e16.mts"
	ok $? "encodings of the $m model on 16 threads: those of 1 thread"
done
# -t 2 as well for the mlp (the encoder's slices on two threads)
mmib-encode -q -t 2 -m "$TMP/m1.mts" "$TMP/tr.mts" -o "$TMP/e2.mts" &&
	cmp -s "$TMP/e1.mts" "$TMP/e2.mts"
ok $? "... and on 2 threads"

done_testing
