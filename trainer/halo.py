"""Measure a generator's tiling facts from the network itself: size multiple and receptive-field halo.

The halo is measured from gradients, not guessed from the architecture: backpropagate from output
pixels in the centre of a random input and see how far from them the input gradient is non-zero.
A network whose gradient reaches the border at every size tried (InstanceNorm, global pooling) has
an image-wide receptive field and is not tile-safe; ``measure_halo`` then returns None.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tessera.tiling import round_up

Generator = Callable[[torch.Tensor], torch.Tensor]

# Stride products beyond this are not plausible for an image-to-image generator.
_MAX_MULTIPLE = 512


def measure_size_multiple(fn: Generator, channels: int = 3, max_multiple: int = _MAX_MULTIPLE) -> int:
    """The smallest power of two m such that an input of side 3*m comes back with the same size.

    An odd multiple (3*m) of anything smaller than the network's total stride is not a multiple of
    that stride, so it either fails or comes back resized; the first m that works is the stride.
    """
    m = 1
    while m <= max_multiple:
        side = 3 * m
        try:
            with torch.no_grad():
                out = fn(torch.zeros(1, channels, side, side))
            if tuple(out.shape[-2:]) == (side, side):
                return m
        except RuntimeError:
            pass  # e.g. a U-Net bottleneck that would shrink below 1 pixel
        m *= 2
    raise ValueError(f"no size multiple up to {max_multiple} keeps the image size; is this image-to-image?")


def _gradient_extent(fn: Generator, side: int, multiple: int, channels: int, seed: int) -> tuple[int, bool]:
    """How far beyond a centred multiple x multiple block of output pixels the input gradient reaches.

    Returns (extent in pixels, whether the gradient touched the input border).
    """
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(side, side)
    # Two random inputs: a ReLU that happens to be off for one input will be on for the other.
    for _ in range(2):
        x = (torch.rand(1, channels, side, side, generator=gen) * 2 - 1).requires_grad_(True)
        out = fn(x)
        lo = round_up(side // 2, multiple)
        block = out[:, :, lo : lo + multiple, lo : lo + multiple]
        # Random weights so that gradients of neighbouring pixels cannot cancel exactly.
        weights = torch.randn(block.shape, generator=gen)
        (grad,) = torch.autograd.grad((block * weights).sum(), x)
        total += grad.abs().sum(dim=(0, 1))
    rows = torch.nonzero(total.sum(dim=1)).flatten()
    cols = torch.nonzero(total.sum(dim=0)).flatten()
    touched = bool(rows[0] == 0 or cols[0] == 0 or rows[-1] == side - 1 or cols[-1] == side - 1)
    hi = lo + multiple - 1
    extent = max(lo - int(rows[0]), int(rows[-1]) - hi, lo - int(cols[0]), int(cols[-1]) - hi)
    return extent, touched


def measure_halo(
    fn: Generator, multiple: int = 1, channels: int = 3, start_side: int = 128, max_side: int = 1024,
    seed: int = 0,
) -> int | None:
    """Receptive-field halo in pixels, rounded up to ``multiple``; None when it is image-wide.

    ``fn`` maps an [1, C, H, W] input to an output of the same size (wrap a model that needs a
    context input in a lambda with a fixed context). The input grows from ``start_side`` until the
    gradient stays clear of its border, up to ``max_side``.

    With a stride (multiple > 1) the receptive field depends on an output pixel's phase; the block
    of multiple x multiple output pixels covers every phase, and adding multiple - 1 to the extent
    beyond the block bounds every phase's radius from above. Tiles are aligned to ``multiple``, so
    the result is rounded up to it; a halo slightly too large only costs compute.
    """
    side = round_up(max(start_side, 3 * multiple), multiple)
    while side <= max_side:
        extent, touched = _gradient_extent(fn, side, multiple, channels, seed)
        if not touched:
            return round_up(extent + multiple - 1, multiple)
        side *= 2
    return None
