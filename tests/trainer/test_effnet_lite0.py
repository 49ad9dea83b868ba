"""EfficientNet-Lite0 built from the shipped weights classifies real photos correctly."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from tessera.pixels import rgb8_to_nchw
from trainer.effnet_lite0 import load_effnet_lite0, load_effnet_lite0_features, pooled_features

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 504}  # espresso, coffee mug


def _center_224(image: np.ndarray) -> torch.Tensor:
    """Resize the short side to 256, centre-crop 224, scale to [-1, 1] NCHW."""
    im = Image.fromarray(image).convert("RGB")
    scale = 256 / min(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.BICUBIC)
    left, top = (im.width - 224) // 2, (im.height - 224) // 2
    return torch.from_numpy(rgb8_to_nchw(np.asarray(im.crop((left, top, left + 224, top + 224)))))


@pytest.fixture(scope="module")
def classifier():
    return load_effnet_lite0()


@pytest.mark.parametrize(("photo", "expected"), [(data.chelsea, CAT_CLASSES), (data.coffee, COFFEE_CLASSES)])
def test_photo_is_classified_into_its_imagenet_classes(classifier, photo, expected):
    with torch.no_grad():
        probs = classifier(_center_224(photo())).softmax(dim=1)[0]
    top1 = int(probs.argmax())
    assert top1 in expected
    assert float(probs[sorted(expected)].sum()) > 0.8


def test_features_are_frozen_multi_scale_and_accept_any_size():
    features = load_effnet_lite0_features()
    features.train()  # must stay in eval mode: batch norms keep their running statistics
    x = torch.rand(1, 3, 72, 100, requires_grad=True) * 2 - 1
    maps = features(x)
    assert [m.shape[1] for m in maps] == [16, 24, 40, 112, 320, 1280]
    assert maps[0].shape[-2:] == (36, 50)
    assert not any(p.requires_grad for p in features.parameters())
    maps[2].mean().backward()  # gradients reach the input for a perceptual loss
    assert features.training is False


def test_pooled_features_are_1280_wide_and_batch_independent():
    model = load_effnet_lite0_features()
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    together = pooled_features(images, model, batch_size=3)
    one_by_one = pooled_features(images, model, batch_size=1)
    assert together.shape == (3, 1280)
    torch.testing.assert_close(together, one_by_one, atol=1e-4, rtol=1e-4)
