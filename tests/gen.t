#!/bin/bash
# mmib-gen command line: listing, determinism, options, clear errors and
# no output file on failure.
. "$(dirname "$0")/lib.sh"
plan 31

run_cmd mmib-gen --list
is "$RC" 0 "--list exits 0"
like "$(cat "$TMP/.out")" $'dsprites\t1\t737280\t' "--list: dSprites grid 737,280"
like "$(cat "$TMP/.out")" $'shapes3d\t3\t480000\t' "--list: Shapes3D grid 480,000"
like "$(cat "$TMP/.out")" $'mpi3d\t3\t1036800\t' "--list: MPI3D grid 1,036,800"

for d in dsprites shapes3d mpi3d; do
	mmib-gen -d $d -n 300 -s 7 --batch 64 -o "$TMP/$d.a" &&
	mmib-gen -d $d -n 300 -s 7 --batch 64 -o "$TMP/$d.b"
	cmp -s "$TMP/$d.a" "$TMP/$d.b"; ok $? "$d: same seed, identical bytes"
done
mmib-gen -d dsprites -n 300 -s 8 --batch 64 -o "$TMP/dsprites.c"
cmp -s "$TMP/dsprites.a" "$TMP/dsprites.c"; ok $((! $?)) "another seed, other rows"

# the pairing does not change which rows are drawn: images equal
mmib-gen -d dsprites -n 50 -s 7 --missing posX | mmib-info > "$TMP/i1"
like "$(cat "$TMP/i1")" $'meta\tessence\tshape,scale,orientation,posY' "--missing: essence"
like "$(cat "$TMP/i1")" $'meta\tnuisance\tposX' "--missing: nuisance"
like "$(cat "$TMP/i1")" $'tensor\tpair\tf32\t50x81' "--missing posX: pair is 3+6+40+32"
like "$(cat "$TMP/i1")" $'tensor\timages\tu8\t50x1x64x64' "images (N,1,64,64)"
mmib-gen -d mpi3d -n 40 --essence object_color,vertical_axis | mmib-info > "$TMP/i2"
like "$(cat "$TMP/i2")" $'tensor\tpair\tf32\t40x46' "--essence: pair 6+40"
like "$(cat "$TMP/i2")" $'tensor\timages\tu8\t40x3x64x64' "RGB images (N,3,64,64)"
mmib-gen -d dsprites -n 10000 --part train | mmib-info > "$TMP/i3"
like "$(cat "$TMP/i3")" $'tensor\tclasses\ti32\t7500x5' "train part: 7,500 of 10,000"
mmib-gen -d dsprites -n 10000 --part test -z | mmib-info > "$TMP/i4"
like "$(cat "$TMP/i4")" $'tensor\tclasses\ti32\t2500x5' "test part (zstd): 2,500"

# errors: clear message, non-zero exit, no output file
run_cmd mmib-gen -d nosuch -o "$TMP/x1"
like "$ERR" "unknown dataset 'nosuch' \(known: dsprites, shapes3d, mpi3d\)" "unknown dataset"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/x1" ]; ok $? "unknown dataset: exit $RC, no file"
run_cmd mmib-gen -d dsprites --missing colour -o "$TMP/x2"
like "$ERR" "unknown factor 'colour' for dsprites" "bad factor name"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/x2" ]; ok $? "bad factor: no file"
run_cmd mmib-gen -d shapes3d -n 480001 -o "$TMP/x3"
like "$ERR" "the shapes3d grid has only 480000 rows" "impossible -n"
run_cmd mmib-gen -d shapes3d -n 12x
like "$ERR" "-n: '12x'" "-n with trailing garbage"
run_cmd mmib-gen -d mpi3d --essence object_color,object_color
like "$ERR" "listed twice" "factor listed twice"
run_cmd mmib-gen -d dsprites -n all --part train
like "$ERR" "no split" "-n all has no train/test split"
run_cmd mmib-gen -d dsprites --missing posX --random-split
like "$ERR" "exclude each other" "pairings exclude each other"
run_cmd mmib-gen --from "$TMP/nofile.npz" -o "$TMP/x4"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/x4" ]; ok $? "missing --from file: error, no output"
like "$ERR" "nofile.npz: No such file or directory" "missing --from file: the system's reason"
run_cmd mmib-gen --from "$TMP" -o "$TMP/x4"
like "$ERR" ": Is a directory" "--from a directory: the system's reason"
run_cmd mmib-gen -d dsprites -n 16 -o "$TMP/same.mts" --png "$TMP/./same.mts"
[ "$RC" -ne 0 ] && [ ! -e "$TMP/same.mts" ]; ok $? "-o and --png naming one file: refused, nothing written"
like "$ERR" "--png and -o name the same file" "-o and --png naming one file: the reason"
mmib-gen -d shapes3d -n 100 --png "$TMP/sheet.png" --png-count 16
is "$(head -c 4 "$TMP/sheet.png" | od -An -c | tr -d ' ')" '211PNG' "--png writes a PNG contact sheet"
done_testing
