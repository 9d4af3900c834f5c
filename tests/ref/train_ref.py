#!/usr/bin/python3
"""Golden values for mmib's training engine, computed with PyTorch.

Writes small text fixtures (one tensor a line: "name count v1 v2 ...")
that tests/t-loss.c, t-optim.c and t-model.c compare against:
  tests/ref/loss.txt   InfoNCE (one- and two-way), cos and kl regularisers,
                       their gradients and d/dT
  tests/ref/optim.txt  three steps of Adam, AdamW and SGD with momentum
  tests/ref/step.mts   two tiny encoders (an mmib model file) and
  tests/ref/step.txt   one full training step of them: inputs, loss,
                       every gradient, the weights and BatchNorm
                       statistics after one Adam step
Run with Debian's python3 (torch 1.13):  /usr/bin/python3 tests/ref/train_ref.py
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


def put(out, name, t):
    v = t.detach().reshape(-1).double().tolist()
    out.write("%s %d %s\n" % (name, len(v), " ".join("%.9g" % x for x in v)))


def infonce(u, v, T, symmetric):
    S = u @ v.t() / T
    n = S.shape[0]
    tgt = torch.arange(n)
    l = F.cross_entropy(S, tgt) - math.log(n)
    if symmetric:
        l = 0.5 * (l + F.cross_entropy(S.t(), tgt) - math.log(n))
    return l


def loss_fixture():
    g = torch.Generator().manual_seed(1)
    N, D = 8, 4
    a = torch.randn(N, D, generator=g)
    b = torch.randn(N, D, generator=g)
    ak = torch.randn(N, 2 * D, generator=g) * 0.5
    bk = torch.randn(N, 2 * D, generator=g) * 0.5
    with open(os.path.join(HERE, "loss.txt"), "w") as out:
        put(out, "a", a)
        put(out, "b", b)
        put(out, "ak", ak)
        put(out, "bk", bk)
        for sym in (0, 1):
            for beta in (0.0, 0.5):
                A = a.clone().requires_grad_()
                B = b.clone().requires_grad_()
                T = torch.tensor(0.2, requires_grad=True)
                u, v = F.normalize(A, dim=1), F.normalize(B, dim=1)
                nce = infonce(u, v, T, sym)
                reg = 1 - (u * v).sum(1).mean()
                loss = nce + beta * reg
                loss.backward()
                tag = "cos.s%d.b%g" % (sym, beta)
                put(out, tag + ".loss", torch.stack([loss, nce, reg]))
                put(out, tag + ".da", A.grad)
                put(out, tag + ".db", B.grad)
                put(out, tag + ".dT", T.grad)
        # kl in evaluation form: the codes are the means (no noise)
        A = ak.clone().requires_grad_()
        B = bk.clone().requires_grad_()
        T = torch.tensor(0.2, requires_grad=True)
        mua, lva = A[:, :D], A[:, D:]
        mub, lvb = B[:, :D], B[:, D:]
        u, v = F.normalize(mua, dim=1), F.normalize(mub, dim=1)
        nce = infonce(u, v, T, 0)
        kl = 0.5 * (lvb - lva + (lva.exp() + (mua - mub) ** 2) / lvb.exp()
                    - 1).sum(1).mean()
        loss = nce + 0.3 * kl
        loss.backward()
        put(out, "kl.loss", torch.stack([loss, nce, kl]))
        put(out, "kl.da", A.grad)
        put(out, "kl.db", B.grad)
        put(out, "kl.dT", T.grad)


def optim_fixture():
    g = torch.Generator().manual_seed(2)
    n = 10
    p0 = torch.randn(n, generator=g)
    grads = [torch.randn(n, generator=g) for _ in range(3)]
    with open(os.path.join(HERE, "optim.txt"), "w") as out:
        put(out, "p0", p0)
        for i, gr in enumerate(grads):
            put(out, "g%d" % i, gr)
        makers = {
            "adam": lambda p: torch.optim.Adam([p], lr=1e-2, weight_decay=1e-2),
            "adamw": lambda p: torch.optim.AdamW([p], lr=1e-2, weight_decay=1e-1),
            "sgd": lambda p: torch.optim.SGD([p], lr=1e-1, momentum=0.9,
                                             weight_decay=1e-2),
        }
        for name, make in makers.items():
            p = p0.clone().requires_grad_()
            opt = make(p)
            for gr in grads:
                opt.zero_grad()
                p.grad = gr.clone()
                opt.step()
            put(out, name, p)


def mlp(din, hidden, dout):
    layers = []
    for h in hidden:
        layers += [torch.nn.Linear(din, h), torch.nn.BatchNorm1d(h),
                   torch.nn.ReLU()]
        din = h
    layers.append(torch.nn.Linear(din, dout))
    return torch.nn.Sequential(*layers)


def tensors(prefix, net):
    """Parameters and BatchNorm running statistics with mmib's names."""
    out = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        out["%s.net.%s" % (prefix, k)] = v.detach().clone()
    return out


def step_fixture():
    sys.path.insert(0, os.path.join(HERE, "..", "..", "formats"))
    import mts
    import numpy as np

    torch.manual_seed(3)
    N, C, H, W, D, Z = 8, 1, 6, 6, 5, 4
    img = mlp(C * H * W, [8], Z)
    fac = mlp(D, [6], Z)
    for net in (img, fac):          # non-trivial BatchNorm affine
        for m in net:
            if isinstance(m, torch.nn.BatchNorm1d):
                torch.nn.init.uniform_(m.weight, 0.5, 1.5)
                torch.nn.init.uniform_(m.bias, -0.2, 0.2)
    T = torch.nn.Parameter(torch.tensor(0.07))
    x = (torch.rand(N, C, H, W) < 0.3).float()
    p = torch.zeros(N, D)
    p[torch.arange(N), torch.randint(0, D, (N,))] = 1
    p += 0.1 * torch.randn(N, D)    # distinct rows, no ties
    before = {}
    before.update(tensors("img", img))
    before.update(tensors("fac", fac))
    meta = {"dataset": "reference", "model.image_encoder": "mlp-flatten:8",
            "model.factor_encoder": "mlp:6", "model.code_size": Z,
            "model.channels": C, "model.height": H, "model.width": W,
            "model.pair_dim": D, "model.reg": "cos",
            "model.learn_temperature": 1}
    arrays = {k: v.numpy().astype(np.float32) for k, v in before.items()}
    arrays["temperature"] = np.array([0.07], np.float32)
    mts.write(os.path.join(HERE, "step.mts"), arrays, meta=meta)

    params = list(img.parameters()) + list(fac.parameters()) + [T]
    opt = torch.optim.Adam(params, lr=1e-2, weight_decay=1e-4)
    img.train()
    fac.train()
    a = img(x.flatten(1))
    b = fac(p)
    u, v = F.normalize(a, dim=1), F.normalize(b, dim=1)
    nce = infonce(u, v, T, 0)
    reg = 1 - (u * v).sum(1).mean()
    loss = nce + 0.5 * reg
    opt.zero_grad()
    loss.backward()
    with open(os.path.join(HERE, "step.txt"), "w") as out:
        put(out, "x", x)
        put(out, "p", p)
        put(out, "loss", torch.stack([loss, nce, reg]))
        for prefix, net in (("img", img), ("fac", fac)):
            for k, prm in net.named_parameters():
                put(out, "grad.%s.net.%s" % (prefix, k), prm.grad)
        put(out, "grad.temperature", T.grad)
        opt.step()
        after = {}
        after.update(tensors("img", img))
        after.update(tensors("fac", fac))
        for k, t in after.items():
            put(out, "after." + k, t)
        put(out, "after.temperature", T)


if __name__ == "__main__":
    loss_fixture()
    optim_fixture()
    step_fixture()
