#!/bin/sh
# pipelines/report.sh - the text report of one experiment.
#
#   report.sh remove-msi|alignment|regularization SUMMARY_TSV > report.txt
#
# States each claim of the paper with the measured figure and whether it
# holds here.  Environment: IMG (the default image encoder name, for the
# temperature sweep), DEPTH_TEMP (temperature of the depth sweep), PROFILE.
# Random splits flagged degenerate (essence only of factors the encoder
# cannot learn) are left out of the figures and listed apart.
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
trap 'rm -f "$tmp"' EXIT
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
# corr X Y WHERE: one correlation row (see corr.awk)
corr() {
	sel "${3:-}" | awk -v x="$1" -v y="$2" -f "$here/corr.awk"
}
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
# verdict of a correlation row (negative expected)
neg_verdict() {
	awk -F '\t' '{
	if ($5 == "NA" || $8 == "NA") { print "cannot tell (too few runs)"; exit }
	if ($5 < 0 && $8 < 0) {
		if ($7 != "NA" && $10 != "NA" && $7 < 0 && $10 < 0) print "holds"
		else print "direction holds, not significant (95 % interval includes 0)"
	} else print "does not hold" }'
}
corr_text() {
	awk -F '\t' '{ printf "Pearson r = %s [%s, %s], Spearman rho = %s [%s, %s], n = %d", \
		$5, $6, $7, $8, $9, $10, $4 }'
}
# first and last data row of an agg table: "x_first mean_first x_last mean_last"
ends() {
	awk -F '\t' -v col="$1" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col "_mean") c = i
		nb = 0; for (i = 1; i <= NF; i++) if ($i !~ /_(mean|sd|n)$/) nb++; next }
	$c != "NA" { if (!n++) { fx = $nb; fm = $c } lx = $nb; lm = $c }
	END { if (n) print fx, fm, lx, lm, n; else print "NA NA NA NA 0" }'
}
# paired COL WHERE B0 B1 DIR: in how many splits (seeds) COL moves DIR (down
# or up) from beta=B0 to beta=B1: "k of n splits"
paired() {
	sel "$2" | awk -F '\t' -v c="$1" -v b0="$3" -v b1="$4" -v d="$5" '
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
	{ if ($(h[c]) == "NA") next
	  if ($(h["beta"]) == b0) a[$(h["seed"])] = $(h[c])
	  if ($(h["beta"]) == b1) b[$(h["seed"])] = $(h[c]) }
	END { for (s in a) if (s in b) { n++; if ((d == "down") ? b[s] < a[s] : b[s] > a[s]) k++ }
	  printf "%d of %d splits", k, n }'
}
f3() { awk -v v="$1" 'BEGIN { if (v == "NA") print "NA"; else printf "%.3f", v }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "NA" && b != "NA" && a + 0 < b + 0) }'; }
# change DIR FROM TO [RHO]: verdict on a change expected to go DIR (down or
# up) by more than EPS; RHO, a rank correlation with the swept setting, must
# then have the same sign (NA: not enough runs to tell).
: "${EPS:=0.02}"
change() {
	awk -v d="$1" -v a="$2" -v b="$3" -v r="${4:-NA}" -v eps="$EPS" -v et="${EPSTXT:-$EPS}" 'BEGIN {
	if (a == "NA" || b == "NA") { print "cannot tell (no figures)"; exit }
	x = (d == "down") ? a - b : b - a
	if (x <= -eps) print "does not hold (it goes the other way)"
	else if (x < eps) print "does not hold (no clear change: less than " et ")"
	else if (r != "NA" && ((d == "down" && r >= 0) || (d == "up" && r <= 0)))
		print "does not hold (not monotone: rank correlation " r ")"
	else print "holds" }'
}

echo "mmib $exp report (profile $PROFILE, $(count) runs, summary $sum)"
echo "A change counts when it exceeds $EPS in nMI, CKA or kNN (10 % for the learned"
echo "temperature); correlations are judged by their 95 % intervals."
echo
# Datasets of your own (OWN_DATASETS: name:file words): name and factors.
for d in ${OWN_DATASETS:-}; do
	"${MMIB_GEN:-mmib-gen}" --list --from "${d#*:}" --name "${d%%:*}" |
	awk -F '\t' 'NR == 2 { printf "dataset %s (%s): %s images, %s channel(s), factors %s\n", $1, $5, $3, $2, $4 }'
done
[ -z "${OWN_DATASETS:-}" ] || echo

case $exp in
remove-msi)
	for ds in $(distinct dataset); do
	for m in $(distinct missing "dataset=$ds"); do
		[ "$m" = NA ] && continue
		w="dataset=$ds,missing=$m"
		echo "== $ds, missing factor $m (modality 2 shows every other factor)"
		imgs=$(distinct image_encoder "$w")
		img=${IMG:-$(echo "$imgs" | head -n 1)}
		tw="$w,image_encoder=$img"
		if [ "$(count "$tw")" -gt 0 ]; then
			spec=$(distinct image_spec "$tw" | head -n 1)
			echo "temperature sweep, image encoder $spec ($(spread "$tw" seed)):"
			agg temperature miss_nmi,img_ess_nmi,$CKA,$MKNN1 "$tw" > "$tmp"
			table "T nMI(z_img;$m) essence-nMI CKA mkNN@1" < "$tmp"
			set -- $(ends miss_nmi < "$tmp")
			t0=$1 n0=$2 t1=$3 n1=$4 nt=$5
			v=$(awk -v x="$n0" 'BEGIN { print (x != "NA" && x > 0.1) ? "holds" : "does not hold" }')
			echo "C1 InfoNCE alone leaves the missing factor in z_img: nMI($m) = $(f3 "$n0") at T=$t0 (well above 0 means > 0.1): $v"
			if [ "$nt" -ge 2 ]; then
				c=$(corr temperature miss_nmi "$tw" | tr -d '\n')
				rho=$(echo "$c" | cut -f8)
				v=$(change down "$n0" "$n1" "$rho")
				lt "$n0" 0.1 && v="cannot tell (nMI below 0.1 even at the lowest temperature)"
				echo "C2 the missing factor's information falls as the temperature rises: nMI($m) $(f3 "$n0") at T=$t0 -> $(f3 "$n1") at T=$t1 (Spearman rho(T, nMI) = $rho over $(echo "$c" | cut -f4) runs): $v"
			fi
		fi
		dw="$w,temperature=$DEPTH_TEMP"
		if [ "$(distinct depth "$dw" | wc -l)" -ge 2 ]; then
			echo "depth sweep at T=$DEPTH_TEMP (depth = hidden layers of mlp-flatten, or N of resnetN):"
			agg depth miss_nmi,img_ess_nmi,$CKA,$MKNN1 "$dw" > "$tmp"
			table "depth nMI(z_img;$m) essence-nMI CKA mkNN@1" < "$tmp"
			set -- $(ends miss_nmi < "$tmp")
			c=$(corr depth miss_nmi "$dw" | tr -d '\n')
			rho=$(echo "$c" | cut -f8)
			v=$(change down "$2" "$4" "$rho")
			lt "$2" 0.1 && v="cannot tell (nMI below 0.1 with the shallowest encoder)"
			echo "C2' the missing factor's information falls as the image encoder deepens: nMI($m) $(f3 "$2") at depth $1 -> $(f3 "$4") at depth $3 (Spearman rho(depth, nMI) = $rho over $(echo "$c" | cut -f4) runs): $v"
		fi
		echo
	done
	done
	;;
alignment)
	for ds in $(distinct dataset); do
		w="dataset=$ds"
		nall=$(count "$w"); ndeg=$(count "$w,degenerate=1")
		echo "== $ds: $nall random essence/nuisance splits, temperature $(distinct temperature "$w" | tr '\n' ' ')"
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
			for k in $(distinct essence_learnable "$w" | sort -n); do
				[ "$(count "$w,essence_learnable=$k")" -ge 5 ] || continue
				for y in $CKA $MKNN1; do
					c=$(corr img_nui_mi "$y" "$w,essence_learnable=$k" | tr -d '\n')
					echo "  $k learnable, $y: $(echo "$c" | corr_text): $(echo "$c" | neg_verdict)"
				done
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
	for ds in $(distinct dataset); do
		w0="dataset=$ds"
		ok="$w0,degenerate=0,nuisance!=-"
		echo "== $ds: $(distinct seed "$ok" | wc -l) random split(s) (seeds $(distinct seed "$ok" | tr '\n' ' '))"
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
			c=$(corr beta img_nui_nmi "$w" | cut -f8)
			v=$(change down "$2" "$4" "$c")
			echo "C4 the regulariser removes nuisance information (T=$t): nuisance nMI $(f3 "$2") at beta=$b0 -> $(f3 "$4") at beta=$b1 (lower in $(paired img_nui_nmi "$w" "$b0" "$b1" down); Spearman rho(beta, nMI) = $c over all runs): $v"
			for y in $CKA $MKNN1; do
				set -- $(ends "$y" < "$f")
				v=$(change up "$2" "$4")
				echo "C4 the regulariser raises alignment (T=$t, $y): $(f3 "$2") at beta=$1 -> $(f3 "$4") at beta=$3 (higher in $(paired "$y" "$w" "$1" "$3" up)): $v"
			done
			set -- $(ends img_ess_nmi < "$f")
			v=$(awk -v a="$2" -v b="$4" 'BEGIN { print (a - b < 0.05) ? "holds" : "does not hold" }')
			echo "C4 essence information is kept (T=$t): essence nMI $(f3 "$2") at beta=$1 -> $(f3 "$4") at beta=$3 (a drop under 0.05 counts as kept): $v"
			if [ "$t" = learn ]; then
				set -- $(ends final_temperature < "$f")
				c=$(corr beta final_temperature "$w" | cut -f8)
				v=$(EPS=$(awk -v t="$2" 'BEGIN { print 0.1 * t }') EPSTXT="10 %" change down "$2" "$4" "$c")
				echo "C5 information homeostasis: the learned temperature falls as beta grows: T = $(awk -v x="$2" 'BEGIN{printf "%.4f", x}') at beta=$1 -> $(awk -v x="$4" 'BEGIN{printf "%.4f", x}') at beta=$3 (lower in $(paired final_temperature "$w" "$1" "$3" down); Spearman rho(beta, T) = $c): $v"
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
