# pipelines/agg.awk - group a summary TSV and average columns.
#   awk -v by=col1,col2 -v cols=x,y -f agg.awk in.tsv
# (select the rows first with where.awk).
# Prints the group columns, then for every averaged column c: c_mean, c_sd
# (sample standard deviation, 0 for one row) and n; rows whose value is NA
# or empty are left out of that column's figures.  Groups come out in order
# of first appearance; numeric group keys can be sorted afterwards.
BEGIN {
	FS = OFS = "\t"
	nb = split(by, B, ","); nv = split(cols, V, ",")
}
NR == 1 {
	for (i = 1; i <= NF; i++) c[$i] = i
	for (i = 1; i <= nb; i++) if (!(B[i] in c)) miss = miss " " B[i]
	for (i = 1; i <= nv; i++) if (!(V[i] in c)) miss = miss " " V[i]
	if (miss != "") { print "agg.awk: no column(s)" miss > "/dev/stderr"; bad = 1; exit 1 }
	next
}
{
	key = ""
	for (i = 1; i <= nb; i++) key = key (i > 1 ? OFS : "") $(c[B[i]])
	if (!(key in gi)) { gi[key] = ++ng; gk[ng] = key }
	g = gi[key]
	for (i = 1; i <= nv; i++) {
		x = $(c[V[i]])
		if (x == "NA" || x == "" || x == "nan" || x == "-nan") continue
		s[g, i] += x; ss[g, i] += x * x; n[g, i]++
	}
}
END {
	if (bad) exit 1
	line = ""
	for (i = 1; i <= nb; i++) line = line (i > 1 ? OFS : "") B[i]
	for (i = 1; i <= nv; i++) line = line OFS V[i] "_mean" OFS V[i] "_sd" OFS V[i] "_n"
	print line
	for (g = 1; g <= ng; g++) {
		line = gk[g]
		for (i = 1; i <= nv; i++) {
			k = n[g, i] + 0
			if (k == 0) { line = line OFS "NA" OFS "NA" OFS 0; continue }
			m = s[g, i] / k
			v = k > 1 ? (ss[g, i] - k * m * m) / (k - 1) : 0
			if (v < 0) v = 0
			line = line OFS sprintf("%.6g", m) OFS sprintf("%.6g", sqrt(v)) OFS k
		}
		print line
	}
}
