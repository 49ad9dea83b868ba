"""Metric sanity: identical images score perfectly, different ones do not."""

import math

import numpy as np
import pytest
import torch

from trainer.metrics import (
    PSNR_CAP_DB,
    aligned_crops,
    content_preservation,
    fid_effnetlite0,
    psnr,
    random_crops,
    ssim,
)


def _images(n=2, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_psnr_of_identical_images_is_capped_and_known_noise_gives_known_psnr():
    x = _images()
    assert psnr(x, x) == PSNR_CAP_DB
    # A uniform offset of 0.1 in [-1, 1] is 0.05 of the full range: 20*log10(1/0.05) dB.
    y = (x * 0.5 + 0.1).clamp(-1, 1)
    x_half = x * 0.5
    assert psnr(x_half, y) == pytest.approx(20 * math.log10(20), abs=1e-3)


def test_ssim_is_one_for_identical_lower_for_noisy_and_near_zero_for_unrelated_images():
    x = _images(size=48)
    noisy = (x + 0.3 * _images(size=48, seed=1)).clamp(-1, 1)
    unrelated = _images(size=48, seed=2)
    assert ssim(x, x) == pytest.approx(1.0)
    assert abs(ssim(x, unrelated)) < 0.1 < ssim(x, noisy) < 0.99


def test_fid_effnetlite0_is_zero_for_a_set_with_itself_and_grows_with_distance():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(64, 8, generator=gen)
    near = a + 0.1 * torch.randn(64, 8, generator=gen)
    far = a + 3.0
    assert fid_effnetlite0(a, a) == pytest.approx(0.0, abs=1e-6)
    assert 0 < fid_effnetlite0(a, near) < fid_effnetlite0(a, far)
    # The mean term alone: shifting all 8 dimensions by 3 adds 8 * 9.
    assert fid_effnetlite0(a, far) == pytest.approx(72.0, rel=1e-6)


def test_content_preservation_is_one_for_same_features_and_lower_for_unrelated():
    gen = torch.Generator().manual_seed(0)
    f = torch.rand(10, 16, generator=gen)
    assert content_preservation(f, f) == pytest.approx(1.0)
    assert content_preservation(f, torch.randn(10, 16, generator=gen)) < 0.5


def test_random_crops_are_reproducible_and_reject_small_images():
    images = [_images(1, 40, seed=s)[0] for s in range(3)]
    a = random_crops(images, n=5, size=16, seed=7)
    assert a.shape == (5, 3, 16, 16)
    assert torch.equal(a, random_crops(images, n=5, size=16, seed=7))
    assert not torch.equal(a, random_crops(images, n=5, size=16, seed=8))
    with pytest.raises(ValueError, match="image 0 is 40x40, smaller than the crop size 64"):
        random_crops(images, n=1, size=64, seed=0)


def test_aligned_crops_take_the_same_window_from_every_group():
    a = [_images(1, 40, seed=s)[0] for s in range(2)]
    b = [-x for x in a]
    grey = [x.mean(0, keepdim=True) for x in a]
    ca, cb, cg = aligned_crops([a, b, grey], n=4, size=8, seed=1)
    assert torch.equal(ca, -cb)
    assert cg.shape == (4, 1, 8, 8) and torch.allclose(cg, ca.mean(1, keepdim=True))


def test_fid_effnetlite0_agrees_with_the_matrix_square_root_formula():
    """Reference: scipy's sqrtm on full-rank covariances (more rows than dimensions)."""
    scipy_linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16)) * 1.3 + 0.2
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = np.real(scipy_linalg.sqrtm(cov_a @ cov_b))
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean)
    assert fid_effnetlite0(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_effnetlite0_is_finite_with_fewer_rows_than_dimensions():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 1280)), rng.normal(size=(6, 1280)) + 0.5
    assert fid_effnetlite0(a, a) == pytest.approx(0.0, abs=1e-6)
    assert math.isfinite(fid_effnetlite0(a, b)) and fid_effnetlite0(a, b) > 1280 * 0.25
