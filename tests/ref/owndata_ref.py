#!/usr/bin/python3
"""Reference figures for mmib-probe on a dataset with non-uniform marginals
(a user's own dataset, marginals=measured), with scikit-learn 1.2.

    /usr/bin/python3 tests/ref/owndata_ref.py      # rewrite the fixtures

Fixtures (small, committed):
  tests/ref/owndata_train.mts, owndata_test.mts  embeddings (500 / 250 rows,
        z_img 16-d, z_fac 12-d) of three factors whose classes are drawn
        with unequal probabilities (K = 4, 3, 5), metadata
        marginals=measured as mmib-gen writes it for a generic dataset
  tests/ref/owndata_expected.tsv  per modality and factor: the empirical
        entropy H of the test labels (nats), sklearn's test cross-entropy,
        nMI = (H - CE) / H, accuracy and iterations
The probe is that of probe_ref.py (StandardScaler + multinomial
LogisticRegression, C=1, max_iter=100, tol=1e-4); only the denominator
changes: H = -sum_k p_k ln p_k over the test labels instead of ln K.
"""
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
import mts  # noqa: E402
from probe_ref import probe  # noqa: E402


def entropy(y, K):
    p = np.bincount(y, minlength=K) / len(y)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def make_set(rng, n, probs, A, B, C):
    c = np.stack([rng.choice(len(p), n, p=p) for p in probs], 1)
    f = []
    for j, p in enumerate(probs):
        t = c[:, j] / (len(p) - 1)
        f += [np.cos(np.pi * t), np.sin(np.pi * t)]
    v = np.stack(f, 1) * np.array([1.0, 1.0, 0.7, 0.7, 0.3, 0.3])
    h = np.tanh(v @ A + 0.4 * rng.standard_normal((n, A.shape[1])))
    zi = h @ B + 0.3 * rng.standard_normal((n, B.shape[1]))
    zf = v[:, :4] @ C + 0.3 * rng.standard_normal((n, C.shape[1]))
    zi /= np.linalg.norm(zi, axis=1, keepdims=True)
    zf /= np.linalg.norm(zf, axis=1, keepdims=True)
    return zi.astype(np.float32), zf.astype(np.float32), c.astype(np.int32)


def main():
    rng = np.random.default_rng(20250613)
    names = ["color", "size", "pos"]
    probs = [[0.5, 0.25, 0.15, 0.1], [0.6, 0.3, 0.1],
             [0.1, 0.3, 0.2, 0.25, 0.15]]
    card = [len(p) for p in probs]
    A = rng.standard_normal((6, 40)) * 1.5
    B = rng.standard_normal((40, 16))
    C = rng.standard_normal((4, 12))
    meta = {"dataset": "owndata", "factors": ",".join(names),
            "cardinalities": ",".join(map(str, card)),
            "essence": "color,size", "nuisance": "pos",
            "marginals": "measured"}
    sets = {}
    for part, n in (("train", 500), ("test", 250)):
        zi, zf, c = make_set(rng, n, probs, A, B, C)
        sets[part] = (zi, zf, c)
        mts.write(os.path.join(HERE, "owndata_%s.mts" % part),
                  {"z_img": zi, "z_fac": zf, "classes": c},
                  meta=dict(meta, part=part))
    with open(os.path.join(HERE, "owndata_expected.tsv"), "w") as out:
        out.write("modality\tfactor\tK\tH\tce\tnmi\tacc\titers\n")
        for m, mi in (("img", 0), ("fac", 1)):
            for j, name in enumerate(names):
                yte = sets["test"][2][:, j]
                H = entropy(yte, card[j])
                nmi_k, ce, acc, it = probe(sets["train"][mi],
                                           sets["train"][2][:, j],
                                           sets["test"][mi], yte, card[j])
                out.write("%s\t%s\t%d\t%.6f\t%.6f\t%.6f\t%.6f\t%d\n"
                          % (m, name, card[j], H, ce, (H - ce) / H, acc, it))


if __name__ == "__main__":
    main()
