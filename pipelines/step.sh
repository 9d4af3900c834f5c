#!/bin/bash
# pipelines/step.sh - one recipe of the pipelines, under the lock of its
# directory, its tool lines tagged with the run.
#
#   step.sh [-q] [-s] [-l LOCK] [-t TAG] TARGET [DEP ...] -- COMMAND [ARG ...]
#
# Takes LOCK (flock(1); default TARGET's directory/.lock) for the whole
# step, so that two makes in one tree never work on the same run at once:
# the second waits, and then, finding TARGET newer than every DEP (made by
# the first while it waited), does nothing.  Then runs COMMAND with its
# standard error prefixed by "[TAG] " (default: no prefix), and records the
# step's wall time in the lock's directory, times.tsv (target, seconds), for
# the progress lines (progress.sh), when TAG is given and LOCK is not.
#   -s   COMMAND's standard output is TARGET: written to a temporary beside
#        it (unique: mktemp), renamed to TARGET when COMMAND succeeds
#   -q   do not echo COMMAND with V=1 (COMMAND echoes its own tools)
# An argument @TMP@ inside COMMAND is replaced by such a temporary, renamed
# to TARGET likewise.  V=1 in the environment echoes COMMAND on standard
# output first, as make would.
set -eo pipefail
so= quiet= lock= tag=
while [ $# -gt 0 ]; do
	case $1 in
	-s) so=1; shift ;;
	-q) quiet=1; shift ;;
	-l) lock=$2; shift 2 ;;
	-t) tag=$2; shift 2 ;;
	*) break ;;
	esac
done
target=${1:?usage: step.sh [-q] [-s] [-l LOCK] [-t TAG] TARGET [DEP ...] -- COMMAND}
shift
deps=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do deps+=("$1"); shift; done
[ "${1:-}" = -- ] && [ $# -ge 2 ] || { echo "step.sh: $target: no command after --" >&2; exit 2; }
shift
dir=$(dirname "$target")
mkdir -p "$dir"
: "${lock:=$dir/.lock}"
exec 9>>"$lock"
flock 9
# Made while we waited for the lock?  (make compares times the same way.)
if [ -e "$target" ]; then
	fresh=1
	for d in "${deps[@]}"; do
		[ "$d" -nt "$target" ] && { fresh=; break; }
	done
	[ -n "$fresh" ] && exit 0
fi
tmp=
if [ -n "$so" ] || [[ " $* " == *@TMP@* ]]; then
	tmp=$(mktemp "$target.tmp.XXXXXX")
	# mktemp makes 0600: the result gets the mode a new file would have
	chmod "$(printf %o $((0666 & ~0$(umask))))" "$tmp"
	trap 'rm -f "$tmp"' EXIT
	args=()
	for a; do args+=("${a//@TMP@/$tmp}"); done
	set -- "${args[@]}"
fi
[ "${V:-}" = 1 ] && [ -z "$quiet" ] && printf '%s\n' "$*"
t0=$(date +%s.%N)
# the command's standard error through the tagger, its standard output
# kept apart (fd 3): to the temporary with -s, else ours
if [ -n "$so" ]; then exec 3>"$tmp"; else exec 3>&1; fi
if [ -n "$tag" ]; then
	"$@" 2>&1 >&3 3>&- | awk -v t="[$tag] " '{ print t $0; fflush() }' >&2
else
	"$@" >&3 3>&-
fi
exec 3>&-
[ -n "$tmp" ] && mv -f "$tmp" "$target"
# a run's step (tagged, its own directory's lock): its time, for progress.sh
if [ -n "$tag" ] && [ "$lock" = "$dir/.lock" ]; then
	printf '%s\t%s\n' "$(basename "$target")" \
		"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" \
		>> "$dir/times.tsv"
fi
