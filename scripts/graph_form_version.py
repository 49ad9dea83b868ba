"""Whether a version's graphs in another form paint what the version paints, and, with --publish, that
form as the next version of its style. Forms (`FORMS`):

- `subpixel`: trainer/onnx_subpixel.py, the decoder's full-resolution convolutions at low resolution;
  the same sums in another float order.
- `lookup`: trainer/onnx_lookup.py, requantisation chains as lookup tables and copies on the 8-bit side;
  the same arithmetic.
- `integer`: trainer/onnx_integer.py, an int8 graph's sums as exact integers in fp32, so that OpenVINO
  fp32 gives ONNX Runtime's bytes; built from the source's lineage (`integer_sources`), its context
  model kept, its whole.onnx composed of the two (trainer/onnx_one_pass.py); listed as `fp32-openvino`.

    .venv/bin/python -m scripts.graph_form_version --form lookup --style any-painting-best [--version 3] [--publish]

The rewritten model.onnx, with its rewritten context model, must give the version's own pixels on
every hold-out photo at PHOTO_SIDE px, as it is and made foggy, and on flat and noisy greys (`pictures`),
whole, with the server's context: a form that reorders sums at most WHOLE_MAX_FAR_FRACTION of values
more than one 8-bit level apart and at least WHOLE_MIN_PSNR_DB (`tessera.registry.agreement`, the
standard a whole.onnx meets against its two passes), an exact form the same bytes. The integer form,
whose exact sums round elsewhere than the source's fp32 ones, must on each picture be at least as close
to the network's own arithmetic (its QDQ graph in float64, trainer/onnx_float64.py) as the source on
ONNX Runtime is, and give the same bytes on OpenVINO fp32 (`integer_figures`). Its whole.onnx,
when it has one, is rewritten the same way, and the new version must then load as the server loads it
(its probes, and whole.onnx against its two passes).
Prints the figures as JSON. Needs `make data`. For the speed, profile both versions' tiles with
`python -m scripts.graph_profile model_registry/STYLE/N --tile 1152x1152 --threads 1`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from bench.paths import RawRun
from inference_server.conditioned_version import probe_code
from inference_server.model_version import LoadSettings, load_version
from inference_server.probe_tiles import FLAT_VALUES, FOG_LEVELS, low_contrast
from inference_server.version_checks import VersionRejected
from scripts.student_figures import holdout_missing, holdout_photos
from scripts.version_args import add_version_args, chosen_version, told_source
from tessera.onnx_session import open_session
from tessera.registry import (
    OPENVINO_FP32,
    STYLE_CODE_INPUT,
    WHOLE_MAX_FAR_FRACTION,
    WHOLE_MIN_PSNR_DB,
    agreement,
    published_files,
    read_manifest,
    write_version,
)
from trainer.likeness_figures import resized
from trainer.onnx_integer import IntegerFormError, integer_graph
from trainer.onnx_lookup import lookup_graph
from trainer.onnx_one_pass import one_pass_graph
from trainer.onnx_subpixel import subpixel_graph

PHOTO_SIDE = 1024
# The integer form against the network's own arithmetic (float64): on each picture at least as close as the
# source on ONNX Runtime, by PSNR and by the fraction of values more than a level off (`exact_shortfall`).
# Above EXACT_CAP_DB a picture is its arithmetic to within the output's own rounding (one level off on
# every value is 48.1 dB), so a PSNR there counts as the cap: the form's output table (at most 0.008 of a
# level) may move values across a level boundary where the source happens to move none.
EXACT_CAP_DB = 50.0
_GRAPHS = ("onnx", "whole_onnx", "context_onnx")  # the manifest artifacts rewritten, all alike


@dataclass(frozen=True)
class Form:
    """A rewrite of a version's graphs: its name in sentences, the rewrite, the manifest's `training` key
    that marks a version in the form, its `metrics` key, and whether it must give the same bytes."""

    title: str
    rewrite: Callable[[onnx.ModelProto], tuple[onnx.ModelProto, list[str]]] | None
    key: str
    metrics: str
    exact: bool
    nothing_to_do: str


FORMS = {  # by --form
    "subpixel": Form("sub-pixel", subpixel_graph, "subpixel_graph", "subpixel", False,
                     "its model has no full-resolution convolution this rewrite knows"),
    "lookup": Form("lookup", lookup_graph, "lookup_graph", "lookup", True,
                   "its model has no requantisation chain or copy this rewrite knows"),
    "integer": Form("integer", None, "integer_graph", "integer", False, ""),
}


def integer_sources(source: Path) -> tuple[Path, Path]:
    """(the version whose model.onnx is `source`'s network as an int8 QDQ graph before lookup tables,
    the version whose model.onnx holds its weight scales before the sub-pixel rewrite), found by
    following `training.reexported_from` (any-painting-best v4 -> v3 -> v2). Raises ValueError when the
    lineage is not in the registry."""
    def before(folder: Path, key: str) -> Path:
        while read_manifest(folder).training.get(key):
            parent = read_manifest(folder).training.get("reexported_from", "")
            folder = folder.parents[1] / parent
            if not parent or not (folder / "manifest.json").is_file():
                raise ValueError(f"{source}: its lineage ({parent or 'none'}) is not in the registry")
        return folder

    graph = before(source, "lookup_graph")
    if not read_manifest(graph).training.get("subpixel_graph"):
        raise ValueError(f"{source}: the integer form is built from a sub-pixel graph ({graph} is not one)")
    return graph, before(graph, "subpixel_graph")


def _integer_copy(source: Path, registry: Path, form: Form) -> tuple[Path, list[str]]:
    """`rewritten_copy` for the integer form: model.onnx built from the lineage's graphs, the context
    model as it is (the form reads the same row), whole.onnx composed of the two, `fp32-openvino` listed."""
    manifest, files = published_files(source)
    graph, scales = integer_sources(source)
    try:
        model, made = integer_graph(onnx.load(str(graph / "model.onnx")), onnx.load(str(scales / "model.onnx")))
    except IntegerFormError as exc:
        raise ValueError(f"{source}: {exc}") from None
    made = [f"model.onnx from {graph.name}/model.onnx, weight scales from {scales.name}/model.onnx: {line}"
            for line in made]
    entry = manifest["artifacts"]["onnx"]
    files[entry["file"]] = registry / f"integer-{entry['file']}"
    onnx.save(model, str(files[entry["file"]]))
    whole = manifest["artifacts"].get("whole_onnx")
    if whole is not None:
        context = onnx.load(str(files[manifest["artifacts"]["context_onnx"]["file"]]))
        files[whole["file"]] = registry / f"integer-{whole['file']}"
        onnx.save(one_pass_graph(context, model), str(files[whole["file"]]))
        made.append(f"{whole['file']}: the context model per image (Scan), then model.onnx")
    manifest["precisions"] = [*manifest.get("precisions", ["fp32"]), OPENVINO_FP32]
    manifest["training"] = {**manifest.get("training", {}), form.key: True,
                            "reexported_from": f"{source.parent.name}/{source.name}"}
    number = write_version(registry, source.parent.name, files, manifest)
    return registry / source.parent.name / str(number), made


def rewritten_copy(source: Path, registry: Path, form: Form) -> tuple[Path, list[str]]:
    """(the version folder of `source` with its graphs in `form`, written as a version of its style in
    `registry`; the rewrites made). Raises ValueError when the model has none of the form's patterns."""
    if form.rewrite is None:
        return _integer_copy(source, registry, form)
    manifest, files = published_files(source)
    made: list[str] = []
    for key in _GRAPHS:
        entry = manifest["artifacts"].get(key)
        if entry is None:
            continue
        model, rewrites = form.rewrite(onnx.load(str(files[entry["file"]])))
        if key == "onnx" and not rewrites:
            raise ValueError(f"{source}: {form.nothing_to_do}")
        files[entry["file"]] = registry / f"{form.metrics}-{entry['file']}"
        onnx.save(model, str(files[entry["file"]]))
        made += [f"{entry['file']}: {line}" for line in rewrites]
    manifest["training"] = {**manifest.get("training", {}), form.key: True,
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


def photo_figures(source: Path, rewritten: Path, photos: list[tuple[str, np.ndarray]],
                  exact: bool = False) -> tuple[list[str], dict]:
    """(problems, {picture: {"far": fraction, "db": PSNR}}) of the rewritten model against its source on
    `pictures(photos)`, whole (ONNX Runtime fp32, two threads). With `exact`, any difference is a problem."""
    problems, figures = [], {}
    for name, picture in pictures(photos):
        ours, theirs = RawRun(rewritten, picture, threads=2)(), RawRun(source, picture, threads=2)()
        far, db = agreement(ours, theirs)
        figures[name] = {"far": round(far, 6), "db": round(db, 2) if np.isfinite(db) else None}  # None: identical
        if exact and not np.array_equal(ours, theirs):
            problems.append(f"{name}: not the same bytes ({far:.4%} of values more than a level apart, {db:.1f} dB)")
        elif far > WHOLE_MAX_FAR_FRACTION or db < WHOLE_MIN_PSNR_DB:
            problems.append(f"{name}: {far:.4%} of values more than a level apart (at most "
                            f"{WHOLE_MAX_FAR_FRACTION:.1%}), {db:.1f} dB (at least {WHOLE_MIN_PSNR_DB:g})")
    return problems, figures


def integer_figures(source: Path, rewritten: Path, photos: list[tuple[str, np.ndarray]]) -> tuple[list[str], dict]:
    """(problems, {picture: figures}) of the integer form on `pictures(photos)`, whole, with the server's
    context (two threads): `exact_db` of the form on ONNX Runtime against the network's own arithmetic (its
    QDQ graph, `integer_sources`, evaluated in float64: trainer/onnx_float64.py), `source_exact_db` of the
    source on ONNX Runtime against the same, `db`/`far` of the form against the source, and
    `openvino_same` whether OpenVINO fp32 gives the form's bytes. A problem where the form is further from
    the network's arithmetic than the source is, or OpenVINO differs. (About 30 s a picture.)"""
    from inference_server.runtime import cpu_runtime
    from trainer.onnx_float64 import float64_outputs

    network = onnx.load(str(integer_sources(source)[0] / "model.onnx"))
    form_file = rewritten / read_manifest(rewritten).onnx.file
    form, openvino = cpu_runtime(form_file, "fp32", 2), cpu_runtime(form_file, OPENVINO_FP32, 2)
    problems, figures = [], {}
    for name, picture in pictures(photos):
        run = RawRun(source, picture, threads=2)
        theirs = run()
        ours = form.execute(run.image, run.context)
        exact = float64_outputs(network, {"image": run.image, "context": run.context})[0].astype(np.float32)
        (far, db), (exact_far, exact_db), (source_exact_far, source_exact_db) = (
            agreement(ours, theirs), agreement(ours, exact), agreement(theirs, exact))
        same = bool(np.array_equal(openvino.execute(run.image, run.context), ours))
        figures[name] = {"exact_db": _finite(exact_db), "exact_far": round(exact_far, 6),
                         "source_exact_db": _finite(source_exact_db), "source_exact_far": round(source_exact_far, 6),
                         "db": _finite(db), "far": round(far, 6), "openvino_same": same}
        shortfall = exact_shortfall(ours, theirs, exact)
        if shortfall:
            problems.append(f"{name}: {shortfall}")
        if not same:
            problems.append(f"{name}: OpenVINO fp32 does not give the form's bytes")
        run.release()
    form.finalize()
    openvino.finalize()
    return problems, figures


def exact_shortfall(ours: np.ndarray, theirs: np.ndarray, exact: np.ndarray) -> str | None:
    """Why the form's output `ours` is further from the network's float64 arithmetic `exact` than the
    source's output `theirs` is (all float [N, 3, H, W] in [-1, 1]), or None: a lower PSNR (a PSNR above
    EXACT_CAP_DB counting as the cap) or more values more than one 8-bit level off."""
    (far, db), (their_far, their_db) = agreement(ours, exact), agreement(theirs, exact)
    if min(db, EXACT_CAP_DB) < min(their_db, EXACT_CAP_DB):
        return (f"{db:.1f} dB from the network's arithmetic (float64), where the source on ONNX Runtime is "
                f"{their_db:.1f} dB from it")
    if far > their_far:
        return (f"{far:.4%} of values more than a level from the network's arithmetic (float64), where the "
                f"source on ONNX Runtime has {their_far:.4%}")
    return None


def _finite(db: float) -> float | None:
    """PSNR in dB for JSON, None for identical pictures. (`signed_psnr`'s peak is 2, the [-1, 1] range:
    the same figure as an 8-bit PSNR with peak 255.)"""
    return round(db, 2) if np.isfinite(db) else None


def integer_path_problems(rewritten: Path, photos: list[tuple[str, np.ndarray]]) -> list[str]:
    """Where the integer form is not itself on the paths `integer_figures` does not take: a batch of two
    pictures with their own contexts against each alone, and whole.onnx (one pass) against its two
    passes on each, with the first preset's code; and whether a server with --cpu-engine auto serves it
    on OpenVINO fp32 (its probes give ONNX Runtime's bytes)."""
    crops = [picture[:96, :128] for _, picture in photos[:2]]
    runs = [RawRun(rewritten, crop, threads=2) for crop in crops]
    problems = []
    alone = np.concatenate([run() for run in runs])
    if not np.array_equal(_batch_of(runs), alone):
        problems.append("a batch of two pictures: not the bytes of each alone")
    manifest = read_manifest(rewritten)
    whole = getattr(manifest.artifacts, "whole_onnx", None)
    if whole is not None:
        session = open_session(str(rewritten / whole.file), threads=2)
        code = probe_code(manifest)
        for (name, _), run, two in zip(photos[:2], runs, alone, strict=True):
            one = session.run(None, {"image": run.image, STYLE_CODE_INPUT: code})[0]
            if not np.array_equal(one[0], two):
                problems.append(f"{name} in one pass (whole.onnx): not the bytes of the two passes")
    loaded = load_version(rewritten, LoadSettings(threads=1, cpu_engine="auto"))
    try:
        if loaded.runtime.name != "openvino-cpu-fp32":
            problems.append(f"a server with --cpu-engine auto serves it on {loaded.runtime.name}")
    finally:
        loaded.retire()
    return problems


def other_path_problems(source: Path, rewritten: Path, photos: list[tuple[str, np.ndarray]]) -> list[str]:
    """Where an exact form gives other bytes than its source on the paths `photo_figures` does not take:
    the tiles' model on a batch of two pictures with their own contexts (the server batches tiles of
    different streams), and whole.onnx (the one pass) on each picture with the source's first preset's
    code, where both have one."""
    crops = [picture[:96, :128] for _, picture in photos[:2]]
    if len(crops) < 2 or any(c.shape != crops[0].shape for c in crops):
        return ["other paths: need two pictures of at least 128 x 96 px"]
    problems = []
    runs = {folder: [RawRun(folder, crop, threads=2) for crop in crops] for folder in (source, rewritten)}
    if not np.array_equal(*(_batch_of(runs[folder]) for folder in (source, rewritten))):
        problems.append("a batch of two pictures: not the same bytes")
    manifests = {folder: read_manifest(folder) for folder in (source, rewritten)}
    wholes = {folder: getattr(m.artifacts, "whole_onnx", None) for folder, m in manifests.items()}
    if None not in wholes.values():
        code = probe_code(manifests[source])
        sessions = [open_session(str(folder / whole.file), threads=2) for folder, whole in wholes.items()]
        for (name, _), run in zip(photos[:2], runs[source], strict=True):
            outputs = [session.run(None, {session.get_inputs()[0].name: run.image, STYLE_CODE_INPUT: code})[0]
                       for session in sessions]
            if not np.array_equal(*outputs):
                problems.append(f"{name} in one pass (whole.onnx): not the same bytes")
    return problems


def _batch_of(runs: list[RawRun]) -> np.ndarray:
    """The tiles' model of `runs` on all their pictures at once, each with its own context."""
    contexts = [run.context for run in runs]
    return runs[0].runtime.execute(np.concatenate([run.image for run in runs]),
                                   None if contexts[0] is None else np.concatenate(contexts))


def summary(figures: dict) -> dict:
    """The manifest's `metrics.<form>`: the worst agreement with the source over the pictures."""
    return {"pictures": len(figures), "max_far_fraction": max(f["far"] for f in figures.values()),
            "min_psnr_db": min((f["db"] for f in figures.values() if f["db"] is not None), default=None)}


def integer_summary(figures: dict) -> dict:
    """The manifest's `metrics.integer`: the worst distances (dB; None where identical) of the form and of
    the source from the network's float64 arithmetic and of the form from the source, the smallest margin
    of the form over the source there, and whether OpenVINO gave the form's bytes on all pictures."""
    def worst(key: str) -> float | None:
        return min((f[key] for f in figures.values() if f[key] is not None), default=None)

    margins = [f["exact_db"] - f["source_exact_db"] for f in figures.values()
               if None not in (f["exact_db"], f["source_exact_db"])]
    return {"pictures": len(figures), "min_exact_psnr_db": worst("exact_db"),
            "min_source_exact_psnr_db": worst("source_exact_db"), "min_psnr_db": worst("db"),
            "min_margin_db": round(min(margins), 2) if margins else None,
            "max_far_fraction": max(f["far"] for f in figures.values()),
            "exact_cap_db": EXACT_CAP_DB,
            "openvino_fp32_same_bytes": all(f["openvino_same"] for f in figures.values())}


def load_problem(version_dir: Path) -> str | None:
    """Why the server would refuse the version (its probes, its whole.onnx), or None."""
    try:
        load_version(version_dir, LoadSettings(threads=1, cpu_engine="onnxruntime")).retire()
    except VersionRejected as exc:
        return f"the server refuses it: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--form", required=True, choices=sorted(FORMS), help="the rewrite (see FORMS)")
    add_version_args(parser)
    parser.add_argument("--publish", action="store_true", help="publish the next version when it paints the same")
    args = parser.parse_args(argv)
    form = FORMS[args.form]
    source = told_source(args, lambda a: _source(a, form))
    if source is None:
        return 1
    if holdout_missing():
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        try:
            rewritten, made = rewritten_copy(source, Path(scratch), form)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        photos = holdout_photos()
        if form.rewrite is None:
            problems, figures = integer_figures(source, rewritten, photos)
            problems += integer_path_problems(rewritten, photos)
        else:
            problems, figures = photo_figures(source, rewritten, photos, form.exact)
        if form.exact:
            problems += other_path_problems(source, rewritten, photos)
        problems += [p for p in [load_problem(rewritten)] if p]
        print(json.dumps({"version": str(source), "rewrites": made, "agreement": figures, "problems": problems}))
        if problems:
            print(f"{source} in {form.title} form does not paint what it paints: {'; '.join(problems)}")
            return 2
        print(f"{source} in {form.title} form paints what it paints")
        if args.publish:
            manifest, files = published_files(rewritten)
            manifest["metrics"] = {**manifest.get("metrics", {}),
                                   form.metrics: integer_summary(figures) if form.rewrite is None else summary(figures)}
            number = write_version(args.registry, source.parent.name, files, manifest)
            print(f"published {args.style} v{number} in {args.registry / args.style / str(number)}")
    return 0


def _source(args: argparse.Namespace, form: Form) -> Path:
    """The version folder to rewrite. Raises ValueError for an unknown style or version, one in the form
    already or that a newer version is the form of, and a publish from a version that is not the newest
    (its copy would become the newest, and so the served one, in place of a newer network)."""
    versions, number = chosen_version(args)
    if read_manifest(versions[number]).training.get(form.key):
        raise ValueError(f"{args.style} v{number} is in {form.title} form already")
    copies = [v for v, folder in versions.items()
              if read_manifest(folder).training.get(form.key)
              and read_manifest(folder).training.get("reexported_from") == f"{args.style}/{number}"]
    if copies:
        raise ValueError(f"{args.style} v{copies[0]} is v{number} in {form.title} form already")
    if args.publish and number != max(versions):
        raise ValueError(f"{args.style} v{number} is not its newest version (v{max(versions)}): publishing its "
                         f"{form.title} form would make an older network the one served")
    return versions[number]


if __name__ == "__main__":
    sys.exit(main())
