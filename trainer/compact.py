"""The compact, tile-safe generator for CPU serving, and the image context it can take.

Why this shape: serving runs tiles through ONNX Runtime on a couple of CPU cores, so the network
must (1) be tile-safe: no normalisation or pooling over the input, so a tile with a halo gives the
same core pixels as the whole image; (2) cost about 1.5 GFLOPs per 256x256 tile; (3) have a
small receptive field, so the halo (and thus the wasted work per tile) stays near 32 px.

Layout for ``ngf`` = 16 (the default), 3x3 convolutions and ReLU:

    image 3@H      -> stem conv            16@H     (FiLM from the context)
                   -> conv stride 2        32@H/2   (kept as a skip)
                   -> conv stride 2        48@H/4   (FiLM from the context)
                   -> 3 residual blocks    48@H/4
    decoder "resize" (1.56 GFLOPs per 256x256, halo 36 px):
                   -> 1x1 conv to 32, bilinear x2   32@H/2, + skip, ReLU
                   -> conv to 16, ReLU, bilinear x2 16@H
                   -> conv to 3, tanh
    decoder "shuffle" (1.50 GFLOPs, halo 32 px):
                   -> 1x1 conv + pixel shuffle 2    32@H/2, + skip, ReLU
                   -> conv to 12 + pixel shuffle 2   3@H, tanh

Dense convolutions only (depthwise ones are memory-bound on CPUs). The pixel-shuffle decoder was
the first design; in distillation with adversarial and perceptual losses it paints a fine 2-4 px
grid of noise, which the bilinear decoder does not (same cost, same ONNX Runtime speed within
noise), so training defaults to ``resize``. ``define_G`` keeps ``shuffle`` as its default because
checkpoints written before the choice existed do not name it.

Border padding: ``padding="zeros"`` (the first design, what older checkpoints hold) makes every
3x3 convolution see black beyond the image edge, and trained styles paint thin lines along the
borders; ``"replicate"`` repeats the edge pixels instead (a uniform image stays uniform, and unlike
reflection it works on maps of any size, even 1 px at quarter resolution). Either is tile-safe:
inside the image a tile's padded edge lies in its halo, and at the image edge a tile and the whole
image pad alike.

Image borders (``border`` > 0): the input is extended by ``border`` pixels of edge replication
before the first layer and the output cropped back, so no kept pixel's receptive field reaches the
zeros of the convolutions' padding. With ``border`` at least the receptive radius, that removes the
bright or dark frame that zero padding paints along the image edges, for weights trained either way
(the distilled students measured 2-6 px frames up to 18 levels brighter than the inside). It stays
tile-safe: inside the image a tile's edge lies in its halo, whose pixels are discarded; at an image
edge a tile and the whole image are extended alike. It costs (1 + 2 border / tile side)^2 in work.

``kuwahara_radius`` > 0 ends the generator in a fixed Kuwahara filter (trainer/kuwahara.py): flat
colour areas with sharp edges, as in painted pictures.

Global colour context without breaking tiling: an optional ``context`` vector (per-channel mean
and std of the whole image, see ``image_context``) drives per-channel scale and shift (FiLM).
The server computes it once per image from a thumbnail and feeds the same row to every tile.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from trainer.kuwahara import Kuwahara

# Length of the vector image_context returns: mean and std of R, G and B.
CONTEXT_DIM = 6
# How the decoder doubles the resolution: sub-pixel convolutions or bilinear resize + convolution.
UPSAMPLING = ("shuffle", "resize")
# What the 3x3 convolutions see beyond the border (torch's padding_mode names).
PADDINGS = ("zeros", "replicate")


def image_context(image: torch.Tensor) -> torch.Tensor:
    """Per-channel mean then per-channel (population) std of NCHW images: shape [N, 2C].

    For RGB in [-1, 1] that is [mean_r, mean_g, mean_b, std_r, std_g, std_b]. Computed on the whole
    image (or a thumbnail of it), never on a tile.
    """
    flat = image.flatten(2)
    return torch.cat([flat.mean(dim=2), flat.std(dim=2, unbiased=False)], dim=1)


class CompactGenerator(nn.Module):
    """Tile-safe generator with total stride 4; ``forward(image, context=None)``.

    With ``context_dim`` > 0 and no context given, the context is computed from the input itself,
    which is right for whole images but not for tiles: callers that tile must pass it.
    """

    size_multiple = 4

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_blocks: int = 3,
                 context_dim: int = 0, upsample: str = "shuffle", padding: str = "zeros", kuwahara_radius: int = 0,
                 border: int = 0):
        super().__init__()
        if border < 0 or border % self.size_multiple:
            raise ValueError(f"border must be 0 or a positive multiple of {self.size_multiple}, got {border}")
        self.border = border
        if upsample not in UPSAMPLING:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLING)}, got {upsample!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {', '.join(PADDINGS)}, got {padding!r}")
        c1, c2, c3 = ngf, 2 * ngf, 3 * ngf
        self.context_dim = context_dim
        self.output_nc = output_nc
        self.upsample = upsample
        self.padding = padding
        conv3 = functools.partial(_conv3x3, padding_mode=padding)
        self.stem = conv3(input_nc, c1)
        self.down1 = conv3(c1, c2, stride=2)
        self.down2 = conv3(c2, c3, stride=2)
        self.blocks = nn.Sequential(*[_ResidualBlock(c3, padding) for _ in range(n_blocks)])
        if upsample == "shuffle":
            self.up1 = nn.Conv2d(c3, 4 * c2, 1)
            self.up2 = conv3(c2, 4 * output_nc)
            self.shuffle = nn.PixelShuffle(2)
        else:
            self.up1 = nn.Conv2d(c3, c2, 1)
            self.up2 = conv3(c2, c1)
            self.out = conv3(c1, output_nc)
        self.act = nn.ReLU(inplace=True)
        self.film = _FiLM(context_dim, (c1, c3)) if context_dim else None
        self.kuwahara = Kuwahara(kuwahara_radius) if kuwahara_radius else None

    def reset_parameters(self) -> None:
        """He initialisation; residual branches and the context's effect start near zero."""
        he_init(self, self.blocks)
        if self.upsample == "shuffle":
            nn.init.normal_(self.up2.weight, 0.0, 0.02)
            for conv in (self.up1, self.up2):
                _icnr_(conv, 2)
        else:
            nn.init.normal_(self.out.weight, 0.0, 0.02)
        if self.film is not None:
            self.film.reset_parameters()

    def forward(self, image: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        scales, shifts = self._film(image, context)
        if self.border:
            return self._finish(self._crop(self._paint(_extend(image, self.border), scales, shifts)))
        return self._finish(self._paint(image, scales, shifts))

    def _crop(self, image: torch.Tensor) -> torch.Tensor:
        b = self.border
        return image[..., b:image.shape[-2] - b, b:image.shape[-1] - b]

    def encode(self, image: torch.Tensor, context: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The encoder's maps for patchwise losses (CUT): after the stem (ngf@H), the first and second
        stride-2 convolutions (2 ngf@H/2, 3 ngf@H/4) and the residual trunk (3 ngf@H/4). No border."""
        taps: list[torch.Tensor] = []
        self._encode(image, *self._film(image, context), taps)
        return taps

    def _film(self, image: torch.Tensor, context: torch.Tensor | None):
        if self.film is None:
            return None, None
        return self.film(image_context(image) if context is None else context)

    def _encode(self, image: torch.Tensor, scales, shifts, taps: list | None = None):
        x = self.stem(image)
        if scales is not None:
            x = x * scales[0] + shifts[0]
        stem = self.act(x)
        skip = self.act(self.down1(stem))
        x = self.down2(skip)
        if scales is not None:
            x = x * scales[1] + shifts[1]
        x = self.act(x)
        trunk = self.blocks(x)
        if taps is not None:
            taps += [stem, skip, x, trunk]
        return trunk, skip

    def _paint(self, image: torch.Tensor, scales, shifts) -> torch.Tensor:
        x, skip = self._encode(image, scales, shifts)
        if self.upsample == "shuffle":
            x = self.act(self.shuffle(self.up1(x)) + skip)
            return torch.tanh(self.shuffle(self.up2(x)))
        x = self.act(_double(self.up1(x)) + skip)
        x = self.act(self.up2(x))
        return torch.tanh(self.out(_double(x)))

    def _finish(self, image: torch.Tensor) -> torch.Tensor:
        return self.kuwahara(image) if self.kuwahara is not None else image


def he_init(net: nn.Module, blocks) -> None:
    """He initialisation of every convolution, zero biases, and each residual branch's last
    convolution scaled by 0.1 so the blocks start near the identity."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    for block in blocks:
        block.conv2.weight.data.mul_(0.1)


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1, padding_mode: str = "zeros") -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, padding_mode=padding_mode)


def _extend(image: torch.Tensor, border: int) -> torch.Tensor:
    """The image with ``border`` pixels of edge replication on every side (one ONNX Pad, mode edge)."""
    return nn.functional.pad(image, (border, border, border, border), mode="replicate")


def _double(x: torch.Tensor) -> torch.Tensor:
    """Bilinear 2x upsampling: smooth, local (so tile-safe), and one ONNX Resize."""
    return nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


@torch.no_grad()
def _icnr_(conv: nn.Conv2d, scale: int) -> None:
    """Make a conv feeding PixelShuffle(scale) start as nearest-neighbour upsampling (ICNR init).

    All scale^2 sub-pixels of an output channel get the same filter, which avoids the fine grid
    ("checkerboard") pattern that independent sub-pixel filters show early in training.
    """
    groups = scale * scale
    conv.weight.copy_(conv.weight[::groups].repeat_interleave(groups, dim=0))
    conv.bias.copy_(conv.bias[::groups].repeat_interleave(groups, dim=0))


class _ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))), then ReLU; no normalisation (tile safety)."""

    def __init__(self, channels: int, padding: str = "zeros"):
        super().__init__()
        self.conv1 = _conv3x3(channels, channels, padding_mode=padding)
        self.conv2 = _conv3x3(channels, channels, padding_mode=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.conv2(torch.relu(self.conv1(x))))


class _FiLM(nn.Module):
    """Maps a context vector to a (1 + scale, shift) pair per feature map, shaped [N, C, 1, 1]."""

    def __init__(self, context_dim: int, channels: tuple[int, ...], hidden: int = 32):
        super().__init__()
        self.channels = channels
        self.mlp = nn.Sequential(nn.Linear(context_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, 2 * sum(channels)))

    def reset_parameters(self) -> None:
        # Zero output layer: the context starts as the identity and training decides its use.
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, context: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        out = self.mlp(context)[:, :, None, None]
        scales, shifts, start = [], [], 0
        for c in self.channels:
            scales.append(1.0 + out[:, start:start + c])
            shifts.append(out[:, start + c:start + 2 * c])
            start += 2 * c
        return scales, shifts
