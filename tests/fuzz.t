#!/bin/bash
# The fuzz targets (tests/fuzz/fuzz-*.c) run as plain programs over their
# seed corpora and over every input that once crashed them
# (tests/fuzz/regress/<target>/): each must return, not crash.
. "$(dirname "$0")/lib.sh"
plan 9

for t in stream npz h5; do
	run=("$MMIB_TOP/$MMIB_BUILD/tests/fuzz-$t.run")
	# under SANITIZE=1: libhdf5 asks for terabytes on some corrupt
	# headers and handles the NULL, and leaks (see FUZZ_ENV_h5 in the Makefile)
	[ $t = h5 ] && run=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:detect_leaks=0" "${run[@]}")
	set -- "$MMIB_TOP"/tests/fuzz/corpus/$t/*
	run_cmd "${run[@]}" "$@"
	ok $RC "fuzz-$t: the $# seed inputs read cleanly"
	set -- "$MMIB_TOP"/tests/fuzz/regress/$t/*
	if [ -e "$1" ]; then
		run_cmd "${run[@]}" "$@"
		ok $RC "fuzz-$t: the $# regression inputs end cleanly"
	else
		skip "fuzz-$t: no regression inputs"
	fi
done

# One changed byte of a layout message (a chunk dimension doubled: rows
# 1 -> 2, width 64 -> 128, channels 3 -> 6) in a gzip-chunked file of two
# 64x64x3 images with integer labels: libhdf5's H5Dread once read past its
# chunk buffer on these (each stored chunk inflates to half the claimed
# chunk).  mmib-gen reads them as an own dataset and must refuse each in
# one line, exit non-zero and leave no output: the chunk does not inflate
# to its size, or (rows 1 -> 2, where libhdf5 1.10.8 then reads the
# chunk's size as 389 bytes one way and 388 the other) it has two sizes.
for f in "$MMIB_TOP"/tests/fuzz/regress/h5/deflate-chunk-*.h5; do
	rm -f "$TMP/bad.mts"
	run_cmd mmib-gen --from "$f" -n all -o "$TMP/bad.mts"
	if [[ "$ERR" == *"built without HDF5"* ]]; then
		skip "${f##*/}: built without HDF5"
	elif [ "$RC" -ne 0 ] && [ ! -e "$TMP/bad.mts" ] &&
	    [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] &&
	    [[ "$ERR" == *"chunk of rows 0.. does not inflate to its 24576 bytes"* ||
	    "$ERR" == *"chunk of rows 0.. has two sizes in the file ("* ]]; then
		ok 0 "mmib-gen --from ${f##*/}: refused in one line, no output"
	else
		ok 1 "mmib-gen --from ${f##*/}: refused in one line, no output"
		diag "rc $RC: $ERR"
	fi
done
done_testing
