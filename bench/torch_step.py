#!/usr/bin/python3
"""PyTorch reference for bench/train.sh: one training step (forward of both
encoders, InfoNCE, backward, Adam) and the evaluation forward, at batch B,
for the configurations that mmib's b-train measures.

    torch_step.py [-p fp32|bf16] [-t threads] [-b batch] [-s seconds]
                  C PAIR_DIM IMG_SPEC FAC_SPEC

prints one TSV row:  threads  train_samples_s  encode_samples_s  isa
With -p bf16 the encoders run under torch.autocast("cpu",
dtype=torch.bfloat16) (the loss in fp32); isa is what oneDNN reports
(ONEDNN_VERBOSE, asked in a child process), with ATen's CPU capability
(torch.__config__.show()) before it for fp32.
Specs as mmib's: mlp-flatten:H1,H2,.../OUT, resnetN, mlp:H1,H2,...,
vit:patch=P,dim=D,depth=L,heads=H,mlp=M/OUT (the ViT of
tests/ref/vit_ref.py: torchvision's, rebuilt from torch.nn parts)
"""
import argparse
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp(din, hidden, dout):
    layers = []
    for h in hidden:
        layers += [nn.Linear(din, h), nn.BatchNorm1d(h), nn.ReLU()]
        din = h
    layers.append(nn.Linear(din, dout))
    return nn.Sequential(*layers)


class Block(nn.Module):
    """CIFAR BasicBlock with the option-A shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = (cout - cin) // 2 if stride != 1 or cin != cout else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.pad is None:
            sc = x
        else:
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNet(nn.Module):
    def __init__(self, depth, cin, dout):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, c = [], 16
        for s, w in enumerate((16, 32, 64)):
            for j in range(n):
                blocks.append(Block(c, w, 2 if s > 0 and j == 0 else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, dout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))


def vit(base, cin, out):
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "tests", "ref"))
    from vit_ref import ViT
    cfg = {"patch": 8, "dim": 64, "depth": 2, "heads": 2, "mlp": 128}
    for kv in filter(None, base[4:].split(",")):
        k, _, v = kv.partition("=")
        cfg[k] = int(v)
    return ViT(cin, 64, 64, cfg["patch"], cfg["dim"], cfg["depth"],
               cfg["heads"], cfg["mlp"], out)


def build(spec, cin, din, code):
    base, _, out = spec.partition("/")
    out = int(out) if out else code
    if base.startswith("vit"):
        return vit(base, cin, out), out
    if base.startswith("resnet"):
        return ResNet(int(base[6:]), cin, out), out
    kind, _, hid = base.partition(":")
    hidden = [int(h) for h in hid.split(",")] if hid else []
    if kind == "mlp-flatten":
        return nn.Sequential(nn.Flatten(), mlp(din, hidden, out)), out
    return mlp(din, hidden, out), out


def isa(bf16):
    """The instruction sets the products run on, as torch reports them:
    oneDNN's (ONEDNN_VERBOSE of a small convolution in a child process,
    in the same precision) and, for fp32, ATen's CPU capability as well
    (its own kernels; the Linear layers go to the BLAS)."""
    code = ("import torch\n"
            "c = torch.nn.Conv2d(16, 16, 3)\n"
            "with torch.autocast('cpu', dtype=torch.bfloat16, enabled=%s):\n"
            "    c(torch.ones(8, 16, 32, 32))\n" % bf16)
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True).stdout
    dnn = "oneDNN:?"
    for line in out.splitlines():
        if ",isa:" in line:
            dnn = "oneDNN:" + line.split(",isa:")[1].strip()
            break
    if bf16:
        return dnn
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return "ATen:" + line.split(":")[1].strip() + "," + dnn
    return "ATen:?," + dnn


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("-t", type=int, default=1)
    ap.add_argument("-b", type=int, default=128)
    ap.add_argument("-s", type=float, default=3.0)
    ap.add_argument("C", type=int)
    ap.add_argument("D", type=int)
    ap.add_argument("img")
    ap.add_argument("fac")
    a = ap.parse_args()
    torch.set_num_threads(a.t)
    torch.manual_seed(1)
    B = a.b
    img, code = build(a.img, a.C, a.C * 64 * 64, 64)
    fac, _ = build(a.fac, 1, a.D, code)
    T = nn.Parameter(torch.tensor(0.07))
    opt = torch.optim.Adam(list(img.parameters()) + list(fac.parameters())
                           + [T], lr=1e-3)
    if a.C == 1:
        x = torch.randint(0, 2, (B, 1, 64, 64)).float()
    else:
        x = torch.randint(0, 256, (B, a.C, 64, 64)).float()
    p = torch.zeros(B, a.D)
    p[torch.arange(B), torch.randint(0, a.D, (B,))] = 1
    tgt = torch.arange(B)

    bf16 = a.p == "bf16"

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            zi, zf = img(x), fac(p)
        u = F.normalize(zi.float(), dim=1)
        v = F.normalize(zf.float(), dim=1)
        loss = F.cross_entropy(u @ v.t() / T, tgt) - math.log(B)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        t = time.perf_counter() - t0
        if t >= a.s and n >= 3:
            break
    train = n * B / t
    img.eval()
    fac.eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                         enabled=bf16):
        n, t0 = 0, time.perf_counter()
        while True:
            F.normalize(img(x).float(), dim=1)
            F.normalize(fac(p).float(), dim=1)
            n += 1
            t = time.perf_counter() - t0
            if t >= a.s / 2 and n >= 3:
                break
    print("%d\t%.1f\t%.1f\t%s" % (a.t, train, n * B / t, isa(bf16)))


if __name__ == "__main__":
    main()
