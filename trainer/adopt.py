"""``adopt VERSION_DIR --config CONFIG --run RUN_DIR``: a shipped version's weights as a run, to re-export.

Shipped versions keep only their ONNX files; their training runs are not in the repository. This
builds the generator the version's manifest describes (``training.architecture_args``), loads the
ONNX weights into it (trainer.onnx_init) and writes ``RUN_DIR/checkpoints/latest.pt`` at the
version's step count, so ``evaluate`` and ``export`` treat it like a finished run. The weights are
not changed: ``export --border 40`` then gives the version trained without a border its frame-free
serving form (docs/styles.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from trainer import networks, runs
from trainer.config import ConfigError, TrainConfig
from trainer.messages import one_line
from trainer.onnx_init import InitError, load_onnx_weights


def adopt(version_dir: Path, cfg: TrainConfig, run_dir: Path) -> Path:
    """Write the checkpoint; return its path. InitError/ConfigError/OSError when something does not fit."""
    manifest = json.loads((Path(version_dir) / "manifest.json").read_text())
    training = manifest["training"]
    args = dict(training["architecture_args"])
    net = networks.define_G(**args)
    load_onnx_weights(net, Path(version_dir) / manifest["artifacts"]["onnx"]["file"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir), steps=int(training["steps"]),
                              init_onnx=str(Path(version_dir) / manifest["artifacts"]["onnx"]["file"]))
    cfg.save(run_dir / "config.json")
    state = {"format": runs.CHECKPOINT_FORMAT, "kind": cfg.kind, "config": dataclasses.asdict(cfg),
             "step": cfg.steps, "generator": "G", "net_args": {"G": args}, "nets": {"G": net.state_dict()},
             "optimizers": {}, "schedulers": {}, "extra": {}, "adopted_from": str(version_dir)}
    path = runs.checkpoint_path(run_dir)
    torch.save(state, path)
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version_dir", type=Path, help="registry version folder (model.onnx + manifest.json)")
    parser.add_argument("--config", type=Path, required=True, help="the style's TrainConfig JSON (its recipe)")
    parser.add_argument("--run", type=Path, required=True, help="run directory to create")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = TrainConfig.load(args.config)
        cfg.resolved().validate()
        path = adopt(args.version_dir, cfg, args.run)
    except (ConfigError, InitError, OSError, KeyError, ValueError) as exc:
        print(f"adopt: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
