#!/usr/bin/python3
"""Reference values for mmib-align: the published formulas, literally, in numpy.

    /usr/bin/python3 tests/ref/align_ref.py              # rewrite the fixtures
    /usr/bin/python3 tests/ref/align_ref.py --bench EMB  # time numpy on EMB

Each metric is computed the expensive, obvious way (N x N kernels, the
centring matrix H, dense neighbour masks, a full SVD and textbook CCA), so
that the feature-space and sparse forms in lib/align.c are checked against
the definitions (Kornblith et al. 2019 for CKA; Song et al. 2012 for the
unbiased HSIC; Huh et al. 2024, "The Platonic representation hypothesis",
for mutual/cycle kNN, CKNNA and SVCCA; recall@k, mean paired cosine and
the modality gap as usual).  The 1e-6 / random-noise guards of the Platonic
code are left out; SVCCA uses an exact SVD and exact CCA.

Neighbours: ranked by inner product, then lower index; rows with identical
values are exact ties (their inner products come from one column).

Fixtures: tests/ref/align_codes.mts (z_fac built from 12 factor codes, so
full of exact ties; 300 rows, 16-d both) and align_cont.mts (continuous,
z_img 16-d, z_fac 10-d), each with align_<name>_expected.tsv.
"""
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
import mts  # noqa: E402


def reps(X):
    """Index of the first row equal to each row."""
    first, out = {}, np.empty(len(X), np.int64)
    for i, r in enumerate(X):
        key = (r + np.float32(0)).tobytes()
        out[i] = first.setdefault(key, i)
    return out


def knn(X, k):
    X64 = X.astype(np.float64)
    S = (X64 @ X64.T)[:, reps(X)]
    np.fill_diagonal(S, -np.inf)
    idx = np.broadcast_to(np.arange(len(X)), S.shape)
    return np.lexsort((idx, -S), axis=1)[:, :k]


def hsic_biased(K, L):
    n = K.shape[0]
    H = np.eye(n) - 1.0 / n
    return np.trace(K @ H @ L @ H)


def hsic_unbiased(K, L):
    m = K.shape[0]
    Kt = K.copy()
    Lt = L.copy()
    np.fill_diagonal(Kt, 0)
    np.fill_diagonal(Lt, 0)
    return ((Kt * Lt.T).sum() + Kt.sum() * Lt.sum() / ((m - 1) * (m - 2))
            - 2 * (Kt @ Lt).sum() / (m - 2)) / (m * (m - 3))


def cka(A, B, fn):
    K, L = A @ A.T, B @ B.T
    return fn(K, L) / np.sqrt(fn(K, K) * fn(L, L))


def mutual_knn(na, nb):
    k = na.shape[1]
    return np.mean([len(set(a) & set(b)) / k for a, b in zip(na, nb)])


def cycle_knn(na, nb):
    return np.mean([i in set(na[nb[i]].ravel()) for i in range(len(na))])


def cknna(A, B, na, nb):
    n = len(A)
    K, L = A @ A.T, B @ B.T

    def mask(nn):
        M = np.zeros((n, n))
        M[np.arange(n)[:, None], nn] = 1
        return M
    MA, MB = mask(na), mask(nb)
    M = MA * MB
    return hsic_unbiased(M * K, M * L) / np.sqrt(
        hsic_unbiased(MA * K, MA * K) * hsic_unbiased(MB * L, MB * L))


def svcca(A, B, dim=10):
    def top(X):
        X = X - X.mean(0)
        X = X / (X.std(0, ddof=1) + 1e-8)
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        q = min(dim, int(np.sum(s > 1e-5 * s[0])))
        return U[:, :q]
    U1, U2 = top(A), top(B)
    U1 = U1 - U1.mean(0)
    U2 = U2 - U2.mean(0)
    S11, S22, S12 = U1.T @ U1, U2.T @ U2, U1.T @ U2

    def isqrt(S):
        w, V = np.linalg.eigh(S)
        return V @ np.diag(w ** -0.5) @ V.T
    rho = np.linalg.svd(isqrt(S11) @ S12 @ isqrt(S22), compute_uv=False)
    return rho[:min(U1.shape[1], U2.shape[1])].mean()


def recall(Q, C, Cf32, k):
    S = (Q @ C.T)[:, reps(Cf32)]
    n = len(Q)
    hits = 0
    for i in range(n):
        t = S[i, i]
        rank = np.sum(S[i] > t) + np.sum(S[i, :i] == t)
        hits += rank < k
    return hits / n


def metrics(zi, zf, ks=(1, 5, 10)):
    A, B = zi.astype(np.float64), zf.astype(np.float64)
    rows = [("cka", "-", cka(A, B, hsic_biased)),
            ("cka_unbiased", "-", cka(A, B, hsic_unbiased)),
            ("svcca", "-", svcca(A, B))]
    same = A.shape[1] == B.shape[1]
    if same:
        cos = np.sum(A * B, 1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)
        rows += [("cosine", "-", cos.mean()),
                 ("gap", "-", np.linalg.norm(A.mean(0) - B.mean(0)))]
    for k in ks:
        na, nb = knn(zi, k), knn(zf, k)
        rows += [("mutual_knn", k, mutual_knn(na, nb)),
                 ("cycle_knn", k, cycle_knn(na, nb))]
        if k >= 2:
            rows.append(("cknna", k, cknna(A, B, na, nb)))
        if same:
            rows += [("recall_img2fac", k, recall(A, B, zf, k)),
                     ("recall_fac2img", k, recall(B, A, zi, k))]
    return rows


def fixtures():
    rng = np.random.default_rng(1905)
    n = 300
    c = np.stack([rng.integers(0, 3, n), rng.integers(0, 4, n)], 1)
    codes = rng.standard_normal((12, 16))
    zf = codes[c[:, 0] * 4 + c[:, 1]]
    zi = zf @ rng.standard_normal((16, 16)) * 0.4 + rng.standard_normal((n, 16))
    sets = {"codes": (zi, zf, c, "a,b", "3,4")}
    ci = rng.integers(0, 5, (n, 1))
    x = rng.standard_normal((n, 6))
    zi2 = np.tanh(x @ rng.standard_normal((6, 16))) + 0.3 * rng.standard_normal((n, 16))
    zf2 = x @ rng.standard_normal((6, 10)) + 0.8 * rng.standard_normal((n, 10))
    sets["cont"] = (zi2, zf2, ci, "a", "5")
    for name, (zi, zf, c, fac, card) in sets.items():
        zi = (zi / np.linalg.norm(zi, axis=1, keepdims=True)).astype(np.float32)
        zf = (zf / np.linalg.norm(zf, axis=1, keepdims=True)).astype(np.float32)
        mts.write(os.path.join(HERE, "align_%s.mts" % name),
                  [{"z_img": zi, "z_fac": zf, "classes": c.astype(np.int32)}],
                  meta={"dataset": "synthetic", "factors": fac,
                        "cardinalities": card, "essence": fac.split(",")[0]})
        with open(os.path.join(HERE, "align_%s_expected.tsv" % name), "w") as out:
            out.write("metric\tk\tvalue\n")
            for m, k, v in metrics(zi, zf):
                out.write("%s\t%s\t%.10f\n" % (m, k, v))


def hsic_unbiased_fs(A, B):
    """The unbiased HSIC in feature space (what a fast numpy user writes)."""
    m = len(A)
    dk, dl = np.sum(A * A, 1), np.sum(B * B, 1)
    sa, sb = A.sum(0), B.sum(0)
    t1 = np.sum((A.T @ B) ** 2) - dk @ dl
    sk, sl = sa @ sa - dk.sum(), sb @ sb - dl.sum()
    t3 = (A @ sa - dk) @ (B @ sb - dl)
    return (t1 + sk * sl / ((m - 1) * (m - 2)) - 2 * t3 / (m - 2)) / (m * (m - 3))


def bench(path):
    zi, zf = mts.field(path, "z_img"), mts.field(path, "z_fac")
    A, B = zi.astype(np.float64), zf.astype(np.float64)
    t0 = time.perf_counter()
    # the fast numpy forms of the protocol's four metrics: feature-space
    # CKA (biased and unbiased) and mutual kNN at k = 1 and 5
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    np.linalg.norm(Ac.T @ Bc) ** 2 / (np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc))
    hsic_unbiased_fs(A, B) / np.sqrt(hsic_unbiased_fs(A, A) * hsic_unbiased_fs(B, B))
    for k in (1, 5):
        nn = []
        for X in (A, B):
            S = X @ X.T
            np.fill_diagonal(S, -np.inf)
            part = np.argpartition(-S, k, axis=1)[:, :k]
            order = np.argsort(-np.take_along_axis(S, part, 1), axis=1)
            nn.append(np.take_along_axis(part, order, 1))
        mutual_knn(*nn)
    print("%.3f" % (time.perf_counter() - t0))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bench":
        bench(sys.argv[2])
    else:
        fixtures()
