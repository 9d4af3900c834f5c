#!/usr/bin/python3
"""Reference figures for mmib-probe, computed with scikit-learn 1.2 / scipy.

    /usr/bin/python3 tests/ref/probe_ref.py            # rewrite the fixtures
    /usr/bin/python3 tests/ref/probe_ref.py --bench TRAIN TEST [OUT]
        # time sklearn's probes of every modality and factor (seconds on
        # stdout); OUT gets "modality factor nmi acc iters" rows

Fixtures (small, committed):
  tests/ref/probe_train.mts, probe_test.mts  embeddings (400 / 200 rows,
        z_img 16-d, z_fac 12-d) generated from factors through a random
        nonlinear map plus noise, so that some factors are learnable and
        some are not; factor 'const' has one class (skipped by the tool)
  tests/ref/probe_expected.tsv  per modality and factor: sklearn's test
        cross-entropy, nMI, accuracy and iteration count
  tests/ref/bad_*.mts  small broken embedding streams for the error tests:
        nan (a NaN in z_img), imgonly (no z_fac), noclasses, badclass (a
        class index >= its cardinality), nofactors (no factor metadata);
        tests/ref/tiny.mts a valid stream of the same shape
  tests/ref/probe.txt  scipy L-BFGS-B on two test functions (iterations,
        evaluations, minimiser), the standardisation of a small matrix with
        a constant column, and the objective at a random point
The probe is StandardScaler + LogisticRegression(multi_class="multinomial",
C=1, max_iter=100, tol=1e-4); CE = mean -ln p(true class) on the test set,
each term clipped at -ln(1e-15) like sklearn.metrics.log_loss.
"""
import math
import os
import sys
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
import mts  # noqa: E402

CLIP = -math.log(1e-15)
warnings.simplefilter("ignore", ConvergenceWarning)


def probe(Xtr, ytr, Xte, yte, K):
    """nMI, CE, accuracy, iterations, converged (no ConvergenceWarning) of
    one sklearn probe."""
    sc = StandardScaler().fit(Xtr)
    clf = LogisticRegression(multi_class="multinomial", C=1.0, max_iter=100,
                             tol=1e-4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        clf.fit(sc.transform(Xtr), ytr)
    conv = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    z = clf.decision_function(sc.transform(Xte))
    lp = z - logsumexp(z, axis=1, keepdims=True)
    col = {c: i for i, c in enumerate(clf.classes_)}
    ce = np.array([min(-lp[i, col[y]], CLIP) if y in col else CLIP
                   for i, y in enumerate(yte)])
    pred = clf.classes_[np.argmax(z, axis=1)]
    ce = ce.mean()
    return 1.0 - ce / math.log(K), ce, (pred == yte).mean(), int(clf.n_iter_[0]), int(conv)


def make_set(rng, n, card, A, B, C):
    c = np.stack([rng.integers(0, k, n) for k in card], 1)
    # smooth codes of the factors: what an encoder could plausibly keep
    f = []
    for j, k in enumerate(card):
        t = c[:, j] / max(k - 1, 1)
        f += [np.cos(np.pi * t), np.sin(np.pi * t)]
    v = np.stack(f, 1) * np.array([1.0, 1.0, 0.6, 0.6, 1.2, 1.2, 0.3, 0.3, 0, 0])
    h = np.tanh(v @ A + 0.4 * rng.standard_normal((n, A.shape[1])))
    zi = h @ B + 0.2 * rng.standard_normal((n, B.shape[1]))
    zf = v[:, :4] @ C + 0.3 * rng.standard_normal((n, C.shape[1]))
    zi /= np.linalg.norm(zi, axis=1, keepdims=True)
    zf /= np.linalg.norm(zf, axis=1, keepdims=True)
    return zi.astype(np.float32), zf.astype(np.float32), c.astype(np.int32)


def rosen(x):
    f = np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return f, g


def put(out, name, v):
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    out.write("%s %d %s\n" % (name, v.size, " ".join("%.17g" % x for x in v)))


def fixtures():
    rng = np.random.default_rng(20250605)
    names = ["shape", "size", "hue", "pos", "const"]
    card = [3, 6, 10, 8, 1]
    A = rng.standard_normal((10, 48)) * 1.5
    B = rng.standard_normal((48, 16))
    C = rng.standard_normal((4, 12))
    meta = {"dataset": "synthetic", "factors": ",".join(names),
            "cardinalities": ",".join(map(str, card)),
            "essence": "shape,size", "nuisance": "hue,pos,const"}
    sets = {}
    for part, n in (("train", 400), ("test", 200)):
        zi, zf, c = make_set(rng, n, card, A, B, C)
        sets[part] = (zi, zf, c)
        # two batches, to exercise concatenation
        h = n // 2 + 7
        mts.write(os.path.join(HERE, "probe_%s.mts" % part),
                  [{"z_img": zi[:h], "z_fac": zf[:h], "classes": c[:h]},
                   {"z_img": zi[h:], "z_fac": zf[h:], "classes": c[h:]}],
                  meta=dict(meta, part=part))
    with open(os.path.join(HERE, "probe_expected.tsv"), "w") as out:
        out.write("modality\tfactor\tK\tce\tnmi\tacc\titers\tconverged\n")
        for m, mi in (("img", 0), ("fac", 1)):
            for j, name in enumerate(names):
                if card[j] < 2:
                    continue
                nmi, ce, acc, it, conv = probe(sets["train"][mi], sets["train"][2][:, j],
                                         sets["test"][mi], sets["test"][2][:, j],
                                         card[j])
                out.write("%s\t%s\t%d\t%.6f\t%.6f\t%.6f\t%d\t%d\n"
                          % (m, name, card[j], ce, nmi, acc, it, conv))

    with open(os.path.join(HERE, "probe.txt"), "w") as out:
        for name, x0 in (("rosen2", [-1.2, 1.0]),
                         ("rosen6", [-1.2, 1.0, -0.5, 0.3, 1.5, -1.0])):
            r = minimize(rosen, np.array(x0), jac=True, method="L-BFGS-B")
            put(out, name + ".x0", x0)
            put(out, name + ".x", r.x)
            put(out, name + ".f", [r.fun])
            put(out, name + ".nit", [r.nit])
            put(out, name + ".nfev", [r.nfev])
            r = minimize(rosen, np.array(x0), jac=True, method="L-BFGS-B",
                         options={"maxiter": 7})
            put(out, name + ".x7", r.x)
            put(out, name + ".nfev7", [r.nfev])
        # standardisation with a constant column
        X = rng.standard_normal((9, 4)).astype(np.float32)
        X[:, 2] = 0.25
        sc = StandardScaler().fit(X)
        put(out, "scale.X", X)
        put(out, "scale.mean", sc.mean_)
        put(out, "scale.scale", sc.scale_)
        put(out, "scale.out", sc.transform(X))
        # the objective and gradient of sklearn's loss at a random point
        from sklearn._loss.loss import HalfMultinomialLoss
        from sklearn.linear_model._linear_loss import LinearModelLoss
        Xo = rng.standard_normal((30, 5)).astype(np.float32)
        yo = rng.integers(0, 4, 30)
        W = rng.standard_normal((4, 6))
        loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=4),
                               fit_intercept=True)
        f, g = loss.loss_gradient(W.ravel(order="F"), Xo.astype(np.float64),
                                  yo.astype(np.float64), None, 1.0 / 0.5, 1)
        put(out, "obj.X", Xo)
        put(out, "obj.y", yo)
        put(out, "obj.W", W)          # (K, D+1): weights, then intercept
        put(out, "obj.f", [f])        # at C = 0.5
        put(out, "obj.g", g.reshape((6, 4)).T)


def bad_fixtures():
    rng = np.random.default_rng(7)
    zi = rng.standard_normal((10, 4)).astype(np.float32)
    zf = rng.standard_normal((10, 4)).astype(np.float32)
    c = rng.integers(0, 3, (10, 2)).astype(np.int32)
    meta = {"factors": "a,b", "cardinalities": "3,3", "essence": "a"}
    nan = zi.copy()
    nan[3, 1] = np.nan
    bad = c.copy()
    bad[4, 1] = 3
    cases = {"nan": ({"z_img": nan, "z_fac": zf, "classes": c}, meta),
             "imgonly": ({"z_img": zi, "classes": c}, meta),
             "noclasses": ({"z_img": zi, "z_fac": zf}, meta),
             "badclass": ({"z_img": zi, "z_fac": zf, "classes": bad}, meta),
             "nofactors": ({"z_img": zi, "z_fac": zf, "classes": c},
                           {"dataset": "x"})}
    for name, (fields, m) in cases.items():
        mts.write(os.path.join(HERE, "bad_%s.mts" % name), fields, meta=m)
    # and a valid one of the same shape, to pair with them
    mts.write(os.path.join(HERE, "tiny.mts"),
              {"z_img": zi, "z_fac": zf, "classes": c}, meta=meta)


def bench(train, test, out=None):
    ztr = {n: mts.field(train, n) for n in ("z_img", "z_fac", "classes")}
    zte = {n: mts.field(test, n) for n in ("z_img", "z_fac", "classes")}
    card = [int(x) for x in mts.meta(train)["cardinalities"].split(",")]
    names = mts.meta(train)["factors"].split(",")
    t0 = time.perf_counter()
    rows = []
    for m in ("z_img", "z_fac"):
        for j, k in enumerate(card):
            if k < 2:
                continue
            nmi, ce, acc, it, _ = probe(ztr[m], ztr["classes"][:, j], zte[m],
                                     zte["classes"][:, j], k)
            rows.append("%s\t%s\t%.6f\t%.6f\t%d\n" % (m[2:], names[j], nmi, acc, it))
    print("%.3f" % (time.perf_counter() - t0))
    if out:
        with open(out, "w") as f:
            f.writelines(rows)


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--bench":
        bench(*sys.argv[2:])
    else:
        fixtures()
        bad_fixtures()
