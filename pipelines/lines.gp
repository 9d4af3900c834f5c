# pipelines/lines.gp - mean +- sd curves, one per data file.
# Variables (gnuplot -e): outfile; files, titles (space-separated lists,
# '_' in a title prints as a space); xcol, ycol (column names; ycol_mean
# and ycol_sd are plotted); xlabel, ylabel, title; logx (1 for log x);
# categorical (1: x values as evenly spaced labels, for beta lists with 0).
if (!exists("logx")) logx = 0
if (!exists("categorical")) categorical = 0
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
set key top right noenhanced
set grid
if (logx) set logscale x
set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
ym = ycol . "_mean"
ys = ycol . "_sd"
t(i) = system("echo '" . word(titles, i) . "' | tr _ ' '")
if (categorical) {
	plot for [i=1:words(files)] word(files, i) using 0:ym:ys:xticlabels(strcol(xcol)) \
		with yerrorlines lw 2 pt 7 title t(i)
} else {
	plot for [i=1:words(files)] word(files, i) using xcol:ym:ys \
		with yerrorlines lw 2 pt 7 title t(i)
}
