#!/bin/bash
# tests/slurm.sh - the pipelines under a real Slurm (make check-slurm).
#
# As root on a Debian-like machine: installs slurm-wlm and munge if they
# are missing (apt-get; SLURM_INSTALL=0 forbids it), starts a private
# single-node cluster on localhost (munged, slurmctld and slurmd, their
# keys, sockets, state, logs and a generated slurm.conf in one temporary
# directory, on free ports: the machine's own Slurm or munge, if any, is
# not touched), runs a tiny alignment sweep with RUN='srun -n1 -c1
# --quiet' and the same sweep locally, checks that every tool step was a
# Slurm job step and that both give the same models, embeddings and
# summary (train_seconds aside), and stops the daemons.  Elsewhere (not
# root, no packages, a daemon that does not start) it skips with the
# reason.  TAP output; exit 0 when every test passed or was skipped.
set -u
TOP=${MMIB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${MMIB_BIN:-$TOP/bin}
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
n=0 fail=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi; }

[ "$(id -u)" -eq 0 ] || skip_all "not root (a private slurmctld/slurmd needs root)"
for t in gen train encode probe align info; do
	[ -x "$BIN/mmib-$t" ] || skip_all "$BIN/mmib-$t not built"
done
need() { command -v munged && command -v slurmctld && command -v slurmd && command -v srun && command -v sinfo; }
if ! need >/dev/null 2>&1; then
	if [ "${SLURM_INSTALL:-1}" = 1 ] && command -v apt-get >/dev/null 2>&1; then
		echo "# installing slurm-wlm and munge (apt-get)"
		export DEBIAN_FRONTEND=noninteractive
		{ apt-get install -y -q slurm-wlm munge || { apt-get update -q && apt-get install -y -q slurm-wlm munge; }; } \
			> /tmp/mmib-slurm-apt.log 2>&1 || skip_all "apt-get install slurm-wlm munge failed (/tmp/mmib-slurm-apt.log)"
	fi
	need >/dev/null 2>&1 || skip_all "slurm-wlm and munge are not installed"
fi
command -v flock >/dev/null 2>&1 || skip_all "flock not found"

D=$(mktemp -d "${TMPDIR:-/tmp}/mmib-slurm.XXXXXX")
chmod 700 "$D"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	[ -s "$D/munged.pid" ] && kill "$(cat "$D/munged.pid")" 2>/dev/null
	sleep 0.2
	[ -n "${KEEP:-}" ] || rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
logs() { for f in "$D"/*.log; do echo "# == $f"; tail -n 20 "$f" | sed 's/^/# /'; done; }

# munge: a fresh key, its own socket
dd if=/dev/urandom of="$D/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$D/munge.key"
munged --force --key-file="$D/munge.key" --socket="$D/munge.sock" --pid-file="$D/munged.pid" \
	--log-file="$D/munged.log" --seed-file="$D/munged.seed" 2>"$D/munged.err" ||
	skip_all "munged does not start: $(head -n 1 "$D/munged.err")"

# free ports for slurmctld and slurmd
port() { # a port nobody listens on, from a seeded range
	local p
	for p in $(seq $((20000 + $$ % 20000)) 50000); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
pc=$(port); pd=$((pc + 1))
host=$(hostname -s)
mkdir -p "$D/state" "$D/spool"
cat > "$D/slurm.conf" <<CONF
ClusterName=mmibcheck
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$pc
SlurmdPort=$pd
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge.sock
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
PlugStackConfig=/dev/null
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" > "$D/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -f "$SLURM_CONF" > "$D/slurmd.out" 2>&1 & pids+=($!)
up=
for i in $(seq 60); do
	s=$(sinfo -h -o %t 2>/dev/null)
	case $s in idle*|mix*|alloc*) up=1; break ;; esac
	sleep 0.5
done
[ -n "$up" ] || { logs >&2; skip_all "the private Slurm did not come up (node state '${s:-none}')"; }
echo "1..5"
ok 0 "a private single-node Slurm on localhost is up (slurmctld port $pc, node $host idle)"
out=$(srun -n1 -c1 --quiet hostname 2>&1); ok $([ "$out" = "$(hostname)" ]; echo $?) "srun runs a step: $out"

# the same tiny sweep through srun and locally, in the same directory in
# turn (an embedding records its model's path)
unset MAKEFLAGS MFLAGS MAKELEVEL
M=(make -C "$TOP" --no-print-directory -j2 BIN="$BIN" PIPE_DEPS=0 N=400 EPOCHS=2 STEP=1
	DATASETS=dsprites IMG=tiny IMG_tiny=mlp-flatten:32/16 FAC_dsprites=mlp:8/16 SEEDS='1 2' V=1)
for t in gen train encode probe align info; do M+=(-o "$BIN/mmib-$t"); done
"${M[@]}" alignment RUN='srun -n1 -c1 --quiet' RUNS="$D/runs" RESULTS="$D/results" EVIDENCE="$D/ev" \
	> "$D/srun.out" 2> "$D/srun.err"; rc=$?
mkdir "$D/s" && mv "$D/runs" "$D/results" "$D/s/"
[ "$rc" -ne 0 ] && { sed 's/^/# /' "$D/srun.err"; logs; }
steps=$(grep -c "^srun -n1 -c1 --quiet $BIN/mmib-" "$D/srun.out")
ok $([ "$rc" -eq 0 ] && [ "$steps" -eq 16 ]; echo $?) "alignment with RUN='srun -n1 -c1 --quiet': every tool a job step ($steps of 16)"
"${M[@]}" alignment RUNS="$D/runs" RESULTS="$D/results" EVIDENCE="$D/ev" > "$D/local.out" 2> "$D/local.err"
ok $? "the same sweep locally"
mkdir "$D/l" && mv "$D/runs" "$D/results" "$D/l/"
# models, embeddings, tables byte for byte; the summary without the times
same=0
for f in $(cd "$D/l/runs" && find . -name '*.mts' -o -name probe.tsv -o -name align.tsv | sort); do
	cmp -s "$D/l/runs/$f" "$D/s/runs/$f" || { echo "# differs: $f"; same=1; }
done
nots() { awk -F '\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "train_seconds") c = i }
	{ s = ""; for (i = 1; i <= NF; i++) if (i != c) s = s $i "\t"; print s }' "$1"; }
[ "$(nots "$D/l/results/alignment/summary.tsv")" = "$(nots "$D/s/results/alignment/summary.tsv")" ] || {
	echo "# the summaries differ"; same=1; }
ok $same "under Slurm and locally: the same data, models, embeddings, tables and summary"
exit $fail
