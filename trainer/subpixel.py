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
- ``PhaseConv``: reflection pad k//2 and a k x k convolution at full resolution, returned in *phase
  form*: the ``pixel_unshuffle`` of its output, [N, 4 O, H/2, W/2] with channel o * 4 + p * 2 + q
  holding output pixels (2i + p, 2j + q) of channel o. It is one stride-2 convolution with
  (k + 1)-square kernels, each phase's kernel the original shifted by (p, q). ``SpaceToDepthConv``
  is that followed by ``pixel_shuffle`` (the full-resolution output).
- ``StrideTwoFromPhases``: reflection pad 1 and a stride-2 3x3 convolution of a full-resolution map,
  read from that map's phase form: replicate pad 1 at the top and left (the reflected row -1 is
  row 1, an odd row, which the phase form holds at half-row 0) and a 2x2 convolution with 4x the
  input channels. With ``PhaseConv`` before it, a stem never materialises its full-resolution map.
- ``OnPhases``: a per-channel layer (instance norm with its affine scale and shift) applied to a
  phase-form map: the four phases of a channel are adjacent, so the map is viewed as [N, C, 4 h, w],
  one channel per original channel, without a copy.

Every rewrite computes the same sums as the original in another order (float32 rounding differences
only, below 1e-5 on [-1, 1] images, tests/trainer/test_subpixel.py). The phase forms need even image
sides (the students' size multiple is 4); ``UpsampleConv`` takes any. Why the phase forms use strided
convolutions rather than ``pixel_unshuffle``: ONNX Runtime runs the unshuffle as a 6-D transpose,
which cost 6-8 % of a tile's time on 3- and 4-channel maps (docs/serving.md, "Sub-pixel decoder").

``unfold_weight`` inverts any of the weight rewrites, for loading a served file's weights back into
the original network (trainer.cin_student.load_served_weights).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

SCALE = 2
# Output phase p (row or column parity) of a nearest-x2 upsampled, 3-tap convolution: which of the
# low-resolution taps (-1, 0, +1) each of the three original taps lands on.
_UPSAMPLED_TAP = {0: (0, 1, 1), 1: (1, 1, 2)}


def _odd_square(weight: torch.Tensor, what: str) -> int:
    kh, kw = weight.shape[-2:]
    if kh != kw or kh % 2 == 0:
        raise ValueError(f"the {what} rewrite is for odd square kernels, got {kh}x{kw}")
    return kh


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
    ``pixel_unshuffle`` of that padded input, without padding, followed by ``pixel_shuffle``. The
    form of the output convolution in files exported before the phase forms (the v9 students);
    kept to load them (``unfold_weight``). Same arithmetic as ``phase_conv_weight``'s form.

    Input channel c * 4 + s * 2 + t is phase (s, t) of channel c (``pixel_unshuffle``'s order); output
    channel o * 4 + p * 2 + q is phase (p, q) of channel o. Full-resolution tap (di, dj) of output
    phase (p, q) reads input phase (s, t) at half-resolution offset ((p + di - s) / 2, (q + dj - t) / 2).
    Raises ValueError for an even or non-square kernel.
    """
    out_ch, in_ch, kh, kw = weight.shape
    _odd_square(weight, "space-to-depth")
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


def phase_conv_weight(weight: torch.Tensor) -> torch.Tensor:
    """[O, I, k, k] (k odd, used on an input padded by k//2) -> [4 O, I, k + 1, k + 1]: a stride-2
    convolution of the same padded input whose output channel o * 4 + p * 2 + q is phase (p, q) of
    output channel o (``pixel_unshuffle``'s order). Phase (p, q)'s kernel is the original placed at
    offset (p, q). Raises ValueError for an even or non-square kernel."""
    k = _odd_square(weight, "phase")
    out_ch, in_ch = weight.shape[:2]
    phases = weight.new_zeros(out_ch, SCALE, SCALE, in_ch, k + 1, k + 1)
    for p in range(SCALE):
        for q in range(SCALE):
            phases[:, p, q, :, p:p + k, q:q + k] = weight
    return phases.reshape(out_ch * SCALE * SCALE, in_ch, k + 1, k + 1)


# Full-resolution tap d (0, 1, 2 for offsets -1, 0, +1) of a stride-2 3x3 convolution, read from the
# phase form padded by one half-row at the top: (input phase, tap of the 2x2 kernel).
_STRIDE_TWO_TAP = {0: (1, 0), 1: (0, 1), 2: (1, 1)}


def stride_two_from_phases_weight(weight: torch.Tensor) -> torch.Tensor:
    """[O, C, 3, 3] of (reflection pad 1, conv 3x3 stride 2) on a full-resolution map -> [O, 4 C, 2, 2]
    of (replicate pad 1 top and left, conv 2x2) on that map's phase form. Input channel c * 4 + p * 2 + q
    is phase (p, q) of channel c. Raises ValueError for another kernel size."""
    out_ch, in_ch, kh, kw = weight.shape
    if (kh, kw) != (3, 3):
        raise ValueError(f"the stride-two rewrite is for 3x3 kernels, got {kh}x{kw}")
    phases = weight.new_zeros(out_ch, in_ch, SCALE, SCALE, 2, 2)
    for di in range(3):
        for dj in range(3):
            p, a = _STRIDE_TWO_TAP[di]
            q, b = _STRIDE_TWO_TAP[dj]
            phases[:, :, p, q, a, b] += weight[:, :, di, dj]
    return phases.reshape(out_ch, in_ch * SCALE * SCALE, 2, 2)


def unfold_weight(fold: Callable[[torch.Tensor], torch.Tensor], folded: torch.Tensor, kernel: int) -> torch.Tensor:
    """The [O, I, k, k] weight that ``fold`` (one of this module's weight rewrites) maps to ``folded``.

    Each rewrite maps every original kernel W[o, i] to its own block of the result (output channels
    o * a .. o * a + a - 1, input channels i * b .. i * b + b - 1, a and b 1 or 4), linearly, so the
    taps are solved by least squares over that block and checked by folding again. Raises
    ValueError when ``folded`` is not the image of any weight (a file of another form).
    """
    basis = torch.eye(kernel * kernel, dtype=torch.float64).reshape(kernel * kernel, 1, 1, kernel, kernel)
    images = torch.stack([fold(b) for b in basis])  # [k*k, a, b, k', k']
    a, b = images.shape[1:3]
    if folded.shape[0] % a or folded.shape[1] % b or tuple(folded.shape[2:]) != tuple(images.shape[3:]):
        raise ValueError(f"a weight of shape {tuple(folded.shape)} is not this rewrite's form")
    out_ch, in_ch = folded.shape[0] // a, folded.shape[1] // b
    blocks = (folded.double().reshape(out_ch, a, in_ch, b, *folded.shape[2:]).permute(0, 2, 1, 3, 4, 5)
              .reshape(out_ch * in_ch, -1))
    taps = torch.linalg.lstsq(images.reshape(kernel * kernel, -1).T, blocks.T).solution.T
    weight = taps.reshape(out_ch, in_ch, kernel, kernel).to(folded.dtype)
    if not torch.allclose(fold(weight), folded, atol=1e-6, rtol=1e-5):
        raise ValueError(f"a weight of shape {tuple(folded.shape)} is not this rewrite's form")
    return weight


class UpsampleConv(nn.Module):
    """nearest x2 -> reflection pad 1 -> ``conv`` (3x3, with or without bias) as one low-resolution
    convolution.

    [N, I, H, W] -> [N, O, 2H, 2W], equal to ``conv(reflection_pad(interpolate(x, 2)))``.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        _unpadded(conv, 1, "upsampling")
        self.weight = nn.Parameter(upsample_conv_weight(conv.weight.detach()), requires_grad=False)
        self.bias = _phase_bias(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight, self.bias), SCALE)


def _unpadded(conv: nn.Conv2d, stride: int, what: str) -> None:
    if conv.stride != (stride, stride) or conv.padding != (0, 0):
        raise ValueError(f"the {what} rewrite needs an unpadded, stride-{stride} convolution")


def _phase_bias(conv: nn.Conv2d) -> nn.Parameter | None:
    """The bias of a rewrite whose output channel o * 4 + p * 2 + q is phase (p, q) of channel o: each
    channel's bias repeated for its four phases; None for a convolution without bias."""
    if conv.bias is None:
        return None
    return nn.Parameter(conv.bias.detach().repeat_interleave(SCALE * SCALE), requires_grad=False)


class PhaseConv(nn.Module):
    """reflection pad k//2 -> ``conv`` (k x k odd, with or without bias), in phase form, as one stride-2
    convolution.

    [N, I, H, W] (H, W even) -> [N, 4 O, H/2, W/2], equal to
    ``pixel_unshuffle(conv(reflection_pad(x, k // 2)), 2)``.
    """

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        _unpadded(conv, 1, "phase")
        self.pad = conv.kernel_size[0] // 2
        self.weight = nn.Parameter(phase_conv_weight(conv.weight.detach()), requires_grad=False)
        self.bias = _phase_bias(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (self.pad,) * 4, mode="reflect"), self.weight, self.bias, stride=SCALE)


class SpaceToDepthConv(PhaseConv):
    """reflection pad k//2 -> ``conv`` (k x k odd) computed at half resolution.

    [N, I, H, W] (H, W even) -> [N, O, H, W], equal to ``conv(reflection_pad(x, k // 2))``: the
    ``PhaseConv`` of it, shuffled back to full resolution.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(super().forward(x), SCALE)


class StrideTwoFromPhases(nn.Module):
    """reflection pad 1 -> ``conv`` (3x3, stride 2, with or without bias) of a full-resolution map, read from its
    phase form: [N, 4 C, h, w] -> [N, O, h, w], equal to
    ``conv(reflection_pad(pixel_shuffle(x, 2), 1))``."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        _unpadded(conv, 2, "stride-two")
        self.weight = nn.Parameter(stride_two_from_phases_weight(conv.weight.detach()), requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 0, 1, 0), mode="replicate"), self.weight, self.bias)


class OnPhases(nn.Module):
    """A per-channel ``layer`` (it must treat every pixel of a channel alike, e.g. an instance norm)
    applied to a phase-form map [N, 4 C, h, w]: the map is viewed as [N, C, 4 h, w], whose channel c
    holds every pixel of the original channel c. Same shape out."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, channels, h, w = x.shape
        out = self.layer(x.reshape(n, channels // (SCALE * SCALE), SCALE * SCALE * h, w))
        return out.reshape(n, channels, h, w)
