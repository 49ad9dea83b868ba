"""Whether a version keeps its quality in bf16, and, with --publish, the same files as the next version
with that bf16 precision among its manifest's `precisions` (docs/registry.md, "Precisions").

    .venv/bin/python -m scripts.bf16_check --style umber-oil [--version 10] [--precision bf16-fp32-stem]
        [--centre-stem] [--publish]

`--precision bf16` (the default) measures the whole network in bf16, `bf16-fp32-stem` the network in
bf16 with its stem (up to the first ReLU after a norm) in fp32, `bf16-fp32-input` the network with only
the picture's preparation for its stem's convolution in fp32, as the server would run it: first the
server's own check (its probe tiles, with the context model it would choose,
inference_server/bf16_forms.py), then the figures below with that context model. `--centre-stem`
measures the version with its stem centred (trainer/centre_stem.py) instead, after checking that
the centred files paint the hold-out photos as the version does in fp32 (at least MIN_CENTRED_PSNR_DB),
and publishes those files.

A distilled student (scripts.train_defaults.RECIPES) is measured as docs/styles.md measures it: the
likeness figures against its teacher on the hold-out photos at 1024 and 4096 px
(scripts.student_figures), with the student on OpenVINO bf16. It keeps its quality when every
high-frequency energy ratio stays within the students' band (1/1.2 to 1.2) and every feature
distance within DISTANCE_SLACK of its fp32 figure in the manifest. Any other version (no teacher)
is compared with itself: each hold-out photo at 1024 px, whole, on OpenVINO bf16 against ONNX
Runtime fp32, at least MIN_PHOTO_PSNR_DB. Every version is also compared with itself on the hold-out
photos made foggy (squeezed into FOG_LEVELS grey levels), at least MIN_FOG_PSNR_DB: a network that
divides by a picture's small spread amplifies bf16's rounding there (Umber Oil v10 painted a 4-level
photo saturated orange in bf16). Needs `make data` and a CPU with native bf16.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx

from bench.paths import RawRun, context_model
from inference_server.bf16_forms import Bf16Form, Bf16Refused, served_form
from inference_server.probe_tiles import FOG_LEVELS, low_contrast
from inference_server.runtime import ContextModel, EngineError, Runtime, cpu_runtime
from inference_server.runtime.openvino_runtime import bf16_available
from inference_server.version_checks import REDUCED_PRECISION_PSNR_DB, VersionRejected, signed_psnr
from scripts.student_figures import holdout_missing, holdout_photos, measure
from scripts.train_defaults import RECIPES
from scripts.version_args import add_version_args, chosen_version, told_source
from tessera.registry import REDUCED_PRECISIONS, published_files, read_manifest, write_version
from trainer.centre_stem import CentreStemError, centre_stem, centre_whole
from trainer.likeness_figures import CROPS_PER_PHOTO, SIZES, resized

HF_BAND = (1 / 1.2, 1.2)
DISTANCE_SLACK = 0.01
MIN_PHOTO_PSNR_DB = 40.0
MIN_CENTRED_PSNR_DB = 60.0  # a centred stem against its source, both fp32: equal but for rounding
MIN_FOG_PSNR_DB = REDUCED_PRECISION_PSNR_DB  # the server's probe gate
PHOTO_SIDE = 1024


def student_verdict(style: str, version_dir: Path, photos: list[tuple[str, np.ndarray]],
                    precision: str) -> tuple[list[str], dict]:
    """(problems, figures at `precision`) of a distilled student; no problems means it keeps its quality."""
    with tempfile.TemporaryDirectory() as out:
        figures = measure(style, int(version_dir.name), version_dir.parent.parent, Path(out), SIZES, CROPS_PER_PHOTO,
                          photos, precision)["figures"]
    fp32 = json.loads((version_dir / "manifest.json").read_text())["metrics"]
    problems = []
    for size in SIZES:
        ratio = figures[f"hf_energy_ratio_{size}"]
        if not HF_BAND[0] <= ratio <= HF_BAND[1]:
            problems.append(f"HF ratio at {size} px is {ratio:.3f}, outside {HF_BAND[0]:.3f}-{HF_BAND[1]:.2f}")
        key = f"vgg16_feature_distance_{size}"
        if key in fp32 and figures[key] > fp32[key] + DISTANCE_SLACK:
            problems.append(f"distance at {size} px is {figures[key]:.3f} against {fp32[key]:.3f} in fp32")
    return problems, figures


class Models(NamedTuple):
    """What the photo and fog verdicts run, loaded once for every photo and fog level."""

    fp32: Runtime  # the version's model on ONNX Runtime fp32
    reduced: Runtime  # the same at the precision measured
    fp32_context: ContextModel | None  # its context model beside each, as the server runs it (None when it has none)
    reduced_context: ContextModel | None


def load_models(version_dir: Path, precision: str) -> tuple[Models, Bf16Form]:
    """The version in fp32 and at `precision` as the server would serve it (with the context model it
    would choose, inference_server/bf16_forms.py), and that form. Raises Bf16Refused when the server
    would keep the version on ONNX Runtime."""
    manifest = read_manifest(version_dir)
    form = served_form(version_dir, precision, threads=2)
    models = Models(cpu_runtime(version_dir / manifest.onnx.file, "fp32", threads=2), form.runtime,
                    context_model(version_dir, manifest, threads=2), form.context_model)
    return models, form


def photo_verdict(version_dir: Path, photos: list[tuple[str, np.ndarray]], models: Models,
                  levels: int | None = None, minimum: float = MIN_PHOTO_PSNR_DB,
                  figure: str = "bf16_psnr_db") -> tuple[list[str], dict]:
    """(problems, PSNR per photo in dB) of the reduced precision against fp32 (`models`) on whole
    hold-out photos at PHOTO_SIDE px, squeezed into `levels` grey levels around mid-grey when given."""
    scores = {}
    for name, photo in photos:
        small = resized(photo, PHOTO_SIDE)
        if levels is not None:
            small = low_contrast(small, levels)
        fp32, reduced = (RawRun(version_dir, small, threads=2, runtime=runtime, context_runtime=context)()
                         for runtime, context in ((models.fp32, models.fp32_context),
                                                  (models.reduced, models.reduced_context)))
        scores[name] = round(signed_psnr(reduced, fp32), 2)
    what = "" if levels is None else f" in {levels} grey levels"
    problems = [f"{name}{what}: {db} dB (at least {minimum:.0f})" for name, db in scores.items() if db < minimum]
    return problems, {f"{figure}_per_photo{'' if levels is None else f'_{levels}_levels'}": scores}


def fog_verdict(version_dir: Path, photos: list[tuple[str, np.ndarray]], models: Models) -> tuple[list[str], dict]:
    """(problems, PSNR per photo in dB) of the reduced precision against fp32 on the hold-out photos made foggy."""
    problems, figures = [], {}
    for levels in FOG_LEVELS:
        found, scores = photo_verdict(version_dir, photos, models, levels, MIN_FOG_PSNR_DB)
        problems += found
        figures.update(scores)
    return problems, figures


def publish_bf16(version_dir: Path, figures: dict, precision: str, registry: Path, source: Path) -> int:
    """`version_dir`'s files as the next version of its style in `registry`, its manifest listing
    `precision` and its figures (`metrics.bf16`, with the precision they were measured at) and naming
    the published version they came from (`source`); returns the new number."""
    manifest, files = published_files(version_dir)
    manifest["precisions"] = ["fp32", precision]
    manifest["metrics"] = {**manifest.get("metrics", {}), "bf16": {"precision": precision, **figures}}
    manifest["training"] = {**manifest.get("training", {}),
                            "reexported_from": f"{source.parent.name}/{source.name}"}
    return write_version(registry, version_dir.parent.name, files, manifest)


def centred_copy(version_dir: Path, registry: Path) -> Path:
    """The version with its stem centred (trainer/centre_stem.py: the same painting, smaller numbers in
    its stem for bf16) as a version of its style in the scratch `registry`; its folder."""
    manifest, files = published_files(version_dir)
    if "context_onnx" not in manifest["artifacts"]:
        raise CentreStemError("the version has no context model to carry the mean colour")
    if manifest["artifacts"].get("tensorrt"):
        raise CentreStemError("its TensorRT plans were built for the uncentred model; centre a version "
                              "without plans and build them from the centred one")
    generator, context = centre_stem(onnx.load(str(files[manifest["artifacts"]["onnx"]["file"]])),
                                     onnx.load(str(files[manifest["artifacts"]["context_onnx"]["file"]])))
    centred = [("onnx", generator), ("context_onnx", context)]
    if "whole_onnx" in manifest["artifacts"]:  # the one-pass model must keep giving the two passes' pixels
        centred.append(("whole_onnx", centre_whole(onnx.load(str(files[manifest["artifacts"]["whole_onnx"]["file"]])))))
    for key, model in centred:
        name = manifest["artifacts"][key]["file"]
        files[name] = registry / f"centred-{name}"
        onnx.save(model, str(files[name]))
    manifest["training"] = {**manifest.get("training", {}), "centred_stem": True}
    number = write_version(registry, version_dir.parent.name, files, manifest)
    return registry / version_dir.parent.name / str(number)


def centring_verdict(source: Path, centred: Path, photos: list[tuple[str, np.ndarray]]) -> tuple[list[str], dict]:
    """(problems, PSNR per photo in dB) of the centred version against its source, both in fp32: in exact
    arithmetic they paint alike, so anything under MIN_CENTRED_PSNR_DB is a graph the centring broke."""
    folders = {folder: read_manifest(folder) for folder in (source, centred)}
    runtimes = [cpu_runtime(folder / manifest.onnx.file, "fp32", threads=2) for folder, manifest in folders.items()]
    contexts = [context_model(folder, manifest, threads=2) for folder, manifest in folders.items()]
    models = Models(runtimes[0], runtimes[1], contexts[0], contexts[1])
    return photo_verdict(source, photos, models, minimum=MIN_CENTRED_PSNR_DB, figure="centred_fp32_psnr_db")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_version_args(parser)
    parser.add_argument("--precision", choices=REDUCED_PRECISIONS, default=REDUCED_PRECISIONS[0],
                        help="bf16: the whole network; bf16-fp32-input: the picture's preparation for the stem's "
                             "convolution in fp32 (for centred stems); bf16-fp32-stem: its stem (up to the first "
                             "ReLU after a norm) in fp32")
    parser.add_argument("--centre-stem", action="store_true",
                        help="measure (and publish) the version with its stem centred (trainer/centre_stem.py)")
    parser.add_argument("--publish", action="store_true", help="publish the next version when quality holds")
    args = parser.parse_args(argv)
    source = told_source(args, _source)
    if source is None:
        return 1
    if not bf16_available():
        print("error: OpenVINO is missing or this CPU has no native bf16", file=sys.stderr)
        return 1
    if holdout_missing():
        return 1
    photos = holdout_photos()
    with tempfile.TemporaryDirectory() as scratch:
        return _check(source, photos, args, Path(scratch))


def _source(args: argparse.Namespace) -> Path:
    """The version folder to measure, after the checks that need no measuring. Raises ValueError for
    an unknown style or version, a centring asked twice (of a centred version, or of a source that a
    newer version is already the centred copy of), a bf16-fp32-input form for a stem not centred, and
    a publish of a version that lists a bf16 form already."""
    versions, number = chosen_version(args)
    source = versions[number]
    manifest = read_manifest(source)
    centred = bool(manifest.training.get("centred_stem"))
    if args.centre_stem and centred:
        raise ValueError(f"{args.style} v{number} is centred already; measure it without --centre-stem")
    if args.centre_stem:
        copies = [v for v, folder in versions.items() if _centred_copy_of(folder, args.style, number)]
        if copies:
            raise ValueError(f"{args.style} v{copies[0]} is v{number} centred already; measure v{copies[0]} instead")
    if args.precision == "bf16-fp32-input" and not (centred or args.centre_stem):
        raise ValueError(f"bf16-fp32-input is for centred stems, and {args.style} v{number} is not centred: "
                         "add --centre-stem, or choose bf16 or bf16-fp32-stem")
    listed = set(manifest.precisions) & set(REDUCED_PRECISIONS)
    if args.publish and listed and not args.centre_stem:
        raise ValueError(f"{args.style} v{number} already lists {', '.join(sorted(listed))}; nothing to publish")
    return source


def _centred_copy_of(folder: Path, style: str, number: int) -> bool:
    training = read_manifest(folder).training
    return bool(training.get("centred_stem")) and training.get("reexported_from") == f"{style}/{number}"


def _check(source: Path, photos: list[tuple[str, np.ndarray]], args: argparse.Namespace, scratch: Path) -> int:
    version_dir, problems, figures = source, [], {}
    if args.centre_stem:
        try:
            version_dir = centred_copy(source, scratch)
        except CentreStemError as exc:
            print(f"error: {source} cannot be centred: {exc}", file=sys.stderr)
            return 1
        problems, figures = centring_verdict(source, version_dir, photos)
    precision = args.precision
    what = f"{source} with its stem centred" if args.centre_stem else str(source)
    try:
        models, form = load_models(version_dir, precision)
    except Bf16Refused as exc:
        print(f"{what} does not keep its quality in {precision}: a server would keep it on ONNX Runtime: {exc}")
        return 2
    except (EngineError, VersionRejected) as exc:
        print(f"error: a server would not load {what} at all: {exc}", file=sys.stderr)
        return 1
    figures["probe_psnr_db"] = round(form.psnr_db, 2)
    if form.context_model is not None:
        figures["context_precision"] = form.context_model.precision
    if args.style in {r.id for r in RECIPES if r.distilled}:
        found, measured = student_verdict(args.style, version_dir, photos, precision)
    else:
        found, measured = photo_verdict(version_dir, photos, models)
    fog_problems, fog_figures = fog_verdict(version_dir, photos, models)
    problems, figures = problems + found + fog_problems, {**figures, **measured, **fog_figures}
    print(json.dumps({"version": what, "precision": precision, "bf16": figures, "problems": problems}))
    if problems:
        print(f"{what} does not keep its quality in {precision}: {'; '.join(problems)}")
        return 2
    print(f"{what} keeps its quality in {precision}")
    if args.publish:
        number = publish_bf16(version_dir, figures, precision, args.registry, source)
        print(f"published {args.style} v{number} in {args.registry / args.style / str(number)} ({what}, "
              f"precisions fp32 and {precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
