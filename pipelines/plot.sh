#!/bin/sh
# pipelines/plot.sh - the PNG plots of one experiment, drawn by gnuplot.
#
#   plot.sh remove-msi|alignment|regularization SUMMARY_TSV OUTDIR
#
# The plotted tables (group means, scatter points) are written beside the
# plots under OUTDIR/data/ so a plot can be redrawn or read as numbers.
# Environment: IMG, DEPTH_TEMP (as for report.sh); CKA, MKNN1 column names.
# Without gnuplot, warns and draws nothing.
set -eu
exp=${1:?usage: plot.sh EXPERIMENT SUMMARY OUTDIR}
sum=${2:?usage: plot.sh EXPERIMENT SUMMARY OUTDIR}
out=${3:?usage: plot.sh EXPERIMENT SUMMARY OUTDIR}
here=$(dirname "$0")
: "${IMG:=}" "${DEPTH_TEMP:=0.1}"
CKA=${CKA:-cka}
MKNN1=${MKNN1:-mutual_knn1}
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "plot.sh: gnuplot not found: no plots (sh tools/deps.sh run installs it)" >&2
	exit 0
fi
mkdir -p "$out/data"
tab=$(printf '\t')

# sel WHERE: the header and the summary rows matching where-list WHERE
sel() { awk -v where="${1:-}" -f "$here/where.awk" "$sum"; }
distinct() { # column $1 of rows matching where-list $2
	sel "${2:-}" | awk -F '\t' -v c="$1" '
	NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
	{ v = $(h[c]); if (!(v in s)) { s[v] = 1; print v } }'
}
# agg BY COLS WHERE > file: group means sorted numerically on BY
agg() {
	sel "${3:-}" | awk -v by="$1" -v cols="$2" -f "$here/agg.awk" |
	{ IFS= read -r h; printf '%s\n' "$h"; sort -t "$tab" -k1,1 -g; }
}
rows() { # data rows of a table file
	echo $(($(wc -l < "$1") - 1))
}

case $exp in
remove-msi)
	for sweep in temperature depth; do
		files= titles=
		for ds in $(distinct dataset); do
		for m in $(distinct missing "dataset=$ds"); do
			[ "$m" = NA ] && continue
			if [ "$sweep" = temperature ]; then
				img=${IMG:-$(distinct image_encoder "dataset=$ds,missing=$m" | head -n 1)}
				w="dataset=$ds,missing=$m,image_encoder=$img"
			else
				w="dataset=$ds,missing=$m,temperature=$DEPTH_TEMP"
			fi
			# the untrained baseline (epochs 0) is no point of a sweep
			if head -n 1 "$sum" | tr '\t' '\n' | grep -qx epochs; then w="$w,epochs!=0"; fi
			f=$out/data/msi-$sweep-$ds-$m.tsv
			agg "$sweep" miss_nmi,img_ess_nmi "$w" > "$f"
			[ "$(rows "$f")" -ge 2 ] || continue
			files="$files $f" titles="$titles ${ds}_missing_$m"
		done
		done
		[ -n "$files" ] || continue
		if [ "$sweep" = temperature ]; then
			gnuplot -e "outfile='$out/nmi-vs-temperature.png'; files='$files'; titles='$titles'; \
				xcol='temperature'; ycol='miss_nmi'; logx=1; xlabel='temperature T (fixed)'; \
				ylabel='nMI(z_img; missing factor)'; \
				title='missing-factor information in z_img vs temperature (mean +- sd over seeds)'" "$here/lines.gp"
		else
			gnuplot -e "outfile='$out/nmi-vs-depth.png'; files='$files'; titles='$titles'; \
				xcol='depth'; ycol='miss_nmi'; xlabel='image encoder depth (hidden layers, or N of resnetN)'; \
				ylabel='nMI(z_img; missing factor)'; \
				title='missing-factor information in z_img vs encoder depth at T=$DEPTH_TEMP (mean +- sd over seeds)'" "$here/lines.gp"
		fi
	done
	;;
alignment)
	for y in "$CKA" "$MKNN1"; do
		for ds in $(distinct dataset); do
			for deg in 0 1; do
				sel "dataset=$ds,degenerate=$deg" | awk -F '\t' -v OFS='\t' -v y="$y" '
				NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; print "x", "y", "seed", "essence", "size"; next }
				{ print $(h["img_nui_mi"]), $(h[y]), $(h["seed"]), $(h["essence"]),
				  ("essence_learnable" in h ? $(h["essence_learnable"]) : "NA") }' \
					> "$out/data/scatter-$ds-$y-deg$deg.tsv"
			done
			# the points of each essence size apart, when the summary has it
			sizes=$(awk -F '\t' 'NR > 1 && $5 != "NA" && !s[$5]++ { print $5 }' \
				"$out/data/scatter-$ds-$y-deg0.tsv" | sort -n | tr '\n' ' ')
			c=$(sel "dataset=$ds,degenerate=0" | awk -v x=img_nui_mi -v y="$y" -f "$here/corr.awk")
			slope=$(echo "$c" | cut -f11) icpt=$(echo "$c" | cut -f12)
			[ "$slope" = NA ] && slope=NaN icpt=NaN
			r=$(echo "$c" | cut -f5) rho=$(echo "$c" | cut -f8) n=$(echo "$c" | cut -f4)
			case $y in cka) yl="linear CKA";; mutual_knn1) yl="mutual kNN@1";; *) yl=$y;; esac
			held=
			if [ -n "$sizes" ]; then
				c=$(sel "dataset=$ds,degenerate=0" | awk -v x=img_nui_mi -v y="$y" -v by=essence_learnable -f "$here/corr.awk")
				held="\\nwithin essence sizes (size held fixed): r = $(echo "$c" | cut -f5), rho = $(echo "$c" | cut -f8)"
			fi
			gnuplot -e "outfile='$out/nuisance-vs-$y-$ds.png'; \
				datafile='$out/data/scatter-$ds-$y-deg0.tsv'; degfile='$out/data/scatter-$ds-$y-deg1.tsv'; \
				slope=$slope; intercept=$icpt; sizes='$sizes'; xlabel='nuisance information in z_img (summed MI, nats)'; \
				ylabel='$yl (z_img vs z_fac)'; title=\"$ds: $n splits, Pearson r = $r, Spearman rho = $rho$held\"" "$here/scatter.gp"
		done
	done
	;;
regularization)
	for ds in $(distinct dataset); do
		files= titles=
		for t in $(distinct temperature "dataset=$ds"); do
			f=$out/data/beta-$ds-T$t.tsv
			agg beta "img_nui_nmi,img_ess_nmi,$CKA,$MKNN1,final_temperature" \
				"dataset=$ds,temperature=$t,degenerate=0,nuisance!=-" > "$f"
			[ "$(rows "$f")" -ge 1 ] || continue
			files="$files $f"
			if [ "$t" = learn ]; then titles="$titles learned_T"
			else titles="$titles T=$t"; fi
		done
		[ -n "$files" ] || continue
		gnuplot -e "outfile='$out/metrics-vs-beta-$ds.png'; files='$files'; titles='$titles'; \
			cka='$CKA'; mknn='$MKNN1'" "$here/beta.gp"
		f=$out/data/beta-$ds-Tlearn.tsv
		if [ -f "$f" ] && [ "$(rows "$f")" -ge 1 ]; then
			gnuplot -e "outfile='$out/temperature-vs-beta-$ds.png'; files='$f'; titles='learned_temperature'; \
				xcol='beta'; ycol='final_temperature'; categorical=1; xlabel='beta'; \
				ylabel='learned temperature after training'; \
				title='$ds: information homeostasis (learned T vs beta)'" "$here/lines.gp"
		fi
	done
	;;
*)
	echo "plot.sh: $exp: unknown experiment" >&2
	exit 1
	;;
esac
