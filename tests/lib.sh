# tests/lib.sh - TAP helpers for mmib's shell tests; source it first.
# The Makefile runs tests with bin/ first on PATH and MMIB_TOP set.
set -u
: "${MMIB_TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${MMIB_BIN:=$MMIB_TOP/bin}" "${MMIB_BUILD:=build}"
PATH="$MMIB_BIN:$PATH"
export PATH MMIB_TOP MMIB_BIN MMIB_BUILD
T_RUN=0 T_FAIL=0 T_PLAN=
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mmib-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

plan() { T_PLAN=$1; echo "1..$1"; }
diag() { printf '# %s\n' "$*"; }
ok() { # ok STATUS NAME: STATUS 0 is a pass
	T_RUN=$((T_RUN + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_RUN - $2"
	else echo "not ok $T_RUN - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() { # is GOT WANT NAME
	if [ "$1" = "$2" ]; then ok 0 "$3"
	else ok 1 "$3"; diag "got '$1', want '$2'"; fi
}
like() { # like TEXT EXTENDED-REGEX NAME
	if printf '%s' "$1" | grep -Eq -- "$2"; then ok 0 "$3"
	else ok 1 "$3"; diag "'$1' does not match /$2/"; fi
}
skip() { T_RUN=$((T_RUN + 1)); echo "ok $T_RUN # SKIP $1"; }
# run_fail CMD...: runs CMD, sets ERR (stderr) and RC (exit status)
run_cmd() {
	"$@" >"$TMP/.out" 2>"$TMP/.err"; RC=$?
	ERR=$(cat "$TMP/.err")
}
done_testing() {
	[ -z "$T_PLAN" ] && echo "1..$T_RUN" && T_PLAN=$T_RUN
	[ "$T_RUN" -ne "$T_PLAN" ] && diag "planned $T_PLAN tests but ran $T_RUN" && exit 1
	[ "$T_FAIL" -eq 0 ]
	exit $?
}
