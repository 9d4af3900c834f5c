# pipelines/curve.gp - training curve of one run from its mmib-train log.
# Variables: logfile, outfile, title.  Plots every loss column the log has
# (train_loss, infonce or siglip, reg, test_loss) that has numbers, against
# the epoch; beside it, the objective's trained scalars when they change:
# the learned temperature (infonce), or for siglip the temperature its logit
# scale t' stands for, exp(-t'), and the logit bias b (right axis).  Scalars
# that stay fixed get no panel: their value goes into the title.  A log of
# mmib-train --eval-every (columns img_ess_nmi ... mutual_knn1, numbers on
# the evaluated epochs, NA between) adds two panels: the image probes' nMI
# (essence and nuisance groups, thick; each factor, thin) and the
# alignment (CKA, mutual kNN@1) on the test set.  Legends sit below the
# panels, off the data.
# awk over the log: "name" for a wanted column with at least one number,
# "name:fixed=value" for a scalar column that never changes, then the
# per-factor nMI columns that have numbers
info = system("awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } " . \
	"{ for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]/) { ok[h[i]] = 1; " . \
	"if (!(h[i] in v)) v[h[i]] = $i; else if (v[h[i]] != $i) var[h[i]] = 1 } } " . \
	"END { n = split(\"train_loss infonce siglip reg test_loss\", w, \" \"); " . \
	"for (j = 1; j <= n; j++) if (ok[w[j]]) printf \"%s \", w[j]; printf \"|\"; " . \
	"n = split(\"temperature logit_scale logit_bias\", w, \" \"); " . \
	"for (j = 1; j <= n; j++) if (ok[w[j]]) { if (var[w[j]]) printf \"%s \", w[j]; " . \
	"else printf \"%s=%s \", w[j], v[w[j]] } printf \"|\"; " . \
	"if (ok[\"img_ess_nmi\"] || ok[\"img_nui_nmi\"]) printf \"eval \"; printf \"|\"; " . \
	"for (i = 1; i in h; i++) if (h[i] ~ /^img_.*_nmi$/ && h[i] != \"img_ess_nmi\" && " . \
	"h[i] != \"img_nui_nmi\" && ok[h[i]]) printf \"%s \", h[i] }' '" . logfile . "'")
bar = strstrt(info, "|")
cols = info[1:bar - 1]
rest = info[bar + 1:]
bar = strstrt(rest, "|")
scal = rest[1:bar - 1]
rest = rest[bar + 1:]
bar = strstrt(rest, "|")
haseval = strstrt(rest[1:bar - 1], "eval") > 0
facs = rest[bar + 1:]
# the varying scalars (no '=') and the fixed ones (name=value)
vary = ""
fixed = ""
do for [s in scal] {
	if (strstrt(s, "=") > 0) { fixed = fixed . " " . s } else { vary = vary . " " . s }
}
has(w) = strstrt(" " . vary . " ", " " . w . " ") > 0
# panels: loss, the scalars when some vary, probes and alignment with an
# evaluation; one row of up to three, two rows of two for four
npanel = 1 + (words(vary) > 0) + 2 * haseval
prows = npanel == 4 ? 2 : 1
pcols = npanel == 4 ? 2 : npanel
width = pcols == 1 ? 900 : (pcols == 2 ? 1100 : 1500)
height = prows == 2 ? 900 : 520
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size width,height font ",10"
} else {
	set terminal png size width,height
}
set output outfile
set datafile separator "\t"
set datafile missing "NA"
set grid
set key noenhanced below horizontal height 1
set xlabel "epoch" offset 0,0.4
# the run's path, one component a line (it is wider than the picture)
head = system("printf '%s' '" . title . "' | tr '/' '\\n'") . \
	(strlen(fixed) > 0 ? "   (fixed:" . fixed . ")" : "")
set ylabel (strstrt(cols, "infonce") > 0 ? "loss (InfoNCE as in the paper: can be < 0)" : "loss")
if (npanel == 1) {
	set title head noenhanced
	plot for [c in cols] logfile using "epoch":c with linespoints pt 7 ps 0.6 title c
} else {
	set multiplot layout prows,pcols title head noenhanced
	set title "loss"
	plot for [c in cols] logfile using "epoch":c with linespoints pt 7 ps 0.6 title c
	if (words(vary) > 0) {
		set title "objective scalars"
		set ylabel "temperature"
		if (has("logit_scale") && has("logit_bias")) {
			set y2label "logit bias b"
			set y2tics
			set ytics nomirror
		}
		if (has("temperature")) {
			plot logfile using "epoch":"temperature" with linespoints pt 7 ps 0.6 title "learned temperature"
		} else {
			if (has("logit_scale") && has("logit_bias")) {
				plot logfile using "epoch":(exp(-column("logit_scale"))) with linespoints pt 7 ps 0.6 \
					title "temperature exp(-t')", \
					logfile using "epoch":"logit_bias" axes x1y2 with linespoints pt 6 ps 0.6 \
					title "logit bias b"
			} else {
				if (has("logit_scale")) {
					plot logfile using "epoch":(exp(-column("logit_scale"))) with linespoints pt 7 ps 0.6 \
						title "temperature exp(-t')"
				} else {
					unset ylabel
					plot logfile using "epoch":"logit_bias" with linespoints pt 6 ps 0.6 title "logit bias b"
				}
			}
		}
		unset y2label
		unset y2tics
		set ytics mirror
	}
	if (haseval) {
		# the epochs of the loss panel, though the first evaluation
		# may come later
		stats logfile using "epoch" nooutput
		set xrange [STATS_min:STATS_max]
		# only the evaluated epochs have numbers: points joined across
		# the NA rows (gnuplot breaks a line at a missing value in a
		# "using" with an expression, not at a plain column)
		set title "information in z_img (linear probes on the test set)" noenhanced
		set ylabel "nMI"
		plot logfile using "epoch":"img_ess_nmi" with linespoints lw 2.5 pt 7 ps 0.8 title "essence", \
			logfile using "epoch":"img_nui_nmi" with linespoints lw 2.5 pt 5 ps 0.8 title "nuisance", \
			for [c in facs] logfile using "epoch":c with linespoints lw 1 dt 2 pt 1 ps 0.5 \
				title c[5:strlen(c) - 4]
		set title "alignment of z_img and z_fac (test set)" noenhanced
		set ylabel "CKA, mutual kNN@1" noenhanced
		plot logfile using "epoch":"cka" with linespoints lw 2 pt 7 ps 0.7 title "linear CKA", \
			logfile using "epoch":"mutual_knn1" with linespoints lw 2 pt 5 ps 0.7 title "mutual kNN@1"
	}
	unset multiplot
}
