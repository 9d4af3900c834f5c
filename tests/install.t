#!/bin/bash
# install.t - make install into a DESTDIR: the tools, man pages, the Python
# reader and the experiments, which then run from any directory with the
# installed copy alone (make -f PREFIX/share/mmib/experiments.mk), and
# make uninstall removes it all.
. "$(dirname "$0")/lib.sh"
plan 10
unset MAKEFLAGS MFLAGS MAKELEVEL
D=$TMP/dest P=/opt/mmib S=$TMP/dest/opt/mmib/share/mmib
make -s --no-print-directory -C "$MMIB_TOP" install DESTDIR="$D" PREFIX=$P >/dev/null 2>"$TMP/inst.err"
ok $? "make install DESTDIR=... PREFIX=$P"
for f in bin/mmib-train share/man/man7/mmib.7 share/mmib/python/mts.py \
	share/mmib/experiments.mk share/mmib/pipelines/step.sh share/mmib/deps.sh; do
	[ -e "$D$P/$f" ] || { diag "missing $D$P/$f"; false; } || break
done
ok $? "tools, man pages, the Python reader, the experiments and their scripts installed"
# the experiments from a scratch directory: nothing from the checkout
mkdir "$TMP/work" && cd "$TMP/work"
run_cmd make --no-print-directory -f "$S/experiments.mk" demo PIPE_DEPS=0 N=400 EPOCHS=1 \
	STEP=1 IMG=tiny IMG_tiny=mlp-flatten:16/8 FAC_dsprites=mlp:8/8 TEMPS=0.1 DEMO_JOBS=1 V=1
ok $RC "make -f share/mmib/experiments.mk demo, in another directory"
[ "$RC" -eq 0 ] || diag "$(tail -5 "$TMP/.err")"
like "$(cat "$TMP/.out")" "mmib remove-msi report" "... prints the demo's report"
[ -s results/demo/summary.tsv ] && [ "$(wc -l < results/demo/summary.tsv)" -eq 3 ]
ok $? "... one run and its untrained baseline (C1), their rows in ./results/demo/summary.tsv"
ls runs/train/*/*/*/model.mts >/dev/null 2>&1; ok $? "... its model under ./runs"
grep -q "^$D$P/bin/mmib-gen .*-o runs/data/" "$TMP/.out" &&
	grep -q "^$D$P/bin/mmib-train .*--checkpoint" "$TMP/.out"
ok $? "... made with the installed tools (V=1 echoes them)"
cd "$MMIB_TOP"
make -s --no-print-directory uninstall DESTDIR="$D" PREFIX=$P >/dev/null
[ ! -e "$D$P/bin/mmib-train" ] && [ ! -e "$S" ]; ok $? "make uninstall removes the tools and share/mmib"
[ -z "$(find "$D" -type f)" ]; ok $? "... and leaves no file behind"
# make deps: numpy reported as optional, not required
run_cmd env MMIB_PYTHON=/bin/false sh "$MMIB_TOP/tools/deps.sh" check
like "$ERR" "deps: optional: /bin/false has no numpy" "make deps reports a missing numpy as optional"
done_testing
