#!/bin/bash
# mmib-align's memory is bounded by blocks: 16000 rows under a 800 MB
# address-space limit, where one N x N matrix alone would take 1 GB
# (float32) or 2 GB (float64).  Every default metric runs.
. "$(dirname "$0")/lib.sh"
plan 3

N=16000
# mknpy OUT N D SEED: N x D float32 uniform in [-0.5, 0.5), by perl
mknpy() {
	perl -e '
	my ($out, $n, $d, $seed) = @ARGV;
	srand($seed);
	open(my $f, ">:raw", $out) or die "$out: $!";
	my $h = sprintf("{\x27descr\x27: \x27<f4\x27, \x27fortran_order\x27: False, \x27shape\x27: (%d, %d), }", $n, $d);
	print $f "\x93NUMPY\x01\x00", pack("v", 118), $h, " " x (117 - length $h), "\n";
	print $f pack("f<*", map { rand() - 0.5 } 1 .. $d) for 1 .. $n;
	close $f or die;' "$@"
}
mknpy "$TMP/a.npy" $N 4 1
mknpy "$TMP/b.npy" $N 4 2
is "$(wc -c < "$TMP/a.npy")" $((128 + N * 16)) "two $N x 4 arrays made"

case $MMIB_BUILD in
*san*)
	skip "AddressSanitizer reserves terabytes of address space"
	skip "AddressSanitizer reserves terabytes of address space"
	done_testing ;;
esac
# timeout: a BLAS that cannot map its buffers may spin instead of failing
( ulimit -v 800000; exec timeout 600 mmib-align -q -t 2 -k 5 "$TMP/a.npy" "$TMP/b.npy" ) > "$TMP/out.tsv" 2> "$TMP/err"
RC=$?
is "$RC" 0 "every default metric in 800 MB of address space (N x N would need 1 GB)"
is "$(cut -f1 "$TMP/out.tsv" | sort -u | tr '\n' ' ')" "cka cka_unbiased cknna cosine cycle_knn gap metric mutual_knn recall_fac2img recall_img2fac svcca " "... with every row"
done_testing
