# pipelines/corr.awk - correlation of two columns of a summary TSV.
#   awk -v x=COL -v y=COL [-v label=TEXT] [-v header=1] -f corr.awk summary.tsv
# (select the rows first with where.awk).
# Prints one TSV row: label, x, y, n, Pearson r with its 95 % confidence
# interval (Fisher z: atanh r +- 1.96 / sqrt(n - 3)), Spearman rho (average
# ranks for ties) with its 95 % interval (Fisher z with the Fieller,
# Hartley and Pearson variance 1.06 / (n - 3)), and the least-squares line
# y = slope * x + intercept.  Rows with NA in x or y are skipped.  Fewer
# than 4 rows give NA intervals; a constant column gives NA coefficients.
# With -v by=COL the correlation is the one within the strata of COL, with
# COL held fixed (a partial correlation on COL's dummy variables): x and y
# are centred on their stratum's means (Spearman: ranked within the
# stratum, ranks centred) and pooled; rows of a stratum of one, or of
# none (NA), are left out, n counts the rest, the intervals lose one degree of freedom per
# stratum past the first (Fisher z: 1 / sqrt(n - 3 - (k - 1)) for k
# strata), the slope is the pooled within-stratum slope (no intercept:
# NA), and a 13th column gives k.
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
	if (r == "NA" || se == "NA") return "NA"
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
	if (!(x in c) || !(y in c) || (by != "" && !(by in c))) {
		print "corr.awk: no column " (!(x in c) ? x : !(y in c) ? y : by) > "/dev/stderr"
		bad = 1; exit 1
	}
	next
}
{
	a = $(c[x]); b = $(c[y])
	if (a == "NA" || b == "NA" || a == "" || b == "") next
	if (by != "" && ($(c[by]) == "NA" || $(c[by]) == "")) next
	n++; X[n] = a + 0; Y[n] = b + 0
	if (by != "") { S[n] = $(c[by]); size[S[n]]++ }
}
# Keep the rows of strata of two or more, centred within their stratum:
# X, Y on their means into X, Y; the ranks within the stratum, centred,
# into RX, RY.  Sets n and K (the strata kept).
function strata(    i, j, k, m, s, mx, my, u, v, g, idx, a, b, ra, rb) {
	m = 0
	for (i = 1; i <= n; i++)
		if (size[S[i]] >= 2) { m++; u[m] = X[i]; v[m] = Y[i]; s[m] = S[i] }
	K = 0
	for (g in size) if (size[g] >= 2) K++
	for (i = 1; i <= m; i++) { mx[s[i]] += u[i] / size[s[i]]; my[s[i]] += v[i] / size[s[i]] }
	# each stratum's rows ranked by rank() among themselves, less the
	# stratum's mean rank (size + 1) / 2
	for (g in size) {
		if (size[g] < 2) continue
		k = 0
		for (i = 1; i <= m; i++)
			if (s[i] == g) { k++; idx[k] = i; a[k] = u[i]; b[k] = v[i] }
		rank(a, ra, k); rank(b, rb, k)
		for (j = 1; j <= k; j++) {
			RX[idx[j]] = ra[j] - (k + 1) / 2
			RY[idx[j]] = rb[j] - (k + 1) / 2
		}
	}
	for (i = 1; i <= m; i++) { X[i] = u[i] - mx[s[i]]; Y[i] = v[i] - my[s[i]] }
	n = m
}
END {
	if (bad) exit 1
	if (header)
		print "label", "x", "y", "n", "pearson", "pearson_lo", "pearson_hi", \
		    "spearman", "spearman_lo", "spearman_hi", "slope", "intercept" \
		    (by != "" ? OFS "strata" : "")
	K = 1
	if (by != "") strata()
	tail = by != "" ? OFS K : ""
	if (n < 3) {
		print label, x, y, n + 0, "NA", "NA", "NA", "NA", "NA", "NA", "NA", "NA" tail
		exit 0
	}
	SLOPE = ICPT = "NA"
	rp = pearson(X, Y, n)
	sl = SLOPE; ic = by != "" ? "NA" : ICPT
	if (by == "") { rank(X, RX, n); rank(Y, RY, n) }
	rs = pearson(RX, RY, n)
	df = n - 3 - (K - 1)
	se = df > 0 ? 1 / sqrt(df) : "NA"
	ses = df > 0 ? sqrt(1.06 / df) : "NA"
	print label, x, y, n, fmt(rp), ci(rp, se, -1), ci(rp, se, 1), \
	    fmt(rs), ci(rs, ses, -1), ci(rs, ses, 1), \
	    (sl == "NA" ? "NA" : sprintf("%.6g", sl)), (ic == "NA" ? "NA" : sprintf("%.6g", ic)) tail
}
