#!/usr/bin/python3
"""Real-embedding fixtures for mmib-probe's agreement with scikit-learn 1.2.

    /usr/bin/python3 tests/ref/probe_real.py EMB_TRAIN EMB_TEST

takes the embeddings of a model trained by mmib (mmib-encode output: the
quick profile on dsprites, missing posX, T = 0.1), keeps the first 1,500
training and 600 test rows, writes them as tests/ref/real_train.mts and
real_test.mts, and sklearn's figures for every modality and factor as
tests/ref/real_expected.tsv (same probe as probe_ref.py).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
import mts  # noqa: E402
from probe_ref import probe  # noqa: E402

NTR, NTE = 1500, 600


def main(train, test):
    meta = mts.meta(train)
    names = meta["factors"].split(",")
    card = [int(k) for k in meta["cardinalities"].split(",")]
    keep = {k: meta[k] for k in ("dataset", "factors", "cardinalities",
                                 "essence", "nuisance")}
    sets = {}
    for part, src, n in (("train", train, NTR), ("test", test, NTE)):
        f = {k: mts.field(src, k)[:n] for k in ("z_img", "z_fac", "classes")}
        sets[part] = f
        mts.write(os.path.join(HERE, "real_%s.mts" % part), f,
                  meta=dict(keep, part=part))
    with open(os.path.join(HERE, "real_expected.tsv"), "w") as out:
        out.write("modality\tfactor\tK\tce\tnmi\tacc\titers\n")
        for m in ("z_img", "z_fac"):
            for j, name in enumerate(names):
                nmi, ce, acc, it, _ = probe(sets["train"][m], sets["train"]["classes"][:, j],
                                         sets["test"][m], sets["test"]["classes"][:, j],
                                         card[j])
                out.write("%s\t%s\t%d\t%.6f\t%.6f\t%.6f\t%d\n"
                          % (m[2:], name, card[j], ce, nmi, acc, it))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
