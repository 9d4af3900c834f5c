# pipelines/scatter.gp - nuisance information vs an alignment metric, one
# point per random split, with the least-squares line.
# Variables: outfile, datafile (columns x, y), degfile (degenerate splits,
# drawn apart; may be empty), slope, intercept (NaN for none), xlabel,
# ylabel, title.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 800,560 font ",11"
} else {
	set terminal png size 800,560
}
set output outfile
set datafile separator "\t"
set datafile missing "NA"
set title title noenhanced
set xlabel xlabel noenhanced
set ylabel ylabel noenhanced
set key below noenhanced
set grid
set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
fit_line(x) = slope * x + intercept
if (exists("degfile") && strlen(degfile) > 0 && system("[ -s '" . degfile . "' ] && echo 1 || echo 0") + 0 && \
	system("wc -l < '" . degfile . "'") + 0 > 1) {
	plot datafile using "x":"y" with points pt 7 ps 1.2 title "essence/nuisance splits", \
		fit_line(x) with lines lw 2 dt 2 title "least-squares line", \
		degfile using "x":"y" with points pt 6 ps 1.5 lc rgb "red" title "degenerate splits (left out)"
} else {
	plot datafile using "x":"y" with points pt 7 ps 1.2 title "essence/nuisance splits", \
		fit_line(x) with lines lw 2 dt 2 title "least-squares line"
}
