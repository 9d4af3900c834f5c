# pipelines/beta.gp - the regularisation sweep: four metrics vs beta in a
# 2 x 2 panel, one curve per temperature mode.
# Variables: outfile; files, titles (space lists, '_' prints as a space);
# cka, mknn (column names of the two alignment metrics).
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
	set terminal pngcairo size 1000,760 font ",10"
} else {
	set terminal png size 1000,760
}
set output outfile
set datafile separator "\t"
set datafile missing "NA"
set datafile columnheaders
set grid
set key noenhanced below horizontal
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set xlabel "beta"
t(i) = system("echo '" . word(titles, i) . "' | tr _ ' '")
# the series side by side around each beta, so that error bars do not hide
# one another; the beta labels at 0, 1, ... from the first file
nf = words(files)
off(i) = (i - (nf + 1) / 2.0) * 0.1
eval system("awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == \"beta\") c = i; next } " . \
	"{ s = s (s == \"\" ? \"\" : \", \") \"\\047\" $c \"\\047 \" NR - 2 } " . \
	"END { print \"set xtics (\" s \"); set xrange [-0.5:\" NR - 1.5 \"]\" }' '" . word(files, 1) . "'")
set multiplot layout 2,2 title "regularisation: metrics vs beta (mean +- sd over essence/nuisance splits)"
set title "nuisance nMI of z_img" noenhanced
c = "img_nui_nmi"
plot for [i=1:nf] word(files, i) using ($0 + off(i)):(column(c . "_mean")):(column(c . "_sd")) \
	with yerrorlines lw 2 pt 7 lc i title t(i)
set title "essence nMI of z_img" noenhanced
c = "img_ess_nmi"
plot for [i=1:nf] word(files, i) using ($0 + off(i)):(column(c . "_mean")):(column(c . "_sd")) \
	with yerrorlines lw 2 pt 7 lc i title t(i)
set title "linear CKA" noenhanced
c = cka
plot for [i=1:nf] word(files, i) using ($0 + off(i)):(column(c . "_mean")):(column(c . "_sd")) \
	with yerrorlines lw 2 pt 7 lc i title t(i)
set title "mutual kNN@1" noenhanced
c = mknn
plot for [i=1:nf] word(files, i) using ($0 + off(i)):(column(c . "_mean")):(column(c . "_sd")) \
	with yerrorlines lw 2 pt 7 lc i title t(i)
unset multiplot
