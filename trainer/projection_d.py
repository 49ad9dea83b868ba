"""A conditional PatchGAN that judges a painting *for a style code*: the projection discriminator.

Miyato and Koyama (2018): a conditional discriminator scores ``head(f) + <embed(y), f>`` per patch,
where ``f`` are its features and ``y`` the condition. Here the condition is the style code (the
look the any-painting student was asked for), and the features come from a PatchGAN over the photo
and the painting side by side (pix2pix's conditional discriminator), so a patch is real when it is
the teacher's painting *of this photo* *in this look*. Spectral normalisation keeps it from winning
outright on a small budget.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


class ProjectionPatchGAN(nn.Module):
    """``forward(photo, image, code)`` -> logits [N, 1, h, w], one per patch.

    photo and image: [N, 3, H, W] in [-1, 1]; code: [N, code_dim]. ``n_layers`` stride-2 convolutions
    (4x4) then one stride-1: with n_layers 2 each logit sees a 34x34 px patch.
    """

    def __init__(self, code_dim: int, ndf: int = 32, n_layers: int = 2, input_nc: int = 6):
        super().__init__()
        layers, width = [], input_nc
        for i in range(n_layers):
            out = ndf * min(2 ** i, 8)
            layers += [spectral_norm(nn.Conv2d(width, out, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
            width = out
        features = ndf * min(2 ** n_layers, 8)
        layers += [spectral_norm(nn.Conv2d(width, features, 4, stride=1, padding=1)), nn.LeakyReLU(0.2, True)]
        self.body = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Conv2d(features, 1, 1))
        self.embed = spectral_norm(nn.Linear(code_dim, features))

    def forward(self, photo: torch.Tensor, image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        f = self.body(torch.cat([photo, image], dim=1))
        return self.head(f) + (self.embed(code)[:, :, None, None] * f).sum(1, keepdim=True)
