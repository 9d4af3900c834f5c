#!/usr/bin/python3
"""Reference figures for pipelines/corr.awk -v by=COL: the correlation of
x and y with a categorical column held fixed, computed here the textbook
way (numpy 1.24, scipy 1.10): least-squares residuals of x and y on the
stratum dummy variables, then their Pearson r; Spearman rho the same on
the ranks within each stratum (scipy.stats.rankdata, average ties).
Intervals: Fisher z with n - 3 - q degrees of freedom for q controlled
variables (q = strata - 1), Spearman with the Fieller, Hartley and
Pearson variance 1.06 / (n - 3 - q).  A stratum of one row is left out.

    /usr/bin/python3 tests/ref/corr_strata_ref.py   # rewrite the fixtures

Fixtures (small, committed):
  tests/ref/corr_strata.tsv           the table: g (stratum), x, y, with a
        stratum of one row, a row with NA, and tied values
  tests/ref/corr_strata_expected.tsv  one row per (x, y): n, strata,
        Pearson r and interval, Spearman rho and interval, the pooled
        within-stratum slope
"""
import math
import os

import numpy as np
from scipy.stats import rankdata

HERE = os.path.dirname(os.path.abspath(__file__))


def table():
    rng = np.random.default_rng(20261130)
    rows = []
    # four strata of 6, 5, 4 and 1 rows: the stratum shifts both x and y
    # (a between-stratum correlation), within it y falls with x
    for g, m in ((1, 6), (2, 5), (3, 4), (4, 1)):
        for _ in range(m):
            x = round(float(0.5 * g + rng.normal()), 3)
            y = round(float(0.3 * g - 0.4 * x + 0.3 * rng.normal()), 3)
            rows.append((g, x, y))
    rows[3] = (rows[3][0], rows[1][1], rows[3][2])  # a tie in x
    rows.append((2, "NA", 0.5))                       # skipped
    return rows


def resid(v, g):
    levels = sorted(set(g))
    D = np.array([[1.0 if gi == lv else 0.0 for lv in levels] for gi in g])
    beta, *_ = np.linalg.lstsq(D, v, rcond=None)
    return v - D @ beta


def fisher(r, var):
    z = math.atanh(r)
    return math.tanh(z - 1.96 * math.sqrt(var)), \
        math.tanh(z + 1.96 * math.sqrt(var))


def main():
    rows = table()
    with open(os.path.join(HERE, "corr_strata.tsv"), "w") as f:
        f.write("g\tx\ty\n")
        for g, x, y in rows:
            f.write(f"{g}\t{x}\t{y}\n")
    use = [(g, x, y) for g, x, y in rows if x != "NA" and y != "NA"]
    size = {}
    for g, _, _ in use:
        size[g] = size.get(g, 0) + 1
    use = [r for r in use if size[r[0]] >= 2]
    g = [r[0] for r in use]
    x = np.array([r[1] for r in use])
    y = np.array([r[2] for r in use])
    n, k = len(use), len(set(g))
    df = n - 3 - (k - 1)
    rx, ry = resid(x, g), resid(y, g)
    r = float(np.corrcoef(rx, ry)[0, 1])
    slope = float(rx @ ry / (rx @ rx))
    # ranks within each stratum
    qx, qy = np.empty(n), np.empty(n)
    for lv in set(g):
        idx = [i for i in range(n) if g[i] == lv]
        qx[idx] = rankdata(x[idx])
        qy[idx] = rankdata(y[idx])
    rho = float(np.corrcoef(resid(qx, g), resid(qy, g))[0, 1])
    plo, phi = fisher(r, 1 / df)
    slo, shi = fisher(rho, 1.06 / df)
    with open(os.path.join(HERE, "corr_strata_expected.tsv"), "w") as f:
        f.write("n\tstrata\tpearson\tpearson_lo\tpearson_hi\tspearman\t"
                "spearman_lo\tspearman_hi\tslope\n")
        f.write("\t".join(f"{v:.6f}" if isinstance(v, float) else str(v)
                          for v in (n, k, r, plo, phi, rho, slo, shi, slope))
                + "\n")


if __name__ == "__main__":
    main()
