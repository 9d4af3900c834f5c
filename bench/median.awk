# Columns of numbers, a round a line, to one line: the median and the range
# of each column, tab-separated ("median<TAB>lo-hi").  -v fmt="F1 F2 .."
# gives each column's printf format (default %.1f; the last one given
# serves the columns after it).
function med(c, n,   i, j, v, y) {
	for (i = 1; i <= n; i++) y[i] = x[i, c]
	for (i = 2; i <= n; i++) {
		v = y[i]
		for (j = i - 1; j >= 1 && y[j] > v; j--) y[j + 1] = y[j]
		y[j + 1] = v
	}
	lo = y[1]; hi = y[n]
	return n % 2 ? y[(n + 1) / 2] : (y[n / 2] + y[n / 2 + 1]) / 2
}
{ for (c = 1; c <= NF; c++) x[NR, c] = $c; if (NF > nc) nc = NF }
END {
	nf = split(fmt == "" ? "%.1f" : fmt, f, " ")
	for (c = 1; c <= nc; c++) {
		m = med(c, NR)
		g = f[c <= nf ? c : nf]
		printf(("%s" g "\t" g "-" g), (c > 1 ? "\t" : ""), m, lo, hi)
	}
	printf "\n"
}
