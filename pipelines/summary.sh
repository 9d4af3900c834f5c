#!/bin/sh
# pipelines/summary.sh - the summary of an experiment.
#
#   summary.sh LIST > summary.tsv
#
# The row files that LIST names, one table (tsvcat.awk: union of their
# columns; a missing or empty list or row is an error), with the
# regularised runs that collapsed marked in a last column (collapse.awk).
set -eu
here=$(dirname "$0")
list=${1:?usage: summary.sh LIST}
t=$(mktemp "${TMPDIR:-/tmp}/summary.XXXXXX")
trap 'rm -f "$t"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
awk -v list="$list" -f "$here/tsvcat.awk" > "$t"
awk -f "$here/collapse.awk" "$t" "$t"
