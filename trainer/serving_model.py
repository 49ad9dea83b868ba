"""What gets exported for one generator: the network plus, where tiling needs it, a context model.

Tiles only match the whole image when no layer looks at the whole input. ``serving_model`` picks the
remedy (DESIGN.md §3) from the network itself:
- a compact generator with a context input gets a context model that computes that context
  (per-channel mean and std) from the thumbnail;
- a generator with InstanceNorm layers gets ThumbInstanceNorm (``trainer.thumb_norm``);
- anything else (batch norm in eval mode, no normalisation) is tile-safe as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from trainer.compact import image_context
from trainer.thumb_norm import ContextNormGenerator, StatsCollector, count_instance_norms


@dataclass
class ServingModel:
    """What gets exported: a generator and, optionally, the model that computes its context.

    ``generator(image)`` or, with a context model, ``generator(image, context)``;
    ``context_model(thumbnail [1, 3, h, w]) -> [1, K]``.
    """

    generator: nn.Module
    context_model: nn.Module | None = None
    training_info: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def context_for(self, image: torch.Tensor) -> torch.Tensor | None:
        """The context row of ``image`` (computed on its first item), repeated for the batch."""
        if self.context_model is None:
            return None
        with torch.no_grad():
            return self.context_model(image[:1]).expand(image.shape[0], -1).contiguous()

    def context_dim(self) -> int | None:
        """K, the context row's length, or None without a context model."""
        context = self.context_for(sample_image())
        return None if context is None else int(context.shape[1])


def sample_image() -> torch.Tensor:
    """A random 256x256 image: big enough for every generator, including unet_256."""
    return torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1


class ImageContext(nn.Module):
    """context.onnx of the compact generator: thumbnail -> per-channel mean and std, [1, 6]."""

    def forward(self, thumbnail: torch.Tensor) -> torch.Tensor:
        return image_context(thumbnail)


def serving_model(net: nn.Module) -> ServingModel:
    """The network with the context model its tiling needs (see the module docstring); the generator
    in its ``serving_form()`` where it has one (the same function, arranged to run faster)."""
    net = net.eval()
    served = net.serving_form().eval() if hasattr(net, "serving_form") else net
    if getattr(served, "context_dim", 0):
        return ServingModel(served, ImageContext())
    if count_instance_norms(net):
        # The statistics come from the network itself, not its serving form: a thumbnail can have odd
        # sides, which the phase forms (trainer/subpixel.py) do not take; tiles and whole images are
        # padded to the size multiple. Both call the same norms in the same order.
        return ServingModel(ContextNormGenerator(served).eval(), StatsCollector(net).eval())
    return ServingModel(served)
