#!/bin/bash
# Bit-identity of the whole tool chain between two builds of mmib.
#
#   bash bench/identity.sh [REV]
#
# Builds REV (default: the last commit whose fp32 bits are today's: the
# stride-2 input gradients of the ResNet and the fixed slices of the mlp
# products changed the last bits on purpose before aec81b9, and the
# evaluation Linear kernel of dc9c521 (AVX-512F CPUs) changed those of
# the embeddings and of the probe and alignment tables computed from them,
# while every weight, moment and log stayed the same; 4ba6add is the
# last commit before the modules refactor; at MMIB_SIMD=1, the AVX2
# level, 3ab8f0a did the same to the mlp embeddings, which are level 2's
# bits since; on AVX-512F CPUs 46ea37f changed the order of the sums of
# the ResNet's 32- and 64-channel convolutions, forward and stride-1
# input gradient, and so every ResNet weight and log, while the mlp and
# ViT runs kept their bits) in a
# temporary git worktree, then runs one fixed small experiment per encoder
# kind and objective with both that build and the current one (bin/):
# generate, train (fresh, checkpoint + resume, -t 1 and -t 2; a ViT; bf16
# where the CPU has AVX512-BF16), encode, probe, align.  Every tensor of
# every output stream (weights, optimiser moments,
# BatchNorm statistics, temperature, embeddings) is exported to .npy and
# compared byte for byte, and so are the probe and alignment tables (the
# probe tables without the converged column that later builds add).
# Metadata records may differ (new keys); they are shown, not compared.
# Exit 0 only if everything is identical.
set -eo pipefail

REV=${1:-46ea37f}
TOP=${MMIB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
NEW=${MMIB_BIN:-$TOP/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mmib-identity.XXXXXX")
trap 'git -C "$TOP" worktree remove --force "$WORK/old" >/dev/null 2>&1; rm -rf "$WORK"' EXIT

git -C "$TOP" worktree add --detach -q "$WORK/old" "$REV"
make -C "$WORK/old" -s -j2 all >/dev/null
OLD=$WORK/old/bin
make -C "$TOP" -s -j2 all build/bench/b-train >/dev/null
# Both builds on the same OpenBLAS kernels: a build before 1cdf8cd stays
# on the fallback ones where OpenBLAS does not know the CPU, while today's
# tools name the CPU's own (lib/cli.c), and the kernels change the bits.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE-$("$TOP/build/bench/b-train" -B | cut -f1)}"

# run BIN DIR: the scenario with the tools of BIN, outputs under DIR
run() {
	local B=$1 D=$2
	mkdir -p "$D"
	cd "$D"
	"$B/mmib-gen" -q -d dsprites -n 384 -s 5 --missing posX --part train -o tr.mts
	"$B/mmib-gen" -q -d dsprites -n 384 -s 5 --missing posX --part test -o te.mts
	"$B/mmib-gen" -q -d shapes3d -n 160 -s 2 --random-split --part train -o s3tr.mts
	"$B/mmib-gen" -q -d shapes3d -n 160 -s 2 --random-split --part test -o s3te.mts
	local T="$B/mmib-train -q --batch-size 32"
	# mlp-flatten, InfoNCE only, default Adam
	$T --image-encoder mlp-flatten:64,32/16 --epochs 2 -s 1 tr.mts -o m1.mts
	# symmetric InfoNCE + cos regulariser, learned temperature, SGD + StepLR
	$T --image-encoder mlp-flatten:48/16 --factor-encoder mlp:32/16 \
	    --symmetric --beta 0.5 --reg cos --learn-temperature \
	    --optimizer sgd --momentum 0.9 --lr 0.05 --step-size 1 --gamma 0.5 \
	    --epochs 3 -s 2 tr.mts -o m2.mts
	# resnet8, KL regulariser, AdamW, one and two threads
	$T --image-encoder resnet8 --beta 1 --reg kl --optimizer adamw \
	    --weight-decay 1e-3 --epochs 2 -s 3 -t 1 tr.mts -o m3.mts
	$T --image-encoder resnet8 --beta 1 --reg kl --optimizer adamw \
	    --weight-decay 1e-3 --epochs 2 -s 3 -t 2 tr.mts -o m3t2.mts
	# resnet8 on 3-channel images with a held-out log, then checkpoint +
	# resume to the same end as a straight run
	$T --image-encoder resnet8 --learn-temperature --beta 0.1 --epochs 2 \
	    -s 4 --test s3te.mts --log m4.log s3tr.mts -o m4.mts
	$T --image-encoder resnet8 --learn-temperature --beta 0.1 --epochs 1 \
	    -s 4 --checkpoint s3tr.mts -o m5.mts
	$T --image-encoder resnet8 --learn-temperature --beta 0.1 --epochs 2 \
	    -s 4 --resume m5.mts s3tr.mts -o m5.mts
	# a ViT on two threads
	$T --image-encoder vit:patch=8,dim=32,depth=2,heads=2,mlp=64/16 \
	    --epochs 2 -s 6 -t 2 tr.mts -o m6.mts
	local m d ms="m1 m2 m3 m3t2 m6"
	# bf16 products (resnet8 and mlp-flatten, two threads) where the CPU
	# has AVX512-BF16
	if grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null; then
		$T --image-encoder resnet8 --precision bf16 --epochs 2 -s 7 \
		    -t 2 tr.mts -o m7.mts
		$T --image-encoder mlp-flatten:256,64/16 --precision bf16 \
		    --epochs 2 -s 8 -t 2 tr.mts -o m8.mts
		ms="$ms m7 m8"
	fi
	for m in $ms; do
		for d in tr te; do
			"$B/mmib-encode" -q -m $m.mts $d.mts -o $m-$d.emb
		done
	done
	for m in m4 m5; do
		"$B/mmib-encode" -q -m $m.mts s3tr.mts -o $m-tr.emb
		"$B/mmib-encode" -q -m $m.mts s3te.mts -o $m-te.emb
	done
	for m in $ms m4 m5; do
		"$B/mmib-probe" -q --train $m-tr.emb $m-te.emb -o $m.probe.tsv
		"$B/mmib-probe" -q --format json --train $m-tr.emb $m-te.emb \
		    -o $m.probe.json
		"$B/mmib-align" -q $m-te.emb -o $m.align.tsv
		"$B/mmib-align" -q -n -k 1,5 --format json $m-te.emb \
		    -o $m.align.json
	done
}

# export DIR: one .npy per tensor of every stream, metadata as text
export_all() {
	local D=$1 B=$2 f n
	cd "$D"
	mkdir -p npy
	for f in *.mts *.emb; do
		"$B/mmib-info" -l "$f" | awk -F'\t' '$1 == "T" { print $2 }' |
		    sort -u | while read -r n; do
			"$B/mmib-info" -q --npy "$n" -o "npy/$f.$n.npy" "$f"
		done
		"$B/mmib-info" "$f" > "npy/$f.info" 2>&1 || true
	done
}

echo "identity: $REV (old) against the working tree (new)"
(run "$OLD" "$WORK/a")
(run "$NEW" "$WORK/b")
(export_all "$WORK/a" "$NEW")
(export_all "$WORK/b" "$NEW")

fail=0 n=0
cd "$WORK/a"
# a training log without its wall-clock column
nosec() {
	awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "seconds") s = i }
	    { o = ""; for (i = 1; i <= NF; i++) if (i != s) o = o $i "\t"; print o }' "$1"
}
for f in *.log; do
	n=$((n + 1))
	if [ "$(nosec "$f")" != "$(nosec "$WORK/b/$f")" ]; then
		echo "DIFFERS: $f"
		fail=1
	fi
done
# a probe table without the converged column (TSV) or member (JSON) that
# later builds add after the figures
noconv() {
	case "$1" in
	*.json) sed -E 's/, "converged": [^,}]*//' "$1" ;;
	*) awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "converged") s = i }
	    { o = ""; for (i = 1; i <= NF; i++) if (i != s) o = o (o == "" && i == 1 ? "" : "\t") $i; print o }' "$1" ;;
	esac
}
for f in npy/*.npy *.tsv *.json; do
	n=$((n + 1))
	case "$f" in
	*.probe.*)
		if [ "$(noconv "$f")" != "$(noconv "$WORK/b/$f")" ]; then
			echo "DIFFERS: $f"
			fail=1
		fi
		continue ;;
	esac
	if ! cmp -s "$f" "$WORK/b/$f"; then
		echo "DIFFERS: $f"
		fail=1
	fi
done
for f in "$WORK"/b/npy/*.npy; do
	[ -e "npy/${f##*/}" ] || { echo "NEW TENSOR: ${f##*/}"; fail=1; }
done
cmp -s m3.probe.tsv m3t2.probe.tsv || { echo "DIFFERS: -t 1 against -t 2"; fail=1; }
cmp -s m4.probe.tsv m5.probe.tsv || { echo "DIFFERS: resume against straight run"; fail=1; }
for f in npy/*.info; do
	diff -q "$f" "$WORK/b/$f" >/dev/null ||
	    { echo "metadata of ${f#npy/}:"; diff "$f" "$WORK/b/$f" | sed 's/^/  /' | head -20 || true; }
done
if [ $fail = 0 ]; then
	echo "identity: $n files compared, all identical"
else
	echo "identity: FAILED"
fi
exit $fail
