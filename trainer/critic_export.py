"""A trained PatchGAN discriminator becomes ``critic.onnx``: realism scores and Grad-CAM in one forward graph.

Grad-CAM (Selvaraju et al., 2017) weights the activations A_k of the critic's last convolutional block
by alpha_k, the spatial mean of d(score)/dA_k, and keeps the positive part of the sum. Here the score
is the mean of the realism grid, and the only layer after that block is one convolution: the score is
linear in A, so alpha depends on the head's weights and the grid sizes alone, never on the pixels.
Counting, for every kernel offset, how many output cells reach a valid input cell gives alpha in
closed form, which the graph computes from ``score_grid`` (the whole image's realism grid), so that
every tile of an image uses the image's alpha. ``gradcam_autograd`` is the textbook computation that
the export and the tests compare against.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from tessera.critic_geometry import chain_geometry, grid_length
from tessera.registry.critic import (
    CRITIC_GRID_INPUT,
    CRITIC_IMAGE_INPUT,
    CRITIC_PHOTO_INPUT,
    GRADCAM_OUTPUT,
    REALISM_OUTPUT,
)
from trainer.onnx_export import OPSET, ExportError, session

CRITIC_FILE = "critic.onnx"
PARITY_ATOL = 1e-4


def split_critic(d: nn.Module) -> tuple[nn.Sequential, nn.Conv2d]:
    """(last convolutional block, head) of a PatchGAN; ExportError for other discriminators."""
    layers = list(getattr(d, "model", []))
    head = layers[-1] if layers else None
    if not isinstance(head, nn.Conv2d) or head.out_channels != 1 or head.stride != (1, 1) or head.groups != 1:
        raise ExportError("only the PatchGAN discriminator (netD=patch) can be exported as a critic: its last "
                          "layer must be one stride-1 convolution to a single channel")
    return nn.Sequential(*layers[:-1]), head


def conv_layers(module: nn.Module) -> list[tuple[int, int, int]]:
    """(kernel, stride, padding) of every convolution of ``module``, in order (square ones only)."""
    layers = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            k, s, p = m.kernel_size, m.stride, m.padding
            if k[0] != k[1] or s[0] != s[1] or p[0] != p[1] or m.dilation != (1, 1):
                raise ExportError(f"critic convolutions must be square and undilated, got {m}")
            layers.append((k[0], s[0], p[0]))
    return layers


def gradcam_autograd(d: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(realism [N,1,h,w], Grad-CAM [N,1,h',w']) of input ``x`` by autograd, as Selvaraju et al. define it.

    Each image's score is the mean of its realism grid; alpha_k is the mean over positions of that
    score's gradient with respect to the last block's activations A_k; the map is ReLU(sum_k alpha_k A_k).
    """
    body, head = split_critic(d)
    with torch.enable_grad():
        activations = body(x).detach().requires_grad_(True)
        realism = head(activations)
        score = realism.mean(dim=(1, 2, 3)).sum()  # images are independent: their gradients do not mix
        (grad,) = torch.autograd.grad(score, activations)
    alpha = grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * activations).sum(1, keepdim=True))
    return realism.detach(), cam.detach()


class CriticGraph(nn.Module):
    """critic.onnx: ``image`` [, ``photo``], ``score_grid`` -> ``realism``, ``gradcam`` (tessera.registry.critic)."""

    def __init__(self, d: nn.Module, conditional: bool):
        super().__init__()
        self.body, head = split_critic(d)
        self.head = head
        self.conditional = conditional
        k, p = head.kernel_size[0], head.padding[0]
        self.k, self.p = k, p
        self.register_buffer("head_weight", head.weight[0].detach().clone())  # [K, k, k]
        self.register_buffer("offsets", torch.arange(k, dtype=torch.float32))

    def cam_weights(self, score_grid: torch.Tensor) -> torch.Tensor:
        """alpha [K] for an image whose realism grid has ``score_grid`` = (rows, cols) cells."""
        rows, cols = score_grid[0], score_grid[1]
        grow = float(self.k - 1 - 2 * self.p)  # activation cells = realism cells + grow
        counts = []
        for cells in (rows, cols):
            # Output cells p with p + offset - padding inside the activation grid, per kernel offset.
            reach = torch.minimum(cells, cells + grow + self.p - self.offsets) - torch.relu(self.p - self.offsets)
            counts.append(torch.relu(reach))
        total = (self.head_weight * counts[0][:, None] * counts[1][None, :]).sum(dim=(1, 2))
        return total / ((rows + grow) * (cols + grow) * rows * cols)

    def forward(self, image: torch.Tensor, *rest: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([rest[0], image], 1) if self.conditional else image
        score_grid = rest[-1]
        activations = self.body(x)
        realism = self.head(activations)
        alpha = self.cam_weights(score_grid)
        cam = torch.relu((activations * alpha[None, :, None, None]).sum(1, keepdim=True))
        return realism, cam


def critic_section(d: nn.Module, conditional: bool, gan_mode: str, origin: str = "training", steps: int = 0,
                   description: str = "") -> dict:
    """The manifest's ``critic`` section for ``d`` (see tessera.registry.critic)."""
    body, _ = split_critic(d)
    realism_layers = conv_layers(d)
    gradcam_layers = conv_layers(body)
    geometry = chain_geometry(realism_layers)
    return {"conditional": conditional, "score": "logit" if gan_mode == "vanilla" else "least_squares",
            "realism_layers": [list(x) for x in realism_layers], "gradcam_layers": [list(x) for x in gradcam_layers],
            "receptive_field": geometry.receptive_field, "halo": geometry.halo, "origin": origin, "steps": steps,
            "description": description}


def export_critic(d: nn.Module, path: Path, conditional: bool, seed: int = 0) -> dict:
    """Write ``critic.onnx`` for ``d`` and check it against ``gradcam_autograd``; return the check's figures.

    Raises ExportError for a discriminator that is not a PatchGAN, or when ONNX Runtime differs from
    PyTorch by more than PARITY_ATOL (relative to the largest Grad-CAM value for the map).
    """
    graph = CriticGraph(d, conditional).eval()
    gen = torch.Generator().manual_seed(seed)
    shapes = [(1, 64, 64), (2, 48, 80), (1, 96, 56)]
    images = [torch.rand(n, 3, h, w, generator=gen) * 2 - 1 for n, h, w in shapes]
    photos = [torch.rand(x.shape, generator=gen) * 2 - 1 for x in images]
    layers = conv_layers(d)
    inputs = [CRITIC_IMAGE_INPUT, *([CRITIC_PHOTO_INPUT] if conditional else []), CRITIC_GRID_INPUT]
    axes = {name: {0: "n", 2: "h", 3: "w"} for name in inputs[:-1]}
    axes |= {REALISM_OUTPUT: {0: "n", 2: "gh", 3: "gw"}, GRADCAM_OUTPUT: {0: "n", 2: "ch", 3: "cw"}}

    def feeds(i: int) -> list[torch.Tensor]:
        grid = torch.tensor([grid_length(layers, shapes[i][1]), grid_length(layers, shapes[i][2])],
                            dtype=torch.float32)
        return [images[i], *([photos[i]] if conditional else []), grid]

    with warnings.catch_warnings():
        for kind in (DeprecationWarning, UserWarning, FutureWarning, torch.jit.TracerWarning):
            warnings.simplefilter("ignore", kind)
        torch.onnx.export(graph, tuple(feeds(0)), str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=[REALISM_OUTPUT, GRADCAM_OUTPUT], dynamic_axes=axes, do_constant_folding=True)
    runner = session(path)
    worst = 0.0
    for i in range(len(shapes)):
        args = feeds(i)
        x = torch.cat([args[1], args[0]], 1) if conditional else args[0]
        realism, cam = gradcam_autograd(d.eval(), x)
        got = runner.run(None, {name: t.numpy() for name, t in zip(inputs, args, strict=True)})
        for name, want, have in ((REALISM_OUTPUT, realism, got[0]), (GRADCAM_OUTPUT, cam, got[1])):
            scale = max(1e-12, float(want.abs().max())) if name == GRADCAM_OUTPUT else 1.0
            diff = float(np.max(np.abs(have - want.numpy()))) / scale if have.shape == tuple(want.shape) else np.inf
            if not diff <= PARITY_ATOL:
                raise ExportError(f"{path.name}: {name} differs from PyTorch autograd by {diff:.2e} for "
                                  f"{tuple(x.shape)}")
            worst = max(worst, diff)
    return {"critic_max_rel_diff": worst}
