#!/bin/sh
# tools/deps.sh - make sure mmib's dependencies are present.
#   deps.sh build   compiler, pkg-config and the libraries
#   deps.sh check   the above plus the test harness (prove), mandoc, zstd
#                   and gnuplot (the pipeline test draws plots); reports
#                   numpy for the Python reader and reference scripts as
#                   optional
#   deps.sh run     the same, for the pipelines
#   deps.sh bench   check's, plus what make bench measures against:
#                   numpy, scikit-learn and PyTorch for /usr/bin/python3
#                   (Debian's packages) and jemalloc (preloaded under
#                   PyTorch, as the anchors were measured)
# Missing packages are installed with apt-get when running as root on
# Debian/Ubuntu; otherwise the exact command is printed and we fail.
set -u
mode=${1:-check}
pkgs=""
need() { pkgs="$pkgs $1"; }

command -v cc >/dev/null 2>&1 || need gcc
command -v make >/dev/null 2>&1 || need make
command -v pkg-config >/dev/null 2>&1 || need pkg-config
if command -v pkg-config >/dev/null 2>&1; then
	pkg-config --exists openblas || need libopenblas-dev
	pkg-config --exists libpng || need libpng-dev
	pkg-config --exists libzstd || need libzstd-dev
	pkg-config --exists zlib || need zlib1g-dev
	pkg-config --exists hdf5 || need libhdf5-dev
else
	need "libopenblas-dev libpng-dev libzstd-dev zlib1g-dev libhdf5-dev"
fi
if [ "$mode" = check ] || [ "$mode" = run ] || [ "$mode" = bench ]; then
	command -v prove >/dev/null 2>&1 || need perl
	command -v mandoc >/dev/null 2>&1 || need mandoc
	command -v zstd >/dev/null 2>&1 || need zstd
	# the pipelines' plots (their test draws them too)
	command -v gnuplot >/dev/null 2>&1 || need gnuplot-nox
fi
# Optional: numpy for the Python side (formats/mts.py, the reference
# scripts tests/ref/*.py that made the committed fixtures); make check does
# not need it, so it is reported, never installed or required.
if [ "$mode" = check ]; then
	# MMIB_PYTHON: another interpreter to check
	py=${MMIB_PYTHON:-/usr/bin/python3}
	[ -x "$py" ] || py=$(command -v python3 2>/dev/null)
	if [ -z "$py" ]; then
		echo "deps: optional: no python3 (formats/mts.py and the reference scripts tests/ref/*.py need it, with numpy)" >&2
	elif ! "$py" -c 'import numpy' >/dev/null 2>&1; then
		echo "deps: optional: $py has no numpy (formats/mts.py and tests/ref/*.py need it: apt-get install python3-numpy)" >&2
	fi
fi
if [ "$mode" = bench ]; then
	py=/usr/bin/python3
	[ -x "$py" ] && "$py" -c 'import numpy' >/dev/null 2>&1 || need python3-numpy
	[ -x "$py" ] && "$py" -c 'import sklearn' >/dev/null 2>&1 || need python3-sklearn
	[ -x "$py" ] && "$py" -c 'import torch' >/dev/null 2>&1 || need python3-torch
	[ -e /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ] || [ "$(uname -m)" != x86_64 ] || need libjemalloc2
fi
[ -z "$pkgs" ] && exit 0

cmd="apt-get install -y$pkgs"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing$pkgs" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >&2 || exit 1
	apt-get install -y -q $pkgs >&2 || exit 1
	exit 0
fi
echo "deps: missing packages:$pkgs" >&2
echo "deps: run as root:  DEBIAN_FRONTEND=noninteractive $cmd" >&2
exit 1
