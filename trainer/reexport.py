"""``reexport VERSION_DIR``: a shipped multistyle26-shaped student's weights, served again in today's form.

Why: the served graph of the cin students (trainer.cin_student.CinStudentServing) changes when a
faster exact rewrite is found; their weights do not, and their training runs are not in the
repository. This reads the weights back from the version's model.onnx
(trainer.cin_student.load_served_weights, which checks them against the file) and publishes them
as the next version of the same style through trainer.publish: ONNX parity and tiled-against-whole
are measured afresh; the training facts and quality figures are the old manifest's (same weights),
with ``training.reexported_from`` naming the source; a critic is carried byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tessera.registry import RegistryError
from trainer import networks
from trainer.cin_student import load_served_weights
from trainer.onnx_export import ExportError
from trainer.onnx_init import InitError
from trainer.publish import carried_critic, publish
from trainer.serving_model import serving_model


def reexport(version_dir: Path, registry_root: Path | None = None, log=print) -> int:
    """Publish ``version_dir``'s weights as the next version of its style in ``registry_root`` (default:
    the registry that holds it); return the new version number. RegistryError when the version is not
    a cin_student; InitError when its file does not hold the weights its manifest describes."""
    version_dir = Path(version_dir)
    raw = json.loads((version_dir / "manifest.json").read_text())
    training = raw["training"]
    args = training.get("architecture_args", {})
    if args.get("arch") != "cin_student":
        raise RegistryError(f"{version_dir} is a {args.get('arch', 'non-trained')} version; reexport serves "
                            f"cin_student versions again (others: `trainer adopt`, then `trainer export`)")
    net = networks.define_G(**args)
    load_served_weights(net, version_dir / raw["artifacts"]["onnx"]["file"])
    model = serving_model(net)
    model.training_info = {k: v for k, v in training.items() if k != "git_commit"}
    model.training_info["reexported_from"] = f"{raw['style']}/{raw['version']}"
    model.metrics = raw.get("metrics", {})
    critic = carried_critic(version_dir) if raw.get("critic") else None
    return publish(model, registry_root or version_dir.parent.parent, raw["style"], critic=critic,
                   thumbnail_size=raw["tiling"]["thumbnail_size"], log=log)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version_dir", type=Path, help="registry version folder of a cin_student style")
    parser.add_argument("--registry", type=Path, help="registry to publish into (default: the version's own)")


def main(args: argparse.Namespace) -> int:
    try:
        version = reexport(args.version_dir, args.registry)
    except (RegistryError, InitError, ExportError, OSError, KeyError, ValueError) as exc:
        print(f"reexport: {exc}", file=sys.stderr)
        return 2
    print(f"wrote version {version} beside {args.version_dir}")
    return 0
