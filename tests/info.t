#!/bin/bash
# mmib-info: listing, --check, --npy, and the distinct error of each kind
# of damage, with a non-zero exit and no partial output.
. "$(dirname "$0")/lib.sh"
SAMPLE="$MMIB_TOP/${MMIB_BUILD:-build}/tests/t-stream.t"
plan 29

"$SAMPLE" --write-sample "$TMP/a.mts" 0
"$SAMPLE" --write-sample "$TMP/z.mts" 3
ok $? "sample streams written"

run_cmd mmib-info "$TMP/a.mts"
ok $RC "mmib-info lists a stream"
like "$(cat "$TMP/.out")" $'tensor\timages\tu8\t12x1x4x4\t3' "images: 12 rows in 3 batches"
like "$(cat "$TMP/.out")" $'meta\tdataset\ttoy' "metadata listed"
like "$(cat "$TMP/.out")" $'ancillary\t1 records' "ancillary record counted"

run_cmd mmib-info -l "$TMP/z.mts"
ok $RC "long listing of a zstd stream"
is "$(grep -c '^T' "$TMP/.out")" 9 "9 tensor records listed"

cat "$TMP/a.mts" "$TMP/z.mts" > "$TMP/cat.mts"
run_cmd mmib-info -c "$TMP/cat.mts"
ok $RC "--check accepts a plain + zstd concatenation"
is "$(cat "$TMP/.out")" "" "--check prints nothing on stdout"
run_cmd mmib-info "$TMP/cat.mts"
is "$(grep -c '^# .*segment' "$TMP/.out")" 2 "two segments listed"

run_cmd mmib-info -c < "$TMP/z.mts"
ok $RC "reads stdin"

run_cmd mmib-info --npy pair -o "$TMP/pair.npy" "$TMP/cat.mts"
ok $RC "--npy exports a field"
# 128-byte header + 24 rows x 3 float32
is "$(stat -c %s "$TMP/pair.npy")" $((128 + 24 * 3 * 4)) "npy size adds up"
like "$(head -c 128 "$TMP/pair.npy" | tr -d '\000')" "'shape': \(24, 3\)" "npy header has the concatenated shape"
run_cmd mmib-info --npy nothing -o "$TMP/none.npy" "$TMP/a.mts"
ok $((RC == 0)) "--npy of an absent field fails"
ok $({ [ ! -e "$TMP/none.npy" ] && ! ls "$TMP" | grep -q '\.tmp\.'; }; echo $?) "no output or temporary file left behind"

size=$(stat -c %s "$TMP/a.mts")
head -c $((size - 100)) "$TMP/a.mts" > "$TMP/trunc.mts"
run_cmd mmib-info -c "$TMP/trunc.mts"
ok $((RC == 0)) "truncated stream fails"
like "$ERR" "^mmib-info: .*trunc.mts: truncated stream" "truncation message names the file"
head -c $(( $(stat -c %s "$TMP/z.mts") - 10 )) "$TMP/z.mts" > "$TMP/ztrunc.mts"
run_cmd mmib-info -c "$TMP/ztrunc.mts"
like "$ERR" "truncated stream|zstd" "truncated zstd stream fails: $ERR"

cp "$TMP/a.mts" "$TMP/flip.mts"
# S record (128 bytes), ancillary (128), images header (64) + npy header (128)
printf '\xff' | dd of="$TMP/flip.mts" bs=1 seek=460 conv=notrunc 2>/dev/null
run_cmd mmib-info -c "$TMP/flip.mts"
like "$ERR" "body CRC mismatch in record 'images'" "flipped body byte: $ERR"

cp "$TMP/a.mts" "$TMP/hdr.mts"
printf '\x07' | dd of="$TMP/hdr.mts" bs=1 seek=9 conv=notrunc 2>/dev/null
run_cmd mmib-info -c "$TMP/hdr.mts"
like "$ERR" "header CRC mismatch" "lying body length: $ERR"

cp "$TMP/a.mts" "$TMP/ver.mts"
printf '\x09' | dd of="$TMP/ver.mts" bs=1 seek=4 conv=notrunc 2>/dev/null
run_cmd mmib-info -c "$TMP/ver.mts"
like "$ERR" "version 9 \(this reader supports 1\)" "bad version: $ERR"

run_cmd mmib-info -c "$MMIB_TOP/Makefile"
like "$ERR" "bad magic .*expected 89 4D 54 52.*not an mmib stream" "not a stream: $ERR"
ok $((RC == 0)) "non-zero exit on a bad file"

run_cmd mmib-info -c /dev/null
like "$ERR" "empty input" "empty input: $ERR"

run_cmd mmib-info -c "$TMP/missing.mts"
like "$ERR" "missing.mts: No such file" "missing file: $ERR"

run_cmd mmib-info --bogus
is "$RC" 2 "unknown option: usage error, exit 2"
run_cmd mmib-info -h
like "$(cat "$TMP/.out")" "^usage: mmib-info" "-h prints usage on stdout"
run_cmd mmib-info -V
like "$(cat "$TMP/.out")" "^mmib-info [0-9]" "-V prints the version"
done_testing
