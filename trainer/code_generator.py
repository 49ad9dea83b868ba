"""The fast student of any-painting: the compact tile-safe generator, told the look by a style code.

Why this shape: the arbitrary-style teacher (Magenta, Ghiasi et al. 2017) costs about ten times the
compact generator per pixel. Its look comes from a 100-number style code that conditional
instance norm turns into a scale and shift of every layer. The student keeps the compact layout
(trainer/compact.py: dense 3x3 convolutions, total stride 4, no normalisation, so tiles are exact)
and gets the same kind of control without image-wide statistics: feature-wise linear modulation
(FiLM, Perez et al. 2018) of *every* layer from one context row

    context = [mean_r, mean_g, mean_b, std_r, std_g, std_b] of the photo's thumbnail (6 numbers)
              ++ style code (D numbers, 100 for the arbitrary-style encoder)

computed once per photo (``CodeContext``, shipped as context.onnx) and fed to every tile. The row is
the registry's conditioned layout (docs/registry.md): K = 6 statistics, then the code.

Layout for ``ngf`` = 16: as ``CompactGenerator`` with the resize decoder; FiLM after the stem, both
stride-2 convolutions, the first convolution of each residual block and the decoder's 3x3
convolution (16 + 32 + 48 + 3 x 48 + 16 = 256 modulated channels). The MLP that maps the row to
their scales and shifts runs once per tile on a [N, 106] row: negligible beside the convolutions.
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.compact import CONTEXT_DIM, _conv3x3, _double, _extend, he_init, image_context

# Length of the style code the arbitrary-style encoder gives.
CODE_DIM = 100
FILM_HIDDEN = 128


class CodeGenerator(nn.Module):
    """``forward(image [N, 3, H, W] in [-1, 1], context [N, 6 + code_dim]) -> [N, 3, H, W] in [-1, 1]``.

    H and W are multiples of 4 (``size_multiple``). ``border`` > 0 extends the input by that many
    pixels of edge replication and crops them from the output (no kept pixel sees the padding;
    tile-safe, see trainer/compact.py). Without a context the statistics come from the input itself
    and the code is zero: right for quick looks at whole images only.
    """

    size_multiple = 4

    def __init__(self, code_dim: int = CODE_DIM, ngf: int = 16, n_blocks: int = 3, padding: str = "replicate",
                 border: int = 0, film_hidden: int = FILM_HIDDEN):
        super().__init__()
        if border < 0 or border % self.size_multiple:
            raise ValueError(f"border must be 0 or a positive multiple of {self.size_multiple}, got {border}")
        c1, c2, c3 = ngf, 2 * ngf, 3 * ngf
        self.code_dim, self.border = code_dim, border
        self.context_dim = CONTEXT_DIM + code_dim
        self.stem = _conv3x3(3, c1, padding_mode=padding)
        self.down1 = _conv3x3(c1, c2, stride=2, padding_mode=padding)
        self.down2 = _conv3x3(c2, c3, stride=2, padding_mode=padding)
        self.blocks = nn.ModuleList([_Block(c3, padding) for _ in range(n_blocks)])
        self.up1 = nn.Conv2d(c3, c2, 1)
        self.up2 = _conv3x3(c2, c1, padding_mode=padding)
        self.out = _conv3x3(c1, 3, padding_mode=padding)
        self.channels = (c1, c2, c3, *([c3] * n_blocks), c1)
        self.film = nn.Sequential(nn.Linear(self.context_dim, film_hidden), nn.ReLU(inplace=True),
                                  nn.Linear(film_hidden, 2 * sum(self.channels)))

    def reset_parameters(self) -> None:
        """He initialisation; residual branches start small, the modulation starts near the identity."""
        he_init(self, self.blocks)
        nn.init.normal_(self.out.weight, 0.0, 0.02)
        nn.init.normal_(self.film[2].weight, 0.0, 1e-3)
        nn.init.zeros_(self.film[2].bias)

    def modulation(self, context: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(1 + scale, shift) per modulated layer, each [N, C, 1, 1], from context rows [N, 6 + D]."""
        out = self.film(context)[:, :, None, None]
        pairs, start = [], 0
        for c in self.channels:
            pairs.append((1.0 + out[:, start:start + c], out[:, start + c:start + 2 * c]))
            start += 2 * c
        return pairs

    def forward(self, image: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            code = image.new_zeros(image.shape[0], self.code_dim)
            context = torch.cat([image_context(image), code], dim=1)
        films = iter(self.modulation(context))
        b = self.border
        x = _extend(image, b) if b else image
        y = self._paint(x, films)
        return y[..., b:y.shape[-2] - b, b:y.shape[-1] - b] if b else y

    def _paint(self, x: torch.Tensor, films) -> torch.Tensor:
        stem = _modulated(self.stem(x), next(films))
        skip = _modulated(self.down1(stem), next(films))
        x = _modulated(self.down2(skip), next(films))
        for block in self.blocks:
            x = block(x, next(films))
        x = torch.relu(_double(self.up1(x)) + skip)
        x = _modulated(self.up2(x), next(films))
        return torch.tanh(self.out(_double(x)))


def _modulated(x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    scale, shift = film
    return torch.relu(x * scale + shift)


class _Block(nn.Module):
    """x + conv(FiLM(conv(x))), then ReLU; no normalisation (tile safety)."""

    def __init__(self, channels: int, padding: str):
        super().__init__()
        self.conv1 = _conv3x3(channels, channels, padding_mode=padding)
        self.conv2 = _conv3x3(channels, channels, padding_mode=padding)

    def forward(self, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.relu(x + self.conv2(_modulated(self.conv1(x), film)))


class CodeContext(nn.Module):
    """context.onnx of the student: (thumbnail [1, 3, h, w] in [-1, 1], style_code [1, D]) -> [1, 6 + D].

    The thumbnail's per-channel mean and std (trainer.compact.image_context), then the code as given.
    """

    def forward(self, thumbnail: torch.Tensor, style_code: torch.Tensor) -> torch.Tensor:
        return torch.cat([image_context(thumbnail), style_code], dim=1)
