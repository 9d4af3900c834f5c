#!/bin/bash
# Speed and peak memory of mmib-align on random embeddings given as two
# .npy files (N x D float32, B a noisy linear map of A), at one and two
# threads, side by side with the naive numpy way (float64, the full N x N
# similarity matrices, argpartition for the k best; what a script from
# the literature does), and the largest difference between the two on the
# metrics both compute.  Skipped when /usr/bin/python3 has no numpy.
#   ALIGN_N (5000) rows, ALIGN_D (768) width, ALIGN_K (10) for -k;
#   ALIGN_KEEP=1 keeps the work directory.
# One wall-clock run each, peak RSS from /usr/bin/time when present.
set -eo pipefail
TOP=${MMIB_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BIN=${MMIB_BIN:-$TOP/bin}
PY=/usr/bin/python3
N=${ALIGN_N:-5000} D=${ALIGN_D:-768} K=${ALIGN_K:-10}
if ! $PY -c 'import numpy' 2>/dev/null; then
	echo "bench/align.sh: skipped (no numpy for $PY)"
	exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/mmib-bench.XXXXXX")
trap '[ -n "$ALIGN_KEEP" ] || rm -rf "$W"' EXIT

$PY - "$W" "$N" "$D" <<'PYEOF'
import sys
import numpy as np
w, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = np.random.default_rng(7)
A = r.standard_normal((n, d)).astype(np.float32)
B = (A @ (r.standard_normal((d, d)) / np.sqrt(d)) +
     r.standard_normal((n, d))).astype(np.float32)
np.save(w + "/a.npy", A)
np.save(w + "/b.npy", B)
PYEOF

# the naive numpy suite: prints its table (metric k value) after its time
cat > "$W/naive.py" <<'PYEOF'
import sys
import time
import numpy as np
a, b, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
A = np.load(a).astype(np.float64)
B = np.load(b).astype(np.float64)
t0 = time.perf_counter()
n = len(A)
rows = []
Ac, Bc = A - A.mean(0), B - B.mean(0)
rows.append(("cka", "-", np.linalg.norm(Ac.T @ Bc) ** 2 /
             (np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc))))


def hsic_u(X, Y):
    m = len(X)
    dk, dl = np.sum(X * X, 1), np.sum(Y * Y, 1)
    sx, sy = X.sum(0), Y.sum(0)
    t1 = np.sum((X.T @ Y) ** 2) - dk @ dl
    sk, sl = sx @ sx - dk.sum(), sy @ sy - dl.sum()
    t3 = (X @ sx - dk) @ (Y @ sy - dl)
    return (t1 + sk * sl / ((m - 1) * (m - 2)) - 2 * t3 / (m - 2)) / (m * (m - 3))


rows.append(("cka_unbiased", "-",
             hsic_u(A, B) / np.sqrt(hsic_u(A, A) * hsic_u(B, B))))


def top(X, dim=10):
    X = X - X.mean(0)
    X = X / (X.std(0, ddof=1) + 1e-8)
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    return U[:, :min(dim, int(np.sum(s > 1e-5 * s[0])))]


U1, U2 = top(A), top(B)
rows.append(("svcca", "-", np.linalg.svd(U1.T @ U2, compute_uv=False).mean()))


def knn(X, self):
    S = X @ (X if self is None else self).T
    if self is None:
        np.fill_diagonal(S, -np.inf)
    part = np.argpartition(-S, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(S, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


na, nb = knn(A, None), knn(B, None)
rows.append(("mutual_knn", k, np.mean([len(set(x) & set(y)) / k
                                       for x, y in zip(na, nb)])))
rows.append(("cycle_knn", k, np.mean([i in set(na[nb[i]].ravel())
                                      for i in range(n)])))
for name, X, Y in (("recall_img2fac", A, B), ("recall_fac2img", B, A)):
    rows.append((name, k, np.mean([i in set(r) for i, r in
                                   enumerate(knn(X, Y))])))
print("%.3f" % (time.perf_counter() - t0))
for m, kk, v in rows:
    print("%s\t%s\t%.8f" % (m, kk, v))
PYEOF

# run NAME CMD...: wall seconds and peak RSS (MB) of CMD into NAME.{s,mb}
run() {
	local name=$1 t0 t1
	shift
	t0=$(date +%s.%N)
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f '%M' -o "$W/$name.rss" "$@" > "$W/$name.out"
	else
		"$@" > "$W/$name.out"
		echo 0 > "$W/$name.rss"
	fi
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }' > "$W/$name.s"
	awk '{ printf "%.0f", $1 / 1024 }' "$W/$name.rss" > "$W/$name.mb"
}

run t1 "$BIN/mmib-align" -q -t 1 -k "$K" "$W/a.npy" "$W/b.npy"
run t2 "$BIN/mmib-align" -q -t 2 -k "$K" "$W/a.npy" "$W/b.npy"
OPENBLAS_NUM_THREADS=2 run np $PY "$W/naive.py" "$W/a.npy" "$W/b.npy" "$K"
cmp -s "$W/t1.out" "$W/t2.out" && same=yes || same=NO

echo "mmib-align on $N x $D random embeddings (two .npy), -k $K; $(nproc) CPUs:" \
    "$(awk -F: '/model name/ { print $2; exit }' /proc/cpuinfo)"
printf '%-34s %9s %9s\n' "run" "seconds" "peak MB"
printf '%-34s %9s %9s\n' "mmib-align -t 1" "$(cat "$W/t1.s")" "$(cat "$W/t1.mb")"
printf '%-34s %9s %9s\n' "mmib-align -t 2" "$(cat "$W/t2.s")" "$(cat "$W/t2.mb")"
printf '%-34s %9s %9s\n' "numpy, N x N (2 BLAS threads)" "$(cat "$W/np.s")" "$(cat "$W/np.mb")"
echo "numpy's own timer (metrics only): $(head -1 "$W/np.out") s;" \
    "-t 1 and -t 2 tables identical: $same"
# the largest difference on the metrics both compute (numpy has no cknna)
tail -n +2 "$W/np.out" | awk -F'\t' '
	NR == FNR { w[$1 "@" $2] = $3; next }
	($1 "@" $2) in w { d = $3 - w[$1 "@" $2]; if (d < 0) d = -d;
		if (d > m) { m = d; at = $1 "@" $2 } n++ }
	END { if (m == 0) printf "numpy agrees on all %d metrics to the " \
		"8 printed decimals\n", n; else printf "largest difference " \
		"to numpy over %d metrics: %.2g (%s)\n", n, m, at }' - "$W/t1.out"
