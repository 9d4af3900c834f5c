# pipelines/curve.gp - training curve of one run from its mmib-train log.
# Variables: logfile, outfile, title.  Plots every loss column the log has
# (loss, infonce, reg, test_loss) against the epoch, and the temperature.
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
hdr = system("head -n 1 '" . logfile . "'")
has(c) = strstrt("\t" . hdr . "\t", "\t" . c . "\t") > 0
set multiplot layout 1,2 title title noenhanced
set title "loss"
plot for [c in "loss infonce reg test_loss"] logfile using "epoch":(has(c) ? column(c) : NaN) \
	with linespoints pt 7 ps 0.6 title c
set title "temperature"
plot logfile using "epoch":(has("temperature") ? column("temperature") : NaN) with linespoints pt 7 ps 0.6 notitle
unset multiplot
