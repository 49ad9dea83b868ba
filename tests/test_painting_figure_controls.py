"""The controls behind docs/styles.md's analysis of the CycleGAN figure separate colour from brightness."""

import torch

from scripts.painting_figure_controls import colours_on_luminance, kuwahara, luma


def test_colours_of_one_image_on_the_luminance_of_another():
    gen = torch.Generator().manual_seed(0)
    colourful = torch.rand(3, 8, 8, generator=gen) * 0.5 - 0.25
    grey = luma(torch.rand(3, 8, 8, generator=gen) * 0.5 - 0.25).repeat(3, 1, 1)
    mixed = colours_on_luminance(colourful, grey)
    assert torch.allclose(luma(mixed), luma(grey), atol=1e-6)  # brightness from the second image
    assert torch.allclose(mixed - luma(mixed), colourful - luma(colourful), atol=1e-6)  # colour from the first


def test_kuwahara_control_keeps_each_image_its_size():
    images = [torch.rand(3, 12, 20) * 2 - 1, torch.rand(3, 9, 9) * 2 - 1]
    assert [out.shape for out in kuwahara(images)] == [im.shape for im in images]
