# pipelines/collapse.awk - mark the regularised runs that collapsed.
#   awk [-v cka=COL] [-v knn=COL] [-v rise=0.02] [-v nmi=0.1] [-v kfall=0.5] \
#       -f collapse.awk summary.tsv summary.tsv > marked.tsv
# (the summary twice: the first pass finds the references)
# A run with beta > 0 is compared with its reference, the run of the same
# settings but beta = 0 (every column before the metrics, seed and
# temperature included, except beta; see key()): it collapsed when its
# alignment (cka) rose by more than `rise` while its essence information
# fell: essence nMI (img_ess_nmi) by more than `nmi`, or mutual kNN@1
# (knn) to less than (1 - kfall) of the reference's and by more than
# `rise`.  Alignment bought by losing the essence is collapse, not the
# regulariser's claim.  Prints the table with a last column `collapse`
# (replaced if there): 1 or 0, NA for beta = 0 runs, runs without a
# reference and summaries without the columns.
BEGIN {
	FS = OFS = "\t"
	if (cka == "") cka = "cka"
	if (knn == "") knn = "mutual_knn1"
	if (rise == "") rise = 0.02
	if (nmi == "") nmi = 0.1
	if (kfall == "") kfall = 0.5
	# the parameters that name a run (row.sh's leading columns)
	np = split("dataset n seed pairing missing image_encoder image_spec " \
	    "factor_spec objective temperature learn_temperature epochs step " \
	    "gamma weight_decay lr batch train_opts essence", P, " ")
}
function key(    i, k) {
	k = ""
	for (i = 1; i <= np; i++) if (P[i] in c) k = k SUBSEP $(c[P[i]])
	return k
}
function num(v) { return v != "NA" && v != "" && v !~ /nan/ }
NR == FNR {
	if (FNR == 1) { for (i = 1; i <= NF; i++) c[$i] = i; next }
	if (!("beta" in c) || $(c["beta"]) + 0 != 0) next
	k = key()
	if (cka in c) K0[k] = $(c[cka])
	if ("img_ess_nmi" in c) E0[k] = $(c["img_ess_nmi"])
	if (knn in c) N0[k] = $(c[knn])
	ref[k] = 1
	next
}
FNR == 1 {
	last = ("collapse" in c) ? c["collapse"] : 0
	line = ""
	for (i = 1; i <= NF; i++) if (i != last) line = line (line == "" ? "" : OFS) $i
	print line OFS "collapse"
	ok = ("beta" in c) && (cka in c) && ("img_ess_nmi" in c)
	next
}
{
	v = "NA"
	k = key()
	if (ok && $(c["beta"]) + 0 != 0 && (k in ref) && num($(c[cka])) && num(K0[k])) {
		v = 0
		if ($(c[cka]) - K0[k] > rise) {
			e = $(c["img_ess_nmi"]); q = (knn in c) ? $(c[knn]) : "NA"
			if (num(e) && num(E0[k]) && E0[k] - e > nmi) v = 1
			if (num(q) && num(N0[k]) && N0[k] - q > rise && q < (1 - kfall) * N0[k]) v = 1
		}
	}
	line = ""
	for (i = 1; i <= NF; i++) if (i != last) line = line (line == "" ? "" : OFS) $i
	print line OFS v
}
