"""``reexport VERSION_DIR``: a shipped version's weights, served again in today's form.

Why: a generator's served graph changes when a faster exact rewrite is found (the cin students'
phase forms, trainer.cin_student.CinStudentServing; the Kuwahara filter's single box filter,
trainer.kuwahara); its weights do not, and the training runs are not in the repository. This reads
the weights back from the version's model.onnx (a cin_student with
trainer.cin_student.load_served_weights, any other trained generator by name with
trainer.onnx_init.load_onnx_weights), checks that the file paints as the loaded network does, and
publishes them as the next version of the same style through trainer.publish: ONNX parity and
tiled-against-whole are measured afresh; the training facts and quality figures are the old
manifest's (same weights), with ``training.reexported_from`` naming the source; a critic is carried
byte for byte.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tessera.registry import RegistryError
from trainer import networks
from trainer.cin_student import load_served_weights
from trainer.messages import one_line
from trainer.onnx_export import ExportError
from trainer.onnx_init import InitError, check_paints_as_file, load_onnx_weights
from trainer.publish import carried_critic, publish, served_border
from trainer.registry_writes import check_destination, read_version_manifest
from trainer.serving_model import serving_model


def reexport(version_dir: Path, registry_root: Path | None = None, log=print) -> int:
    """Publish ``version_dir``'s weights as the next version of its style in ``registry_root`` (default:
    the registry that holds it); return the new version number. RegistryError when the version records
    no trained architecture (imported teachers) or is style-conditioned; InitError when its file does
    not hold the weights its manifest describes."""
    version_dir = Path(version_dir)
    raw = read_version_manifest(version_dir)
    training = raw.get("training", {})
    args = training.get("architecture_args")
    if raw.get("kind") == "conditioned":
        raise RegistryError(f"{version_dir} is a style-conditioned version; publish its run again with "
                            f"`trainer export-conditioned`")
    if not args or args.get("arch") not in networks.GENERATOR_ARCHS:
        raise RegistryError(f"{version_dir} records no trained generator architecture; reexport serves trained "
                            f"versions again (imported ones: import them again)")
    net = networks.define_G(**args)
    model_file = version_dir / raw["artifacts"]["onnx"]["file"]
    if args["arch"] == "cin_student":
        load_served_weights(net, model_file)
    else:
        load_onnx_weights(net, model_file)
        check_paints_as_file(served_border(serving_model(net))[0], model_file)
    model = serving_model(net)
    model.training_info = {k: v for k, v in training.items() if k != "git_commit"}
    model.training_info["reexported_from"] = f"{raw['style']}/{raw['version']}"
    model.metrics = raw.get("metrics", {})
    critic = carried_critic(version_dir) if raw.get("critic") else None
    return publish(model, destination(version_dir, registry_root)[0], raw["style"], critic=critic,
                   thumbnail_size=raw["tiling"]["thumbnail_size"], log=log)


def destination(version_dir: Path, registry_root: Path | None = None) -> tuple[Path, str]:
    """(registry, style) a reexport of ``version_dir`` publishes into: ``registry_root``, or the registry
    that holds the version (two folders up, also from a relative path such as ``9``)."""
    version_dir = Path(version_dir)
    style = read_version_manifest(version_dir).get("style")
    if not isinstance(style, str):
        raise RegistryError(f"{version_dir / 'manifest.json'} names no style")
    return Path(registry_root) if registry_root else Path(os.path.normpath(version_dir / ".." / "..")), style


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version_dir", type=Path, help="registry version folder of a trained style")
    parser.add_argument("--registry", type=Path, help="registry to publish into (default: the version's own)")


def main(args: argparse.Namespace) -> int:
    try:
        registry_root, style = destination(args.version_dir, args.registry)
        check_destination(registry_root, style)
        version = reexport(args.version_dir, args.registry)
    except (RegistryError, InitError, ExportError, OSError, ValueError) as exc:
        print(f"reexport: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"reexport: {args.version_dir / 'manifest.json'} lacks {exc}", file=sys.stderr)
        return 2
    print(f"wrote {registry_root / style / str(version)}")
    return 0
