"""``export-conditioned RUN --registry DIR --style ID``: the any-painting student becomes a conditioned version.

The version has the registry's style-conditioned layout (docs/registry.md), so every request that
works with the teacher works with it: ``model.onnx`` (image + context row [N, K + D]),
``context.onnx`` (thumbnail + style code -> [1, K + D]), and, copied byte for byte from the teacher's
version, ``encoder.onnx`` (the student was trained on that encoder's codes) and the named presets
with their previews, credits and licences. Two students export this way (``student_parts``):

- ``compact_code`` (kind conditioned, trainer/code_generator.py): K = 6 thumbnail colour statistics;
- ``cin_code`` (kind cin_code_distill, trainer/cin_code_student.py): K = every norm layer's mean and
  std on the thumbnail (ThumbInstanceNorm), computed with the code's scales and shifts.

Nothing is written unless ONNX Runtime reproduces PyTorch on random inputs and tiles reproduce the
whole image (>= 50 dB and at most a quarter level, as for every crop-mode version).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from tessera import registry
from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw, rgb8_to_nchw
from trainer import onnx_export
from trainer.cin_code_student import serving_pair
from trainer.code_generator import CodeContext
from trainer.conditioned_pairs import STUDENT_THUMBNAIL, TEACHER
from trainer.evaluate import read_metrics
from trainer.flops import count_gflops
from trainer.halo import measure_halo
from trainer.messages import one_line
from trainer.metrics import psnr
from trainer.onnx_export import ExportError
from trainer.publish import (
    MAX_TILED_ABS_DIFF,
    MIN_TILED_PSNR_DB,
    PREVIEW_SIZE,
    add_style_meta_arguments,
    git_commit,
    preview_image,
    style_meta_from,
)
from trainer.registry_writes import check_destination, check_style_id, read_version_manifest, write_version
from trainer.runs import RunError, checkpoint_choice, load_generator
from trainer.serving_model import sample_image
from trainer.tiled_check import run_tiled, run_whole

SERVING_BORDER = 40  # px of edge replication around the image (trainer/compact.py): no frame
CHECK_TILE, CHECK_SIDE = 256, 384
CIN_THUMBNAIL = 512  # the cin_code student's statistics, as the teacher's (conditioned_pairs.TEACHER_THUMBNAIL)


@dataclass
class StudentParts:
    """What a conditioned student exports: ``model`` (image [N, 3, H, W], row [N, K + D]) -> painting,
    ``context_model`` (thumbnail [1, 3, h, w], code [1, D]) -> row [1, K + D], and its facts."""

    model: torch.nn.Module
    context_model: torch.nn.Module
    stats_size: int          # K
    thumbnail_size: int      # px, the manifest's tiling.thumbnail_size
    size_multiple: int
    network: str             # the manifest's conditioning.network


def student_parts(net: torch.nn.Module, arch: str) -> StudentParts:
    """The exported parts of a trained ``compact_code`` or ``cin_code`` generator; RunError otherwise."""
    if arch == "compact_code":
        return StudentParts(net.eval(), CodeContext().eval(), int(net.context_dim - net.code_dim), STUDENT_THUMBNAIL,
                            net.size_multiple, "compact-code student of the arbitrary-style teacher")
    if arch == "cin_code":
        model, context_model, k = serving_pair(net.eval())
        shape = {"arbitrary": "float copy of the arbitrary-style transform, fine-tuned as its student",
                 "multistyle26": "multistyle26-shaped student of the arbitrary-style teacher"}[net.layout]
        return StudentParts(model, context_model, k, CIN_THUMBNAIL, net.size_multiple,
                            f"{shape} (code-driven instance norm)")
    raise RunError(f"not a style-code student (kind conditioned or cin_code_distill), but architecture {arch}")


def export_conditioned(run_dir: Path, registry_root: Path, style: str, teacher: Path = TEACHER,
                       which: str = "latest", border: int = SERVING_BORDER, style_meta: dict | None = None,
                       log=print) -> int:
    """Check and publish the run's student as the next version of ``style``; return the version number.
    ``border`` applies to the compact_code student only (the cin_code one pads by reflection, as its
    teacher does)."""
    check_style_id(style)
    source = read_version_manifest(Path(teacher))
    net, info = load_generator(run_dir, which)
    arch = info["model_args"].get("arch")
    if arch == "compact_code":
        net, info = load_generator(run_dir, which, border)
    parts = student_parts(net, arch)
    if source.get("kind") != registry.CONDITIONED or not source["artifacts"].get("encoder_onnx"):
        raise ExportError(f"{teacher} is not a style-conditioned version with an encoder")
    code = np.asarray(source["presets"][0]["code"], np.float32)[None]
    halo = _halo(parts, code)
    with tempfile.TemporaryDirectory(prefix="tessera-export-") as tmp:
        out = Path(tmp)
        figures = _export_onnx(parts, out, code)
        figures |= _check_tiling(out, halo, code, parts.thumbnail_size)
        _write_preview(out, code, parts.thumbnail_size)
        files = {f.name: f for f in out.iterdir()}
        for name in [source["artifacts"]["encoder_onnx"]["file"]] + [p["preview"]["file"] for p in source["presets"]
                                                                    if p.get("preview")]:
            files[name] = Path(shutil.copy(Path(teacher) / name, out / name))
        manifest = {
            "kind": registry.CONDITIONED,
            "artifacts": {"onnx": {"file": "model.onnx"}, "context_onnx": {"file": "context.onnx"},
                          "encoder_onnx": {"file": source["artifacts"]["encoder_onnx"]["file"]},
                          "preview": {"file": "preview.jpg"}},
            "io": registry.io_section(True),
            "tiling": {"tile_safe": True, "halo": halo, "size_multiple": parts.size_multiple, "mode": "crop",
                       "needs_thumbnail": True, "thumbnail_size": parts.thumbnail_size},
            "conditioning": {**source["conditioning"], "context_stats": parts.stats_size, "network": parts.network},
            "presets": source["presets"],
            "training": {"git_commit": git_commit(), "kind": info["kind"], "architecture": arch,
                         "architecture_args": info["model_args"], "steps": info["step"],
                         "dataset": _dataset(arch, info["config"], teacher),
                         "teacher": str(teacher), "gflops_per_256": round(count_gflops(parts.model, 256), 3)},
            "metrics": read_metrics(run_dir),
            "export": figures,
        }
        return write_version(Path(registry_root), style, files, manifest, style_meta, log=log)


def _dataset(arch: str, config: dict, teacher: Path) -> str:
    """The manifest's training.dataset sentence for a run's config."""
    if arch == "cin_code":
        return (f"windows of {config['data_a']} at {', '.join(map(str, config['sizes']))} px in {config['looks']} "
                f"training looks per photo and size, each painted by the teacher {config['teacher']}")
    return f"teacher-pairs cache {config['data_a']} (teacher {teacher})"


def _halo(parts: StudentParts, code: np.ndarray) -> int:
    """The receptive-field halo measured from gradients with a fixed context row (the sample image's),
    on the size-multiple grid."""
    with torch.no_grad():
        context = parts.context_model(sample_image(), torch.from_numpy(code))
    halo = measure_halo(lambda x: parts.model(x, context.expand(len(x), -1)), multiple=parts.size_multiple)
    if halo is None:
        raise ExportError("the student's receptive field is image-wide: it cannot be tiled")
    return halo


def _export_onnx(parts: StudentParts, out: Path, code: np.ndarray) -> dict:
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(n, 3, h, w, generator=gen) * 2 - 1 for n, h, w in ((1, 64, 64), (2, 64, 96), (1, 80, 64))]
    codes = torch.from_numpy(code)
    with torch.no_grad():
        contexts = [parts.context_model(im[:1], codes).expand(len(im), -1).contiguous() for im in images]
    onnx_export.export_generator(parts.model, out / "model.onnx", images[0], contexts[0])
    feeds = [{registry.INPUT_NAME: im, registry.CONTEXT_INPUT: c} for im, c in zip(images, contexts, strict=True)]
    figures = {"onnx_opset": onnx_export.OPSET,
               "max_abs_diff": onnx_export.check_parity(parts.model, out / "model.onnx", feeds)}
    onnx_export.export_conditioned_context_model(parts.context_model, out / "context.onnx", images[0][:1], codes)
    thumbs = [{registry.THUMBNAIL_INPUT: im[:1], registry.STYLE_CODE_INPUT: codes} for im in images]
    figures["context_max_abs_diff"] = onnx_export.check_parity(parts.context_model, out / "context.onnx", thumbs)
    return figures


def _runner(out: Path, rgb8: np.ndarray, code: np.ndarray, thumbnail_size: int):
    """model.onnx with the context of ``rgb8``'s thumbnail and ``code`` bound, as the server runs it."""
    context = onnx_export.session(out / "context.onnx").run(None, {
        registry.THUMBNAIL_INPUT: rgb8_to_nchw(make_thumbnail(rgb8, thumbnail_size)),
        registry.STYLE_CODE_INPUT: code})[0]
    model = onnx_export.session(out / "model.onnx")

    def run(batch: np.ndarray) -> np.ndarray:
        feeds = {registry.INPUT_NAME: batch.astype(np.float32),
                 registry.CONTEXT_INPUT: np.repeat(context, len(batch), axis=0)}
        return model.run(None, feeds)[0]
    return run


def _check_tiling(out: Path, halo: int, code: np.ndarray, thumbnail_size: int) -> dict:
    """Tiled against whole-image ONNX output on the preview photo; ExportError when tiles show seams."""
    rgb8 = np.asarray(Image.fromarray(preview_image()).resize((CHECK_SIDE, CHECK_SIDE), Image.BICUBIC))
    run, chw = _runner(out, rgb8, code, thumbnail_size), rgb8_to_chw(rgb8)
    tiled, whole = run_tiled(run, chw, CHECK_TILE, halo, 4), run_whole(run, chw, 4)
    db, worst = psnr(tiled, whole), float(np.abs(tiled - whole).max())
    if db < MIN_TILED_PSNR_DB or not worst <= MAX_TILED_ABS_DIFF:
        raise ExportError(f"tiled output differs from whole-image output (PSNR {db:.1f} dB, largest difference "
                          f"{worst:.2e}) with halo {halo}; the student is not tile-safe as measured")
    return {"tiled_vs_whole_psnr_db": round(min(db, 100.0), 2), "tiled_vs_whole_max_abs_diff": worst,
            "tiled_check_tile": CHECK_TILE}


def _write_preview(out: Path, code: np.ndarray, thumbnail_size: int) -> None:
    """preview.jpg: the photo at 256 px beside the student's painting in the first preset's look."""
    before = np.asarray(ImageOps.fit(Image.fromarray(preview_image()), (PREVIEW_SIZE, PREVIEW_SIZE), Image.LANCZOS))
    after = chw_to_rgb8(run_whole(_runner(out, before, code, thumbnail_size), rgb8_to_chw(before), 4))
    canvas = Image.new("RGB", (2 * PREVIEW_SIZE, PREVIEW_SIZE))
    canvas.paste(Image.fromarray(before), (0, 0))
    canvas.paste(Image.fromarray(after), (PREVIEW_SIZE, 0))
    canvas.save(out / "preview.jpg", quality=90)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="a kind=conditioned or cin_code_distill run directory")
    parser.add_argument("--registry", type=Path, required=True, help="model registry directory")
    parser.add_argument("--style", required=True, help="style id (lower case, digits, - and _)")
    parser.add_argument("--teacher", type=Path, default=TEACHER, help="the teacher's version folder (its encoder "
                                                                      "and presets are copied)")
    parser.add_argument("--checkpoint", default="latest", type=checkpoint_choice, help="latest or a step number")
    parser.add_argument("--border", type=int, default=SERVING_BORDER, help="image border in px (edge replication; "
                                                                                 "compact_code students only)")
    add_style_meta_arguments(parser)


def main(args: argparse.Namespace) -> int:
    try:
        check_destination(args.registry, args.style, style_meta_from(args))
        version = export_conditioned(args.run_dir, args.registry, args.style, args.teacher, args.checkpoint,
                                     args.border, style_meta_from(args))
    except (RunError, registry.RegistryError, ExportError, OSError, ValueError) as exc:
        print(f"export-conditioned: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"export-conditioned: the field {exc} is missing from {args.teacher}'s manifest or the run's config",
              file=sys.stderr)
        return 2
    print(f"wrote {args.registry / args.style / str(version)}")
    return 0
