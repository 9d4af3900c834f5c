#!/bin/bash
# Shared CLI behaviour: -o to a FIFO or device is written in place (never
# replaced by a renamed temporary), binary output refuses a terminal, and a
# failed run leaves no file behind; the common options (-h usage on stdout
# with exit 0, a usage error on stderr with exit 2, -V) and usage texts
# equal to the man page SYNOPSIS.
. "$(dirname "$0")/lib.sh"
TOOLS="mmib-gen mmib-probe mmib-align mmib-encode mmib-info mmib-train"
plan $((7 + 5 * 6))

# synopsis TOOL: the SYNOPSIS of man/TOOL.1, and the usage of TOOL -h,
# each on one line with blanks squeezed and none around '|'
squeeze() { tr -s ' \t\n' ' ' | sed -e 's/ *| */|/g' -e 's/^ //' -e 's/ $//'; }
for t in $TOOLS; do
	run_cmd $t -h
	[ "$RC" -eq 0 ] && [ -z "$ERR" ]; ok $? "$t -h: exit 0, nothing on stderr"
	like "$(cat "$TMP/.out")" "^usage: $t " "$t -h: usage on stdout"
	# the usage: its first line and the indented ones after it (mmib-train
	# lists its encoder kinds below)
	u=$(awk 'NR > 1 && !/^ / { exit } { print }' "$TMP/.out" |
		sed 's/^usage: //' | squeeze)
	m=$(mandoc -Tascii "$MMIB_TOP/man/$t.1" 2>/dev/null | col -b |
		sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | squeeze)
	is "$u" "$m" "$t: usage text = man page SYNOPSIS"
	run_cmd $t --no-such-option
	[ "$RC" -eq 2 ] && [ ! -s "$TMP/.out" ]; ok $? "$t: unknown option: exit 2, nothing on stdout"
	like "$ERR" "usage: $t " "$t: unknown option: usage on stderr"
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

mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
if [ "$(id -u)" -ne 0 ]; then
	run_cmd mmib-gen -d dsprites -n 16 -o "$TMP/ro/x.mts"
	ok $((RC == 0)) "unwritable directory fails"
else
	run_cmd mmib-gen -d dsprites -n 16 -o "$TMP/nodir/x.mts"
	like "$ERR" "nodir/x.mts: No such file or directory" "missing directory fails with a clear error"
fi
done_testing
