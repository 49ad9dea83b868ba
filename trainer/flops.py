"""Count a network's floating-point operations per image by running it once under PyTorch's FLOP counter.

Convention: one multiply-add is two FLOPs (the usual hardware convention, so figures compare
directly with a measured matmul rate). ``torch.utils.flop_counter.FlopCounterMode`` counts every
convolution, transposed convolution and matrix product the forward pass executes, also those
called as functions (the sub-pixel and phase forms of trainer/subpixel.py call ``F.conv2d`` with
rewritten kernels: their zero taps are counted, because the runtime executes them). Activations,
additions, norms and pixel shuffles are memory-bound and comparatively free, and are left out.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_gflops(model: nn.Module, size: int = 256, channels: int = 3) -> float:
    """GFLOPs (2 x multiply-adds) of one forward pass on a single ``size`` x ``size`` image.

    Generators with a context input (``model.context_dim > 0``) get a zero context so the small
    context network is counted too. The model's training mode is restored afterwards.
    """
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        x = torch.zeros(1, channels, size, size)
        context_dim = getattr(model, "context_dim", 0)
        with torch.no_grad(), counter:
            if context_dim:
                model(x, torch.zeros(1, context_dim))
            else:
                model(x)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / 1e9
