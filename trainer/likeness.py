"""How much a student's painting looks like its teacher's: a VGG16 feature distance and high-frequency energy.

``vgg16_feature_distance`` is built in the manner of LPIPS (Zhang et al. 2018) but is not LPIPS:
LPIPS weights each channel with linear heads learnt from human judgements, which are not available
here, so every channel weighs the same. For each of the VGG16 maps relu1_2, relu2_2, relu3_3 and
relu4_3 (trainer/vgg16_trunk.py), each pixel's channel vector is divided by its L2 norm, the
squared differences are summed over channels and averaged over pixels; the figure is the mean over
the four maps. 0 = the same features everywhere; each map's term lies in [0, 4] (ReLU features are
non-negative, so in practice in [0, 2]). It is differentiable and doubles as a training loss.

``hf_energy`` is the power of an image's luminance above half the Nyquist frequency (0.25 cycles
per pixel in radius, i.e. detail finer than 4 px), after a Hann window against edge leakage. The
hatching noise of a student shows as a ratio student/teacher well above 1; a blurry student sits
below 1. Both figures take images as [N, 3, H, W] float tensors in [-1, 1].
"""

from __future__ import annotations

import torch

from trainer.kuwahara import LUMA

# Luminance power at radial frequencies from this fraction of Nyquist (0.5 cycles/px) upwards.
HF_FRACTION_OF_NYQUIST = 0.5
_EPS = 1e-10


def unit_channels(maps: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] feature maps with each pixel's channel vector scaled to unit L2 length."""
    return maps / torch.sqrt((maps * maps).sum(1, keepdim=True) + _EPS)


def feature_distance(maps_a: list[torch.Tensor], maps_b: list[torch.Tensor]) -> torch.Tensor:
    """[N] mean over the levels of the spatially averaged squared distance of unit-normalised channels."""
    terms = [((unit_channels(a) - unit_channels(b)) ** 2).sum(1).mean((1, 2)) for a, b in zip(maps_a, maps_b,
                                                                                           strict=True)]
    return torch.stack(terms).mean(0)


def vgg16_feature_distance(a: torch.Tensor, b: torch.Tensor, trunk: torch.nn.Module | None = None) -> torch.Tensor:
    """[N] distances between images ``a`` and ``b`` (both [N, 3, H, W] in [-1, 1], H and W >= 8)."""
    if trunk is None:
        from trainer.vgg16_trunk import load_vgg16_trunk

        trunk = load_vgg16_trunk(a.device)
    return feature_distance(trunk(a), trunk(b))


def luminance(images: torch.Tensor) -> torch.Tensor:
    """[N, H, W] Rec. 601 luma of [N, 3, H, W] images (same range as the input)."""
    return (images * images.new_tensor(LUMA)[None, :, None, None]).sum(1)


def hf_energy(images: torch.Tensor, fraction: float = HF_FRACTION_OF_NYQUIST) -> torch.Tensor:
    """[N] mean luminance power per pixel at radial frequencies >= ``fraction`` x Nyquist (Hann-windowed)."""
    luma = luminance(images.float())
    _, h, w = luma.shape
    window = torch.hann_window(h, periodic=False)[:, None] * torch.hann_window(w, periodic=False)[None, :]
    luma = (luma - luma.mean((1, 2), keepdim=True)) * window
    power = torch.fft.fft2(luma).abs() ** 2 / (h * w)
    fy, fx = torch.fft.fftfreq(h)[:, None], torch.fft.fftfreq(w)[None, :]
    band = torch.sqrt(fy * fy + fx * fx) >= fraction * 0.5
    return (power * band).sum((1, 2)) / (h * w)
