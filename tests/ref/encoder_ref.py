#!/usr/bin/python3
"""Golden values for tests/t-encoder.c from PyTorch (run with /usr/bin/python3,
torch 1.13): builds tiny versions of mmib's encoders with the same tensor
names, sets random weights and BatchNorm buffers, runs one train-mode forward
and backward of sum(out * R) and one eval-mode forward, and writes for each
case under tests/ref/fixtures/:

  encoder-<case>-names.txt  "name count" per state_dict tensor, in order
  encoder-<case>-state.npy  every tensor before the step, concatenated
  encoder-<case>-x.npy      input (N, C, H, W)
  encoder-<case>-R.npy      projection of the output (N, OUT)
  encoder-<case>-ytrain.npy train-mode output
  encoder-<case>-grads.npy  parameter gradients of sum(ytrain * R), concatenated
  encoder-<case>-after.npy  the BatchNorm running statistics after the step
                            (empty for the ViT, which has none)
  encoder-<case>-yeval.npy  eval-mode output after the step

The ViT is vit_ref.py's (torchvision's VisionTransformer rebuilt from
torch.nn parts, same state_dict).

Usage: encoder_ref.py [OUTDIR]
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vit_ref import ViT  # noqa: E402


def mlp(din, hidden, out):
    layers = []
    for h in hidden:
        layers += [nn.Linear(din, h), nn.BatchNorm1d(h), nn.ReLU()]
        din = h
    layers.append(nn.Linear(din, out))
    m = nn.Module()
    m.net = nn.Sequential(*layers)
    m.forward = lambda x: m.net(x.flatten(1))
    return m


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, (cout - cin) // 2

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        sc = x
        if self.stride != 1 or self.pad:
            # option A: subsample, zero channels on both sides
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + sc)


class ResNet(nn.Module):
    def __init__(self, depth, cin, out):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        c = 16
        for s in range(3):
            blocks = []
            for j in range(n):
                blocks.append(Block(c, 16 << s, 2 if s and not j else 1))
                c = 16 << s
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.linear = nn.Linear(64, out)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(out.mean(dim=(2, 3)))


def tensors(m):
    return [(k, v) for k, v in m.state_dict().items()
            if not k.endswith("num_batches_tracked")]


def flat(ts):
    parts = [v.detach().numpy().astype(np.float32).ravel() for v in ts]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def case(outdir, name, model, x, out):
    g = torch.Generator().manual_seed(len(name))
    with torch.no_grad():
        for k, v in tensors(model):
            if k.endswith("running_var"):
                v.copy_(0.5 + torch.rand(v.shape, generator=g))
            elif k.endswith("running_mean"):
                v.copy_(0.2 * torch.randn(v.shape, generator=g))
            elif v.dim() == 1 and k.endswith("weight"):
                v.copy_(1 + 0.3 * torch.randn(v.shape, generator=g))
            elif v.dim() == 1:
                v.copy_(0.2 * torch.randn(v.shape, generator=g))
            else:
                fan_in = v[0].numel()
                v.copy_(torch.randn(v.shape, generator=g) *
                        (2.0 / fan_in) ** 0.5)
    R = torch.randn(x.shape[0], out, generator=g)
    path = lambda what: os.path.join(outdir, "encoder-%s-%s" % (name, what))
    with open(path("names.txt"), "w") as f:
        for k, v in tensors(model):
            f.write("%s %d\n" % (k, v.numel()))
    np.save(path("state.npy"), flat(v for _, v in tensors(model)))
    np.save(path("x.npy"), x.numpy().astype(np.float32))
    np.save(path("R.npy"), R.numpy().astype(np.float32))
    model.train()
    y = model(x)
    (y * R).sum().backward()
    np.save(path("ytrain.npy"), y.detach().numpy().astype(np.float32))
    np.save(path("grads.npy"), flat(p.grad for p in model.parameters()))
    np.save(path("after.npy"), flat(v for k, v in tensors(model)
                                    if "running_" in k))
    model.eval()
    with torch.no_grad():
        np.save(path("yeval.npy"), model(x).numpy().astype(np.float32))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # factor encoder: mlp:8,8/4 on one-hot-like D = 6, batch 5
    x = torch.rand(5, 6)
    case(outdir, "mlp", mlp(6, [8, 8], 4), x, 4)
    # image mlp: mlp-flatten:16/8 on 1x8x8 binary images, batch 4
    x = (torch.rand(4, 1, 8, 8) > 0.5).float()
    case(outdir, "flat", mlp(64, [16], 8), x, 8)
    # resnet8/8 on 3x16x16 raw 0..255 values, batch 3
    x = torch.randint(0, 256, (3, 3, 16, 16)).float()
    case(outdir, "resnet8", ResNet(8, 3, 8), x, 8)
    # vit:patch=4,dim=12,depth=2,heads=3,mlp=20/6 on 1x8x12 binary
    # images (6 patches + class token), batch 3: with a head
    x = (torch.rand(3, 1, 8, 12) > 0.5).float()
    case(outdir, "vit", ViT(1, 8, 12, 4, 12, 2, 3, 20, 6), x, 6)


if __name__ == "__main__":
    main()
