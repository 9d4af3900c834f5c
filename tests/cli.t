#!/bin/bash
# Shared CLI behaviour: -o to a FIFO or device is written in place (never
# replaced by a renamed temporary), binary output refuses a terminal, and a
# failed run leaves no file behind; the common options (-h usage on stdout
# with exit 0, a usage error on stderr with exit 2, -V) and usage texts
# equal to the man page SYNOPSIS.
. "$(dirname "$0")/lib.sh"
TOOLS="mmib-gen mmib-probe mmib-align mmib-encode mmib-info mmib-train mmib-import"
plan $((7 + 7 * 7 + 5 + 9 + 28 + 5))

# synopsis TOOL: the SYNOPSIS of man/TOOL.1, and the usage of TOOL -h,
# each on one line with blanks squeezed and none around '|'
squeeze() { tr -s ' \t\n' ' ' | sed -e 's/ *| */|/g' -e 's/^ //' -e 's/ $//'; }
for t in $TOOLS; do
	run_cmd $t -h
	[ "$RC" -eq 0 ] && [ -z "$ERR" ]; ok $? "$t -h: exit 0, nothing on stderr"
	like "$(cat "$TMP/.out")" "^usage: $t " "$t -h: usage on stdout"
	u=$(sed -e '/^$/,$d' -e 's/^usage: //' "$TMP/.out" | squeeze)
	m=$(mandoc -Tascii "$MMIB_TOP/man/$t.1" 2>/dev/null | col -b |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | squeeze)
	is "$u" "$m" "$t: usage text = man page SYNOPSIS"
	run_cmd $t --no-such-option
	[ "$RC" -eq 2 ] && [ ! -s "$TMP/.out" ]; ok $? "$t: unknown option: exit 2, nothing on stdout"
	like "$ERR" "usage: $t " "$t: unknown option: usage on stderr"
	like "$ERR" "Try '$t -h', or see $t\\(1\\)" "$t: unknown option: where to look"
	run_cmd $t -h
	like "$(tr "\n" " " < "$TMP/.out")" "  -o, --output FILE .*See $t\\(1\\) for the details" "$t -h: one line per option, then the man page"
done

mkfifo "$TMP/fifo"
cat "$TMP/fifo" > "$TMP/got" &
mmib-gen -d dsprites -n 16 -s 1 -o "$TMP/fifo"
ok $? "mmib-gen writes into a FIFO"
wait
ok $([ -p "$TMP/fifo" ]; echo $?) "the FIFO is still a FIFO"
run_cmd mmib-info -c "$TMP/got"
ok $RC "what came through the FIFO is a complete stream"

mmib-gen -d dsprites -n 16 -s 1 -o /dev/null
ok $? "writing to /dev/null works"
ok $([ -c /dev/null ]; echo $?) "/dev/null is still a character device"

if command -v script >/dev/null 2>&1; then
	out=$(script -qec "$(command -v mmib-gen) -d dsprites -n 16" /dev/null 2>&1)
	like "$out" "refusing to write binary data to a terminal" "binary output to a terminal is refused"
else
	skip "script(1) not available"
fi

# a forgotten input operand: standard input is the terminal, refused at once
# instead of waiting on the keyboard (timeout: a hang fails, not blocks)
for c in "mmib-info" "mmib-align" "mmib-train -o $TMP/m.mts" "mmib-probe --train $MMIB_TOP/tests/ref/probe_train.mts" "mmib-encode -m $MMIB_TOP/tests/ref/step.mts"; do
	set -- $c
	if command -v script >/dev/null 2>&1; then
		out=$(timeout 20 script -qec "$(command -v $1) ${c#$1}" /dev/null 2>&1 < /dev/null)
		like "$out" "standard input is a terminal" "$1: a terminal on standard input is refused"
	else
		skip "script(1) not available"
	fi
done

# One spelling per meaning (mmib(7), COMMON OPTIONS): -t threads in every
# tool that computes, with the same output; -z a zstd stream; --format json
# for every table or listing; -v says more, -q nothing
R=$MMIB_TOP/tests/ref
zmagic() { od -An -tx1 -N4 "$1" | tr -d ' '; }
mmib-gen -q -d shapes3d -n 200 -s 4 --part train -o "$TMP/g1.mts" &&
	mmib-gen -q -d shapes3d -n 200 -s 4 --part train -t 2 -o "$TMP/g2.mts" &&
	cmp -s "$TMP/g1.mts" "$TMP/g2.mts"; ok $? "mmib-gen -t 2: the same stream as -t 1"
mmib-gen -q -d dsprites -n 200 -s 4 --part train -o "$TMP/d.mts" &&
	mmib-gen -q -d dsprites -n 200 -s 4 --part test -o "$TMP/dt.mts" &&
	mmib-train -q -t 2 --image-encoder mlp-flatten:16/8 --epochs 1 "$TMP/d.mts" -o "$TMP/cm.mts"
ok $? "mmib-train -t 2"
mmib-encode -q -t 2 -m "$TMP/cm.mts" "$TMP/d.mts" -o "$TMP/e1.mts" &&
	mmib-encode -q -t 2 -m "$TMP/cm.mts" "$TMP/dt.mts" -o "$TMP/e2.mts"
ok $? "mmib-encode -t 2"
run_cmd mmib-probe -q -t 2 --train "$TMP/e1.mts" "$TMP/e2.mts"
ok $RC "mmib-probe -t 2"
mmib-align -q "$R/align_cont.mts" > "$TMP/a1.tsv" &&
	mmib-align -q -t 2 "$R/align_cont.mts" > "$TMP/a2.tsv" &&
	cmp -s "$TMP/a1.tsv" "$TMP/a2.tsv"; ok $? "mmib-align -t 2: the same table as -t 1"
mmib-gen -q -z -d dsprites -n 40 -o "$TMP/z.mts"
is "$(zmagic "$TMP/z.mts")" 28b52ffd "mmib-gen -z: a zstd stream"
mmib-encode -q -z -m "$TMP/cm.mts" "$TMP/d.mts" -o "$TMP/ez.mts"
is "$(zmagic "$TMP/ez.mts")" 28b52ffd "mmib-encode -z: a zstd stream"
mmib-info -c "$TMP/z.mts" "$TMP/ez.mts"; ok $? "... both read back whole"
for c in "mmib-info --format json $TMP/z.mts" "mmib-info --format json -l $TMP/z.mts" \
	"mmib-gen --list --format json" "mmib-probe --format json --train $TMP/e1.mts $TMP/e2.mts" \
	"mmib-align --format json $R/align_cont.mts"; do
	run_cmd $c
	like "$RC:$(head -c 2 "$TMP/.out")$(tail -c 3 "$TMP/.out")" '^0:\{"\]\}$' "${c%% $TMP*}: one JSON object"
done
is "$(mmib-gen --list | head -1)" "dataset	channels	rows	factors	file" "mmib-gen --list: TSV by default"
for c in "mmib-gen -d dsprites -n 20 -o $TMP/v.mts" "mmib-info -c $TMP/v.mts" \
	"mmib-train --image-encoder mlp-flatten:16/8 --epochs 1 $TMP/d.mts -o $TMP/vm.mts" \
	"mmib-encode -m $TMP/cm.mts $TMP/dt.mts -o $TMP/ve.mts" \
	"mmib-probe --train $TMP/e1.mts $TMP/e2.mts -o $TMP/vp.tsv" \
	"mmib-align $R/align_cont.mts -o $TMP/va.tsv"; do
	set -- $c
	run_cmd "$@" -v
	like "$RC:$ERR" "^0:$1: " "$1 -v: says what it did"
	run_cmd "$@" -q
	is "$RC:$ERR" "0:" "$1 -q: nothing on stderr"
done
run_cmd mmib-align -n "$R/align_cont.mts"
like "$RC:$ERR" "^0:mmib-align: -n is deprecated: use --normalize" "mmib-align -n: still works, with a note"
mmib-align -q --normalize "$R/align_cont.mts" > "$TMP/n2.tsv"
cmp -s "$TMP/.out" "$TMP/n2.tsv"; ok $? "... and means --normalize"

# -o through a symbolic link writes its target, and the link stays
mmib-gen -q -d dsprites -n 16 -o "$TMP/real.mts"
ln -s real.mts "$TMP/link.mts"
chmod 444 "$TMP/real.mts"
mmib-gen -q -d dsprites -n 20 -o "$TMP/link.mts"
[ -L "$TMP/link.mts" ]; ok $? "-o through a symlink: the link stays a link"
like "$(mmib-info -l "$TMP/real.mts")" "images	u8	20x1x64x64" "-o through a symlink: its target is rewritten"
is "$(stat -c %a "$TMP/real.mts")" 444 "a replaced file keeps its mode (0444)"
mkdir "$TMP/sub" && ln -s sub/new.mts "$TMP/dangling.mts"
mmib-gen -q -d dsprites -n 16 -o "$TMP/dangling.mts"
[ -L "$TMP/dangling.mts" ] && [ -f "$TMP/sub/new.mts" ]; ok $? "-o through a link to a file not yet there writes where it points"
long=$(printf 'a%.0s' $(seq 251))
run_cmd mmib-gen -q -d dsprites -n 16 -o "$TMP/$long.mts"
ok $RC "a 255-character file name is written: $ERR"
[ -f "$TMP/$long.mts" ]; ok $? "the long name exists"
ls "$TMP" | grep -q '\.tmp\.'; ok $((! $?)) "no temporary left behind"

# make clean-tmp: a killed tool's temporaries go, other files stay
mkdir "$TMP/ct" && touch "$TMP/ct/a.mts.tmp.AbC123" "$TMP/ct/keep.tmp.txt"
make -s --no-print-directory -C "$MMIB_TOP" clean-tmp RUNS="$TMP/ct" RESULTS="$TMP/none" >/dev/null
[ ! -e "$TMP/ct/a.mts.tmp.AbC123" ]; ok $? "make clean-tmp removes a leftover temporary"
[ -e "$TMP/ct/keep.tmp.txt" ]; ok $? "make clean-tmp leaves other files"

mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
if [ "$(id -u)" -ne 0 ]; then
	run_cmd mmib-gen -d dsprites -n 16 -o "$TMP/ro/x.mts"
	ok $((RC == 0)) "unwritable directory fails"
else
	run_cmd mmib-gen -d dsprites -n 16 -o "$TMP/nodir/x.mts"
	like "$ERR" "nodir/x.mts: No such file or directory" "missing directory fails with a clear error"
fi

# OpenBLAS's kernels: on fallback kernels without AVX2 (OpenBLAS takes
# Prescott's on a CPU newer than it knows), a tool runs itself again on
# the CPU's own; MMIB_BLAS=fix applies that to a core the environment
# names, so Prescott stands in for the fallback on any machine.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f; do case $flags in *" $f "*) ;; *) return 1;; esac; done; }
want=
if has avx512f avx512cd avx512bw avx512dq avx512vl; then
	want=SkylakeX; has avx512_bf16 && want=Cooperlake
elif has avx2 fma; then want=Haswell; fi
A=$MMIB_TOP/tests/ref/align_cont.mts
desc() { run_cmd env "$@" mmib-align -v -k 1,5 "$A"; printf '%s' "$ERR" | grep -m1 'OpenBLAS kernels'; }
like "$(desc OPENBLAS_CORETYPE=Prescott)" "kernels Prescott \(OPENBLAS_CORETYPE\)$" "a core the environment names is kept"
like "$(desc -u OPENBLAS_CORETYPE MMIB_BLAS=keep)" "kernels [A-Za-z0-9]+$" "MMIB_BLAS=keep: the kernels OpenBLAS took, whatever they are"
if [ -n "$want" ]; then
	like "$(desc OPENBLAS_CORETYPE=Prescott MMIB_BLAS=fix)" "kernels $want \(OpenBLAS took Prescott for this CPU; mmib named $want\)$" "fallback kernels: run again on $want's (the CPU's flags)"
	cat "$A" | env OPENBLAS_CORETYPE=Prescott MMIB_BLAS=fix mmib-align -q -k 1,5 > "$TMP/fixpipe.tsv"
	env OPENBLAS_CORETYPE=$want mmib-align -q -k 1,5 "$A" > "$TMP/named.tsv"
	[ -s "$TMP/named.tsv" ] && cmp -s "$TMP/fixpipe.tsv" "$TMP/named.tsv"; ok $? "run again with a stream on a pipe: all of it read, the table of $want's kernels"
	like "$(desc -u OPENBLAS_CORETYPE)" "kernels (Haswell|Zen|SkylakeX|Cooperlake|SapphireRapids)( |$)" "unforced, the kernels have AVX2 or better"
else
	for i in 1 2 3; do skip "no AVX2 + FMA on this CPU: no better kernels to name"; done
fi
done_testing
