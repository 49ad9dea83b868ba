"""Differentiable augmentation for discriminators trained on few images (Zhao et al., "Differentiable
Augmentation for Data-Efficient GAN Training", 2020).

Real and generated images both pass through the same kind of random transform before every
discriminator call, in the generator's update as well as the discriminator's. The discriminator
then cannot memorise the handful of target images (18 Wesnoth paintings), and because the
transforms are differentiable and applied to both sides, the generator is still pulled towards the
untransformed target distribution. Randomness comes from a ``torch.Generator`` the caller seeds per
step, so a resumed run augments exactly as the uninterrupted one.
"""

from __future__ import annotations

import torch

POLICIES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ("color", "translation"); empty -> no augmentation."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in POLICIES]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(POLICIES)}")
    return names


def augment(images: torch.Tensor, policy: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    """``images`` (NCHW in [-1, 1]) with each transform of ``policy`` applied per image."""
    for name in policy:
        images = _TRANSFORMS[name](images, gen)
    return images


def _uniform(n: int, gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.rand(n, 1, 1, 1, generator=gen).to(like)


def _color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    x = x + (_uniform(n, gen, x) - 0.5)  # brightness
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (_uniform(n, gen, x) * 2) + grey  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(n, gen, x) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size, filling with zeros (mid-grey)."""
    n, _, h, w = x.shape
    dy, dx = int(h * ratio), int(w * ratio)
    padded = torch.nn.functional.pad(x, (dx, dx, dy, dy))
    shifts = torch.stack([torch.randint(0, 2 * dy + 1, (n,), generator=gen),
                          torch.randint(0, 2 * dx + 1, (n,), generator=gen)], 1).tolist()
    return torch.stack([padded[i, :, sy:sy + h, sx:sx + w] for i, (sy, sx) in enumerate(shifts)])


def _cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the image size per image, anywhere in it."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio), int(w * ratio)
    tops = torch.randint(0, h - ch + 1, (n,), generator=gen).tolist()
    lefts = torch.randint(0, w - cw + 1, (n,), generator=gen).tolist()
    mask = torch.ones(n, 1, h, w, dtype=x.dtype, device=x.device)
    for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
        mask[i, :, top:top + ch, left:left + cw] = 0
    return x * mask


_TRANSFORMS = {"color": _color, "translation": _translation, "cutout": _cutout}
