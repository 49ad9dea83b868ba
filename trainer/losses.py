"""Training losses: adversarial (BCE or LSGAN), reconstruction (L1 or MSE), perceptual, texture, tone, colour."""

from __future__ import annotations

import torch
from torch import nn

from trainer.kuwahara import LUMA


class GANLoss(nn.Module):
    """Adversarial loss against an all-real or all-fake target the size of the PatchGAN output.

    ``vanilla`` is the pix2pix paper's cross-entropy (on logits, for numerical stability);
    ``lsgan`` is the least-squares loss CycleGAN uses.
    """

    def __init__(self, mode: str):
        super().__init__()
        if mode not in ("vanilla", "lsgan"):
            raise ValueError(f"unknown gan_mode {mode!r}")
        self.loss = nn.BCEWithLogitsLoss() if mode == "vanilla" else nn.MSELoss()

    def forward(self, prediction: torch.Tensor | list[torch.Tensor], target_is_real: bool) -> torch.Tensor:
        if isinstance(prediction, list):  # a multi-scale discriminator: the mean over its scales
            return sum(self(p, target_is_real) for p in prediction) / len(prediction)
        target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
        return self.loss(prediction, target)


def recon_loss(kind: str) -> nn.Module:
    """Pixel reconstruction loss by name: ``l1`` (the pix2pix paper's) or ``mse``."""
    if kind == "l1":
        return nn.L1Loss()
    if kind == "mse":
        return nn.MSELoss()
    raise ValueError(f"unknown recon_loss {kind!r}; choose l1 or mse")


class PerceptualLoss(nn.Module):
    """Mean L1 distance between frozen EfficientNet-Lite0 feature maps of output and target."""

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__()
        # Heavy and optional: imported only when a run asks for a perceptual term.
        from trainer.effnet_lite0 import load_effnet_lite0_features

        # Frozen by construction: no gradients for its weights, and train() cannot leave eval mode.
        self.features = load_effnet_lite0_features(device)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_maps = self.features(target)
        maps = self.features(output)
        return sum(nn.functional.l1_loss(a, b) for a, b in zip(maps, target_maps, strict=True)) / len(maps)


def gram(maps: torch.Tensor) -> torch.Tensor:
    """Channel correlations [N, C, C] of feature maps, normalised by their size (Gatys et al.)."""
    n, c, h, w = maps.shape
    flat = maps.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


class StyleLoss(nn.Module):
    """Texture statistics of unpaired targets: MSE between the batch-mean Gram matrices of outputs and
    targets on EfficientNet-Lite0's early maps (strides 2, 4 and 8: brushwork, not content)."""

    LEVELS = 3  # the first three of EffNetLite0Features' maps

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__()
        from trainer.effnet_lite0 import load_effnet_lite0_features

        # Frozen by construction: no gradients for its weights, and train() cannot leave eval mode.
        self.features = load_effnet_lite0_features(device)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target_grams = [gram(m).mean(0) for m in self.features(target)[:self.LEVELS]]
        grams = [gram(m).mean(0) for m in self.features(output)[:self.LEVELS]]
        return sum(nn.functional.mse_loss(a, b) for a, b in zip(grams, target_grams, strict=True)) / self.LEVELS


class VggLikenessLoss(nn.Module):
    """Paired likeness on the frozen VGG16 trunk (trainer/vgg16_trunk.py), one forward pass for both terms.

    ``forward(output, target)`` -> (feature distance, texture): the mean of trainer.likeness's
    vgg16_feature_distance over the batch (the evaluation figure itself), and the MSE between each
    output's and its own target's Gram matrices on the same four maps (per image, not batch means:
    the pairs are aligned), scaled by 1e-3 to sit near the other terms (VGG maps of 0..255 inputs are large).
    """

    GRAM_SCALE = 1e-3

    def __init__(self, device: str | torch.device = "cpu"):
        super().__init__()
        from trainer.vgg16_trunk import load_vgg16_trunk

        self.trunk = load_vgg16_trunk(device)

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from trainer.likeness import feature_distance

        with torch.no_grad():
            target_maps = self.trunk(target)
        maps = self.trunk(output)
        texture = sum(nn.functional.mse_loss(gram(a), gram(b)) for a, b in zip(maps, target_maps, strict=True))
        return feature_distance(maps, target_maps).mean(), texture * self.GRAM_SCALE / len(maps)


def tone_layout_loss(output: torch.Tensor, source: torch.Tensor, blur: int = 8) -> torch.Tensor:
    """1 - Pearson correlation of the blurred luminance of output and source, averaged over the batch.

    Keeps light areas light and dark areas dark (an unpaired generator with a weak cycle term may
    invert them, and the cycle undoes it), while leaving colour, brightness, contrast and any texture
    finer than ``blur`` pixels free: correlation ignores gain and offset. 0 = same layout, 2 = inverted.
    """
    weights = output.new_tensor(LUMA)[None, :, None, None]

    def layout(images: torch.Tensor) -> torch.Tensor:
        luma = nn.functional.avg_pool2d((images * weights).sum(1, keepdim=True), blur)
        flat = luma.flatten(1)
        return flat - flat.mean(1, keepdim=True)

    a, b = layout(output), layout(source)
    corr = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-6)
    return (1.0 - corr).mean()


def colour_layout_loss(output: torch.Tensor, source: torch.Tensor, blur: int = 16) -> torch.Tensor:
    """Mean absolute difference of the blurred opponent colours of output and source, batch-averaged.

    The two opponent channels are red-green (R - G) and yellow-blue ((R + G) / 2 - B) of images in
    [-1, 1]; ``blur`` px average pooling leaves brushwork and edges finer than that free. Keeps each
    photo's own colours where they are, so an unpaired generator cannot paint the paintings' average
    palette over every photo. 0 = same coarse colours; a uniform shift of d in both channels gives d.
    """
    def opponents(images: torch.Tensor) -> torch.Tensor:
        r, g, b = images.unbind(1)
        return nn.functional.avg_pool2d(torch.stack((r - g, (r + g) / 2 - b), 1), blur)

    return (opponents(output) - opponents(source)).abs().mean()
