#!/bin/bash
# pipelines/train.sh - one training of the pipelines, checkpointed and
# resumed after an interruption.
#
#   train.sh DIR TRAIN -- [PREFIX ...] mmib-train OPTION ...
#
# Runs the mmib-train command given (without -o, --log or its input) with
# --checkpoint into DIR/checkpoint.mts and the log into DIR/log.tsv; if a
# checkpoint of an interrupted run is there, it is continued (--resume),
# which mmib-train(1) makes bit-identical to an uninterrupted run.  The log
# of each attempt is written to DIR/log.part and folded into DIR/log.tsv by
# epoch (a row of a later attempt replaces the same epoch's), so the log
# holds every epoch once whether or not mmib-train truncates or appends on
# --resume.  Finally DIR/model.mts is written from the finished checkpoint
# by one more mmib-train --resume without --checkpoint: the same file an
# uninterrupted run without checkpoints writes (no optimiser moments), and
# the checkpoint is removed.  V=1 echoes the commands; MMIB_INFO names
# mmib-info (for the epoch of a checkpoint).
set -eo pipefail
dir=${1:?usage: train.sh DIR TRAIN -- COMMAND}
input=${2:?usage: train.sh DIR TRAIN -- COMMAND}
[ "${3:-}" = -- ] && [ $# -ge 4 ] || { echo "train.sh: no command after --" >&2; exit 2; }
shift 3
ck=$dir/checkpoint.mts log=$dir/log.tsv part=$dir/log.part
# fold the attempt's log into log.tsv: header of the first, rows by epoch
fold() {
	[ -e "$part" ] || return 0
	t=$(mktemp "$log.tmp.XXXXXX")
	chmod "$(printf %o $((0666 & ~0$(umask))))" "$t"	# not mktemp's 0600
	awk -F '\t' 'FNR == 1 { if (h == "") h = $0; next }
		$1 != "" { if (!($1 in row)) ep[++n] = $1 + 0; row[$1] = $0 }
		END { print h; m = 0
			# epochs in order (insertion sort: a few hundred at most)
			for (i = 2; i <= n; i++) { x = ep[i]; for (j = i - 1; j > 0 && ep[j] > x; j--) ep[j + 1] = ep[j]; ep[j + 1] = x }
			for (i = 1; i <= n; i++) print row[ep[i]] }' \
		$([ -e "$log" ] && echo "$log") "$part" > "$t" || { rm -f "$t"; return 1; }
	mv -f "$t" "$log"
	rm -f "$part"
}
say() { [ "${V:-}" = 1 ] && printf '%s\n' "$*"; return 0; }
resume=()
if [ -e "$ck" ]; then
	fold
	e=$("${MMIB_INFO:-mmib-info}" -q "$ck" | awk -F '\t' '$1 == "meta" && $2 == "train.epoch" { print $3; exit }')
	echo "resuming the interrupted training after epoch ${e:-?} ($ck)" >&2
	resume=(--resume "$ck")
else
	rm -f "$log" "$part"
fi
say "$@" --checkpoint "${resume[@]}" --log "$part" -o "$ck" "$input"
"$@" --checkpoint "${resume[@]}" --log "$part" -o "$ck" "$input"
fold
say "$@" --resume "$ck" -o "$dir/model.mts" "$input"
"$@" --resume "$ck" -o "$dir/model.mts" "$input"
rm -f "$ck"
