#!/bin/bash
# mmib-gen --from on the published data files, when a user has them:
# MMIB_DATA names the directory holding any of
#   dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz  3dshapes.h5
#   mpi3d_toy.npz  mpi3d_realistic.npz  mpi3d_real.npz
# Each present file is sampled (1,000 rows, two parts), checked with
# mmib-info and compared in shape with the rendered twin.  Files that are
# absent are skipped.
. "$(dirname "$0")/lib.sh"
files="dsprites:dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz
shapes3d:3dshapes.h5
mpi3d:mpi3d_toy.npz
mpi3d:mpi3d_realistic.npz
mpi3d:mpi3d_real.npz"
plan 25

for entry in $files; do
	ds=${entry%%:*} f=${entry#*:}
	if [ -z "${MMIB_DATA:-}" ] || [ ! -r "$MMIB_DATA/$f" ]; then
		for i in 1 2 3 4 5; do skip "$f: set MMIB_DATA to a directory holding it"; done
		continue
	fi
	run_cmd mmib-gen --from "$MMIB_DATA/$f" -n 1000 -s 1 --part train -o "$TMP/$ds-train.mts"
	ok $RC "$f: 750 training rows imported"
	run_cmd mmib-info -c "$TMP/$ds-train.mts"
	ok $RC "$f: the stream is intact"
	mmib-gen --from "$MMIB_DATA/$f" -n 1000 -s 1 --part test -o "$TMP/$ds-test.mts"
	ok $? "$f: 250 test rows imported"
	mmib-gen -d "$ds" -n 1000 -s 1 --part train -o "$TMP/$ds-render.mts"
	got=$(mmib-info "$TMP/$ds-train.mts" | grep -E $'^tensor\t(images|classes)' | cut -f2-4)
	want=$(mmib-info "$TMP/$ds-render.mts" | grep -E $'^tensor\t(images|classes)' | cut -f2-4)
	is "$got" "$want" "$f: same fields and shapes as the rendered $ds"
	# the same seed draws the same rows, so the factor classes agree
	mmib-info --npy classes -o "$TMP/a.npy" "$TMP/$ds-train.mts"
	mmib-info --npy classes -o "$TMP/b.npy" "$TMP/$ds-render.mts"
	cmp -s "$TMP/a.npy" "$TMP/b.npy"
	ok $? "$f: the same seed draws the same factor classes as the renderer"
done
done_testing
