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
set grid
set key noenhanced
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set xlabel "beta"
t(i) = system("echo '" . word(titles, i) . "' | tr _ ' '")
set multiplot layout 2,2 title "regularisation: metrics vs beta (mean +- sd over random splits)"
set title "nuisance nMI of z_img" noenhanced
plot for [i=1:words(files)] word(files, i) using 0:"img_nui_nmi_mean":"img_nui_nmi_sd":xticlabels(strcol("beta")) \
	with yerrorlines lw 2 pt 7 title t(i)
set title "essence nMI of z_img" noenhanced
plot for [i=1:words(files)] word(files, i) using 0:"img_ess_nmi_mean":"img_ess_nmi_sd":xticlabels(strcol("beta")) \
	with yerrorlines lw 2 pt 7 title t(i)
set title "linear CKA" noenhanced
plot for [i=1:words(files)] word(files, i) using 0:cka."_mean":cka."_sd":xticlabels(strcol("beta")) \
	with yerrorlines lw 2 pt 7 title t(i)
set title "mutual kNN@1" noenhanced
plot for [i=1:words(files)] word(files, i) using 0:mknn."_mean":mknn."_sd":xticlabels(strcol("beta")) \
	with yerrorlines lw 2 pt 7 title t(i)
unset multiplot
