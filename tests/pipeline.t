#!/bin/bash
# tests/pipeline.t - the experiment pipelines end to end at toy size
# (400 samples, 2 epochs, a tiny image encoder), plus the summary,
# correlation and report scripts on hand-made tables.
. "${MMIB_TOP:-$(dirname "$0")/..}/tests/lib.sh"
cd "$MMIB_TOP" || exit 1
P=$MMIB_TOP/pipelines
tsv_rows0() { echo $(($(wc -l < "$1") - 1)); }
plan 118

# ---- scripts on known tables ------------------------------------------------
printf 'x\ty\tdegenerate\n1\t2\t0\n2\t4\t0\n3\t6.5\t0\n4\t7\t0\n5\t11\t0\n6\t1\t1\n' > "$TMP/xy.tsv"
c=$(awk -v where=degenerate=0 -f "$P/where.awk" "$TMP/xy.tsv" | awk -v x=x -v y=y -f "$P/corr.awk")
# scipy: pearsonr 0.97701, spearmanr 1, polyfit (2.1, -0.2); Fisher z
# interval (0.68643, 0.99855); with the sixth row spearmanr 0.142857
is "$(echo "$c" | cut -f4)" 5 "where.awk | corr.awk: the degenerate row is filtered out"
is "$(echo "$c" | cut -f5)" 0.9770 "corr.awk: Pearson r"
is "$(echo "$c" | cut -f8)" 1.0000 "corr.awk: Spearman rho"
is "$(echo "$c" | cut -f11,12)" "$(printf '2.1\t-0.2')" "corr.awk: least-squares line"
like "$(echo "$c" | cut -f6,7)" '^0\.6864	0\.9985$' "corr.awk: Fisher-z interval brackets r"
c=$(awk -v x=x -v y=y -f "$P/corr.awk" "$TMP/xy.tsv")
is "$(echo "$c" | cut -f4,8)" "$(printf '6\t0.1429')" "corr.awk: Spearman with every row"
# with a stratum column held fixed, against tests/ref/corr_strata_ref.py
# (numpy least-squares residuals on the strata's dummies, scipy ranks)
c=$(awk -v x=x -v y=y -v by=g -f "$P/corr.awk" "$MMIB_TOP/tests/ref/corr_strata.tsv")
is "$(echo "$c" | cut -f4,13,12)" "$(printf '15\tNA\t3')" \
	"corr.awk by: n leaves out the NA row and the stratum of one; 3 strata; no intercept"
d=$( (tail -n 1 "$MMIB_TOP/tests/ref/corr_strata_expected.tsv" | cut -f3-9; echo "$c" | cut -f5-11) |
	awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) e[i] = $i; next }
	{ for (i = 1; i <= NF; i++) { v = $i - e[i]; if (v < 0) v = -v; if (v > m) m = v } }
	END { print (m <= 6e-5 && NF == 7) ? "ok" : "off by " m }')
is "$d" ok "corr.awk by: partial Pearson, Spearman, their intervals and the slope as the reference's"
c=$(awk -v x=x -v y=y -v by=g -v 'where=g!=3' -f "$P/where.awk" "$MMIB_TOP/tests/ref/corr_strata.tsv" |
	awk -v x=x -v y=y -v by=g -f "$P/corr.awk")
is "$(echo "$c" | cut -f4,13)" "$(printf '11\t2')" "corr.awk by: two strata left"
c=$(awk -F '\t' -v OFS='\t' 'NR == 3 || NR == 5 { $1 = "NA" } { print }' "$MMIB_TOP/tests/ref/corr_strata.tsv" |
	awk -v x=x -v y=y -v by=g -f "$P/corr.awk")
is "$(echo "$c" | cut -f4,13)" "$(printf '13\t3')" "corr.awk by: rows of no stratum (NA) are left out"
printf 'g\tx\ty\n1\t1\t2\n1\t2\t1\n2\t3\t3\n2\t4\t5\n' > "$TMP/s4.tsv"
is "$(awk -v x=x -v y=y -v by=g -f "$P/corr.awk" "$TMP/s4.tsv" | cut -f4,6,7,9,10)" \
	"$(printf '4\tNA\tNA\tNA\tNA')" "corr.awk by: no degree of freedom left, no interval"
run_cmd awk -v x=x -v y=y -v by=nosuch -f "$P/corr.awk" "$TMP/s4.tsv"
ok $([ "$RC" -ne 0 ] && echo "$ERR" | grep -q 'no column nosuch'; echo $?) \
	"corr.awk by: a stratum column that is not there is an error"
printf 'g\tv\n1\t1\n1\t3\n2\t5\n2\tNA\n' > "$TMP/g.tsv"
a=$(awk -v by=g -v cols=v -f "$P/agg.awk" "$TMP/g.tsv" | tail -n +2 | tr '\t' ' ')
is "$a" "$(printf '1 2 1.41421 2\n2 5 0 1')" "agg.awk: mean, sd, n; NA left out"
a=$(awk -v 'where=g!=1' -f "$P/where.awk" "$TMP/g.tsv" | awk -v by=g -v cols=v -f "$P/agg.awk" |
	tail -n +2 | tr '\t' ' ')
is "$a" "2 5 0 1" "where.awk | agg.awk: where col!=value"
is "$(awk -v 'where=g=2,v!=NA' -f "$P/where.awk" "$TMP/g.tsv" | tr '\t\n' ',;')" "g,v;2,5;" \
	"where.awk: header kept, every term must hold (strings compared)"
run_cmd awk -v where=g=1,nosuch=1 -f "$P/where.awk" "$TMP/g.tsv"
ok $([ "$RC" -ne 0 ] && [ ! -s "$TMP/.out" ] && echo "$ERR" | grep -q 'no column(s) nosuch'; echo $?) \
	"where.awk: a term naming no column is an error, nothing printed"
printf 'a\tb\n1\t2\n' > "$TMP/t1.tsv"; printf 'b\tc\n3\t4\n' > "$TMP/t2.tsv"
is "$(awk -f "$P/tsvcat.awk" "$TMP/t1.tsv" "$TMP/t2.tsv" | tr '\t\n' ',;')" \
	"a,b,c;1,2,NA;NA,3,4;" "tsvcat.awk: union of columns"
printf '%s\n' "$TMP/t1.tsv" > "$TMP/list"
is "$(awk -v list="$TMP/list" -f "$P/tsvcat.awk" | tr '\t\n' ',;')" "a,b;1,2;" "tsvcat.awk: the files of a list"
: > "$TMP/empty.list"; printf 'a\tb\n' > "$TMP/h.tsv"; printf '%s\n' "$TMP/h.tsv" > "$TMP/h.list"
for l in nosuch.list empty.list h.list; do
	run_cmd awk -v list="$TMP/$l" -f "$P/tsvcat.awk"
	ok $([ "$RC" -ne 0 ] && [ ! -s "$TMP/.out" ] && [ -n "$ERR" ]; echo $?) \
		"tsvcat.awk: $l (missing, empty, no rows) is an error, nothing printed"
done
run_cmd sh "$P/report.sh" remove-msi "$TMP/h.tsv"
ok $([ "$RC" -ne 0 ] && echo "$ERR" | grep -q 'no runs'; echo $?) "report.sh: a summary without rows is an error"

# ---- verdicts on hand-made summaries -----------------------------------------
# remove-msi: factor a falls with T beyond its untrained baseline (C1 and C2
# hold); b rises before it falls (not monotone) and its nMI stays near its
# baseline's; c never exceeds 0.1 (C1 does not hold)
{
	printf 'dataset\tmissing\timage_encoder\timage_spec\tseed\ttemperature\tdepth\tepochs\tmiss_nmi\timg_ess_nmi\tcka\tmutual_knn1\n'
	for s in 1 2 3; do
		e=$(awk -v s=$s 'BEGIN { printf "%.3f", (s - 2) * 0.01 }')
		for m in a b c; do
			case $m in
			a) set -- 0.70 0.55 0.40 0.10 0.20 ;;
			b) set -- 0.13 0.17 0.12 0.07 0.13 ;;
			c) set -- 0.08 0.07 0.05 0.03 0.02 ;;
			esac
			for t in 0.01 0.03 0.1 1; do
				v=$(awk -v x="$1" -v e="$e" 'BEGIN { printf "%.3f", x + e }'); shift
				printf 'ds\t%s\tm2\tmlp\t%s\t%s\t2\t10\t%s\t0.4\t0.8\t0.05\n' $m $s $t "$v"
			done
			printf 'ds\t%s\tm2\tmlp\t%s\t0.01\t2\t0\t%s\t0.1\t0.2\t0.01\n' $m $s \
				"$(awk -v x="$1" -v s=$s 'BEGIN { printf "%.3f", x + (s == 2 ? 0.05 : -0.02) }')"
		done
	done
} > "$TMP/msi.tsv"
r=$(IMG=m2 sh "$P/report.sh" remove-msi "$TMP/msi.tsv")
line() { echo "$r" | awk -v m="== ds, missing factor $1 " -v c="$2 " 'index($0, m) == 1 { on = 1; next } /^== / { on = 0 } on && index($0, c) == 1'; }
like "$(line a C1)" 'nMI\(a\) = 0\.700 at T=0\.01, untrained 0\.203, difference 0\.49[0-9]* \[0\.3[0-9]*, 0\.6[0-9]*\] .*over 3 seed\(s\).*: holds$' \
	"report: C1 holds above 0.1 and above the untrained baseline, paired by seed"
like "$(line a C2)" 'Spearman rho = -0\.9[0-9]+ \[-0\.9[0-9]+, -0\.[0-9]+\] over 12 runs: holds; the mean curve never rises' \
	"report: C2 is a trend test over all runs, monotone curve said so"
like "$(line b C2)" ': holds; the mean curve is NOT monotone: it rises 0\.130 at T=0\.01 -> 0\.170 at T=0\.03$' \
	"report: a trend that rises first is noted as not monotone"
like "$(line b C1)" 'untrained 0\.133.*: cannot tell \(the interval of the difference from the untrained encoder includes 0\)$' \
	"report: C1 cannot tell when the baseline is as high"
like "$(line c C1)" ': does not hold \(nMI at most 0\.1\)$' "report: C1 does not hold at or below 0.1"
like "$(line a C1)" '^C1 InfoNCE alone leaves' "report: C1 names InfoNCE when no objective column says otherwise"
awk -F '\t' -v OFS='\t' '{ print $0, (NR == 1 ? "objective" : "siglip") }' "$TMP/msi.tsv" > "$TMP/msi-sig.tsv"
r=$(IMG=m2 sh "$P/report.sh" remove-msi "$TMP/msi-sig.tsv")
like "$(line a C1)" '^C1 SigLIP alone leaves' "report: C1 names the objective the runs trained with"
r=$(IMG=m2 sh "$P/report.sh" remove-msi "$TMP/msi.tsv")
awk -F '\t' 'NR == 1 || $8 != 0' "$TMP/msi.tsv" > "$TMP/msi-nob.tsv"
r=$(IMG=m2 sh "$P/report.sh" remove-msi "$TMP/msi-nob.tsv")
like "$(line a C1)" 'no baseline\): cannot tell \(no untrained baseline in the summary' "report: C1 without a baseline cannot tell"
awk -F '\t' 'NR == 1 || $5 == 1' "$TMP/msi.tsv" > "$TMP/msi-1.tsv"
r=$(IMG=m2 sh "$P/report.sh" remove-msi "$TMP/msi-1.tsv")
like "$(line a C1)" 'cannot tell \(one seed: no spread\)$' "report: C1 with one seed cannot tell"

# regularization: split 2 collapses at beta 3 (CKA to 0.9999, essence lost)
{
	printf 'dataset\tseed\tpairing\ttemperature\tbeta\tessence\tnuisance\tdegenerate\timg_nui_nmi\timg_ess_nmi\tcka\tmutual_knn1\n'
	printf 'ds\t1\tsplit\t0.1\t0\ta\tb+c\t0\t0.30\t0.50\t0.70\t0.10\nds\t1\tsplit\t0.1\t3\ta\tb+c\t0\t0.10\t0.49\t0.80\t0.09\n'
	printf 'ds\t2\tsplit\t0.1\t0\tb\ta+c\t0\t0.40\t0.54\t0.70\t0.05\nds\t2\tsplit\t0.1\t3\tb\ta+c\t0\t0.20\t0.21\t0.9999\t0.01\n'
	printf 'ds\t3\tsplit\t0.1\t0\tc\ta+b\t0\t0.35\t0.40\t0.60\t0.08\nds\t3\tsplit\t0.1\t3\tc\ta+b\t0\t0.16\t0.39\t0.75\t0.085\n'
} > "$TMP/reg.tsv"
r=$(sh "$P/report.sh" regularization "$TMP/reg.tsv")
like "$r" $'COLLAPSE: 1 run\\(s\\).*\n  seed 2 essence \\{b\\} T 0\\.1 beta 3: CKA 0\\.9999, essence nMI 0\\.210' \
	"report: the collapsed run is marked"
like "$r" 'removes nuisance information \(T=0\.1\): .*lower in 3 of 3 splits \(sign test p = 0\.25\), mean change -0\.19[0-9]* \[-0\.2[0-9]*, -0\.1[0-9]*\].*: holds' \
	"report: C4 paired per split, with the sign test and the interval"
like "$r" 'raises alignment \(T=0\.1, mutual_knn1\): .*: cannot tell \(the 95 % interval of the change includes 0\); 1 split\(s\) collapse at beta=3' \
	"report: C4 kNN cannot tell, and the collapse is said"
like "$r" 'essence information is kept .*: cannot tell \(the interval of the change reaches below -0\.05\)' \
	"report: essence kept judged against its margin"
is "$(awk -f "$P/collapse.awk" "$TMP/reg.tsv" "$TMP/reg.tsv" | cut -f2,5,13 | tr '\t\n' ',;')" \
	"seed,beta,collapse;1,0,NA;1,3,0;2,0,NA;2,3,1;3,0,NA;3,3,0;" "collapse.awk: only split 2 at beta 3 collapses"
# alignment: a significantly positive correlation does not hold
{
	printf 'dataset\tseed\tpairing\ttemperature\tessence\tnuisance\tdegenerate\timg_nui_mi\timg_nui_nmi\tcka\tmutual_knn1\n'
	for s in 1 2 3 4 5 6 7 8; do
		printf 'ds\t%s\tsplit\t0.1\te%s\tx+y+z\t0\t%s\t%s\t%s\t%s\n' $s $s $s $s "0.$s" "0.$((9 - s))"
	done
} > "$TMP/al.tsv"
r=$(sh "$P/report.sh" alignment "$TMP/al.tsv")
like "$r" 'alignment \(cka\): .*n = 8: does not hold \(significantly positive\)' "report: C3 positive does not hold"
like "$r" 'alignment \(mutual_knn1\): .*n = 8: holds' "report: C3 negative holds"
like "$r" '8 run\(s\) over 8 distinct essence\(s\) of the 14 distinct essence/nuisance splits the dataset has \(2\^4 - 2\)' \
	"report: how many distinct splits the runs cover"
awk -F '\t' -v OFS='\t' '{ print $0, (NR == 1 ? "essence_learnable" : $2 <= 4 ? 1 : 2) }' "$TMP/al.tsv" > "$TMP/al-l.tsv"
r=$(sh "$P/report.sh" alignment "$TMP/al-l.tsv")
like "$r" $'essence size held fixed.*\n.*\n  cka: Pearson r = 1\\.0000 .*n = 8 in 2 sizes: does not hold \\(significantly positive\\)\n  mutual_knn1: Pearson r = -1\\.0000 .*n = 8 in 2 sizes: holds' \
	"report: C3 with the essence size held fixed, pooled over 2 sizes"
like "$r" $'strata of 5 splits or more\\):\n  \\(no essence size has 5 splits\\)' \
	"report: no per-size correlation below 5 splits, and it says so"
if command -v gnuplot >/dev/null 2>&1; then
	# with and without essence sizes, with a degenerate split to draw apart
	awk -F '\t' -v OFS='\t' 'NR == 2 { $7 = 1 } { print }' "$TMP/al-l.tsv" > "$TMP/al-d.tsv"
	for f in al al-l al-d; do
		run_cmd sh "$P/plot.sh" alignment "$TMP/$f.tsv" "$TMP/pl-$f"
		ok $([ "$RC" -eq 0 ] && [ -z "$ERR" ] && [ -s "$TMP/pl-$f/nuisance-vs-cka-ds.png" ] &&
			[ -s "$TMP/pl-$f/nuisance-vs-mutual_knn1-ds.png" ]; echo $?) \
			"plot.sh alignment ($f): both scatter plots drawn without a warning"
	done
	is "$(cut -f5 "$TMP/pl-al-l/data/scatter-ds-cka-deg0.tsv" | sort | uniq -c | tr -s ' \n' ' ')" \
		" 4 1 4 2 1 size " "plot.sh: the scatter data carries each split's essence size"
else
	for f in 1 2 3 4; do skip "gnuplot not installed"; done
fi

# ---- evidence merge -------------------------------------------------------------
ev() { # ev FILE RUN VERSION CKA SECONDS
	mkdir -p "$(dirname "$1")"
	printf 'experiment\tprofile\trun\tmmib_version\tfingerprint\tevidence_format\tseed\tcka\ttrain_seconds\n' > "$1"
	printf 'alignment\tquick\t%s\t%s\tf00\t1\t1\t%s\t%s\n' "$2" "$3" "$4" "$5" >> "$1"
}
E=$TMP/ev; ev "$E/a/r1.tsv" r1 0.1.0 0.5 10; ev "$E/a/r2.tsv" r2 0.1.0 0.6 11; ev "$E/b/r1.tsv" r1 0.1.0 0.5 99
run_cmd sh "$P/evidence.sh" merge -n "$TMP/note" "$E"
ok $([ "$RC" -eq 0 ] && [ "$(tsv_rows0 "$TMP/.out")" -eq 2 ]; echo $?) "evidence: an identical duplicate (but its time) is kept once"
like "$(cat "$TMP/note")" 'the evidence of 2 runs \(3 files; 1 identical duplicate\(s\) kept once; mmib 0\.1\.0\)' \
	"evidence: the note says what the merge rests on"
ev "$E/b/r1.tsv" r1 0.1.0 0.55 99
run_cmd sh "$P/evidence.sh" merge "$E"
ok $([ "$RC" -ne 0 ] && [ ! -s "$TMP/.out" ]; echo $?) "evidence: a conflicting duplicate is refused"
like "$ERR" "run r1: $E/a/r1.tsv and $E/b/r1.tsv differ in cka" "evidence: the conflict names both files and the column"
run_cmd env EVIDENCE_CONFLICT=warn sh "$P/evidence.sh" merge "$E"
ok $([ "$RC" -eq 0 ] && grep -q '	0.5	10	' "$TMP/.out" && echo "$ERR" | grep -q 'warning: .*keeping the first'; echo $?) \
	"evidence: EVIDENCE_CONFLICT=warn keeps the first, warns"
rm "$E/b/r1.tsv"; ev "$E/b/r3.tsv" r3 0.2.0 0.5 1
run_cmd sh "$P/evidence.sh" merge "$E"
ok $([ "$RC" -ne 0 ] && echo "$ERR" | grep -q 'incompatible evidence:.*mmib 0\.1\.x.*mmib 0\.2\.x\|incompatible evidence:.*mmib 0\.2\.x.*mmib 0\.1\.x'; echo $?) \
	"evidence: rows of versions 0.1 and 0.2 are incompatible"
run_cmd env EVIDENCE_MIXED=1 sh "$P/evidence.sh" merge "$E"
ok $([ "$RC" -eq 0 ] && [ "$(tsv_rows0 "$TMP/.out")" -eq 3 ]; echo $?) "evidence: EVIDENCE_MIXED=1 merges them anyway"

# ---- distinct splits ------------------------------------------------------------
if [ -x "$MMIB_BIN/mmib-gen" ]; then
	"$MMIB_BIN/mmib-gen" --splits -d mpi3d > "$TMP/splits"
	is "$(tail -n +2 "$TMP/splits" | wc -l),$(tail -n +2 "$TMP/splits" | cut -f2 | sort -u | wc -l),$(cut -f1 "$TMP/splits" | tail -n 1)" \
		126,126,126 "mmib-gen --splits: mpi3d's 2^7 - 2 splits, no essence twice"
	run_cmd "$MMIB_BIN/mmib-gen" -d mpi3d -n 10 --split 127
	like "$ERR" '--split: 127 is out of range: mpi3d has 126 distinct essence/nuisance splits' \
		"mmib-gen --split: more splits than exist is an error naming the count"
else
	skip "mmib-gen not built"; skip "mmib-gen not built"
fi

# row.sh on a probe table whose essence is only unlearnable factors
printf 'modality\tfactor\trole\tK\tlnK\tce\tmi\tnmi\tacc\titers\n' > "$TMP/p.tsv"
printf 'img\tshape\tessence\t3\t1.0986\t1.0986\t0\t0\t0.33\t10\n' >> "$TMP/p.tsv"
printf 'img\tposX\tnuisance\t32\t3.4657\t1.7329\t1.7329\t0.5\t0.4\t10\n' >> "$TMP/p.tsv"
printf 'img\tessence\tgroup\t-\t1.0986\t1.0986\t0\t0\t0.33\t-\n' >> "$TMP/p.tsv"
printf 'metric\tk\tvalue\ncka\t-\t0.7\nmutual_knn\t1\t0.2\n' > "$TMP/a.tsv"
sh "$P/row.sh" seed=3 unlearnable=shape,orientation "$TMP/p.tsv" "$TMP/a.tsv" > "$TMP/row.tsv"
col() { awk -F '\t' -v c="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print (k ? $k : "absent") }' "$2"; }
is "$(col degenerate "$TMP/row.tsv"),$(col essence_learnable "$TMP/row.tsv")" 1,0 \
	"row.sh: essence {shape} is degenerate, no learnable essence factor"
is "$(col miss_nmi "$TMP/row.tsv"),$(col img_nui_mi "$TMP/row.tsv"),$(col mutual_knn1 "$TMP/row.tsv")" \
	"0.5,1.7329,0.2" "row.sh: missing-factor nMI, nuisance MI, metric@k columns"
run_cmd sh "$P/row.sh" "$TMP/a.tsv" "$TMP/p.tsv"
ok $((RC == 0)) "row.sh: tables in the wrong order are refused"
# depth=model: from the model's metadata (model.image_depth), else from the spec
depth() {
	spec=$1; shift
	sh "$P/row.sh" image_spec="$spec" depth=model "$@" "$TMP/p.tsv" "$TMP/a.tsv" | col depth /dev/stdin
}
is "$(depth mlp-flatten:512,256,256/64),$(depth resnet56),$(depth mlp:8)" 3,56,1 \
	"row.sh: depth=model without a model counts hidden widths, or N of resnetN"
# stand-ins for mmib-info -q MODEL: a model with the key, one without, a bad one
cat > "$TMP/info-new" <<EOF
#!/bin/sh
[ "\$1 \$2" = "-q $TMP/m.mts" ] || exit 1
printf 'meta\tmodel.image_encoder\tresnet20\nmeta\tmodel.image_depth\t7\n'
EOF
printf '#!/bin/sh\nprintf "meta\\tmodel.image_encoder\\tresnet20\\n"\n' > "$TMP/info-old"
printf '#!/bin/sh\necho "mmib-info: $2: truncated stream" >&2; exit 1\n' > "$TMP/info-bad"
chmod +x "$TMP"/info-*
is "$(MMIB_INFO=$TMP/info-new depth resnet20 model="$TMP/m.mts")" 7 \
	"row.sh: depth=model reads model.image_depth with mmib-info"
is "$(MMIB_INFO=$TMP/info-old depth resnet20 model="$TMP/m.mts")" 20 \
	"row.sh: a model without model.image_depth falls back to the spec"
run_cmd env MMIB_INFO="$TMP/info-bad" sh "$P/row.sh" depth=model model="$TMP/m.mts" "$TMP/p.tsv" "$TMP/a.tsv"
ok $([ "$RC" -ne 0 ] && [ ! -s "$TMP/.out" ] && echo "$ERR" | grep -q truncated; echo $?) \
	"row.sh: an unreadable model is an error, not a fallback"

# ---- the pipelines at toy size ------------------------------------------------
if ! [ -x "$MMIB_BIN/mmib-gen" ] || ! [ -x "$MMIB_BIN/mmib-train" ] ||
    ! [ -x "$MMIB_BIN/mmib-probe" ] || ! [ -x "$MMIB_BIN/mmib-align" ] ||
    ! [ -x "$MMIB_BIN/mmib-encode" ] || ! [ -x "$MMIB_BIN/mmib-info" ]; then
	for i in $(seq 48 103); do skip "tools not built"; done
	done_testing
fi
# The makes below are our own, not sub-makes of the make that runs the tests
# (whose jobserver they would share and warn about on standard error).
unset MAKEFLAGS MFLAGS MAKELEVEL
# make -o: use the built tools as they are, never rebuild them from here.
M=(make --no-print-directory -j2 BIN="$MMIB_BIN" RUNS="$TMP/runs" RESULTS="$TMP/results"
	EVIDENCE="$TMP/evidence" BASELINE=0 PIPE_DEPS=0 N=400 EPOCHS=2 STEP=1 DATASETS=dsprites IMG=tiny
	IMG_tiny=mlp-flatten:32/16 FAC_dsprites=mlp:8/16 SEEDS=1)
for t in gen train encode probe align info; do M+=(-o "$MMIB_BIN/mmib-$t"); done
tsv_rows() { echo $(($(wc -l < "$1") - 1)); }
in_range() { # in_range FILE COLUMN LO HI: every value numeric within [LO, HI]
	col "$2" "$1" | awk -v lo="$3" -v hi="$4" '
		!($0 ~ /^-?[0-9.]+(e-?[0-9]+)?$/) || $0 + 0 < lo || $0 + 0 > hi { bad = 1 }
		END { exit bad || NR == 0 }'
}

# Data rules are made from the settings, not parsed back from file names: a
# dataset or factor name may contain '-' (make -n: no such dataset exists).
run_cmd "${M[@]}" -n V=1 remove-msi DATASETS=toy-set FAC_toy-set=mlp:8/16 MISSING=a-b TEMPS=0.1 DEPTHS=
like "$(grep -- '-part train' "$TMP/.out" | sed 's/.* -- //')" \
	"mmib-gen -q -d toy-set -n 400 -s 1 --missing a-b +--part train -o $TMP/runs/data/toy-set-n400-s1-missing-a-b-train\\.mts\$" \
	"data rules: a dataset and a factor named with '-'"

# what a sweep's settings select, without running (make -n)
run_cmd "${M[@]}" -n remove-msi MISSING=posX TEMPS=0.1 DEPTHS= OBJECTIVE=siglip IMG=vit
like "$(grep 'train\.sh' "$TMP/.out")" "/vit-patch8\\.dim64\\.depth2\\.heads2\\.mlp128\\+mlp-8-o16/T0\\.1-b0-e2-.*-bs128-siglip .*/mmib-train .*--image-encoder vit:patch=8,dim=64,depth=2,heads=2,mlp=128 .*--objective siglip " \
	"OBJECTIVE and IMG=vit: passed to mmib-train, part of the run's name"
run_cmd "${M[@]}" remove-msi MISSING=posX TEMPS= DEPTHS=
ok $([ "$RC" -ne 0 ] && echo "$ERR" | grep -q 'remove-msi: no runs'; echo $?) "an experiment of no runs is an error"
run_cmd "${M[@]}" -n demo TEMPS='0.3 1' SEEDS=2 DEPTHS=tiny
like "$(grep '^echo "demo' "$TMP/.out")" 'seed\(s\) 2, T = 0\.3 1 and depths tiny at T = 0\.1: 3 runs, 3 to train' \
	"demo: settings on the command line replace the demo's, the message counts the runs"
is "$(grep -c -- '--temperature 0.3 .* -s 2\b' "$TMP/.out"),$(grep -c -- '--temperature 0.01 ' "$TMP/.out")" 1,0 \
	"demo: and those runs are the ones made"

S=$TMP/results/remove-msi
run_cmd "${M[@]}" remove-msi MISSING=posX TEMPS='0.1 1' DEPTHS='tiny tiny2' IMG_tiny2=mlp-flatten:32,32/16
ok $RC "remove-msi runs"; [ "$RC" -ne 0 ] && diag "$ERR"
# (-j2: whichever run finishes first is [1/3])
like "$ERR" '\[1/3\] dsprites s1 missing-posX tiny2? T=(0\.1|1) b=0: [0-9]+ s, ~[0-9]+ (s|min) left' \
	"progress: one line per finished run with the time left"
like "$ERR" '\[3/3\] dsprites s1 missing-posX tiny2? T=(0\.1|1) b=0: [0-9]+ s, done' "progress: the last run says done"
ok $(grep -q "$MMIB_BIN/mmib-\|step\.sh" "$TMP/.out" "$TMP/.err"; [ $? -ne 0 ]; echo $?) "quiet by default: no command echoed"
is "$(tsv_rows "$S/summary.tsv" 2>/dev/null)" 3 "remove-msi: one summary row per run (2 temperatures + 1 depth)"
in_range "$S/summary.tsv" miss_nmi -1 1; ok $? "remove-msi: missing-factor nMI in [-1, 1]"
in_range "$S/summary.tsv" img_ess_nmi -1 1; ok $? "remove-msi: essence nMI in [-1, 1]"
is "$(col missing "$S/summary.tsv" | sort -u)" posX "remove-msi: the missing factor is recorded"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C1 .*nMI\(posX\) = -?[0-9.]+ at T=0\.1.*: (holds|does not hold|cannot tell)' \
	"remove-msi: report states C1 with its figure"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C2 .*at T=0\.1 -> -?[0-9.]+ at T=1, .*: (holds|does not hold|cannot tell)' \
	"remove-msi: report states C2 (temperature)"
like "$(cat "$S/report.txt" 2>/dev/null)" "C2' .*depth 1 -> -?[0-9.]+ at depth 2" \
	"remove-msi: report states C2' (depth)"
ok $(ls "$TMP"/runs/train/*/*/*/row.tsv.* "$S"/*.[0-9]* "$TMP"/runs/train/*/*/*/*.tmp* 2>/dev/null | grep -q .
	[ $? -ne 0 ]; echo $?) "remove-msi: no temporary left behind"
# files renamed from mktemp's 0600 temporaries get a new file's mode
want=$(printf %o $((0666 & ~0$(umask))))
is "$(stat -c %a "$S/summary.tsv" "$S/report.txt" $(ls "$TMP"/runs/train/*/*/*/row.tsv "$TMP"/runs/train/*/*/*/log.tsv | head -2) | sort -u)" "$want" \
	"remove-msi: summary, report, rows and logs have the umask's mode, not 0600"
ls "$TMP"/runs/train/*/*/*/model.mts > "$TMP/models1"
run_cmd "${M[@]}" remove-msi MISSING=posX TEMPS='0.1 1' DEPTHS='tiny tiny2' IMG_tiny2=mlp-flatten:32,32/16
ok $([ "$RC" -eq 0 ] && ! grep -q "$MMIB_BIN/mmib-" "$TMP/.out"; echo $?) "remove-msi: a second make runs no tool"
run_cmd "${M[@]}" V=1 THREADS=2 remove-msi MISSING=posX TEMPS='0.1 1' DEPTHS='tiny tiny2' IMG_tiny2=mlp-flatten:32,32/16
ok $([ "$RC" -eq 0 ] && ! grep -q "$MMIB_BIN/mmib-" "$TMP/.out"; echo $?) "THREADS is not part of a run's name"
run_cmd "${M[@]}" remove-msi MISSING=posX TEMPS='0.1 0.3 1' DEPTHS='tiny tiny2' IMG_tiny2=mlp-flatten:32,32/16
ok $RC "remove-msi: one more temperature"
ls "$TMP"/runs/train/*/*/*/model.mts > "$TMP/models2"
is "$(grep -c . "$TMP/models2")" 4 "remove-msi: only the new run was trained"
is "$(tsv_rows "$S/summary.tsv")" 4 "remove-msi: summary rebuilt with the new run"
rm -f "$TMP"/runs/train/*/*/T0.3-*/probe.tsv "$TMP"/runs/train/*/*/T0.3-*/row.tsv
run_cmd "${M[@]}" V=1 remove-msi MISSING=posX TEMPS='0.1 0.3 1' DEPTHS='tiny tiny2' IMG_tiny2=mlp-flatten:32,32/16
ok $([ "$RC" -eq 0 ] && [ -s "$(ls "$TMP"/runs/train/*/*/T0.3-*/row.tsv)" ] &&
	grep -q "$MMIB_BIN/mmib-probe" "$TMP/.out" && ! grep -q "$MMIB_BIN/mmib-train" "$TMP/.out"; echo $?) \
	"remove-msi: a deleted row and probe table are redone, nothing else"
if command -v gnuplot >/dev/null 2>&1; then
	ok $([ -s "$S/nmi-vs-temperature.png" ] && [ -s "$S/nmi-vs-depth.png" ]; echo $?) \
		"remove-msi: temperature and depth plots drawn"
else
	skip "gnuplot not installed"
fi

if command -v gnuplot >/dev/null 2>&1; then
	c=$(ls -d "$TMP"/runs/train/*/*/T0.3-*)
	run_cmd "${M[@]}" "$c/curve.png"
	ok $([ "$RC" -eq 0 ] && [ -s "$c/curve.png" ] && [ -z "$ERR" ]; echo $?) \
		"curve.png of a fixed-T run: drawn without a warning"
else
	skip "gnuplot not installed"
fi

# SigLIP: the objective in the summary, its temperature as InfoNCE's
run_cmd "${M[@]}" remove-msi MISSING=posX TEMPS=0.1 DEPTHS= OBJECTIVE=siglip MSI_OUT="$TMP/results/siglip"
ok $RC "remove-msi with OBJECTIVE=siglip runs"; [ "$RC" -ne 0 ] && diag "$ERR"
is "$(col objective "$TMP/results/siglip/summary.tsv"),$(col final_temperature "$TMP/results/siglip/summary.tsv")" \
	siglip,0.1 "siglip: objective recorded, final_temperature = exp(-logit_scale) (fixed T)"
if command -v gnuplot >/dev/null 2>&1; then
	c=$(ls -d "$TMP"/runs/train/*/*/T0.1-*-siglip)
	run_cmd "${M[@]}" "$c/curve.png" OBJECTIVE=siglip
	ok $([ "$RC" -eq 0 ] && [ -s "$c/curve.png" ] && [ -z "$ERR" ]; echo $?) "curve.png of a siglip run"
else
	skip "gnuplot not installed"
fi

# An interrupted training resumes from its checkpoint, bit-identically
r=dsprites-n400-s1-missing-posX/mlp-flatten-32-o16+mlp-8-o16/T0.1-b0-e100-st50-g0.3-wd0.0001-lr0.001-bs128
K=("${M[@]}" MISSING=posX TEMPS=0.1 DEPTHS= EPOCHS=100 STEP=50)
setsid "${K[@]}" RUNS="$TMP/kill" "$TMP/kill/train/$r/model.mts" > "$TMP/kill.out" 2>&1 &
kpid=$!
for i in $(seq 400); do ls "$TMP"/kill/train/*/*/*/checkpoint.mts >/dev/null 2>&1 && break; sleep 0.05; done
kill -TERM -- -"$kpid" 2>/dev/null; wait "$kpid"
ok $([ -e "$(ls "$TMP"/kill/train/*/*/*/checkpoint.mts)" ] && ! ls "$TMP"/kill/train/*/*/*/model.mts >/dev/null 2>&1
	echo $?) "a killed training leaves its checkpoint and no model"
run_cmd "${K[@]}" RUNS="$TMP/kill" "$TMP/kill/train/$r/model.mts"
like "$ERR" 'resuming the interrupted training after epoch [0-9]+' "the next make resumes it"
run_cmd "${K[@]}" RUNS="$TMP/nokill" "$TMP/nokill/train/$r/model.mts"
k=$(ls -d "$TMP"/kill/train/*/*/*) u=$(ls -d "$TMP"/nokill/train/*/*/*)
ok $(cmp -s "$k/model.mts" "$u/model.mts" && [ ! -e "$k/checkpoint.mts" ]; echo $?) \
	"resumed: the model is the uninterrupted run's, byte for byte; checkpoint removed"
is "$(cut -f1-7 "$k/log.tsv" | md5sum),$(wc -l < "$k/log.tsv")" "$(cut -f1-7 "$u/log.tsv" | md5sum),101" \
	"resumed: the log has every epoch once, as the uninterrupted run's"

# Two identical makes at once in one tree: both succeed, every tool runs
# once in all, identical summaries.
S=$TMP/results/alignment
A=("${M[@]}" V=1 alignment SEEDS='1 2 3 4' RUN='env MMIB_RUN_PREFIX=1')
"${A[@]}" > "$TMP/a1.out" 2> "$TMP/a1.err" & a1=$!
"${A[@]}" > "$TMP/a2.out" 2> "$TMP/a2.err"; RC=$?
wait "$a1"; RC1=$?
ok $((RC + RC1)) "alignment: two makes at once both succeed"; [ "$RC1" -ne 0 ] && diag "$(cat "$TMP/a1.err")"
is "$(cat "$TMP/a1.out" "$TMP/a2.out" | grep -c "^env MMIB_RUN_PREFIX=1 $MMIB_BIN/mmib-")" 32 \
	"alignment: every tool invocation goes through \$(RUN), once in all (4 splits x 8: gen 2, train 2, encode 2, probe, align)"
ok $(diff <(sed -n '/^mmib alignment report/,$p' "$TMP/a1.out") <(sed -n '/^mmib alignment report/,$p' "$TMP/a2.out") >/dev/null
	echo $?) "alignment: both makes print the same report"
is "$(tsv_rows "$S/summary.tsv" 2>/dev/null)" 4 "alignment: one row per random split"
in_range "$S/summary.tsv" cka 0 1; ok $? "alignment: CKA in [0, 1]"
in_range "$S/summary.tsv" mutual_knn1 0 1; ok $? "alignment: mutual kNN@1 in [0, 1]"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C3 .*\(cka\): Pearson r = -?[0-9.]+ \[-?[0-9.]+, -?[0-9.]+\], Spearman rho = -?[0-9.]+ \[.*n = [0-9]+: ' \
	"alignment: report states C3 with r, rho and intervals"
is "$(col pairing "$S/summary.tsv" | sort -u),$(col essence "$S/summary.tsv" | sort -u | wc -l)" split,4 \
	"alignment: distinct splits by default, four seeds four essences"
is "$(grep -c -- '--split [1-4] ' "$TMP/a1.out" "$TMP/a2.out" | awk -F: '{ s += $2 } END { print s }')" 8 \
	"alignment: seed k is mmib-gen --split k (train and test parts)"
run_cmd "${M[@]}" alignment SEEDS='1 31'
ok $([ "$RC" -ne 0 ] && echo "$ERR" | grep -q 'alignment: dsprites has 30 distinct essence/nuisance splits.*not split(s) 31' &&
	! ls -d "$TMP"/runs/data/*-s31-* >/dev/null 2>&1; echo $?) \
	"alignment: more splits than exist is an error before any run"
# evidence: one file per run, merged by alignment-report (no tool runs)
ls "$TMP"/evidence/alignment/*.tsv > "$TMP/evl" 2>/dev/null
is "$(grep -c . "$TMP/evl")" 4 "evidence: one file per run of the experiment"
f=$(head -n 1 "$TMP/evl")
like "$(col run "$f"),$(col mmib_version "$f"),$(col fingerprint "$f"),$(col profile "$f")" \
	'^dsprites-n400-s[0-9]-split/mlp-flatten-32-o16\+mlp-8-o16/T0\.1-b0-e2-[^,]*,[0-9]+\.[0-9]+\.[0-9]+,[0-9a-f]{16},quick$' \
	"evidence: the run key, mmib version, provenance fingerprint and profile"
cp "$f" "$TMP/evidence/alignment/copy-from-elsewhere.tsv"
run_cmd "${M[@]}" V=1 alignment-report
ok $([ "$RC" -eq 0 ] && ! grep -q "$MMIB_BIN/mmib-" "$TMP/.out"; echo $?) "alignment-report: merges without running a tool"
like "$(cat "$S/merged/report.txt" 2>/dev/null)" 'It rests on the evidence of 4 runs \(5 files; 1 identical duplicate\(s\) kept once; mmib [0-9.]+\)' \
	"alignment-report: the duplicate kept once, the report says what it rests on"

S=$TMP/results/regularization
run_cmd "${M[@]}" regularization BETAS='0 1' REG_TEMPS='0.1 learn'
ok $RC "regularization runs"; [ "$RC" -ne 0 ] && diag "$ERR"
is "$(tsv_rows "$S/summary.tsv" 2>/dev/null)" 4 "regularization: 2 betas x 2 temperature modes"
in_range "$S/summary.tsv" final_temperature 0.0001 10; ok $? "regularization: final temperatures recorded"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C5 .*T = [0-9.]+ at beta=0 -> [0-9.]+ at beta=1' \
	"regularization: report states C5 (learned temperature)"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C4 the regulariser removes nuisance information \(T=0\.1\)' \
	"regularization: report states C4"
like "$(cat "$S/report.txt")" 'fixed temperature T=0\.1, one split:' "one seed: said so, no sd"
ok $(grep -q -- '+-' "$S/report.txt"; [ $? -ne 0 ]; echo $?) "one seed: no '+- 0.000'"
is "$(col collapse "$S/summary.tsv" | sort -u | tr '\n' ' ')" "0 NA " "regularization: the summary marks collapse (NA at beta 0)"

# C1's untrained baseline: one more run at --epochs 0, its C1 line
S=$TMP/results/base
run_cmd "${M[@]}" V=1 remove-msi MISSING=posX TEMPS=0.1 DEPTHS= BASELINE=1 MSI_OUT="$S"
ok $([ "$RC" -eq 0 ] && [ "$(grep -c "$MMIB_BIN/mmib-train" "$TMP/.out")" -eq 2 ] &&
	grep -q -- '--epochs 0 ' "$TMP/.out"; echo $?) "BASELINE=1: the untrained run is mmib-train --epochs 0 (and the model write)"
like "$(cat "$S/report.txt" 2>/dev/null)" 'C1 .* at T=0\.1, untrained -?[0-9.]+, difference .*: (holds|does not hold|cannot tell)' \
	"BASELINE=1: C1 compared with the untrained encoder"
done_testing
