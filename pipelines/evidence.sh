#!/bin/sh
# pipelines/evidence.sh - result rows that accumulate across machines and
# sittings, and their merge into one summary.
#
#   evidence.sh row EXPERIMENT PROFILE RUN ROW_TSV MODEL > evidence.tsv
#   evidence.sh merge [-n NOTE] DIR ... > summary.tsv
#   evidence.sh report EXPERIMENT OUTDIR DIR ...
#
# row: the run's summary row (row.sh: every parameter and metric) with the
# evidence columns in front: experiment, profile, run (the run's key, its
# directory under runs/train), mmib_version (the version that wrote the
# model), fingerprint (the first 16 hex digits of the SHA-256 of the
# model's metadata, sorted: training options, data identity (dataset,
# seed, sample, essence), encoders and the version; mmib-info -q, from
# $MMIB_INFO) and evidence_format (1).
#
# merge: every *.tsv under the DIRs (in sorted path order) must be one
# evidence row of format 1.  Rows of one run key are duplicates: kept once
# when they agree in every column but train_seconds (the time differs
# between machines), refused when they differ (exit 1, naming both files
# and the columns); EVIDENCE_CONFLICT=warn keeps the first and warns
# instead.  Rows of several profiles, or of mmib versions whose
# major.minor differ, are incompatible: refused unless EVIDENCE_MIXED=1
# (then a warning).  Prints the kept rows as one table (tsvcat.awk),
# collapse marked (collapse.awk); NOTE (-n) receives one line for the
# report: how many runs, files, duplicates and versions it rests on.
#
# report: merge into OUTDIR/summary.tsv, then OUTDIR/report.txt (report.sh,
# saying what it rests on) and the plots (plot.sh), each file written
# through a temporary and renamed (make EXPERIMENT-report).
set -eu
here=$(dirname "$0")
mode=${1:?usage: evidence.sh row|merge ...}
shift
case $mode in
row)
	[ $# -eq 5 ] || { echo "usage: evidence.sh row EXPERIMENT PROFILE RUN ROW MODEL" >&2; exit 2; }
	exp=$1 prof=$2 run=$3 row=$4 model=$5
	meta=$("${MMIB_INFO:-mmib-info}" -q "$model" | awk -F '\t' '$1 == "meta"' | LC_ALL=C sort)
	ver=$(printf '%s\n' "$meta" | awk -F '\t' '$2 == "version" { print $3; exit }')
	fp=$(printf '%s\n' "$meta" | sha256sum | cut -c1-16)
	[ -n "$ver" ] || { echo "evidence.sh: $model: no version in its metadata" >&2; exit 1; }
	awk -F '\t' -v OFS='\t' -v e="$exp" -v p="$prof" -v r="$run" -v v="$ver" -v f="$fp" '
	NR == 1 { print "experiment", "profile", "run", "mmib_version", "fingerprint", "evidence_format", $0; next }
	NR == 2 { print e, p, r, v, f, 1, $0; next }
	END { if (NR != 2) { print "evidence.sh: " FILENAME ": not one header and one row" > "/dev/stderr"; exit 1 } }' "$row"
	;;
merge)
	note=/dev/null
	if [ "${1:-}" = -n ]; then note=${2:?evidence.sh merge: -n needs a file}; shift 2; fi
	[ $# -ge 1 ] || { echo "usage: evidence.sh merge [-n NOTE] DIR ..." >&2; exit 2; }
	t=$(mktemp -d "${TMPDIR:-/tmp}/evidence.XXXXXX")
	trap 'rm -rf "$t"' EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for d; do
		[ -d "$d" ] || { echo "evidence.sh: $d: no such directory" >&2; exit 1; }
		find "$d" -type f -name '*.tsv'
	done | LC_ALL=C sort > "$t/files"
	[ -s "$t/files" ] || { echo "evidence.sh: no evidence files under $*" >&2; exit 1; }
	# one pass over every file: check, find duplicates, list the kept
	awk -F '\t' -v list="$t/files" -v conflict="${EVIDENCE_CONFLICT:-error}" \
	    -v mixed="${EVIDENCE_MIXED:-0}" -v keep="$t/list" -v note="$note" '
	BEGIN { while ((getline f < list) > 0) { ARGV[ARGC++] = f; want[f] = 1 } close(list) }
	function fail(m) { print "evidence.sh: " m > "/dev/stderr"; bad = 1 }
	function mm(v,    a) { split(v, a, "."); return a[1] "." a[2] }
	FNR == 1 {
		nf++; hdr = ""; delete h; for (i = 1; i <= NF; i++) h[$i] = i
		if (!("run" in h) || !("evidence_format" in h) || !("mmib_version" in h)) {
			fail(FILENAME ": not an evidence row (no run, mmib_version or evidence_format column)")
			got[FILENAME] = 1; next }
		hdr = $0; next
	}
	FNR == 2 && hdr != "" {
		got[FILENAME] = 1
		if ($(h["evidence_format"]) != 1) fail(FILENAME ": evidence format " $(h["evidence_format"]) ", not 1")
		# the row as sorted col=value pairs, train_seconds left out
		n = split(hdr, H, "\t"); s = ""
		for (i = 1; i <= n; i++) if (H[i] != "train_seconds") C[H[i]] = $i
		m = 0; for (k in C) K[++m] = k
		for (i = 2; i <= m; i++) { x = K[i]; for (j = i - 1; j > 0 && K[j] > x; j--) K[j + 1] = K[j]; K[j + 1] = x }
		for (i = 1; i <= m; i++) s = s K[i] "=" C[K[i]] "\n"
		delete C; delete K
		r = $(h["run"]); v = $(h["mmib_version"]); p = ("profile" in h) ? $(h["profile"]) : "NA"
		if (!(mm(v) in vers)) { vers[mm(v)] = FILENAME; nv++ }
		allv[v] = 1
		if (!(p in profs)) { profs[p] = FILENAME; np++ }
		if (r in canon) {
			if (canon[r] == s) { same++; next }
			split(canon[r], A, "\n"); split(s, B, "\n"); diff = ""
			for (i in A) if (A[i] != "") { split(A[i], kv, "="); a[kv[1]] = A[i] }
			for (i in B) if (B[i] != "") { split(B[i], kv, "="); if (a[kv[1]] != B[i]) diff = diff " " kv[1] }
			delete a
			msg = "run " r ": " first[r] " and " FILENAME " differ in" diff
			if (conflict == "warn") { print "evidence.sh: warning: " msg "; keeping the first" > "/dev/stderr"; conf++ }
			else fail(msg " (EVIDENCE_CONFLICT=warn keeps the first)")
			next
		}
		canon[r] = s; first[r] = FILENAME; nr++
		print FILENAME > keep
		next
	}
	FNR > 2 && $0 != "" { fail(FILENAME ": more than one row") }
	END {
		for (f in want) if (!(f in got)) fail(f ": no row")
		if (np > 1 || nv > 1) {
			msg = ""
			for (p in profs) msg = msg " profile " p " (" profs[p] ")"
			for (v in vers) msg = msg " mmib " v ".x (" vers[v] ")"
			if (mixed == 1) print "evidence.sh: warning: incompatible evidence merged:" msg > "/dev/stderr"
			else fail("incompatible evidence:" msg " (EVIDENCE_MIXED=1 merges anyway)")
		}
		if (bad) exit 1
		vl = ""; for (v in allv) vl = vl (vl == "" ? "" : ", ") v
		printf "the evidence of %d runs (%d files; %d identical duplicate(s) kept once%s; mmib %s)\n", \
		    nr, nf, same, conf ? sprintf(", %d conflicting kept first", conf) : "", vl > note
	}'
	[ -s "$t/list" ] || { echo "evidence.sh: no evidence rows" >&2; exit 1; }
	awk -v list="$t/list" -f "$here/tsvcat.awk" > "$t/all"
	awk -f "$here/collapse.awk" "$t/all" "$t/all"
	;;
report)
	[ $# -ge 3 ] || { echo "usage: evidence.sh report EXPERIMENT OUTDIR DIR ..." >&2; exit 2; }
	exp=$1 out=$2; shift 2
	mkdir -p "$out"
	t=$(mktemp "$out/.summary.XXXXXX") r=$(mktemp "$out/.report.XXXXXX") n=$(mktemp "$out/.note.XXXXXX")
	trap 'rm -f "$t" "$r" "$n"' EXIT
	chmod "$(printf %o $((0666 & ~0$(umask))))" "$t" "$n"	# not mktemp's 0600
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
	sh "$0" merge -n "$n" "$@" > "$t"
	EVIDENCE_NOTE="$(cat "$n") under $*" sh "$here/report.sh" "$exp" "$t" > "$r"
	mv -f "$t" "$out/summary.tsv"
	sed "s|summary $t)|summary $out/summary.tsv)|" "$r" > "$n" && mv -f "$n" "$out/report.txt"
	sh "$here/plot.sh" "$exp" "$out/summary.tsv" "$out"
	;;
*)
	echo "evidence.sh: $mode: not row, merge or report" >&2; exit 2 ;;
esac
