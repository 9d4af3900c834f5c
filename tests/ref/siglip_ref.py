#!/usr/bin/python3
"""Golden values for mmib's SigLIP objective, computed with PyTorch.

Writes tests/ref/siglip.txt (one tensor a line: "name count v1 v2 ...")
that tests/t-loss.c compares against: the pairwise sigmoid loss of
Zhai et al. 2023, "Sigmoid loss for language image pre-training",
    z_ij = exp(t') cos(a_i, b_j) + b,  y_ij = +1 (i = j) or -1,
    loss = -(1/N) sum_ij log sigmoid(y_ij z_ij) + beta R,
written as the paper's pseudo-code writes it (logsigmoid of the signed
logits, summed, over the batch size), on the raw encoder outputs a, b of
an 8-pair batch, with the cos regulariser (beta 0 and 0.5) and the kl one
(beta 0.3, evaluation form: the codes are the means).  Values and
gradients (d/da, d/db, d/dt', d/db) are computed in float64 from the
float32 inputs, so that mmib's float codes with double reductions are
judged to about 1e-6.  Two settings of the scalars: the paper's start
(t' = ln 10, b = -10) and a middle one where both classes of pairs
matter (t' = ln 2, b = -0.5).

Run with Debian's python3 (torch 1.13):  /usr/bin/python3 tests/ref/siglip_ref.py
"""
import math
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


def put(out, name, t):
    v = t.detach().reshape(-1).double().tolist()
    out.write("%s %d %s\n" % (name, len(v), " ".join("%.17g" % x for x in v)))


def siglip(u, v, tp, bias):
    z = tp.exp() * (u @ v.t()) + bias
    n = z.shape[0]
    y = 2 * torch.eye(n, dtype=z.dtype) - 1
    return -F.logsigmoid(y * z).sum() / n


def main():
    g = torch.Generator().manual_seed(11)
    N, D = 8, 4
    a = torch.randn(N, D, generator=g)
    b = torch.randn(N, D, generator=g)
    b[:4] += a[:4]                  # some pairs close, some not
    ak = torch.randn(N, 2 * D, generator=g) * 0.5
    bk = torch.randn(N, 2 * D, generator=g) * 0.5
    bk[:4, :D] += ak[:4, :D]
    # t' as the model stores it, a float32
    f32 = lambda x: float(torch.tensor(x, dtype=torch.float32))
    settings = (("init", f32(math.log(10.0)), -10.0),
                ("mid", f32(math.log(2.0)), -0.5))
    with open(os.path.join(HERE, "siglip.txt"), "w") as out:
        put(out, "a", a)
        put(out, "b", b)
        put(out, "ak", ak)
        put(out, "bk", bk)
        for name, tp0, b0 in settings:
            put(out, name + ".scalars",
                torch.tensor([tp0, b0], dtype=torch.float64))
            for reg, beta in (("cos", 0.0), ("cos", 0.5), ("kl", 0.3)):
                src_a, src_b = (a, b) if reg == "cos" else (ak, bk)
                A = src_a.double().requires_grad_()
                B = src_b.double().requires_grad_()
                tp = torch.tensor(tp0, dtype=torch.float64,
                                  requires_grad=True)
                bias = torch.tensor(b0, dtype=torch.float64,
                                    requires_grad=True)
                if reg == "cos":
                    u, v = F.normalize(A, dim=1), F.normalize(B, dim=1)
                    r = 1 - (u * v).sum(1).mean()
                else:
                    mua, lva = A[:, :D], A[:, D:]
                    mub, lvb = B[:, :D], B[:, D:]
                    u, v = F.normalize(mua, dim=1), F.normalize(mub, dim=1)
                    r = 0.5 * (lvb - lva + (lva.exp() + (mua - mub) ** 2)
                               / lvb.exp() - 1).sum(1).mean()
                sg = siglip(u, v, tp, bias)
                loss = sg + beta * r
                loss.backward()
                tag = "%s.%s.b%g" % (name, reg, beta)
                put(out, tag + ".loss", torch.stack([loss, sg, r]))
                put(out, tag + ".da", A.grad)
                put(out, tag + ".db", B.grad)
                put(out, tag + ".dscal", torch.stack([tp.grad, bias.grad]))


if __name__ == "__main__":
    main()
