# pipelines/corr.awk - correlation of two columns of a summary TSV.
#   awk -v x=COL -v y=COL [-v label=TEXT] [-v header=1] -f corr.awk summary.tsv
# (select the rows first with where.awk).
# Prints one TSV row: label, x, y, n, Pearson r with its 95 % confidence
# interval (Fisher z: atanh r +- 1.96 / sqrt(n - 3)), Spearman rho (average
# ranks for ties) with its 95 % interval (Fisher z with the Fieller,
# Hartley and Pearson variance 1.06 / (n - 3)), and the least-squares line
# y = slope * x + intercept.  Rows with NA in x or y are skipped.  Fewer
# than 4 rows give NA intervals; a constant column gives NA coefficients.
function atanh(r) {
	if (r > 0.9999999) r = 0.9999999
	if (r < -0.9999999) r = -0.9999999
	return 0.5 * log((1 + r) / (1 - r))
}
function tanh(z) { return (exp(2 * z) - 1) / (exp(2 * z) + 1) }
function pearson(a, b, k,    i, ma, mb, sab, saa, sbb) {
	ma = mb = 0
	for (i = 1; i <= k; i++) { ma += a[i]; mb += b[i] }
	ma /= k; mb /= k
	sab = saa = sbb = 0
	for (i = 1; i <= k; i++) {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) ^ 2; sbb += (b[i] - mb) ^ 2
	}
	if (saa <= 0 || sbb <= 0) return "NA"
	SLOPE = sab / saa; ICPT = mb - SLOPE * ma
	return sab / sqrt(saa * sbb)
}
function rank(a, r, k,    i, j, lt, eq) {
	for (i = 1; i <= k; i++) {
		lt = 0; eq = 0
		for (j = 1; j <= k; j++) {
			if (a[j] < a[i]) lt++
			else if (a[j] == a[i]) eq++
		}
		r[i] = lt + (eq + 1) / 2
	}
}
function ci(r, se, sign,    z) {
	if (r == "NA" || n < 4) return "NA"
	z = atanh(r) + sign * 1.96 * se
	return sprintf("%.4f", tanh(z))
}
function fmt(v) { return v == "NA" ? "NA" : sprintf("%.4f", v) }
BEGIN {
	FS = OFS = "\t"
	if (label == "") label = y "~" x
}
NR == 1 {
	for (i = 1; i <= NF; i++) c[$i] = i
	if (!(x in c) || !(y in c)) {
		print "corr.awk: no column " (x in c ? y : x) > "/dev/stderr"
		bad = 1; exit 1
	}
	next
}
{
	a = $(c[x]); b = $(c[y])
	if (a == "NA" || b == "NA" || a == "" || b == "") next
	n++; X[n] = a + 0; Y[n] = b + 0
}
END {
	if (bad) exit 1
	if (header)
		print "label", "x", "y", "n", "pearson", "pearson_lo", "pearson_hi", \
		    "spearman", "spearman_lo", "spearman_hi", "slope", "intercept"
	if (n < 3) {
		print label, x, y, n + 0, "NA", "NA", "NA", "NA", "NA", "NA", "NA", "NA"
		exit 0
	}
	SLOPE = ICPT = "NA"
	rp = pearson(X, Y, n)
	sl = SLOPE; ic = ICPT
	rank(X, RX, n); rank(Y, RY, n)
	rs = pearson(RX, RY, n)
	se = n > 3 ? 1 / sqrt(n - 3) : 0
	ses = n > 3 ? sqrt(1.06 / (n - 3)) : 0
	print label, x, y, n, fmt(rp), ci(rp, se, -1), ci(rp, se, 1), \
	    fmt(rs), ci(rs, ses, -1), ci(rs, ses, 1), \
	    (sl == "NA" ? "NA" : sprintf("%.6g", sl)), (ic == "NA" ? "NA" : sprintf("%.6g", ic))
}
