#!/usr/bin/python3
"""Reference values of mmib-align's cka_rbf: Kornblith et al. 2019's code
("Similarity of neural network representations revisited", the Colab's
gram_rbf, center_gram and cka with debiased=False), literally, in numpy.

    /usr/bin/python3 tests/ref/align_rbf_ref.py    # rewrite the fixture

The bandwidth is `threshold` (mmib-align --rbf-sigma) times the median
distance: the kernel is exp(-d^2 / (2 threshold^2 median(d^2))), the
median taken over the whole N x N matrix of squared distances.
Fixture: tests/ref/align_rbf_expected.tsv (name, sigma, value) on the
arrays of align_codes.mts and align_cont.mts, and on a 100 x 768 pair made
here from a seed (written as align_rbf_{a,b}.npy, float32), for which
align_d768_expected.tsv holds every other metric (align_ref.py's formulas).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
import mts  # noqa: E402
from align_ref import metrics  # noqa: E402


def gram_rbf(x, threshold=1.0):
    dot_products = x.dot(x.T)
    sq_norms = np.diag(dot_products)
    sq_distances = -2 * dot_products + sq_norms[:, None] + sq_norms[None, :]
    sq_median_distance = np.median(sq_distances)
    return np.exp(-sq_distances / (2 * threshold ** 2 * sq_median_distance))


def center_gram(gram):
    gram = gram.copy()
    means = np.mean(gram, 0, dtype=np.float64)
    means -= np.mean(means) / 2
    gram -= means[:, None]
    gram -= means[None, :]
    return gram


def cka(gram_x, gram_y):
    gram_x = center_gram(gram_x)
    gram_y = center_gram(gram_y)
    scaled_hsic = gram_x.ravel().dot(gram_y.ravel())
    return scaled_hsic / (np.linalg.norm(gram_x) * np.linalg.norm(gram_y))


def main():
    sets = []
    for name in ("codes", "cont"):
        p = os.path.join(HERE, "align_%s.mts" % name)
        sets.append((name, mts.field(p, "z_img"), mts.field(p, "z_fac")))
    rng = np.random.default_rng(768)
    a = rng.standard_normal((100, 768)).astype(np.float32)
    b = (np.tanh(a @ rng.standard_normal((768, 768)) / 28)
         + 0.5 * rng.standard_normal((100, 768))).astype(np.float32)
    np.save(os.path.join(HERE, "align_rbf_a.npy"), a)
    np.save(os.path.join(HERE, "align_rbf_b.npy"), b)
    sets.append(("d768", a, b))
    with open(os.path.join(HERE, "align_d768_expected.tsv"), "w") as out:
        out.write("metric\tk\tvalue\n")
        for m, k, v in metrics(a, b):
            out.write("%s\t%s\t%.10f\n" % (m, k, v))
    with open(os.path.join(HERE, "align_rbf_expected.tsv"), "w") as out:
        out.write("set\tsigma\tcka_rbf\n")
        for name, zi, zf in sets:
            A, B = zi.astype(np.float64), zf.astype(np.float64)
            for s in (1.0, 0.5, 2.0):
                v = cka(gram_rbf(A, s), gram_rbf(B, s))
                out.write("%s\t%g\t%.10f\n" % (name, s, v))


if __name__ == "__main__":
    main()
