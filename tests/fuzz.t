#!/bin/bash
# The fuzz targets (tests/fuzz/fuzz-*.c) run as plain programs over their
# seed corpora and over every input that once crashed them
# (tests/fuzz/regress/<target>/): each must return, not crash.
. "$(dirname "$0")/lib.sh"
plan 6

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
done_testing
