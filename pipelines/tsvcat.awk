# pipelines/tsvcat.awk - concatenate TSV files that each start with a
# header row into one table whose columns are the union of theirs, in order
# of first appearance; a cell a file lacks becomes NA.
#   awk -f tsvcat.awk a.tsv b.tsv ... > all.tsv
BEGIN { FS = OFS = "\t"; nr = 0; nc = 0 }
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
