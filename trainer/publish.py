"""Turn a PyTorch generator into a registry version: measure, export, verify, preview, write.

Both ``export`` (trained runs) and ``import_cyclegan`` (foreign checkpoints) end here, so the
manifest is assembled in one place. Nothing is written to the registry unless ONNX Runtime
reproduces PyTorch on random inputs of a few sizes.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from tessera import registry
from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw, rgb8_to_nchw
from tessera.tiling import DEFAULT_TILE_SIZE, MAX_HALO, MAX_THUMBNAIL_SIZE, MIN_THUMBNAIL_SIZE, round_up
from trainer import onnx_export, tensorrt_build
from trainer.critic_export import CRITIC_FILE, export_critic
from trainer.halo import measure_halo, measure_size_multiple
from trainer.metrics import psnr
from trainer.registry_writes import check_style_id, check_style_meta, write_version
from trainer.serving_model import ServingModel, sample_image
from trainer.tiled_check import run_tiled, run_whole

THUMBNAIL_SIZE = 256
PREVIEW_SIZE = 256
# The tiling check runs at the server's default core size over a photo 1.5 times as large: a 2x2
# grid of tiles, so there are inner edges in both directions.
CHECK_TILE = DEFAULT_TILE_SIZE
# Tiled output of a crop-mode model must equal whole-image output up to float round-off. PSNR alone
# would hide a halo that is a little too small (the seams are thin lines), so the largest pixel
# difference is bounded too: a quarter of one 8-bit level in the [-1, 1] range.
MIN_TILED_PSNR_DB = 50.0
MAX_TILED_ABS_DIFF = 0.25 * 2 / 255


def check_thumbnail_size(size: int, flag: str = "") -> None:
    """ExportError unless ``size`` is a thumbnail side a manifest may ask for (tessera.tiling's
    MIN_THUMBNAIL_SIZE to MAX_THUMBNAIL_SIZE px); ``flag``, when given, is named at the end of the message."""
    if not MIN_THUMBNAIL_SIZE <= size <= MAX_THUMBNAIL_SIZE:
        raise onnx_export.ExportError(f"thumbnail size must be {MIN_THUMBNAIL_SIZE} to {MAX_THUMBNAIL_SIZE} px, "
                                      f"got {size}"
                                      + (f" ({flag})" if flag else ""))


def thumbnail_size_for(net: nn.Module) -> int:
    """The thumbnail side a generator's context comes from: multistyle26 students take their teacher's
    (512 px, as teacher-26 is served: trainer.cin_models.THUMBNAIL_SIZE), every other generator publish's default."""
    from trainer.cin_models import THUMBNAIL_SIZE as CIN_THUMBNAIL_SIZE  # imports torch and onnx: only here
    from trainer.cin_student import CinStudent

    return CIN_THUMBNAIL_SIZE if isinstance(net, CinStudent) else THUMBNAIL_SIZE


@dataclass(frozen=True)
class CarriedCritic:
    """An earlier version's critic.onnx, shipped again byte for byte with its manifest section and
    export figures: for a re-export of that version's own weights (e.g. with an image border), whose
    outputs the critic was fitted to."""

    path: Path
    section: dict
    figures: dict


def carried_critic(version_dir: Path) -> CarriedCritic:
    """The critic of a registry version folder; RegistryError when it has none."""
    manifest = registry.read_manifest(Path(version_dir))
    if manifest.critic is None or manifest.artifacts.critic is None:
        raise registry.RegistryError(f"{version_dir} has no critic to carry over")
    raw = json.loads((Path(version_dir) / "manifest.json").read_text())
    figures = {k: v for k, v in raw.get("export", {}).items() if k.startswith("critic_")}
    return CarriedCritic(Path(version_dir) / manifest.artifacts.critic.file, raw["critic"],
                         {**figures, "critic_from_version": manifest.version})


def served_border(model: ServingModel) -> tuple[ServingModel, int]:
    """The model to export without its generator's image border, and that border in px (0: none).

    A compact generator built with ``border`` > 0 pads the whole input with edge replication
    (trainer/compact.py). Exported that way, every tile would pay for it, inside the image too; so the
    graph goes out without it and the manifest's ``tiling.border`` has the server add it to a tile's
    sides on the image's edge only (tessera.tiling.image_border): the same pixels, less work."""
    border = int(getattr(model.generator, "border", 0) or 0)
    if not border:
        return model, 0
    return dataclasses.replace(model, generator=without_border(model.generator)), border


def without_border(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of a generator with its image border turned off (the network itself when it has none)."""
    if not getattr(net, "border", 0):
        return net
    bare = copy.deepcopy(net)
    bare.border = 0
    return bare


def measure_tiling(model: ServingModel, thumbnail_size: int = THUMBNAIL_SIZE) -> dict:
    """The manifest's ``tiling`` section, measured on the network (halo from gradients).

    A halo that is image-wide or larger than the server's MAX_HALO cannot give seamless crops:
    such a model is declared ``feather`` with the largest halo the server accepts.
    """
    context = model.context_for(sample_image())

    def fn(image: torch.Tensor) -> torch.Tensor:
        if context is None:
            return model.generator(image)
        return model.generator(image, context.expand(image.shape[0], -1))

    multiple = measure_size_multiple(fn)
    max_side = round_up(2 * MAX_HALO + 2 * multiple + 2, multiple)
    halo = measure_halo(fn, multiple=multiple, max_side=max(max_side, 3 * multiple))
    seamless = halo is not None and halo <= MAX_HALO
    needs_thumbnail = model.context_model is not None
    return {
        "tile_safe": seamless,
        "halo": halo if seamless else MAX_HALO // multiple * multiple or multiple,
        "size_multiple": multiple,
        "mode": "crop" if seamless else "feather",
        "needs_thumbnail": needs_thumbnail,
        "thumbnail_size": thumbnail_size,
    }


def _parity_shapes(multiple: int) -> list[tuple[int, int, int]]:
    """(N, H, W) of the random parity inputs: a square, a wide batch of two, a tall one."""
    side = round_up(64, multiple)
    return [(1, side, side), (2, side, round_up(96, multiple)), (1, round_up(80, multiple), side)]


def export_onnx(model: ServingModel, out_dir: Path, multiple: int, seed: int = 0) -> dict:
    """Write model.onnx (and context.onnx) into ``out_dir`` and check them; return the check's figures."""
    gen = torch.Generator().manual_seed(seed)
    shapes = _parity_shapes(multiple)
    images = [torch.rand(n, 3, h, w, generator=gen) * 2 - 1 for n, h, w in shapes]
    example = images[0]
    model_path = out_dir / "model.onnx"
    onnx_export.export_generator(model.generator.eval(), model_path, example, model.context_for(example))
    feeds = []
    for image in images:
        feed = {registry.INPUT_NAME: image}
        if model.context_model is not None:
            feed[registry.CONTEXT_INPUT] = model.context_for(image)
        feeds.append(feed)
    figures = {"onnx_opset": onnx_export.OPSET,
               "max_abs_diff": onnx_export.check_parity(model.generator, model_path, feeds)}
    if model.context_model is not None:
        context_path = out_dir / "context.onnx"
        onnx_export.export_context_model(model.context_model.eval(), context_path, example[:1])
        thumbs = [{registry.THUMBNAIL_INPUT: image[:1]} for image in images]
        figures["context_max_abs_diff"] = onnx_export.check_parity(model.context_model, context_path, thumbs)
    return figures


def preview_image() -> np.ndarray:
    """The default preview subject: scikit-image's astronaut photo (public domain, NASA)."""
    from skimage import data

    return data.astronaut()


def _onnx_runner(out_dir: Path, rgb8: np.ndarray, has_context: bool, thumbnail_size: int):
    """A Runner for model.onnx with the context of ``rgb8``'s thumbnail bound, as the server does it."""
    generator = onnx_export.session(out_dir / "model.onnx")
    context = None
    if has_context:
        thumb = rgb8_to_nchw(make_thumbnail(rgb8, thumbnail_size))
        context = onnx_export.session(out_dir / "context.onnx").run(None, {registry.THUMBNAIL_INPUT: thumb})[0]

    def run(batch: np.ndarray) -> np.ndarray:
        feeds = {registry.INPUT_NAME: batch.astype(np.float32)}
        if context is not None:
            feeds[registry.CONTEXT_INPUT] = np.repeat(context, len(batch), axis=0)
        return generator.run(None, feeds)[0]

    return run


def check_tiling(out_dir: Path, tiling: dict, photo: np.ndarray, has_context: bool) -> dict:
    """Tiled against whole-image ONNX output on ``photo``: PSNR (dB) and largest difference.

    Raises ExportError when the tiles show seams (see MIN_TILED_PSNR_DB and MAX_TILED_ABS_DIFF).
    """
    multiple = tiling["size_multiple"]
    tile = round_up(CHECK_TILE, multiple)
    side = round_up(tile * 3 // 2, multiple)
    rgb8 = np.asarray(Image.fromarray(photo).convert("RGB").resize((side, side), Image.BICUBIC))
    run = _onnx_runner(out_dir, rgb8, has_context, tiling["thumbnail_size"])
    chw = rgb8_to_chw(rgb8)
    border = tiling.get("border", 0)
    tiled = run_tiled(run, chw, tile, tiling["halo"], multiple, border)
    whole = run_whole(run, chw, multiple, border)
    db, worst = psnr(tiled, whole), float(np.abs(tiled - whole).max())
    if db < MIN_TILED_PSNR_DB or not worst <= MAX_TILED_ABS_DIFF:
        raise onnx_export.ExportError(
            f"tiled output differs from whole-image output (PSNR {db:.1f} dB, largest difference {worst:.2e}) "
            f"with halo {tiling['halo']}; the model is not tile-safe as measured"
        )
    return {"tiled_vs_whole_psnr_db": round(db, 2), "tiled_vs_whole_max_abs_diff": worst, "tiled_check_tile": tile}


def write_preview(out_dir: Path, photo: np.ndarray, multiple: int, has_context: bool, border: int = 0) -> Path:
    """preview.jpg: the photo at ~256 px beside its stylisation, computed by the exported ONNX files."""
    side = round_up(PREVIEW_SIZE, multiple)
    before = ImageOps.fit(Image.fromarray(photo).convert("RGB"), (side, side), Image.BICUBIC)
    rgb8 = np.asarray(before)
    run = _onnx_runner(out_dir, rgb8, has_context, side)
    after = Image.fromarray(chw_to_rgb8(run_whole(run, rgb8_to_chw(rgb8), multiple, border)))
    canvas = Image.new("RGB", (2 * side, side))
    canvas.paste(before, (0, 0))
    canvas.paste(after, (side, 0))
    path = out_dir / "preview.jpg"
    canvas.save(path, quality=90)
    return path


def git_commit() -> str:
    """HEAD of the repository this code runs from, with "-dirty" when tracked files differ from it (the
    version was made by code no commit holds), or "unknown" outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def publish(model: ServingModel, registry_root: Path, style: str, style_meta: dict | None = None,
            tensorrt: bool = False, photo: np.ndarray | None = None, thumbnail_size: int = THUMBNAIL_SIZE,
            log=print, critic: tuple[torch.nn.Module, dict] | CarriedCritic | None = None) -> int:
    """Measure, export, verify and write ``model`` as the next version of ``style``; return its number.

    With ``tensorrt`` a plan is built too where TensorRT and a GPU exist; elsewhere ``log`` says so
    and the version carries ONNX only. ``thumbnail_size`` is the side the context model sees.
    ``critic`` is (trained PatchGAN, its manifest section from trainer.critic_export.critic_section):
    it is written as critic.onnx after the check against autograd; or a CarriedCritic, copied as it is.
    """
    check_style_id(style)
    check_style_meta(style_meta)
    check_thumbnail_size(thumbnail_size)
    has_context = model.context_model is not None
    model, border = served_border(model)
    tiling = measure_tiling(model, thumbnail_size)
    if border:
        tiling["border"] = border
    with tempfile.TemporaryDirectory(prefix="tessera-export-") as tmp:
        out = Path(tmp)
        figures = export_onnx(model, out, tiling["size_multiple"])
        photo = preview_image() if photo is None else photo
        if tiling["mode"] == "crop":
            figures |= check_tiling(out, tiling, photo, has_context)
        files = {"model.onnx": out / "model.onnx"}
        artifacts: dict = {"onnx": {"file": "model.onnx"}}
        if has_context:
            files["context.onnx"] = out / "context.onnx"
            artifacts["context_onnx"] = {"file": "context.onnx"}
        preview = write_preview(out, photo, tiling["size_multiple"], has_context, border)
        files["preview.jpg"] = preview
        artifacts["preview"] = {"file": "preview.jpg"}
        if tensorrt:
            plan = _try_tensorrt(out, tiling, model, log)
            if plan is not None:
                files[plan["file"]] = out / plan["file"]
                artifacts["tensorrt"] = [plan]
        extra = {}
        if isinstance(critic, CarriedCritic):
            shutil.copyfile(critic.path, out / CRITIC_FILE)
            figures |= critic.figures
            section = critic.section
        elif critic is not None:
            d, section = critic
            figures |= export_critic(d, out / CRITIC_FILE, section["conditional"])
        if critic is not None:
            files[CRITIC_FILE] = out / CRITIC_FILE
            artifacts["critic"] = {"file": CRITIC_FILE}
            extra["critic"] = section
        manifest = {
            **extra,
            "artifacts": artifacts,
            "io": registry.io_section(has_context),
            "tiling": tiling,
            "training": {"git_commit": git_commit(), **model.training_info},
            "metrics": model.metrics,
            "export": figures,
        }
        return write_version(Path(registry_root), style, files, manifest, style_meta, log=log)


def _try_tensorrt(out: Path, tiling: dict, model: ServingModel, log) -> dict | None:
    try:
        _, entry = tensorrt_build.build_plan(out / "model.onnx", out, tiling["halo"], tiling["size_multiple"],
                                             model.context_dim())
    except tensorrt_build.TensorRTUnavailable:
        log(f"{tensorrt_build.UNAVAILABLE}; wrote ONNX only")
        return None
    except tensorrt_build.TensorRTBuildError as exc:
        # TensorRT is there and was asked for: a failed build stops the export instead of hiding.
        raise onnx_export.ExportError(str(exc)) from None
    return entry


def add_style_meta_arguments(parser: argparse.ArgumentParser) -> None:
    """--display-name, --description, --credits, --license: what style.json says about the style."""
    for flag in ("display-name", "description", "credits", "license"):
        parser.add_argument(f"--{flag}", help=f"style.json {flag.replace('-', ' ')}")


def style_meta_from(args: argparse.Namespace) -> dict | None:
    """The style.json fields given on the command line, or None when none was."""
    meta = {k: getattr(args, k) for k in ("display_name", "description", "credits", "license")}
    meta = {k: v for k, v in meta.items() if v is not None}
    return meta or None
