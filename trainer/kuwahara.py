"""A fixed, differentiable Kuwahara filter: the flat, edge-keeping colour areas of painted pictures.

Each output pixel is a weighted mean of the four (r+1)x(r+1) squares that have the pixel as a
corner; a square whose luminance varies little gets almost all the weight (weights proportional to
variance^(-sharpness/2), the generalised Kuwahara filter of Papari et al. 2007). Areas become flat
while edges stay sharp, because the squares that straddle an edge vary the most and lose.

Why a fixed layer: the compact generator, trained as a CycleGAN on 18 paintings, learnt their palette
and some texture but kept the photos' fine detail; this filter after it brings the paintings' flat
areas (measured in docs/styles.md). It has no weights: checkpoints record only its radius, and the
ONNX export contains its operations. Local and padded by edge replication, it is tile-safe and adds
``radius`` pixels to the halo.
"""

from __future__ import annotations

import torch
from torch import nn

# Rec. 601 luma weights (how bright an RGB pixel looks, tessera.colors): the variance that picks a
# square is that of brightness. The tone loss and the figure controls weigh brightness the same way.
from tessera.colors import LUMA


class Kuwahara(nn.Module):
    """``forward(rgb)`` on NCHW images; any value range (variances are of the values given)."""

    def __init__(self, radius: int, sharpness: float = 8.0, eps: float = 1e-4):
        super().__init__()
        if radius < 1:
            raise ValueError(f"radius must be at least 1, got {radius}")
        self.radius = radius
        self.sharpness = sharpness
        self.eps = eps
        self.register_buffer("luma", torch.tensor(LUMA).reshape(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        r = self.radius
        luma = (rgb * self.luma).sum(1, keepdim=True)
        stats = torch.cat([rgb, luma, luma * luma], dim=1)
        # The four squares of a pixel are windows of one mean map over the statistics padded by r on
        # every side: means[y, x] covers rows y - r .. y and columns x - r .. x of the image, so the
        # square reaching ``top`` rows up and ``left`` columns left of the pixel starts at
        # (r - top, r - left). One box filter, one weight per square (not four of each), then four
        # windows of the weighted means and the weights. The windows' ends are constants counted from
        # the end, so the exported graph slices without computing sizes from the input's shape.
        means = self._box_means(nn.functional.pad(stats, (r, r, r, r), mode="replicate"))
        variance = (means[:, 4:5] - means[:, 3:4] * means[:, 3:4]).clamp(min=0)
        # variance^(-sharpness/2), normalised below; ONNX Runtime's Softmax over a non-last axis took
        # most of this filter's time.
        weight = (variance + self.eps).reciprocal() ** (0.5 * self.sharpness)
        weighted = weight * means[:, :3]
        weighted_sum, total = 0.0, 0.0
        for left, top in ((r, r), (0, r), (r, 0), (0, 0)):
            rows, cols = slice(r - top, -top or None), slice(r - left, -left or None)
            weighted_sum = weighted_sum + weighted[:, :, rows, cols]
            total = total + weight[:, :, rows, cols]
        return weighted_sum / total

    def _box_means(self, padded: torch.Tensor) -> torch.Tensor:
        """Means over (r+1)x(r+1) windows, as a row mean of column means: 2(r+1) additions per pixel."""
        k = self.radius + 1
        return nn.functional.avg_pool2d(nn.functional.avg_pool2d(padded, (k, 1), stride=1), (1, k), stride=1)
