#!/usr/bin/python3
"""Golden values for the Vision Transformer of tests/t-vit.c from PyTorch
(run with /usr/bin/python3, torch 1.13).

torchvision is not needed: the model below is torchvision's
VisionTransformer rebuilt from torch.nn parts with the same module tree, so
the same state_dict names and order (conv_proj, class_token,
encoder.pos_embedding, encoder.layers.encoder_layer_<i>.{ln_1,
self_attention (nn.MultiheadAttention, batch_first), ln_2, mlp.0, mlp.3},
encoder.ln, heads.head), LayerNorm eps 1e-6, nn.GELU (erf), no dropout;
output = encoder.ln of the class token, then heads.head when the output
width differs from the model width.

Each case sets random weights, runs a forward of a random batch and a
backward of sum(y * R), then one Adam step (lr 1e-3), and writes under
tests/ref/fixtures/:

  vit-<case>-names.txt  "name count" per state_dict tensor, in order
  vit-<case>-state.npy  every tensor before the step, concatenated
  vit-<case>-x.npy      input (N, C, H, W)
  vit-<case>-R.npy      projection of the output (N, OUT)
  vit-<case>-y.npy      output
  vit-<case>-grads.npy  parameter gradients of sum(y * R), concatenated
  vit-<case>-adam.npy   parameters after one Adam step, concatenated

Usage: vit_ref.py [OUTDIR]
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn


class EncoderBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads,
                                                    batch_first=True)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(),
                                 nn.Dropout(0.0), nn.Linear(mlp, dim),
                                 nn.Dropout(0.0))

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    def __init__(self, T, dim, depth, heads, mlp):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.zeros(1, T, dim))
        self.layers = nn.Sequential()
        for i in range(depth):
            self.layers.add_module("encoder_layer_%d" % i,
                                   EncoderBlock(dim, heads, mlp))
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(x + self.pos_embedding))


class ViT(nn.Module):
    def __init__(self, C, H, W, patch, dim, depth, heads, mlp, out):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.conv_proj = nn.Conv2d(C, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        T = 1 + (H // patch) * (W // patch)
        self.encoder = Encoder(T, dim, depth, heads, mlp)
        if out != dim:
            self.heads = nn.Sequential()
            self.heads.add_module("head", nn.Linear(dim, out))
        else:
            self.heads = nn.Identity()

    def forward(self, x):
        n = x.shape[0]
        x = self.conv_proj(x).reshape(n, self.dim, -1).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def flat(ts):
    return np.concatenate([t.detach().numpy().astype(np.float32).ravel()
                           for t in ts])


def case(outdir, name, N, C, H, W, patch, dim, depth, heads, mlp, out):
    g = torch.Generator().manual_seed(len(name) + 100 * dim)
    model = ViT(C, H, W, patch, dim, depth, heads, mlp, out)
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.dim() == 1 and k.endswith("weight"):
                v.copy_(1 + 0.3 * torch.randn(v.shape, generator=g))
            elif v.dim() == 1:
                v.copy_(0.2 * torch.randn(v.shape, generator=g))
            elif "class_token" in k or "pos_embedding" in k:
                v.copy_(0.5 * torch.randn(v.shape, generator=g))
            else:
                fan_in = v[0].numel()
                v.copy_(torch.randn(v.shape, generator=g) *
                        (2.0 / fan_in) ** 0.5)
    x = torch.randn(N, C, H, W, generator=g)
    R = torch.randn(N, out, generator=g)
    path = lambda what: os.path.join(outdir, "vit-%s-%s" % (name, what))
    sd = model.state_dict()
    with open(path("names.txt"), "w") as f:
        for k, v in sd.items():
            f.write("%s %d\n" % (k, v.numel()))
    # the parameters are the state_dict, in the same order
    assert [k for k, _ in model.named_parameters()] == list(sd.keys())
    np.save(path("state.npy"), flat(sd.values()))
    np.save(path("x.npy"), x.numpy().astype(np.float32))
    np.save(path("R.npy"), R.numpy().astype(np.float32))
    model.train()
    y = model(x)
    (y * R).sum().backward()
    np.save(path("y.npy"), y.detach().numpy().astype(np.float32))
    np.save(path("grads.npy"), flat(p.grad for p in model.parameters()))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.step()
    np.save(path("adam.npy"), flat(model.parameters()))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fixtures")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    # 2x8x12 images (not square), patches 4x4: 6 patches + class token;
    # 3 heads of 4, two blocks, a head to 5 outputs
    case(outdir, "head", 3, 2, 8, 12, 4, 12, 2, 3, 20, 5)
    # 1x8x8, patches 2x2: 17 tokens; one block, output = class token
    case(outdir, "cls", 2, 1, 8, 8, 2, 8, 1, 2, 16, 8)


if __name__ == "__main__":
    main()
