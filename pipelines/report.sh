#!/bin/sh
# pipelines/report.sh - the text report of one experiment.
#
#   report.sh remove-msi|alignment|regularization SUMMARY_TSV > report.txt
#
# States each claim of the paper with the measured figure and a verdict,
# "holds", "does not hold" or "cannot tell", with its reason; the criteria
# and thresholds are printed at the top (and in pipelines/README.md).
# Environment: IMG (the default image encoder name, for the temperature
# sweep), DEPTH_TEMP (temperature of the depth sweep), PROFILE,
# EVIDENCE_NOTE (what a merged summary rests on, from evidence.sh merge);
# thresholds MIN_NMI (0.1), KEEP (0.05), COLLAPSE_NMI (0.1), COLLAPSE_KNN
# (0.5), EPS (0.02).  Splits flagged degenerate (essence only of factors
# the encoder cannot learn) are left out of the figures and listed apart.
set -eu
exp=${1:?usage: report.sh EXPERIMENT SUMMARY}
sum=${2:?usage: report.sh EXPERIMENT SUMMARY}
here=$(dirname "$0")
: "${IMG:=}" "${DEPTH_TEMP:=0.1}" "${PROFILE:=quick}"
[ -s "$sum" ] || { echo "report.sh: $sum: empty summary" >&2; exit 1; }
[ "$(awk 'END { print NR }' "$sum")" -ge 2 ] ||
	{ echo "report.sh: $sum: no runs in the summary" >&2; exit 1; }
# One temporary for the group-mean table in use, removed however we end.
tmp=$(mktemp "${TMPDIR:-/tmp}/report.XXXXXX")
trap 'rm -f "$tmp" "$tmp.a" "$tmp.b" "$tmp.s"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# Alignment metric columns as mmib-align names them (see row.sh).
CKA=${CKA:-cka}
MKNN1=${MKNN1:-mutual_knn1}
MKNN5=${MKNN5:-mutual_knn5}

has_col() { head -n 1 "$sum" | tr '\t' '\n' | grep -qx "$1"; }
# sel WHERE: the header and the rows of the summary that match where-list
# WHERE (see where.awk), the input of every helper below
sel() { awk -v where="${1:-}" -f "$here/where.awk" "$sum"; }
# distinct values of column $1 (in first-appearance order), rows matching $2
distinct() {
	sel "${2:-}" | awk -F '\t' -v c="$1" '
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
	{ v = $(h[c]); if (!(v in s)) { s[v] = 1; print v } }'
}
count() { # rows matching where-list $1
	sel "${1:-}" | awk 'END { print (NR > 1 ? NR - 1 : 0) }'
}
# agg BY COLS WHERE: grouped means, sorted numerically on the last by-column
agg() {
	nb=$(echo "$1" | tr "," "\n" | wc -l)
	sel "${3:-}" | awk -v by="$1" -v cols="$2" -f "$here/agg.awk" |
	{ IFS= read -r h; printf "%s\n" "$h"; sort -t "$(printf "\t")" -k"$nb,$nb" -g; }
}
# corr X Y WHERE [BY]: one correlation row (see corr.awk), with BY held
# fixed when given
corr() {
	sel "${3:-}" | awk -v x="$1" -v y="$2" -v by="${4:-}" -f "$here/corr.awk"
}
# The objective the runs trained with, for the claims' wording (C1 is
# about the contrastive objective alone, whichever it is).
obj=InfoNCE
if has_col objective; then
	case $(distinct objective | tr '\n' ' ') in
	"siglip ") obj=SigLIP ;;
	"infonce "|"") obj=InfoNCE ;;
	*) obj="the objective" ;;
	esac
fi

# Table of group means: agg output on stdin, column titles in $1 (space list),
# the group column first, then the mean per metric, +- sd when it is over
# 2 runs or more (a single run has no spread to show), then n of the first.
table() {
	awk -F '\t' -v titles="$1" '
	NR == 1 { nb = 0; for (i = 1; i <= NF; i++) if ($i !~ /_(mean|sd|n)$/) nb++
		nt = split(titles, T, " "); line = sprintf("  %-12s", T[1])
		for (j = 2; j <= nt; j++) line = line sprintf(" %-16s", T[j])
		print line " runs"; next }
	{ line = sprintf("  %-12s", $nb)
	  for (i = nb + 1; i <= NF; i += 3)
		line = line sprintf(" %-16s", $i == "NA" ? "NA" : $(i + 2) >= 2 ? \
			sprintf("%.3f +- %.3f", $i, $(i + 1)) : sprintf("%.3f", $i))
	  print line " " $(nb + 3) }'
}
# spread WHERE WORD: "mean +- sd over N WORDs" (seeds or splits) of the rows
# matching WHERE, or "one WORD" when there is one seed
spread() {
	k=$(distinct seed "$1" | wc -l)
	if [ "$k" -ge 2 ]; then echo "mean +- sd over $k ${2}s"; else echo "one $2"; fi
}
# verdict of a correlation row (negative expected): judged by both
# coefficients' 95 % intervals
neg_verdict() {
	awk -F '\t' '{
	if ($5 == "NA" || $8 == "NA" || $6 == "NA" || $9 == "NA") { print "cannot tell (too few runs for an interval)"; exit }
	if ($7 < 0 && $10 < 0) print "holds"
	else if ($6 > 0 || $9 > 0) print "does not hold (significantly positive)"
	else print "cannot tell (a 95 % interval includes 0)" }'
}
corr_text() {
	awk -F '\t' '{ printf "Pearson r = %s [%s, %s], Spearman rho = %s [%s, %s], n = %d", \
		$5, $6, $7, $8, $9, $10, $4 }'
}
# trend_verdict: verdict on a Spearman rho expected negative, from a corr
# row on stdin: its 95 % interval below 0 holds, above 0 does not
trend_verdict() {
	awk -F '\t' '{
	if ($9 == "NA") { print "cannot tell (too few runs for an interval)"; exit }
	if ($10 < 0) print "holds"
	else if ($9 > 0) print "does not hold (it rises: the interval of rho is above 0)"
	else print "cannot tell (the 95 % interval of rho includes 0)" }'
}
trend_text() { awk -F '\t' '{ printf "Spearman rho = %s [%s, %s] over %d runs", $8, $9, $10, $4 }'; }
# first and last data row of an agg table: "x_first mean_first x_last mean_last"
ends() {
	awk -F '\t' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col "_mean") c = i
		nb = 0; for (i = 1; i <= NF; i++) if ($i !~ /_(mean|sd|n)$/) nb++; next }
	$c != "NA" { if (!n++) { fx = $nb; fm = $c } lx = $nb; lm = $c }
	END { if (n) print fx, fm, lx, lm, n; else print "NA NA NA NA 0" }'
}
# monotone COL WORD: from an agg table on stdin (sorted by the swept
# setting), where the mean of COL rises by more than EPS from one setting
# to the next, although it is expected to fall
monotone() {
	awk -F '\t' -v col="$1" -v word="$2" -v eps="$EPS" '
	NR == 1 { for (i = 1; i <= NF; i++) if ($i == col "_mean") c = i
		nb = 0; for (i = 1; i <= NF; i++) if ($i !~ /_(mean|sd|n)$/) nb++; next }
	$c != "NA" { if (n++ && $c - pm > eps) r = r (r == "" ? "" : "; ") sprintf("%.3f at %s=%s -> %.3f at %s=%s", \
		pm, word, px, $c, word, $nb); pm = $c; px = $nb }
	END { if (n < 3) print "too few settings to judge its shape"
		else if (r == "") print "the mean curve never rises by more than " eps " from one setting to the next"
		else print "the mean curve is NOT monotone: it rises " r }'
}
# vals COL WHERE: "seed<TAB>value" of the rows matching WHERE
vals() {
	sel "$2" | awk -F '\t' -v c="$1" '
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
	{ print $(h["seed"]) "\t" $(h[c]) }'
}
# pstats COL WHERE_A WHERE_B: stats.awk's paired row of COL, B - A by seed
# (split): n up down ties mean_a mean_b diff sd lo hi p
pstats() {
	vals "$1" "$2" > "$tmp.a"
	vals "$1" "$3" > "$tmp.b"
	awk -f "$here/stats.awk" "$tmp.a" "$tmp.b"
}
# paired_text WORD: the figures of a pstats row on stdin
paired_text() {
	awk -F '\t' -v w="$1" '{
	printf "%s in %d of %d %s (sign test p = %s), mean change %s", ($7 != "NA" && $7 < 0) ? "lower" : "higher", \
		($7 != "NA" && $7 < 0) ? $3 : $2, $1, w, $11, $7
	if ($9 != "NA") printf " [%s, %s]", $9, $10 }'
}
# paired_verdict DIR [MARGIN]: on a pstats row (stdin) of a change
# expected to go DIR (down or up): the paired 95 % interval of the change
# on that side of 0 holds, on the other side does not.  DIR keep: the
# interval above -MARGIN holds (at most MARGIN lost), below it does not.
paired_verdict() {
	awk -F '\t' -v d="$1" -v m="${2:-0}" -v w="${3:-splits}" '{
	if ($1 == 0) { print "cannot tell (no pairs)"; exit }
	if ($9 == "NA") { print "cannot tell (one " substr(w, 1, length(w) - 1) ": no spread)"; exit }
	if (d == "keep") {
		if ($9 > -m) print "holds (the interval of the change stays above -" m ")"
		else if ($10 < -m) print "does not hold (it falls by more than " m ")"
		else print "cannot tell (the interval of the change reaches below -" m ")"
	} else if ((d == "down" && $10 < 0) || (d == "up" && $9 > 0)) print "holds"
	else if ((d == "down" && $9 > 0) || (d == "up" && $10 < 0)) print "does not hold (it goes the other way)"
	else print "cannot tell (the 95 % interval of the change includes 0)" }'
}
f3() { awk -v v="$1" 'BEGIN { if (v == "NA") print "NA"; else printf "%.3f", v }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "NA" && b != "NA" && a + 0 < b + 0) }'; }
: "${EPS:=0.02}" "${MIN_NMI:=0.1}" "${KEEP:=0.05}" "${COLLAPSE_NMI:=0.1}" "${COLLAPSE_KNN:=0.5}"
# splits_text WHERE: how many distinct essences the rows hold, of how many
# the dataset has (2^F - 2, F from the essence and nuisance lists)
splits_text() {
	sel "$1" | awk -F '\t' '
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
	{ n++; e = $(h["essence"]); if (!(e in s)) { s[e] = 1; d++ }
	  if (!F) { F = split(e, a, "+") + ($(h["nuisance"]) == "-" ? 0 : split($(h["nuisance"]), b, "+")) }
	  if ($(h["pairing"]) == "random") r = 1 }
	END { printf "%d run(s) over %d distinct essence(s) of the %d distinct essence/nuisance splits the dataset has (2^%d - 2)", \
		n, d, 2 ^ F - 2, F
	  if (r && d < n) printf "; random draws repeat an essence %d time(s) (SPLITS=distinct avoids it)", n - d }'
}

echo "mmib $exp report (profile $PROFILE, $(count) runs, summary $sum)"
if [ -n "${EVIDENCE_NOTE:-}" ]; then echo "It rests on $EVIDENCE_NOTE."
elif has_col run; then echo "It rests on the evidence of $(distinct run | wc -l) runs."
else echo "It rests on $(count) runs."; fi
echo "Verdicts are holds, does not hold or cannot tell, with the reason:"
case $exp in
remove-msi)
	echo "  C1: the missing factor's nMI at the lowest temperature is above $MIN_NMI and above"
	echo "      the untrained encoder's (the same probe, --epochs 0, same data): the paired"
	echo "      95 % t interval of the difference over seeds lies above 0 (below 0: does not"
	echo "      hold; no baseline, one seed, or an interval across 0: cannot tell)."
	echo "  C2, C2': Spearman rho between the setting and the nMI over all runs, its 95 %"
	echo "      interval (Fisher z) below 0; a note says where the per-setting mean rises"
	echo "      by more than $EPS (the curve is then not monotone)."
	;;
alignment)
	echo "  C3: Pearson r and Spearman rho both with 95 % intervals (Fisher z) below 0;"
	echo "      either interval above 0: does not hold; across 0: cannot tell."
	;;
regularization)
	echo "  C4, C5: per split, paired (the same split at beta = 0 and the largest beta):"
	echo "      the paired 95 % t interval of the change on the claimed side of 0, with"
	echo "      how many splits move that way and a two-sided sign test; essence kept:"
	echo "      the interval of its change above -$KEEP."
	echo "  Collapse: a run whose CKA rises by more than $EPS over its split's beta = 0 run"
	echo "      while its essence nMI falls by more than $COLLAPSE_NMI or its mutual kNN@1 falls"
	echo "      below $(awk -v k="$COLLAPSE_KNN" 'BEGIN { print (1 - k) * 100 }') % of it (and by more than $EPS) is marked (summary column collapse)."
	;;
esac
echo
# Datasets of your own (OWN_DATASETS: name:file words): name and factors.
for d in ${OWN_DATASETS:-}; do
	"${MMIB_GEN:-mmib-gen}" --list --from "${d#*:}" --name "${d%%:*}" |
	awk -F '\t' 'NR == 2 { printf "dataset %s (%s): %s images, %s channel(s), factors %s\n", $1, $5, $3, $2, $4 }'
done
[ -z "${OWN_DATASETS:-}" ] || echo

case $exp in
remove-msi)
	# the untrained baseline runs (epochs 0) are no point of a sweep
	tr=; has_col epochs && tr=",epochs!=0"
	for ds in $(distinct dataset); do
	for m in $(distinct missing "dataset=$ds"); do
		[ "$m" = NA ] && continue
		w="dataset=$ds,missing=$m"
		echo "== $ds, missing factor $m (modality 2 shows every other factor)"
		imgs=$(distinct image_encoder "$w$tr")
		img=${IMG:-$(echo "$imgs" | head -n 1)}
		tw="$w,image_encoder=$img$tr"
		if [ "$(count "$tw")" -gt 0 ]; then
			spec=$(distinct image_spec "$tw" | head -n 1)
			echo "temperature sweep, image encoder $spec ($(spread "$tw" seed)):"
			agg temperature miss_nmi,img_ess_nmi,$CKA,$MKNN1 "$tw" > "$tmp"
			table "T nMI(z_img;$m) essence-nMI CKA mkNN@1" < "$tmp"
			set -- $(ends miss_nmi < "$tmp")
			t0=$1 n0=$2 t1=$3 n1=$4 nt=$5
			bw="$w,image_encoder=$img,epochs=0"
			nb=0; has_col epochs && nb=$(count "$bw")
			if [ "$nb" -gt 0 ]; then
				ps=$(pstats miss_nmi "$bw" "$tw,temperature=$t0")
				bm=$(echo "$ps" | cut -f5)
				echo "untrained baseline (the same encoder at --epochs 0): nMI($m) = $(f3 "$bm") ($(spread "$bw" seed))"
				v=$(echo "$ps" | awk -F '\t' -v t="$n0" -v min="$MIN_NMI" '{
				if (t == "NA") print "cannot tell (no figures)"
				else if (t + 0 <= min) print "does not hold (nMI at most " min ")"
				else if ($1 == 0) print "cannot tell (no seed has both the run and its baseline)"
				else if ($9 == "NA") print "cannot tell (one seed: no spread)"
				else if ($9 > 0) print "holds"
				else if ($10 < 0) print "does not hold (below the untrained encoder: training removed part of it)"
				else print "cannot tell (the interval of the difference from the untrained encoder includes 0)" }')
				d=$(echo "$ps" | awk -F '\t' '{ printf "difference %s", $7; if ($9 != "NA") printf " [%s, %s]", $9, $10; printf " over %d seed(s)", $1 }')
				echo "C1 $obj alone leaves the missing factor in z_img: nMI($m) = $(f3 "$n0") at T=$t0, untrained $(f3 "$bm"), $d (threshold $MIN_NMI, paired by seed): $v"
			else
				v=$(awk -v t="$n0" -v min="$MIN_NMI" 'BEGIN { print (t != "NA" && t + 0 <= min) ? "does not hold (nMI at most " min ")" : "cannot tell (no untrained baseline in the summary: BASELINE=1 runs it)" }')
				echo "C1 $obj alone leaves the missing factor in z_img: nMI($m) = $(f3 "$n0") at T=$t0 (threshold $MIN_NMI, no baseline): $v"
			fi
			if [ "$nt" -ge 2 ]; then
				c=$(corr temperature miss_nmi "$tw" | tr -d '\n')
				v=$(echo "$c" | trend_verdict)
				lt "$n0" "$MIN_NMI" && v="cannot tell (nMI below $MIN_NMI even at the lowest temperature: nothing to fall)"
				echo "C2 the missing factor's information falls as the temperature rises: nMI($m) $(f3 "$n0") at T=$t0 -> $(f3 "$n1") at T=$t1, $(echo "$c" | trend_text): $v; $(monotone miss_nmi T < "$tmp")"
			fi
		fi
		dw="$w,temperature=$DEPTH_TEMP$tr"
		if [ "$(distinct depth "$dw" | wc -l)" -ge 2 ]; then
			echo "depth sweep at T=$DEPTH_TEMP (depth = hidden layers of mlp-flatten, or N of resnetN):"
			agg depth miss_nmi,img_ess_nmi,$CKA,$MKNN1 "$dw" > "$tmp"
			table "depth nMI(z_img;$m) essence-nMI CKA mkNN@1" < "$tmp"
			set -- $(ends miss_nmi < "$tmp")
			c=$(corr depth miss_nmi "$dw" | tr -d '\n')
			v=$(echo "$c" | trend_verdict)
			lt "$2" "$MIN_NMI" && v="cannot tell (nMI below $MIN_NMI with the shallowest encoder: nothing to fall)"
			echo "C2' the missing factor's information falls as the image encoder deepens: nMI($m) $(f3 "$2") at depth $1 -> $(f3 "$4") at depth $3, $(echo "$c" | trend_text): $v; $(monotone miss_nmi depth < "$tmp")"
		fi
		echo
	done
	done
	;;
alignment)
	for ds in $(distinct dataset); do
		w="dataset=$ds"
		nall=$(count "$w"); ndeg=$(count "$w,degenerate=1")
		echo "== $ds: $(splits_text "$w"), temperature $(distinct temperature "$w" | tr '\n' ' ')"
		if [ "$ndeg" -gt 0 ]; then
			echo "$ndeg degenerate split(s) left out (essence only of factors a cheap image encoder does not learn):"
			sel "$w,degenerate=1" | awk -F '\t' -v cka="$CKA" -v mk="$MKNN1" '
			NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
			{
				printf "  seed %s essence {%s}: essence nMI %.3f, nuisance MI %.3f, CKA %.3f, mkNN@1 %.3f\n",
				$(h["seed"]), $(h["essence"]), $(h["img_ess_nmi"]), $(h["img_nui_mi"]),
				$(h[cka]), $(h[mk]) }'
		fi
		w="$w,degenerate=0"
		echo "correlations over the $(count "$w") other splits (95 % intervals by Fisher z):"
		printf '  %-12s %-12s %-30s %-30s %s\n' x y "Pearson r [95 %]" "Spearman rho [95 %]" verdict
		for x in img_nui_mi img_nui_nmi; do
			for y in $CKA $MKNN1 $MKNN5; do
				has_col "$y" || continue
				c=$(corr "$x" "$y" "$w" | tr -d '\n')
				echo "$c" | awk -F '\t' -v v="$(echo "$c" | neg_verdict)" '{
					printf "  %-12s %-12s %-30s %-30s %s\n", $2, $3, $5 " [" $6 ", " $7 "]",
					$8 " [" $9 ", " $10 "]", v }'
			done
		done
		for y in $MKNN1 $CKA; do
			has_col "$y" || continue
			c=$(corr img_nui_mi "$y" "$w" | tr -d '\n')
			echo "C3 nuisance information in z_img correlates negatively with alignment ($y): $(echo "$c" | corr_text): $(echo "$c" | neg_verdict)"
		done
		if [ "$ndeg" -gt 0 ]; then
			c=$(corr img_nui_mi "$MKNN1" "dataset=$ds" | tr -d '\n')
			echo "   (for reference, with the degenerate splits mixed in, $MKNN1: $(echo "$c" | corr_text))"
			c=$(corr img_nui_mi "$CKA" "dataset=$ds" | tr -d '\n')
			echo "   (for reference, with the degenerate splits mixed in, $CKA: $(echo "$c" | corr_text))"
		fi
		if has_col essence_learnable; then
			echo "by the number of learnable essence factors ($(spread "$w" split)):"
			agg essence_learnable img_nui_mi,$CKA,$MKNN1 "$w" |
				table "learnable nuisance-MI CKA mkNN@1"
			echo "the correlation within splits of the same essence size (the essence size moves"
			echo "both nuisance information and alignment; strata of 5 splits or more):"
			big=0
			for k in $(distinct essence_learnable "$w" | sort -n); do
				[ "$(count "$w,essence_learnable=$k")" -ge 5 ] || continue
				big=1
				for y in $CKA $MKNN1; do
					c=$(corr img_nui_mi "$y" "$w,essence_learnable=$k" | tr -d '\n')
					echo "  $k learnable, $y: $(echo "$c" | corr_text): $(echo "$c" | neg_verdict)"
				done
			done
			[ "$big" = 1 ] || echo "  (no essence size has 5 splits)"
			echo "the same with the essence size held fixed: the correlation within sizes,"
			echo "pooled over the sizes of 2 splits or more (a partial correlation on the size):"
			for y in $CKA $MKNN1 $MKNN5; do
				has_col "$y" || continue
				c=$(corr img_nui_mi "$y" "$w" essence_learnable | tr -d '\n')
				echo "  $y: $(echo "$c" | corr_text) in $(echo "$c" | cut -f13) sizes: $(echo "$c" | neg_verdict)"
			done
		fi
		echo "Notes: nuisance information is the image probes' MI summed over the nuisance"
		echo "factors (nats; negative for factors the encoder does not learn, not clipped)."
		echo "Mutual kNN on a small essence is partly mechanical: few distinct factor codes"
		echo "mean many tied z_fac neighbours (ties go to the lower index).  A linear CKA that"
		echo "does not fall with nuisance information was also seen in the PyTorch quick-profile"
		echo "study at this scale; the paper's scale (PROFILE=paper, ResNet-20) is the test of it."
		echo
	done
	;;
regularization)
	# collapse marks (collapse.awk), recomputed for summaries without them
	has_col collapse || { awk -f "$here/collapse.awk" "$sum" "$sum" > "$tmp.s"; sum=$tmp.s; }
	for ds in $(distinct dataset); do
		w0="dataset=$ds"
		ok="$w0,degenerate=0,nuisance!=-"
		echo "== $ds: $(distinct seed "$ok" | wc -l) split(s) (seeds $(distinct seed "$ok" | tr '\n' ' ')): $(splits_text "$w0,beta=0")"
		if [ "$(count "$w0,degenerate=1")" -gt 0 ]; then
			echo "left out as degenerate (essence only of factors a cheap image encoder does not learn):"
			sel "$w0,degenerate=1" | awk -F '\t' -v cka="$CKA" '
			NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
			{
				printf "  seed %s essence {%s}: T %s beta %s: nuisance nMI %.3f, CKA %.3f\n",
				$(h["seed"]), $(h["essence"]), $(h["temperature"]), $(h["beta"]),
				$(h["img_nui_nmi"]), $(h[cka]) }'
		fi
		if [ "$(count "$w0,degenerate=0,nuisance=-")" -gt 0 ]; then
			echo "left out, no nuisance factor (every factor in the essence: nothing to remove):"
			echo "  seed(s) $(distinct seed "$w0,degenerate=0,nuisance=-" | tr '\n' ' ')"
		fi
		ncol=$(count "$ok,collapse=1")
		if [ "$ncol" -gt 0 ]; then
			echo "COLLAPSE: $ncol run(s) gain alignment by losing the essence (against the split's beta = 0 run):"
			sel "$ok,collapse=1" | awk -F '\t' -v cka="$CKA" -v mk="$MKNN1" '
			NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
			{ printf "  seed %s essence {%s} T %s beta %s: CKA %.4f, essence nMI %.3f, mkNN@1 %.3f\n",
				$(h["seed"]), $(h["essence"]), $(h["temperature"]), $(h["beta"]),
				$(h[cka]), $(h["img_ess_nmi"]), $(h[mk]) }'
		else
			echo "no collapse (no run gains alignment while losing the essence past the thresholds)"
		fi
		for t in $(distinct temperature "$w0"); do
			w="$ok,temperature=$t"
			[ "$(count "$w")" -gt 0 ] || continue
			if [ "$t" = learn ]; then
				echo "learnable temperature (initial 0.07), $(spread "$w" split):"
				cols=img_nui_nmi,img_ess_nmi,$CKA,$MKNN1,final_temperature
				titles="beta nuisance-nMI essence-nMI CKA mkNN@1 learned-T"
			else
				echo "fixed temperature T=$t, $(spread "$w" split):"
				cols=img_nui_nmi,img_ess_nmi,$CKA,$MKNN1
				titles="beta nuisance-nMI essence-nMI CKA mkNN@1"
			fi
			f=$tmp
			agg beta "$cols" "$w" > "$f"
			table "$titles" < "$f"
			set -- $(ends img_nui_nmi < "$f")
			b0=$1 b1=$3
			wa="$w,beta=$b0" wb="$w,beta=$b1"
			nc=$(count "$wb,collapse=1")
			cn=; [ "$nc" -gt 0 ] && cn="; $nc split(s) collapse at beta=$b1"
			c=$(corr beta img_nui_nmi "$w" | tr -d '\n')
			ps=$(pstats img_nui_nmi "$wa" "$wb")
			echo "C4 the regulariser removes nuisance information (T=$t): nuisance nMI $(f3 "$2") at beta=$b0 -> $(f3 "$4") at beta=$b1, $(echo "$ps" | paired_text splits); over all runs $(echo "$c" | trend_text): $(echo "$ps" | paired_verdict down)"
			for y in $CKA $MKNN1; do
				set -- $(ends "$y" < "$f")
				ps=$(pstats "$y" "$wa" "$wb")
				echo "C4 the regulariser raises alignment (T=$t, $y): $(f3 "$2") at beta=$1 -> $(f3 "$4") at beta=$3, $(echo "$ps" | paired_text splits): $(echo "$ps" | paired_verdict up)$cn"
			done
			set -- $(ends img_ess_nmi < "$f")
			ps=$(pstats img_ess_nmi "$wa" "$wb")
			echo "C4 essence information is kept (T=$t): essence nMI $(f3 "$2") at beta=$1 -> $(f3 "$4") at beta=$3, $(echo "$ps" | paired_text splits) (at most $KEEP lost): $(echo "$ps" | paired_verdict keep "$KEEP")$cn"
			if [ "$t" = learn ]; then
				set -- $(ends final_temperature < "$f")
				c=$(corr beta final_temperature "$w" | tr -d '\n')
				ps=$(pstats final_temperature "$wa" "$wb")
				echo "C5 information homeostasis: the learned temperature falls as beta grows: T = $(awk -v x="$2" 'BEGIN{printf "%.4f", x}') at beta=$1 -> $(awk -v x="$4" 'BEGIN{printf "%.4f", x}') at beta=$3, $(echo "$ps" | paired_text splits); over all runs $(echo "$c" | trend_text): $(echo "$ps" | paired_verdict down)"
			fi
		done
		echo
	done
	;;
*)
	echo "report.sh: $exp: unknown experiment" >&2
	exit 1
	;;
esac
