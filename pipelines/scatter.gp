# pipelines/scatter.gp - nuisance information vs an alignment metric, one
# point per random split, with the least-squares line.
# Variables: outfile, datafile (columns x, y), degfile (degenerate splits,
# drawn apart; may be empty), slope, intercept (NaN for none), xlabel,
# ylabel, title; sizes (optional): the essence sizes found in the
# datafile's column "size", each then drawn in its own colour.
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
if (!exists("sizes")) { sizes = "" }
hasdeg = 0
if (exists("degfile") && strlen(degfile) > 0) {
	hasdeg = system("[ -s '" . degfile . "' ] && wc -l < '" . degfile . "' || echo 0") + 0 > 1
}
# the series as strings, put together by eval (macros inside a { } block
# would be expanded before the block sets them)
pts = 'with points pt 7 ps 1.2'
deg = ', degfile using "x":"y" with points pt 6 ps 1.5 lc rgb "red" title "degenerate splits (left out)"'
if (words(sizes) > 0) {
	# one series per essence size
	cmd = 'plot for [i = 1:words(sizes)] datafile using "x":(column("size") == word(sizes, i) + 0 ? column("y") : NaN) ' . pts . \
	    ' lc i title sprintf("%s learnable essence factor%s", word(sizes, i), word(sizes, i) eq "1" ? "" : "s"), ' . \
	    'fit_line(x) with lines lw 2 dt 2 lc rgb "black" title "least-squares line (all splits)"'
} else {
	cmd = 'plot datafile using "x":"y" ' . pts . ' title "essence/nuisance splits", ' . \
	    'fit_line(x) with lines lw 2 dt 2 title "least-squares line"'
}
eval(cmd . (hasdeg ? deg : ""))
