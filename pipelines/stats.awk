# pipelines/stats.awk - a paired comparison of two sides of a sweep.
#   awk -f stats.awk A.tsv B.tsv
# A and B hold "key<TAB>value" lines (no header): the same metric of the
# same units (splits or seeds, the key) under two settings (beta 0 and
# beta 3, say, or an untrained and a trained encoder).  Keys found on both
# sides form the pairs; NA values are left out.  Prints one TSV row:
#   n up down ties mean_a mean_b diff sd lo hi p
# n pairs; up, down and ties count B > A, B < A, B = A; diff is the mean of
# B - A with its sample sd and 95 % interval (Student t, n - 1 degrees of
# freedom; NA for fewer than 2 pairs); p is the two-sided sign test's
# (exact binomial, ties left out: 2 P(X <= min(up, down)), X ~ Bin(up +
# down, 1/2), at most 1).
function tq(df) {
	# 0.975 quantiles of Student's t; beyond 30 the normal's 1.96
	split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228 " \
	    "2.201 2.179 2.160 2.145 2.131 2.120 2.110 2.101 2.093 2.086 " \
	    "2.080 2.074 2.069 2.064 2.060 2.056 2.052 2.048 2.045 2.042", T, " ")
	return df <= 30 ? T[df] : (df <= 60 ? 2.000 : 1.96)
}
function signp(k, m,    i, c, s) {
	if (m == 0) return 1
	# P(X <= k) for X ~ Bin(m, 1/2), summed in logs-free doubles (m small)
	c = 1; s = 0
	for (i = 0; i <= k; i++) { s += c; c = c * (m - i) / (i + 1) }
	s = 2 * s / 2 ^ m
	return s > 1 ? 1 : s
}
function f(v) { return v == "NA" ? "NA" : sprintf("%.4g", v) }
BEGIN { FS = OFS = "\t" }
FNR == NR { if ($2 != "NA" && $2 != "") A[$1] = $2 + 0; next }
$2 != "NA" && $2 != "" && ($1 in A) {
	n++; d = $2 - A[$1]; D[n] = d; sa += A[$1]; sb += $2
	if (d > 0) up++; else if (d < 0) down++; else ties++
}
END {
	if (n == 0) { print 0, 0, 0, 0, "NA", "NA", "NA", "NA", "NA", "NA", "NA"; exit }
	for (i = 1; i <= n; i++) m += D[i]
	m /= n
	sd = lo = hi = "NA"
	if (n >= 2) {
		for (i = 1; i <= n; i++) ss += (D[i] - m) ^ 2
		sd = sqrt(ss / (n - 1))
		h = tq(n - 1) * sd / sqrt(n)
		lo = m - h; hi = m + h
	}
	k = up + 0 < down + 0 ? up + 0 : down + 0
	print n, up + 0, down + 0, ties + 0, f(sa / n), f(sb / n), f(m), f(sd), f(lo), f(hi), \
	    sprintf("%.3g", signp(k, up + down))
}
