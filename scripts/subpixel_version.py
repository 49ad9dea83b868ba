"""Whether a version's graphs in sub-pixel form (trainer/onnx_subpixel.py) paint what the version paints,
and, with --publish, that form as the next version of its style.

    .venv/bin/python -m scripts.subpixel_version --style any-painting-best [--version 2] [--publish]

The rewritten model.onnx, with its rewritten context model, must give the version's own pixels on
every hold-out photo at PHOTO_SIDE px, as it is and made foggy, and on flat and noisy greys (`pictures`),
whole, with the server's context: at most
WHOLE_MAX_FAR_FRACTION of values more than one 8-bit level apart and at least WHOLE_MIN_PSNR_DB
(`tessera.registry.agreement`, the standard a whole.onnx meets against its two passes). Its
whole.onnx, when it has one, is rewritten the same way, and the new version must then load as the
server loads it (its probes, and whole.onnx against its two passes).
Prints the figures as JSON. Needs `make data`. For the speed, profile both versions' tiles with
`python -m scripts.graph_profile model_registry/STYLE/N --tile 1152x1152 --threads 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx

from bench.paths import RawRun
from inference_server.model_version import LoadSettings, load_version
from inference_server.probe_tiles import FLAT_VALUES, FOG_LEVELS, low_contrast
from inference_server.version_checks import VersionRejected
from scripts.student_figures import holdout_missing, holdout_photos
from scripts.version_args import add_version_args, chosen_version, told_source
from tessera.registry import (
    WHOLE_MAX_FAR_FRACTION,
    WHOLE_MIN_PSNR_DB,
    agreement,
    published_files,
    read_manifest,
    write_version,
)
from trainer.likeness_figures import resized
from trainer.onnx_subpixel import subpixel_graph

PHOTO_SIDE = 1024
_GRAPHS = ("onnx", "whole_onnx", "context_onnx")  # the manifest artifacts rewritten, all alike


def rewritten_copy(source: Path, registry: Path) -> tuple[Path, list[str]]:
    """(the version folder of `source` with its graphs in sub-pixel form, written as a version of its
    style in `registry`; the rewrites made). Raises ValueError when the model has none of the patterns."""
    manifest, files = published_files(source)
    made: list[str] = []
    for key in _GRAPHS:
        entry = manifest["artifacts"].get(key)
        if entry is None:
            continue
        model, rewrites = subpixel_graph(onnx.load(str(files[entry["file"]])))
        if key == "onnx" and not rewrites:
            raise ValueError(f"{source}: its model has no full-resolution convolution this rewrite knows")
        files[entry["file"]] = registry / f"subpixel-{entry['file']}"
        onnx.save(model, str(files[entry["file"]]))
        made += [f"{entry['file']}: {line}" for line in rewrites]
    manifest["training"] = {**manifest.get("training", {}), "subpixel_graph": True,
                            "reexported_from": f"{source.parent.name}/{source.name}"}
    number = write_version(registry, source.parent.name, files, manifest)
    return registry / source.parent.name / str(number), made


def pictures(photos: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """(name, HxWx3 uint8) of what the rewritten graphs are compared on: each photo at PHOTO_SIDE px, as it
    is and made foggy (FOG_LEVELS grey levels), flat greys, and a grey with 1-4 levels of noise. A network
    whose norms divide by a picture's spread amplifies a rounding difference most on the last three
    (docs/serving.md, "Sub-pixel decoder": the factorised stem that photos did not catch)."""
    found = []
    for name, photo in photos:
        small = resized(photo, PHOTO_SIDE)
        found.append((name, small))
        found += [(f"{name} in {levels} levels", low_contrast(small, levels)) for levels in FOG_LEVELS]
    flat = np.full((PHOTO_SIDE * 3 // 4, PHOTO_SIDE, 3), 128, np.uint8)
    found += [(f"flat {value}", np.full_like(flat, value)) for value in FLAT_VALUES]
    noise = np.random.default_rng(0).integers(-4, 5, flat.shape)
    found.append(("grey with 1-4 levels of noise", (flat + noise).astype(np.uint8)))
    return found


def photo_figures(source: Path, rewritten: Path, photos: list[tuple[str, np.ndarray]]) -> tuple[list[str], dict]:
    """(problems, {picture: {"far": fraction, "db": PSNR}}) of the rewritten model against its source on
    `pictures(photos)`, whole (ONNX Runtime fp32, two threads)."""
    problems, figures = [], {}
    for name, picture in pictures(photos):
        far, db = agreement(RawRun(rewritten, picture, threads=2)(), RawRun(source, picture, threads=2)())
        figures[name] = {"far": round(far, 6), "db": round(db, 2) if np.isfinite(db) else None}  # None: identical
        if far > WHOLE_MAX_FAR_FRACTION or db < WHOLE_MIN_PSNR_DB:
            problems.append(f"{name}: {far:.4%} of values more than a level apart (at most "
                            f"{WHOLE_MAX_FAR_FRACTION:.1%}), {db:.1f} dB (at least {WHOLE_MIN_PSNR_DB:g})")
    return problems, figures


def summary(figures: dict) -> dict:
    """The manifest's `metrics.subpixel`: the worst agreement with the source over the pictures."""
    return {"pictures": len(figures), "max_far_fraction": max(f["far"] for f in figures.values()),
            "min_psnr_db": min((f["db"] for f in figures.values() if f["db"] is not None), default=None)}


def load_problem(version_dir: Path) -> str | None:
    """Why the server would refuse the version (its probes, its whole.onnx), or None."""
    try:
        load_version(version_dir, LoadSettings(threads=1, cpu_engine="onnxruntime")).retire()
    except VersionRejected as exc:
        return f"the server refuses it: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_version_args(parser)
    parser.add_argument("--publish", action="store_true", help="publish the next version when it paints the same")
    args = parser.parse_args(argv)
    source = told_source(args, _source)
    if source is None:
        return 1
    if holdout_missing():
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        try:
            rewritten, made = rewritten_copy(source, Path(scratch))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        problems, figures = photo_figures(source, rewritten, holdout_photos())
        problems += [p for p in [load_problem(rewritten)] if p]
        print(json.dumps({"version": str(source), "rewrites": made, "agreement": figures, "problems": problems}))
        if problems:
            print(f"{source} in sub-pixel form does not paint what it paints: {'; '.join(problems)}")
            return 2
        print(f"{source} in sub-pixel form paints what it paints")
        if args.publish:
            manifest, files = published_files(rewritten)
            manifest["metrics"] = {**manifest.get("metrics", {}), "subpixel": summary(figures)}
            number = write_version(args.registry, source.parent.name, files, manifest)
            print(f"published {args.style} v{number} in {args.registry / args.style / str(number)}")
    return 0


def _source(args: argparse.Namespace) -> Path:
    """The version folder to rewrite. Raises ValueError for an unknown style or version, one in sub-pixel
    form already or that a newer version is the sub-pixel form of, and a publish from a version that is
    not the newest (its copy would become the newest, and so the served one, in place of a newer network)."""
    versions, number = chosen_version(args)
    if read_manifest(versions[number]).training.get("subpixel_graph"):
        raise ValueError(f"{args.style} v{number} is in sub-pixel form already")
    copies = [v for v, folder in versions.items()
              if read_manifest(folder).training.get("subpixel_graph")
              and read_manifest(folder).training.get("reexported_from") == f"{args.style}/{number}"]
    if copies:
        raise ValueError(f"{args.style} v{copies[0]} is v{number} in sub-pixel form already")
    if args.publish and number != max(versions):
        raise ValueError(f"{args.style} v{number} is not its newest version (v{max(versions)}): publishing its "
                         "sub-pixel form would make an older network the one served")
    return versions[number]


if __name__ == "__main__":
    sys.exit(main())
