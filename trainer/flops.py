"""Count a network's floating-point operations per image by running it once with forward hooks.

Convention: one multiply-add is two FLOPs (the usual hardware convention, so figures compare
directly with a measured matmul rate). Only convolutions, transposed convolutions and linear
layers are counted; activations, additions and pixel shuffles are memory-bound and comparatively
free, and are left out.
"""

from __future__ import annotations

import torch
from torch import nn


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Multiply-adds of one call of a counted layer, over the whole batch."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def count_gflops(model: nn.Module, size: int = 256, channels: int = 3) -> float:
    """GFLOPs (2 x multiply-adds) of one forward pass on a single ``size`` x ``size`` image.

    Generators with a context input (``model.context_dim > 0``) get a zero context so the small
    context network is counted too. The model's training mode is restored afterwards.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += _macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)]
    was_training = model.training
    try:
        model.eval()
        x = torch.zeros(1, channels, size, size)
        context_dim = getattr(model, "context_dim", 0)
        with torch.no_grad():
            if context_dim:
                model(x, torch.zeros(1, context_dim))
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return 2 * total / 1e9
