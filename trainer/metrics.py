"""Image-quality metrics for evaluation: PSNR, SSIM, fid_effnetlite0 and content preservation.

Images here are float tensors or arrays in [-1, 1], NCHW (the generators' convention), unless a
docstring says otherwise. ``fid_effnetlite0`` is a Fréchet distance on EfficientNet-Lite0 pooled
features. It is FID-*like*: the numbers are not comparable with Inception-FID figures from papers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity

# PSNR of identical images is infinite; reports and JSON need a finite number.
PSNR_CAP_DB = 100.0


def _to_unit_numpy(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """[-1, 1] NCHW (or CHW) -> float64 NHWC in [0, 1]."""
    a = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if a.ndim == 3:
        a = a[None]
    return np.clip((a.astype(np.float64) + 1.0) / 2.0, 0.0, 1.0).transpose(0, 2, 3, 1)


def psnr(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """PSNR in dB between two image batches in [-1, 1] (peak = the full range), capped at PSNR_CAP_DB."""
    x, y = _to_unit_numpy(a), _to_unit_numpy(b)
    if x.shape != y.shape:
        raise ValueError(f"psnr needs equal shapes, got {x.shape} and {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(1.0 / mse))


def ssim(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Mean SSIM (scikit-image, gaussian window as in Wang et al. 2004) over a batch in [-1, 1]."""
    x, y = _to_unit_numpy(a), _to_unit_numpy(b)
    if x.shape != y.shape:
        raise ValueError(f"ssim needs equal shapes, got {x.shape} and {y.shape}")
    scores = [
        structural_similarity(
            xi, yi, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False,
        )
        for xi, yi in zip(x, y, strict=True)
    ]
    return float(np.mean(scores))


def fid_effnetlite0(feats_a: torch.Tensor | np.ndarray, feats_b: torch.Tensor | np.ndarray) -> float:
    """Fréchet distance between Gaussian fits of two sets of pooled EfficientNet-Lite0 features.

    d = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2)). Each set needs at least two rows.
    Evaluation uses a few hundred crops, fewer than the 1280 feature dimensions, so the covariances
    are singular; ``_trace_sqrt_product`` handles that exactly instead of regularising.
    """
    a = _as_float64(feats_a)
    b = _as_float64(feats_b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError("fid_effnetlite0 needs at least 2 feature rows per set")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"fid_effnetlite0 needs features of one width, got {a.shape[1]} and {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca = (a - mu_a) / np.sqrt(len(a) - 1)  # S_a = ca.T @ ca
    cb = (b - mu_b) / np.sqrt(len(b) - 1)
    d = float(((mu_a - mu_b) ** 2).sum() + (ca**2).sum() + (cb**2).sum() - 2.0 * _trace_sqrt_product(ca, cb))
    return max(d, 0.0)  # round-off can make a set's distance to itself a hair negative


def _trace_sqrt_product(ca: np.ndarray, cb: np.ndarray) -> float:
    """tr((S_a S_b)^(1/2)) for S_a = ca.T ca and S_b = cb.T cb.

    The eigenvalues of S_a S_b are the squared singular values of ca @ cb.T (or of
    S_a^(1/2) S_b^(1/2)), so the trace is a nuclear norm. The sample-sized route is exact for singular
    covariances and small; with more rows than dimensions the d x d route is the smaller one.
    """
    n_a, n_b, dim = len(ca), len(cb), ca.shape[1]
    if n_a * n_b <= dim * dim:
        return float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum())
    return float(np.linalg.svd(_psd_sqrt(ca.T @ ca) @ _psd_sqrt(cb.T @ cb), compute_uv=False).sum())


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _as_float64(feats: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(feats, torch.Tensor):
        feats = feats.detach().cpu().numpy()
    return np.asarray(feats, dtype=np.float64)


def content_preservation(feats_in: torch.Tensor, feats_out: torch.Tensor) -> float:
    """Mean cosine similarity of EfficientNet-Lite0 pooled features of inputs and their outputs.

    This is the content-preservation score for unpaired styles: 1.0 means the network still "sees"
    the same content after restyling; unrelated images land far lower. Rows pair up input i with
    output i.
    """
    if feats_in.shape != feats_out.shape:
        raise ValueError(f"content_preservation needs equal shapes, got {feats_in.shape}, {feats_out.shape}")
    cos = torch.nn.functional.cosine_similarity(feats_in.double(), feats_out.double(), dim=1)
    return float(cos.mean())


def random_crops(images: list[torch.Tensor], n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` random ``size``x``size`` crops, [n, C, size, size], drawn reproducibly from ``images``.

    ``images`` are CHW tensors of any sizes; each crop picks an image uniformly, then a position.
    Images smaller than ``size`` on a side are rejected with a message naming their index.
    """
    if not images:
        raise ValueError("random_crops needs at least one image")
    for i, im in enumerate(images):
        if im.shape[-2] < size or im.shape[-1] < size:
            raise ValueError(f"image {i} is {im.shape[-1]}x{im.shape[-2]}, smaller than the crop size {size}")
    gen = torch.Generator().manual_seed(seed)
    crops = []
    for _ in range(n):
        im = images[int(torch.randint(len(images), (1,), generator=gen))]
        top = int(torch.randint(im.shape[-2] - size + 1, (1,), generator=gen))
        left = int(torch.randint(im.shape[-1] - size + 1, (1,), generator=gen))
        crops.append(im[:, top : top + size, left : left + size])
    return torch.stack(crops)


def aligned_crops(groups: list[list[torch.Tensor]], n: int, size: int, seed: int) -> list[torch.Tensor]:
    """Like ``random_crops`` but the same windows from aligned images: groups[g][i] all show image i.

    Returns one [n, C, size, size] tensor per group, e.g. (inputs, outputs, targets) crops.
    """
    count = len(groups[0])
    for g, group in enumerate(groups):
        if len(group) != count:
            raise ValueError(f"aligned_crops: group {g} has {len(group)} images, group 0 has {count}")
    for i, images in enumerate(zip(*groups, strict=True)):
        sizes = {tuple(im.shape[-2:]) for im in images}
        if len(sizes) > 1:
            raise ValueError(f"aligned_crops: image {i} has different sizes (H, W) across groups: {sorted(sizes)}")
    stacked = [torch.cat(images) for images in zip(*groups, strict=True)]
    crops = random_crops(stacked, n, size, seed)
    bounds = np.cumsum([0] + [group[0].shape[0] for group in groups])
    return [crops[:, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
