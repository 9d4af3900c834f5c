"""Per-metric timings of the alignment suite in numpy (float64) or
PyTorch (float32), for bench/align.sh.

    /usr/bin/python3 bench/align_bench.py np|torch a.npy b.npy k

numpy: the definitions of tests/ref/align_ref.py in their fast numpy
forms (CKA in feature space, the N x N similarity with argpartition for
the neighbours).  PyTorch: the formulas of the platonic-rep code (Huh et
al. 2024, metrics.py): full N x N kernels and topk (the centring of CKA
by row and column means instead of products with the N x N matrix H).  Prints one line per metric: name, seconds, value.
"""
import sys
import time

import numpy as np

mode, fa, fb, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
A0, B0 = np.load(fa), np.load(fb)
out = []


def timed(name, fn):
    t0 = time.perf_counter()
    v = fn()
    out.append((name, time.perf_counter() - t0, float(v)))


def hsic_u_np(X, Y):
    m = len(X)
    dk, dl = np.sum(X * X, 1), np.sum(Y * Y, 1)
    sx, sy = X.sum(0), Y.sum(0)
    t1 = np.sum((X.T @ Y) ** 2) - dk @ dl
    sk, sl = sx @ sx - dk.sum(), sy @ sy - dl.sum()
    t3 = (X @ sx - dk) @ (Y @ sy - dl)
    return (t1 + sk * sl / ((m - 1) * (m - 2)) - 2 * t3 / (m - 2)) / (m * (m - 3))


def svcca_np(A, B, dim=10):
    def top(X):
        X = X - X.mean(0)
        X = X / (X.std(0, ddof=1) + 1e-8)
        U, s, _ = np.linalg.svd(X, full_matrices=False)
        return U[:, :min(dim, int(np.sum(s > 1e-5 * s[0])))]
    return np.linalg.svd(top(A).T @ top(B), compute_uv=False).mean()


def knn_np(X, Y=None):
    S = X @ (X if Y is None else Y).T
    if Y is None:
        np.fill_diagonal(S, -np.inf)
    part = np.argpartition(-S, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(S, part, 1), axis=1, kind="stable")
    return np.take_along_axis(part, order, 1)


def cknna_np(A, B):
    n = len(A)
    K, L = A @ A.T, B @ B.T
    na, nb = knn_np(A), knn_np(B)
    M = np.zeros((n, n), bool)
    MB = np.zeros((n, n), bool)
    rows = np.arange(n)[:, None]
    M[rows, na] = True
    MB[rows, nb] = True
    M &= MB

    def hs(Km, Lm):
        m = n
        return ((Km * Lm.T).sum() + Km.sum() * Lm.sum() / ((m - 1) * (m - 2))
                - 2 * (Km.sum(0) @ Lm.sum(1)) / (m - 2)) / (m * (m - 3))
    kl = hs(K * M, L * M)
    MA = np.zeros((n, n), bool)
    MA[rows, na] = True
    return kl / np.sqrt(hs(K * MA, K * MA) * hs(L * MB, L * MB))


if mode == "np":
    A, B = A0.astype(np.float64), B0.astype(np.float64)

    def cka():
        Ac, Bc = A - A.mean(0), B - B.mean(0)
        return np.linalg.norm(Ac.T @ Bc) ** 2 / (
            np.linalg.norm(Ac.T @ Ac) * np.linalg.norm(Bc.T @ Bc))
    timed("cka", cka)
    timed("cka_unbiased", lambda: hsic_u_np(A, B) /
          np.sqrt(hsic_u_np(A, A) * hsic_u_np(B, B)))
    timed("svcca", lambda: svcca_np(A, B))

    def mknn():
        na, nb = knn_np(A), knn_np(B)
        return np.mean([len(set(x) & set(y)) / k for x, y in zip(na, nb)])
    timed("mutual_knn", mknn)

    def cyc():
        na, nb = knn_np(A), knn_np(B)
        return np.mean([i in set(na[nb[i]].ravel()) for i in range(len(A))])
    timed("cycle_knn", cyc)
    timed("cknna", lambda: cknna_np(A, B))
    timed("recall", lambda: np.mean([i in set(r) for i, r in
                                     enumerate(knn_np(A, B))]))
else:
    import torch
    torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 2)
    A, B = torch.from_numpy(A0), torch.from_numpy(B0)
    n = len(A)

    def hsic_b(K, L):
        # tr(K H L H) = sum((H K H) o L): the centred kernel by its row and
        # column means (O(N^2)), not two N x N x N products with H
        Kc = K - K.mean(0) - K.mean(1)[:, None] + K.mean()
        return (Kc * L).sum()

    def hsic_u(K, L):
        Kt = K.clone().fill_diagonal_(0)
        Lt = L.clone().fill_diagonal_(0)
        return ((Kt * Lt.T).sum() + Kt.sum() * Lt.sum() / ((n - 1) * (n - 2))
                - 2 * (Kt.sum(0) @ Lt.sum(1)) / (n - 2)) / (n * (n - 3))

    def cka_t(fn):
        K, L = A @ A.T, B @ B.T
        return fn(K, L) / torch.sqrt(fn(K, K) * fn(L, L))

    def topk(X, Y=None):
        S = X @ (X if Y is None else Y).T
        if Y is None:
            S.fill_diagonal_(-float("inf"))
        return S.topk(k, dim=1).indices

    def mknn():
        na, nb = topk(A), topk(B)
        ra = torch.zeros(n, n).scatter_(1, na, 1.0)
        rb = torch.zeros(n, n).scatter_(1, nb, 1.0)
        return ((ra * rb).sum(1) / k).mean()

    def cyc():
        na, nb = topk(A), topk(B)
        back = na[nb]                   # (n, k, k)
        return (back == torch.arange(n)[:, None, None]).any(2).any(1) \
            .float().mean()

    def cknna_t():
        K, L = A @ A.T, B @ B.T
        na, nb = topk(A), topk(B)
        MA = torch.zeros(n, n).scatter_(1, na, 1.0)
        MB = torch.zeros(n, n).scatter_(1, nb, 1.0)
        M = MA * MB
        return hsic_u(K * M, L * M) / torch.sqrt(
            hsic_u(K * MA, K * MA) * hsic_u(L * MB, L * MB))

    def svcca_t(dim=10):
        def top(X):
            X = X - X.mean(0)
            X = X / (X.std(0) + 1e-8)
            U, s, _ = torch.linalg.svd(X, full_matrices=False)
            return U[:, :dim]
        return torch.linalg.svdvals(top(A).T @ top(B)).mean()

    def recall():
        nn = topk(A, B)
        return (nn == torch.arange(n)[:, None]).any(1).float().mean()
    with torch.no_grad():
        timed("cka", lambda: cka_t(hsic_b))
        timed("cka_unbiased", lambda: cka_t(hsic_u))
        timed("svcca", svcca_t)
        timed("mutual_knn", mknn)
        timed("cycle_knn", cyc)
        timed("cknna", cknna_t)
        timed("recall", recall)
for name, s, v in out:
    print("%s\t%.3f\t%.8f" % (name, s, v))
