# pipelines/tsvcat.awk - concatenate TSV files that each start with a
# header row into one table whose columns are the union of theirs, in order
# of first appearance; a cell a file lacks becomes NA.
#   awk -f tsvcat.awk a.tsv b.tsv ... > all.tsv
#   awk -v list=runs.list -f tsvcat.awk > all.tsv
# With list=, the files are the lines of that file, which must exist and
# name at least one file; every file must hold a header and a row.  No row
# at all is an error too (exit 1, nothing printed).
BEGIN {
	FS = OFS = "\t"; nr = 0; nc = 0
	if (list != "") {
		while ((r = (getline f < list)) > 0)
			if (f != "") ARGV[ARGC++] = f
		if (r < 0) fail(list ": cannot read the list of runs")
		close(list)
		if (ARGC == 1) fail(list ": the list of runs is empty")
		for (i = 1; i < ARGC; i++)
			if ((getline f < ARGV[i]) <= 0) fail(ARGV[i] ": missing or empty")
			else close(ARGV[i])
	}
}
function fail(m) { print "tsvcat.awk: " m > "/dev/stderr"; bad = 1; exit 1 }
FNR == 1 {
	for (i = 1; i <= NF; i++) {
		h[i] = $i
		if (!($i in pos)) { pos[$i] = ++nc; name[nc] = $i }
	}
	nf = NF
	next
}
$0 != "" {
	nr++
	for (i = 1; i <= nf; i++) cell[nr, pos[h[i]]] = $i
}
END {
	if (bad) exit 1
	if (nr == 0) { print "tsvcat.awk: no rows" > "/dev/stderr"; exit 1 }
	line = ""
	for (j = 1; j <= nc; j++) line = line (j > 1 ? OFS : "") name[j]
	print line
	for (r = 1; r <= nr; r++) {
		line = ""
		for (j = 1; j <= nc; j++)
			line = line (j > 1 ? OFS : "") (((r, j) in cell) ? cell[r, j] : "NA")
		print line
	}
}
