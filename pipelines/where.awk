# pipelines/where.awk - the rows of a summary TSV that match a where-list.
#   awk -v where='col=value,col!=value,...' -f where.awk summary.tsv
# Prints the header row, then every row that passes each term: col=value
# keeps the rows whose col is value, col!=value those whose col is not
# (compared as strings: 0.1 is not 0.10).  An empty list keeps every row.
# The one filter of the pipelines: agg.awk, corr.awk, report.sh and plot.sh
# read its output.  A term naming no column is an error (exit 1, nothing
# printed).
BEGIN {
	FS = OFS = "\t"
	nw = split(where, Wh, ",")
	for (i = 1; i <= nw; i++) {
		eq = index(Wh[i], "=")
		if (eq == 0) {
			print "where.awk: " Wh[i] ": not col=value or col!=value" > "/dev/stderr"
			bad = 1; exit 1
		}
		wk[i] = substr(Wh[i], 1, eq - 1); wv[i] = substr(Wh[i], eq + 1)
		wn[i] = 0
		if (wk[i] ~ /!$/) { wn[i] = 1; wk[i] = substr(wk[i], 1, length(wk[i]) - 1) }
	}
}
NR == 1 {
	for (i = 1; i <= NF; i++) c[$i] = i
	for (i = 1; i <= nw; i++) if (!(wk[i] in c)) miss = miss " " wk[i]
	if (miss != "") { print "where.awk: no column(s)" miss > "/dev/stderr"; bad = 1; exit 1 }
	print
	next
}
{
	for (i = 1; i <= nw; i++) if (($(c[wk[i]]) == wv[i]) == wn[i]) next
	print
}
END { if (bad) exit 1 }
