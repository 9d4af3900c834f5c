#!/bin/bash
# The fuzz targets (tests/fuzz/fuzz-*.c) run as plain programs over their
# seed corpora and over every input that once crashed them
# (tests/fuzz/regress/<target>/): each must return, not crash.
. "$(dirname "$0")/lib.sh"
plan 12
# under SANITIZE=1: libhdf5 asks for terabytes on some corrupt headers and
# handles the NULL, and leaks (see FUZZ_ENV_h5 in the Makefile)
h5env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1:detect_leaks=0")

for t in stream npz h5; do
	run=("$MMIB_TOP/$MMIB_BUILD/tests/fuzz-$t.run")
	[ $t = h5 ] && run=("${h5env[@]}" "${run[@]}")
	set -- "$MMIB_TOP"/tests/fuzz/corpus/$t/*
	run_cmd "${run[@]}" "$@"
	ok $RC "fuzz-$t: the $# seed inputs read cleanly"
	# (libhdf5-crash-*: inputs on which libhdf5 itself crashes, below)
	set --
	for f in "$MMIB_TOP"/tests/fuzz/regress/$t/*; do
		[[ -e "$f" && "${f##*/}" != libhdf5-crash-* ]] && set -- "$@" "$f"
	done
	if [ $# -gt 0 ]; then
		run_cmd "${run[@]}" "$@"
		# a sanitiser's report would come from a reader's child too
		[[ "$ERR" == *"ERROR: AddressSanitizer"* || "$ERR" == *"runtime error"* ]] && RC=1
		ok $RC "fuzz-$t: the $# regression inputs end cleanly"
		[ $RC -eq 0 ] || diag "$ERR"
	else
		skip "fuzz-$t: no regression inputs"
	fi
done

# Inputs on which libhdf5 1.10 itself crashes while it parses the file's
# metadata (a NULL pointer under H5Lexists: H5G__stab_lookup ->
# H5HL_protect -> H5F__accum_read).  libhdf5 runs in a child process
# (lib/isolate.c), so the harness returns, and mmib-gen refuses the file
# in one line, exits non-zero and leaves no output, as a 3dshapes.h5 and
# as a dataset of one's own.  Under a sanitiser the child's crash is
# reported by it and ends as exit status 1.
set -- "$MMIB_TOP"/tests/fuzz/regress/h5/libhdf5-crash-*.h5
run_cmd "${h5env[@]}" "$MMIB_TOP/$MMIB_BUILD/tests/fuzz-h5.run" "$@"
ok $RC "fuzz-h5: the $# inputs that crash libhdf5 end cleanly"
for f in "$MMIB_TOP"/tests/fuzz/regress/h5/libhdf5-crash-*.h5; do
	for how in "" "-d generic"; do
		rm -f "$TMP/bad.mts"
		run_cmd mmib-gen --from "$f" $how -n all -o "$TMP/bad.mts"
		line=$(printf '%s\n' "$ERR" | grep '^mmib-gen: ')
		if [[ "$ERR" == *"built without HDF5"* ]]; then
			skip "${f##*/}: built without HDF5"
		elif [ "$RC" -ne 0 ] && [ ! -e "$TMP/bad.mts" ] &&
		    { [[ "$ERR" != *"ERROR: AddressSanitizer"* && "$ERR" == "$line" &&
		    "$line" == "mmib-gen: $f: libhdf5 crashed on this file (signal 11, "*"; corrupt?)" ]] ||
		    [[ "$ERR" == *"ERROR: AddressSanitizer"* && "$line" == "mmib-gen: $f: libhdf5 ended without answering (exit status 1; corrupt?)" ]]; }; then
			ok 0 "mmib-gen --from ${f##*/} $how: libhdf5's crash is a one-line error, no output"
		else
			ok 1 "mmib-gen --from ${f##*/} $how: libhdf5's crash is a one-line error, no output"
			diag "rc $RC: $ERR"
		fi
	done
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
