"""Tile-safe InstanceNorm: statistics from a thumbnail, reused for every tile (ThumbInstanceNorm).

InstanceNorm normalises each channel by its mean and standard deviation over the *whole* input, so a
tile normalised by its own statistics comes out in a different colour than the same pixels of the
whole image. The remedy (DESIGN.md §3) splits one InstanceNorm generator into two ONNX models:

- ``StatsCollector`` (context.onnx): runs the generator on a thumbnail of the whole image and returns
  every InstanceNorm layer's input mean and std, concatenated into one [1, K] context row;
- ``ContextNormGenerator`` (model.onnx): the same generator whose InstanceNorm layers read mean and
  std from the ``context`` input instead of computing them per tile.

Given the context of the full-resolution image, tiled output equals the whole-image output of the
original network; given a thumbnail's, it is close (the statistics of a downscaled image are nearly
those of the original).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

# A channel whose variance is below FLAT_FRACTION_OF_EPS x eps is flat: constant up to float32
# rounding. Its scale fades to 0 between that and twice that, so it gives its bias (the InstanceNorm
# of an exactly constant channel) without a jump. A uniform photo's channels have variances of about
# 1e-12 at every layer (rounding), while one level of noise on a flat grey photo gives the first
# layer's channels 1e-4 or more (tests/trainer/test_subpixel.py).
FLAT_FRACTION_OF_EPS = 1e-3


class ContextInstanceNorm(nn.Module):
    """Replaces one ``nn.InstanceNorm2d``; either collects its statistics or applies given ones.

    ``std`` means sqrt(biased variance + eps), exactly what InstanceNorm divides by, so applying the
    collected statistics reproduces InstanceNorm to float rounding, except for *flat* channels (see
    FLAT_FRACTION_OF_EPS), which give their bias (0 without affine parameters). Without that rule a
    uniform photo has its rounding differences multiplied by up to 1/sqrt(eps) = 316 in every layer
    until they fill the picture (a network whose convolutions round differently at different
    pixels, such as trainer.subpixel's forms, shows it at once). The mean is taken relative to the
    channel's first pixel, so a constant channel's mean is exact and its variance 0: ONNX Runtime's
    float32 ReduceMean of a constant 384x512 channel of -8.0998 gave -8.0986 otherwise.
    """

    def __init__(self, norm: nn.InstanceNorm2d):
        super().__init__()
        self.num_features = norm.num_features
        self.eps = norm.eps
        self.affine = norm.affine
        if norm.affine:
            # [1, C, 1, 1] and used as they are, so an ONNX export keeps their names
            # (trainer.cin_student.load_served_weights reads a served student's norms by name).
            self.weight = nn.Parameter(norm.weight.detach().clone().view(1, -1, 1, 1))
            self.bias = nn.Parameter(norm.bias.detach().clone().view(1, -1, 1, 1))
        # Set by the owning wrapper just before each forward; plain attributes, not state.
        self.collected: list[torch.Tensor] | None = None
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, shift = self._scale_shift(*self._statistics(x))
        return x * scale + shift

    def modulated(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """``forward(x) * gamma + beta`` (gamma, beta [N, C, 1, 1]: a modulation after the norm, e.g.
        from a style code) as one multiplication and one addition over x, whether the statistics are
        given or computed here: so a context model, the tiles' model and a one-pass model do the same
        arithmetic on the same map."""
        scale, shift = self._scale_shift(*self._statistics(x))
        return x * (scale * gamma) + (shift * gamma + beta)

    def _statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, std) [N, C, 1, 1]: the given ones, or x's own (then collected, when collecting)."""
        if self.stats is not None:
            return self.stats
        first = x[:, :, :1, :1]
        mean = first + (x - first).mean(dim=(2, 3), keepdim=True)
        std = torch.sqrt((x - mean).square().mean(dim=(2, 3), keepdim=True) + self.eps)
        if self.collected is not None:
            self.collected += [mean.flatten(1), std.flatten(1)]
        return mean, std

    def _scale_shift(self, mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # One scale and one shift per channel ([N, C, 1, 1]), so the full-size tensor sees one
        # multiplication and one addition. Rounding: x * scale + (bias - mean * scale) cancels the mean
        # at the scale of x, as x - mean does; a flat channel has scale 0 and gives its shift exactly
        # (tests/trainer/test_subpixel.py).
        flat_below = FLAT_FRACTION_OF_EPS * self.eps
        gate = ((std * std - self.eps) / flat_below - 1).clamp(0, 1)
        scale = (self.weight / std if self.affine else 1 / std) * gate
        return scale, (self.bias - mean * scale if self.affine else -mean * scale)


def _replace_instance_norms(net: nn.Module) -> tuple[nn.Module, list[ContextInstanceNorm]]:
    """A deep copy of ``net`` whose InstanceNorm2d layers are ContextInstanceNorm, in forward order."""
    net = copy.deepcopy(net)
    norms: list[ContextInstanceNorm] = []
    for name, module in list(net.named_modules()):
        if isinstance(module, nn.InstanceNorm2d):
            if module.track_running_stats:
                raise ValueError(f"{name}: InstanceNorm with running statistics is not supported")
            replacement = ContextInstanceNorm(module)
            parent_name, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent_name) if parent_name else net, child, replacement)
            norms.append(replacement)
    return net, norms


def count_instance_norms(net: nn.Module) -> int:
    return sum(isinstance(m, nn.InstanceNorm2d) for m in net.modules())


def context_size(net: nn.Module) -> int:
    """K: two numbers (mean, std) per channel of every InstanceNorm layer."""
    return sum(2 * m.num_features for m in net.modules() if isinstance(m, nn.InstanceNorm2d))


class StatsCollector(nn.Module):
    """thumbnail [1, 3, h, w] -> context [1, K]: each InstanceNorm layer's mean then std, in call order.

    Layers are visited in the order the network calls them, which for the CycleGAN generators is
    also their order in ``named_modules``; ``ContextNormGenerator`` relies on the same order.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.norms = _replace_instance_norms(net)
        if not self.norms:
            raise ValueError("the network has no InstanceNorm2d layer; it needs no context model")

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        collected: list[torch.Tensor] = []
        for norm in self.norms:
            norm.stats, norm.collected = None, collected
        try:
            self.net(thumbnail)
        finally:
            for norm in self.norms:
                norm.collected = None
        if len(collected) != 2 * len(self.norms):
            raise RuntimeError("an InstanceNorm layer ran more or less than once; cannot build a context")
        return torch.cat(collected, dim=1)


class OwnStatsGenerator(nn.Module):
    """image [N, 3, H, W] -> stylized in one pass, every InstanceNorm normalising by the statistics of
    its own input, computed as StatsCollector computes them (relative to the first pixel, with the
    flat-channel rule). For an image that is its own thumbnail this gives ContextNormGenerator's pixels
    fed StatsCollector's context of that image, up to float rounding: a style-conditioned version's
    whole.onnx (docs/registry.md)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.norms = _replace_instance_norms(net)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class ContextNormGenerator(nn.Module):
    """(image [N, 3, H, W], context [N, K]) -> stylized: InstanceNorms use the context's statistics."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.norms = _replace_instance_norms(net)
        self.context_size = sum(2 * n.num_features for n in self.norms)

    def forward(self, image: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        offset = 0
        for norm in self.norms:
            c = norm.num_features
            mean = context[:, offset : offset + c, None, None]
            std = context[:, offset + c : offset + 2 * c, None, None]
            norm.stats, offset = (mean, std), offset + 2 * c
        try:
            return self.net(image)
        finally:
            for norm in self.norms:
                norm.stats = None
