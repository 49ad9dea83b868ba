"""Exact sub-pixel (phase) forms of the full-resolution convolutions of a multistyle26-shaped decoder.

Why: in ONNX Runtime on the CPU, a convolution with few channels at full resolution runs far below
the machine's rate, because its cost follows input channels x taps per output pixel, not
multiply-adds. In a served Blue Ink student (trainer/cin_student.py, v8) the 9x9 4->3 output
convolution took 20 % of a tile's time for 9 % of its arithmetic, and the 3x3 8->4 one after a
nearest x2 upsampling another 5 % (`python -m scripts.graph_profile model_registry/blue-ink/8`;
docs/serving.md, "Sub-pixel decoder"). Both have exact rewrites with more channels at a lower resolution, the sub-pixel
convolution view of upsampling (Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution
Using an Efficient Sub-Pixel Convolutional Neural Network"):

- ``UpsampleConv``: nearest x2, reflection pad 1, 3x3 convolution == replicate pad 1 at the low
  resolution, a 3x3 convolution with 4x the output channels (one group per output phase), then
  ``pixel_shuffle``. The reflection of an upsampled image repeats its edge row, which is the
  replicate padding of the low-resolution one, and each output phase sees only two source rows
  (and columns), so its 3-tap kernel is a sum of the original taps.
- ``SpaceToDepthConv``: reflection pad k//2 and a k x k convolution at full resolution ==
  ``pixel_unshuffle`` of the padded input, a (k//2 + 1)-square convolution with 4x the input and
  output channels at half resolution, then ``pixel_shuffle``.

Both compute the same sums as the originals in another order (float32 rounding differences only,
below 1e-5 on [-1, 1] images, tests/trainer/test_subpixel.py). ``SpaceToDepthConv`` needs even
image sides (the students' size multiple is 4); ``UpsampleConv`` takes any.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SCALE = 2
# Output phase p (row or column parity) of a nearest-x2 upsampled, 3-tap convolution: which of the
# low-resolution taps (-1, 0, +1) each of the three original taps lands on.
_UPSAMPLED_TAP = {0: (0, 1, 1), 1: (1, 1, 2)}


def upsample_conv_weight(weight: torch.Tensor) -> torch.Tensor:
    """[O, I, 3, 3] of (nearest x2, reflection pad 1, conv 3x3) -> [4 O, I, 3, 3] of (replicate pad 1,
    conv 3x3, pixel_shuffle 2) at the low resolution. Output channel o * 4 + p * 2 + q is phase (p, q)
    of channel o, the order ``pixel_shuffle`` reads. Raises ValueError for another kernel size."""
    out_ch, in_ch, kh, kw = weight.shape
    if (kh, kw) != (3, 3):
        raise ValueError(f"the upsampling rewrite is for 3x3 kernels, got {kh}x{kw}")
    phases = weight.new_zeros(out_ch, SCALE, SCALE, in_ch, 3, 3)
    for p in range(SCALE):
        for q in range(SCALE):
            for di in range(3):
                for dj in range(3):
                    phases[:, p, q, :, _UPSAMPLED_TAP[p][di], _UPSAMPLED_TAP[q][dj]] += weight[:, :, di, dj]
    return phases.reshape(out_ch * SCALE * SCALE, in_ch, 3, 3)


def space_to_depth_weight(weight: torch.Tensor) -> torch.Tensor:
    """[O, I, k, k] (k odd, used on an input padded by k//2) -> [4 O, 4 I, k//2 + 1, k//2 + 1] used on
    ``pixel_unshuffle`` of that padded input, without padding, followed by ``pixel_shuffle``.

    Input channel c * 4 + s * 2 + t is phase (s, t) of channel c (``pixel_unshuffle``'s order); output
    channel o * 4 + p * 2 + q is phase (p, q) of channel o. Full-resolution tap (di, dj) of output
    phase (p, q) reads input phase (s, t) at half-resolution offset ((p + di - s) / 2, (q + dj - t) / 2).
    Raises ValueError for an even or non-square kernel.
    """
    out_ch, in_ch, kh, kw = weight.shape
    if kh != kw or kh % 2 == 0:
        raise ValueError(f"the space-to-depth rewrite is for odd square kernels, got {kh}x{kw}")
    taps = kh // 2 + 1
    folded = weight.new_zeros(out_ch, SCALE, SCALE, in_ch, SCALE, SCALE, taps, taps)
    for p in range(SCALE):
        for s in range(SCALE):
            for di in range(kh):
                if (p + di - s) % 2:
                    continue
                for q in range(SCALE):
                    for t in range(SCALE):
                        for dj in range(kw):
                            if (q + dj - t) % 2:
                                continue
                            folded[:, p, q, :, s, t, (p + di - s) // 2, (q + dj - t) // 2] = weight[:, :, di, dj]
    return folded.reshape(out_ch * SCALE * SCALE, in_ch * SCALE * SCALE, taps, taps)


class UpsampleConv(nn.Module):
    """nearest x2 -> reflection pad 1 -> ``conv`` (3x3, no bias) as one low-resolution convolution.

    [N, I, H, W] -> [N, O, 2H, 2W], equal to ``conv(reflection_pad(interpolate(x, 2)))``.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.bias is not None or conv.stride != (1, 1) or conv.padding != (0, 0):
            raise ValueError("the upsampling rewrite needs an unpadded, stride-1 convolution without bias")
        self.weight = nn.Parameter(upsample_conv_weight(conv.weight.detach()), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight), SCALE)


class SpaceToDepthConv(nn.Module):
    """reflection pad k//2 -> ``conv`` (k x k odd, no bias) computed at half resolution.

    [N, I, H, W] (H, W even) -> [N, O, H, W], equal to ``conv(reflection_pad(x, k // 2))``.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.bias is not None or conv.stride != (1, 1) or conv.padding != (0, 0):
            raise ValueError("the space-to-depth rewrite needs an unpadded, stride-1 convolution without bias")
        self.pad = conv.kernel_size[0] // 2
        self.weight = nn.Parameter(space_to_depth_weight(conv.weight.detach()), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (self.pad,) * 4, mode="reflect")
        return F.pixel_shuffle(F.conv2d(F.pixel_unshuffle(padded, SCALE), self.weight), SCALE)
