# pipelines/curve.gp - training curve of one run from its mmib-train log.
# Variables: logfile, outfile, title.  Plots every loss column the log has
# (train_loss, infonce or siglip, reg, test_loss) that has numbers, against
# the epoch; beside it, the objective's trained scalars when they change:
# the learned temperature (infonce), or for siglip the temperature its logit
# scale t' stands for, exp(-t'), and the logit bias b (right axis).  Scalars
# that stay fixed get no panel: their value goes into the title.  Legends
# sit below the panels, off the data.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 900,480 font ",10"
} else {
	set terminal png size 900,480
}
set output outfile
set datafile separator "\t"
set datafile missing "NA"
set grid
set key noenhanced below horizontal
set xlabel "epoch"
# awk over the log: "name" for a wanted column with at least one number,
# "name:fixed=value" for a scalar column that never changes
info = system("awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } " . \
	"{ for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]/) { ok[h[i]] = 1; " . \
	"if (!(h[i] in v)) v[h[i]] = $i; else if (v[h[i]] != $i) var[h[i]] = 1 } } " . \
	"END { n = split(\"train_loss infonce siglip reg test_loss\", w, \" \"); " . \
	"for (j = 1; j <= n; j++) if (ok[w[j]]) printf \"%s \", w[j]; printf \"|\"; " . \
	"n = split(\"temperature logit_scale logit_bias\", w, \" \"); " . \
	"for (j = 1; j <= n; j++) if (ok[w[j]]) { if (var[w[j]]) printf \"%s \", w[j]; " . \
	"else printf \"%s=%s \", w[j], v[w[j]] } }' '" . logfile . "'")
bar = strstrt(info, "|")
cols = info[1:bar - 1]
scal = info[bar + 1:]
# the varying scalars (no '=') and the fixed ones (name=value)
vary = ""
fixed = ""
do for [s in scal] {
	if (strstrt(s, "=") > 0) { fixed = fixed . " " . s } else { vary = vary . " " . s }
}
has(w) = strstrt(" " . vary . " ", " " . w . " ") > 0
# the run's path, one component a line (it is wider than the picture)
head = system("printf '%s' '" . title . "' | tr '/' '\\n'") . \
	(strlen(fixed) > 0 ? "   (fixed:" . fixed . ")" : "")
set ylabel (strstrt(cols, "infonce") > 0 ? "loss (InfoNCE as in the paper: can be < 0)" : "loss")
if (words(vary) == 0) {
	set title head noenhanced
	plot for [c in cols] logfile using "epoch":c with linespoints pt 7 ps 0.6 title c
} else {
	set multiplot layout 1,2 title head noenhanced
	set title "loss"
	plot for [c in cols] logfile using "epoch":c with linespoints pt 7 ps 0.6 title c
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
	unset multiplot
}
