# pipelines/curve.gp - training curve of one run from its mmib-train log.
# Variables: logfile, outfile, title.  Plots every loss column the log has
# (train_loss, infonce, reg, test_loss) that has numbers, against the
# epoch, and the temperature.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 900,400 font ",10"
} else {
	set terminal png size 900,400
}
set output outfile
set datafile separator "\t"
set datafile missing "NA"
set grid
set key noenhanced
set xlabel "epoch"
# the wanted columns that hold at least one number
cols = system("awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } " . \
	"{ for (i = 1; i <= NF; i++) if ($i ~ /^-?[0-9]/) ok[h[i]] = 1 } " . \
	"END { n = split(\"train_loss infonce reg test_loss\", w, \" \"); " . \
	"for (j = 1; j <= n; j++) if (ok[w[j]]) printf \"%s \", w[j] }' '" . logfile . "'")
set multiplot layout 1,2 title title noenhanced
set title "loss"
plot for [c in cols] logfile using "epoch":c with linespoints pt 7 ps 0.6 title c
set title "temperature"
plot logfile using "epoch":"temperature" with linespoints pt 7 ps 0.6 notitle
unset multiplot
