#!/bin/bash
# mmib-probe against scikit-learn 1.2 on real embeddings: codes of a model
# trained by mmib (quick profile, dsprites, missing posX, T = 0.1), 1,500
# train / 600 test rows, 64-d, both modalities, five factors.  Fixtures and
# expected figures: tests/ref/probe_real.py.  The probes must match
# scikit-learn's figures (the issue asks for 0.005; they agree to 1e-4),
# with the fused kernels and with the dgemm path alike.
. "$(dirname "$0")/lib.sh"
R="$MMIB_TOP/tests/ref"
plan 5

# compare EXPECTED GOT TOL: prints the number of probes off by more than TOL
# in nMI or accuracy, and the number of probes compared
compare() {
	awk -F'\t' -v tol="$3" '
	function abs(x) { return x < 0 ? -x : x }
	NR == FNR { if (FNR > 1) { nmi[$1 " " $2] = $5; acc[$1 " " $2] = $6 }; next }
	FNR > 1 && ($1 " " $2) in nmi {
		seen++
		if (abs($8 - nmi[$1 " " $2]) > tol + 1e-9 || abs($9 - acc[$1 " " $2]) > tol + 1e-9) {
			bad++
			printf "# %s %s: nmi %s vs %s, acc %s vs %s\n", $1, $2, $8, nmi[$1 " " $2], $9, acc[$1 " " $2] > "/dev/stderr"
		}
	}
	END { print bad + 0, seen + 0 }' "$1" "$2"
}

run_cmd mmib-probe --train "$R/real_train.mts" "$R/real_test.mts"
ok $RC "probes run"
cp "$TMP/.out" "$TMP/p.tsv"
is "$(compare "$R/real_expected.tsv" "$TMP/p.tsv" 0.0001)" "0 10" "all 10 probes within 1e-4 of scikit-learn"

MMIB_SIMD=0 run_cmd mmib-probe --train "$R/real_train.mts" "$R/real_test.mts"
ok $RC "dgemm path runs"
is "$(compare "$R/real_expected.tsv" "$TMP/.out" 0.0001)" "0 10" "dgemm path: all 10 probes within 1e-4 of scikit-learn"

run_cmd mmib-probe -t 2 --train "$R/real_train.mts" "$R/real_test.mts"
cmp -s "$TMP/.out" "$TMP/p.tsv"
ok $? "two threads give the same figures as one"
done_testing
