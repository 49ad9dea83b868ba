"""A tiny style with a critic: the tiny generator (declared on a 4 px grid) plus a small random PatchGAN.

The critic goes through the trainer's own export (trainer.critic_export), so the served maps can be
compared with PyTorch autograd on the very network that was exported.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tessera.registry import write_version
from tests.support.tiny_model import TinyGenerator, export_onnx, tiny_manifest
from trainer.critic_export import CRITIC_FILE, critic_section, export_critic
from trainer.networks import define_D

CRITIC_STYLE = "tiny-critic"
CRITIC_MULTIPLE = 4  # the PatchGAN's stride: explained tiles start on its grid


def tiny_critic(conditional: bool = True, seed: int = 3) -> torch.nn.Module:
    """A 2-layer PatchGAN (34 px patches) in eval mode, with batch-norm statistics that are not the identity."""
    d = define_D(6 if conditional else 3, ndf=8, n_layers=2, norm="batch", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    for m in d.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return d.eval()


def write_critic_version(registry: Path, workdir: Path, critic: torch.nn.Module, conditional: bool = True,
                         style: str = CRITIC_STYLE) -> int:
    """The tiny generator with ``critic`` as critic.onnx, as a new version of ``style``."""
    export_onnx(TinyGenerator(0), workdir / "model.onnx")
    export_critic(critic, workdir / CRITIC_FILE, conditional)
    manifest = tiny_manifest(multiple=CRITIC_MULTIPLE)
    manifest["artifacts"]["critic"] = {"file": CRITIC_FILE}
    manifest["critic"] = critic_section(critic, conditional, "vanilla", description="random test critic")
    return write_version(registry, style, {"model.onnx": workdir / "model.onnx",
                                           CRITIC_FILE: workdir / CRITIC_FILE}, manifest)
