#!/usr/bin/python3
"""Golden values for the bf16 ResNet (tests/t-conv-bf16.c) from PyTorch's
mixed precision, torch.autocast("cpu", dtype=torch.bfloat16) (run with
/usr/bin/python3, torch 1.13).  It takes encoder_ref.py's resnet8 case (the
same weights, input and projection R, in tests/ref/fixtures/encoder-resnet8-*)
and writes beside them:

  encoder-resnet8-ytrain-bf16.npy  train-mode output under autocast (fp32)
  encoder-resnet8-grads-bf16.npy   parameter gradients of sum(ytrain * R)
                                   under autocast, concatenated (fp32)

Autocast runs the convolutions and the Linear on bf16 inputs (oneDNN,
fp32 accumulation) and, unlike mmib, also rounds their outputs and the
BatchNorm, ReLU and residual arithmetic that follows to bf16; the C test
holds mmib's bf16 encoder to a tolerance, not to these bits.

Usage: resnet_bf16_ref.py [FIXTURE_DIR]
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from encoder_ref import ResNet, tensors  # noqa: E402


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "fixtures")
    torch.set_num_threads(1)
    path = lambda what: os.path.join(d, "encoder-resnet8-%s" % what)
    model = ResNet(8, 3, 8)
    state = np.load(path("state.npy"))
    off = 0
    with torch.no_grad():
        for k, v in tensors(model):
            n = v.numel()
            v.copy_(torch.from_numpy(state[off:off + n]).view(v.shape))
            off += n
    assert off == state.size
    x = torch.from_numpy(np.load(path("x.npy")))
    R = torch.from_numpy(np.load(path("R.npy"))).view(x.shape[0], -1)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)
    (y.float() * R).sum().backward()
    np.save(path("ytrain-bf16.npy"), y.detach().float().numpy())
    np.save(path("grads-bf16.npy"), np.concatenate(
        [p.grad.numpy().astype(np.float32).ravel()
         for p in model.parameters()]))


if __name__ == "__main__":
    main()
