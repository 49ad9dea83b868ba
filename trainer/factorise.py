"""``factorise VERSION_DIR --rank R``: a version's first convolution as two thinner ones, published as
the next version of the same style.

Why: in the multistyle26-shaped students the first convolution (9x9, 3 -> 16 channels at full
resolution, served in phase form as one 10x10 stride-2 convolution with 64 outputs,
trainer/subpixel.py) costs 4.8 of their 12.9 GMAC per megapixel, and in teacher-26 (9x9, 3 -> 32)
7.8 of 19.4. Its responses to photos lie close to a subspace of far fewer dimensions than it has
channels: a photo's 10x10 patches are smooth, so most of their variance lies in a few directions.

Method: linear response reconstruction (Zhang, Zou, He and Sun, "Efficient and Accurate
Approximations of Nonlinear Convolutional Networks", CVPR 2015, the linear case of its section 3).
With ``y = W x + b`` the layer's responses to the patches ``x`` of real photos, each channel is
scaled by its root-mean-square ``d`` (the instance norm after the layer divides by a channel's
spread, so an error counts relative to it): ``z = D^-1 W x``. The kept directions ``P`` (orthonormal,
``rank`` of them) are first the responses to flat pictures (one per input channel), so that a flat
or nearly flat picture, whose normalised stem output is 0 / tiny spread, is reproduced exactly
instead of having its error blown up by the norm; then the leading eigenvectors of the rest of
``z``'s second moment. Then

    y ~ D P P^T D^-1 W x + b,

served as a convolution with ``rank`` outputs (``P^T D^-1 W``, no bias) followed by a 1x1
convolution (``D P``, bias ``b``). Both are per-pixel linear maps with the old kernel's
footprint, so the halo, the size multiple and tile-safety stay what they were; tiles against the
whole image are measured afresh anyway (``tiled_vs_whole_db``).

A factorised version is published only when it paints the hold-out photos within ``min_psnr_db``
of its parent (PSNR of the served uint8 output). Its training facts and quality figures are the
parent's, with ``training.factorised_from`` and ``training.factorisation`` saying so. Every other file
is carried byte for byte (critic, presets' previews), but for the version's other graphs that start
with the same convolution (whole.onnx, teacher-26's context model), which get the same factors
(``_factorise_twins``). A context model that starts otherwise computes the parent's statistics; the
PSNR above includes that.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper, numpy_helper
from PIL import Image

from tessera.imageio import make_thumbnail
from tessera.onnx_session import open_session
from tessera.pixels import pad_rgb8_to_multiple, rgb8_to_chw
from tessera.registry import RegistryError, write_version
from tessera.tiling import Rect
from trainer.data import DataError, list_images, load_image
from trainer.metrics import psnr
from trainer.onnx_export import ExportError
from trainer.painters import first_look_painter
from trainer.publish import MIN_TILED_PSNR_DB, git_commit, preview_image, write_preview

# Below this PSNR (dB) to the parent on the hold-out photos a factorised version is refused. At 45 dB
# the mean error is under one grey level of 255; the shipped students at rank 18-20 of 64 give 49.6-52.1
# dB at worst (docs/serving.md, "Factorised stem").
MIN_PSNR_DB = 45.0
PATCHES_PER_PHOTO = 4000  # responses kept per training photo (a subsample of its patches)
FIT_EDGE = 384  # longer side the training photos are shrunk to for the fit, px
CHECK_EDGE = 768  # longer side of the hold-out photos the parent and the result are compared at, px
SEAM_TILE = 128  # core of the tiles the seam check paints, px: small, so that a 384 px photo has seams


class FactoriseError(ValueError):
    """The version cannot be factorised as asked (no first convolution, a rank that gains nothing)."""


@dataclass(frozen=True)
class Factors:
    """The two convolutions that replace one with weight [O, C, k, k]: ``reduce`` [rank, C, k, k]
    float32 (no bias), then ``expand`` [O, rank, 1, 1] float32 with ``bias`` [O] float32."""

    reduce: np.ndarray
    expand: np.ndarray
    bias: np.ndarray

    @property
    def rank(self) -> int:
        return self.reduce.shape[0]


def first_conv(model: onnx.ModelProto) -> onnx.NodeProto:
    """The graph's first Conv node (in the graph's topological order): the stem. FactoriseError if none."""
    node = next((n for n in model.graph.node if n.op_type == "Conv"), None)
    if node is None:
        raise FactoriseError("the model has no convolution to factorise")
    return node


def conv_geometry(model: onnx.ModelProto, node: onnx.NodeProto) -> tuple[np.ndarray, np.ndarray | None, int]:
    """(weight [O, C, k, k] float64, bias [O] float64 or None, stride) of an unpadded, ungrouped,
    undilated square Conv whose weights are initializers; FactoriseError for any other."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("group", 1) != 1 or any(v != 1 for v in attrs.get("dilations", [1, 1])) \
            or any(attrs.get("pads", [0, 0, 0, 0])) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise FactoriseError(f"{node.name or node.output[0]}: only an ungrouped, undilated convolution without "
                             "its own padding can be factorised")
    inits = {i.name: i for i in model.graph.initializer}
    if node.input[1] not in inits or (len(node.input) > 2 and node.input[2] not in inits):
        raise FactoriseError(f"{node.name or node.output[0]}: its weights are computed, not stored")
    weight = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
    if weight.shape[2] != weight.shape[3]:
        raise FactoriseError(f"{node.name or node.output[0]}: its kernel is not square ({weight.shape[2:]})")
    bias = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64) if len(node.input) > 2 else None
    strides = attrs.get("strides", [1, 1])
    if strides[0] != strides[1]:
        raise FactoriseError(f"{node.name or node.output[0]}: its strides differ ({strides})")
    return weight, bias, int(strides[0])


def conv_patches(padded: np.ndarray, kernel: int, stride: int, keep: int, seed: int = 0) -> np.ndarray:
    """The inputs a convolution sees: [1, C, H, W] float32 (already padded as the graph pads it) ->
    ``keep`` patches drawn at random without replacement (all if fewer), [n, C*k*k] float64, in the
    weight's (C, kh, kw) order."""
    windows = sliding_window_view(padded[0], (kernel, kernel), axis=(1, 2))[:, ::stride, ::stride]
    channels, rows, cols = windows.shape[:3]
    flat = windows.transpose(1, 2, 0, 3, 4).reshape(rows * cols, channels * kernel * kernel)
    pick = np.random.default_rng(seed).permutation(len(flat))[:keep]
    return flat[np.sort(pick)].astype(np.float64)


def response_factors(weight: np.ndarray, bias: np.ndarray | None, patches: np.ndarray, rank: int) -> Factors:
    """The rank-``rank`` factors of a convolution (weight [O, C, k, k] float64, bias [O] float64 or None)
    that best reproduce its responses to ``patches`` [n, C*k*k], each output channel's error counted
    relative to its spread, and that reproduce the response to any flat picture exactly (the module
    docstring gives the algebra). FactoriseError unless the rank holds the flat responses and is
    below O."""
    out_channels, in_channels = weight.shape[:2]
    w = weight.reshape(out_channels, -1)
    flat = w @ np.kron(np.eye(in_channels), np.ones((weight.shape[2] * weight.shape[3], 1)))  # [O, C]
    if not in_channels < rank < out_channels:
        raise FactoriseError(f"rank must be {in_channels + 1} to {out_channels - 1} for a convolution with "
                             f"{in_channels} inputs and {out_channels} outputs, got {rank}")
    responses = patches @ w.T
    spread = np.sqrt(np.maximum((responses ** 2).mean(axis=0), 1e-12))
    kept, _ = np.linalg.qr(flat / spread[:, None])  # the flat pictures' responses, scaled: kept exactly
    scaled = responses / spread
    rest = scaled - (scaled @ kept) @ kept.T
    _, vectors = np.linalg.eigh(rest.T @ rest / len(rest))
    p = np.concatenate([kept, vectors[:, ::-1][:, :rank - in_channels]], axis=1)  # orthonormal [O, rank]
    reduce = p.T @ (w / spread[:, None])
    expand = spread[:, None] * p
    new_bias = np.zeros(out_channels) if bias is None else bias
    return Factors(reduce.reshape(rank, *weight.shape[1:]).astype(np.float32),
                   expand.reshape(out_channels, rank, 1, 1).astype(np.float32), new_bias.astype(np.float32))


def apply_factors(model: onnx.ModelProto, node_output: str, factors: Factors) -> onnx.ModelProto:
    """A copy of ``model`` whose Conv producing ``node_output`` is replaced by the factors' two
    convolutions; the 1x1 one writes ``node_output``, so the rest of the graph is untouched."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    index, node = next((i, n) for i, n in enumerate(graph.node) if n.op_type == "Conv" and n.output[0] == node_output)
    still_read = {name for other in graph.node if other is not node for name in other.input}
    stale = set(node.input[1:]) - still_read  # a weight another node shares stays
    kept = [i for i in graph.initializer if i.name not in stale]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    prefix = node.input[1]
    names = (f"{prefix}.reduce", f"{prefix}.expand", f"{prefix}.expand_bias")
    graph.initializer.extend(numpy_helper.from_array(a, n) for a, n in zip(
        (factors.reduce, factors.expand, factors.bias), names, strict=True))
    middle = f"{node_output}.reduced"
    attrs = list(node.attribute)
    reduce_node = helper.make_node("Conv", [node.input[0], names[0]], [middle], name=f"{node.name}.reduce")
    reduce_node.attribute.extend(attrs)
    expand_node = helper.make_node("Conv", [middle, names[1], names[2]], [node_output], name=f"{node.name}.expand",
                                   kernel_shape=[1, 1])
    graph.node.remove(node)
    graph.node.insert(index, expand_node)
    graph.node.insert(index, reduce_node)
    onnx.checker.check_model(out)
    return out


def stem_patches(version_dir: Path, model: onnx.ModelProto, node: onnx.NodeProto, photos: list[np.ndarray],
                 per_photo: int = PATCHES_PER_PHOTO) -> np.ndarray:
    """The inputs ``node`` sees when the version paints each uint8 HxWx3 photo whole (its own padding,
    context and, for a conditioned version, its first preset), ``per_photo`` patches each: [n, C*k*k]."""
    painter = first_look_painter(version_dir)
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.append(helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    session = open_session(probe.SerializeToString(), 1)
    manifest = json.loads((version_dir / "manifest.json").read_text())
    io = manifest["io"]
    weight, _, stride = conv_geometry(model, node)
    kernel = weight.shape[2]
    found = []
    for seed, photo in enumerate(photos):
        feeds = {io["input"]: rgb8_to_chw(pad_rgb8_to_multiple(photo, painter.multiple))[None]}
        context = painter.context(rgb8_to_chw(make_thumbnail(photo, painter.thumbnail_size))[None])
        if context is not None:
            feeds[io["context_input"]] = context.astype(np.float32)
        padded = session.run([node.input[0]], feeds)[0]
        found.append(conv_patches(padded, kernel, stride, per_photo, seed))
    return np.concatenate(found)


def agreement_db(parent_dir: Path, child_dir: Path, photos: list[np.ndarray]) -> list[float]:
    """PSNR (dB) of the child version's served output to the parent's, whole photo by whole photo."""
    parent, child = first_look_painter(parent_dir), first_look_painter(child_dir)
    scores = []
    for photo in photos:
        whole = [Rect(0, 0, photo.shape[1], photo.shape[0])]
        a, b = parent.paint(photo, whole)[0], child.paint(photo, whole)[0]
        scores.append(psnr(_signed(a), _signed(b)))
    return scores


def _signed(rgb8: np.ndarray) -> np.ndarray:
    return rgb8.astype(np.float64).transpose(2, 0, 1)[None] / 127.5 - 1.0


def tiled_vs_whole_db(version_dir: Path, photo: np.ndarray, tile: int = SEAM_TILE) -> float:
    """PSNR (dB) of the version's served output painted in ``tile`` px cores (with its halo) to the same
    photo painted whole: seams show as a low figure."""
    painter = first_look_painter(version_dir)
    height, width = photo.shape[:2]
    whole = painter.paint(photo, [Rect(0, 0, width, height)])[0]
    rects = [Rect(x, y, min(tile, width - x), min(tile, height - y))
             for y in range(0, height, tile) for x in range(0, width, tile)]
    tiled = np.empty_like(whole)
    for rect, piece in zip(rects, painter.paint(photo, rects), strict=True):
        tiled[rect.y:rect.y1, rect.x:rect.x1] = piece
    return psnr(_signed(tiled), _signed(whole))


def shrunk_photo(photo: np.ndarray, edge: int) -> np.ndarray:
    """A uint8 HxWx3 photo with its longer side at most ``edge`` px."""
    image = Image.fromarray(photo)
    image.thumbnail((edge, edge))
    return np.asarray(image.convert("RGB"))


def shrunk(photos: list[Path], edge: int) -> list[np.ndarray]:
    """Each photo file as uint8 HxWx3, its longer side at most ``edge`` px."""
    return [shrunk_photo(np.asarray(load_image(path).convert("RGB")), edge) for path in photos]


def factorise_version(version_dir: Path, rank: int, fit_photos: list[Path], check_photos: list[Path],
                      registry_root: Path | None = None, min_psnr_db: float = MIN_PSNR_DB, log=print) -> int:
    """Publish ``version_dir`` with its first convolution factorised at ``rank`` as the next version of
    its style in ``registry_root`` (default: the registry that holds it); return the new number.

    The factors are fitted on ``fit_photos`` and checked on ``check_photos`` (image files). Raises
    FactoriseError when the rank is out of range or the result paints a check photo further than
    ``min_psnr_db`` from the parent; ExportError when its tiles no longer match the whole image;
    RegistryError when the folder is no registry version."""
    version_dir = Path(version_dir)
    raw = json.loads((version_dir / "manifest.json").read_text())
    if "style" not in raw or "artifacts" not in raw:
        raise RegistryError(f"{version_dir} holds no registry version manifest")
    if raw["artifacts"].get("tensorrt"):
        raise FactoriseError(f"{version_dir} carries a TensorRT plan, which would no longer match; "
                             "build one for the factorised model instead")
    model_name = raw["artifacts"]["onnx"]["file"]
    model = onnx.load(str(version_dir / model_name))
    node = first_conv(model)
    weight, bias, _ = conv_geometry(model, node)
    patches = stem_patches(version_dir, model, node, shrunk(fit_photos, FIT_EDGE))
    factors = response_factors(weight, bias, patches, rank)
    with tempfile.TemporaryDirectory(prefix="tessera-factorise-") as tmp:
        out = Path(tmp)
        files = {p.name: out / p.name for p in version_dir.iterdir() if p.is_file() and p.name != "manifest.json"}
        for name in files:
            shutil.copyfile(version_dir / name, out / name)
        onnx.save(apply_factors(model, node.output[0], factors), str(out / model_name))
        _factorise_twins(version_dir, raw, weight, factors, out)
        (out / "manifest.json").write_text(json.dumps(raw))  # the painters read io and tiling from it
        scores = agreement_db(version_dir, out, shrunk(check_photos, CHECK_EDGE))
        log(f"{raw['style']}/{raw['version']} at rank {rank}: PSNR to it {min(scores):.1f}-{max(scores):.1f} dB "
            f"on {len(scores)} hold-out photos")
        if min(scores) < min_psnr_db:
            raise FactoriseError(f"at rank {rank} the result paints a hold-out photo {min(scores):.1f} dB from "
                                 f"{raw['style']}/{raw['version']}, under the {min_psnr_db:g} dB floor; "
                                 "try a higher rank")
        seams_db = tiled_vs_whole_db(out, shrunk_photo(preview_image(), CHECK_EDGE // 2))
        if seams_db < MIN_TILED_PSNR_DB:
            raise ExportError(f"the factorised model's tiles differ from its whole-image output ({seams_db:.1f} dB "
                              f"PSNR, under {MIN_TILED_PSNR_DB:g}): it is not tile-safe as measured")
        has_context = "context_onnx" in raw["artifacts"]
        if raw.get("kind") != "conditioned":  # a conditioned version's previews are its presets', carried
            write_preview(out, preview_image(), raw["tiling"]["size_multiple"], has_context,
                          raw["tiling"].get("border", 0))
        manifest = {k: v for k, v in raw.items() if k not in ("format_version", "style", "version", "created")}
        manifest["training"] = {
            **raw.get("training", {}), "git_commit": git_commit(),
            "factorised_from": f"{raw['style']}/{raw['version']}",
            "factorisation": {
                "layer": node.name or node.output[0], "rank": rank, "outputs": int(weight.shape[0]),
                "method": "linear response reconstruction (Zhang et al. 2015), channels scaled by their spread",
                "fit_photos": len(fit_photos), "psnr_to_parent_db_min": round(min(scores), 2),
                "psnr_to_parent_db_median": round(float(np.median(scores)), 2),
                "tiled_vs_whole_psnr_db": round(seams_db, 2), "tiled_check_tile": SEAM_TILE,
                "metrics_measured_on": f"{raw['style']}/{raw['version']}",
            },
        }
        return write_version(Path(registry_root or version_dir.parent.parent), raw["style"], files, manifest)


def _factorise_twins(version_dir: Path, raw: dict, weight: np.ndarray, factors: Factors, out: Path) -> None:
    """Give the version's other graphs that start with the very convolution factorised the same factors:
    a conditioned version's whole.onnx (which must keep agreeing with the two passes,
    inference_server/whole_image.py) and a context model that computes the statistics of that
    convolution's output (teacher-26's). The statistics must come from the same arithmetic as the tiles:
    a flat picture's spread is 0, so the norms divide by sqrt(eps) alone and blow a 1e-6 rounding
    difference up layer after layer (teacher-26 painted NaN on a grey probe tile otherwise). A context
    model that starts otherwise (the students' computes the stem in plain form, not phase form) is kept."""
    for key in ("whole_onnx", "context_onnx"):
        artifact = raw["artifacts"].get(key)
        if artifact is None:
            continue
        graph = onnx.load(str(version_dir / artifact["file"]))
        node = first_conv(graph)
        if np.array_equal(conv_geometry(graph, node)[0], weight):
            onnx.save(apply_factors(graph, node.output[0], factors), str(out / artifact["file"]))
        elif key == "whole_onnx":
            raise FactoriseError(f"{artifact['file']} starts with another convolution than the model; "
                                 "cannot keep the two in agreement")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version_dir", type=Path, help="registry version folder")
    parser.add_argument("--rank", type=int, required=True,
                        help="outputs of the thinner first convolution (its input channels + 1 to its outputs - 1)")
    parser.add_argument("--fit-photos", type=Path, default=Path("data/photos/train"),
                        help="folder of photos whose patches the factors are fitted to (default: %(default)s)")
    parser.add_argument("--check-photos", type=Path, default=Path("data/photos/holdout"),
                        help="folder of hold-out photos the result is compared with its parent on "
                             "(default: %(default)s)")
    parser.add_argument("--min-psnr", type=float, default=MIN_PSNR_DB,
                        help="refuse a result further than this from the parent, dB (default: %(default)s)")
    parser.add_argument("--registry", type=Path, help="registry to publish into (default: the version's own)")


def main(args: argparse.Namespace) -> int:
    try:
        fit, check = list_images(args.fit_photos), list_images(args.check_photos)
        version = factorise_version(args.version_dir, args.rank, fit, check, args.registry, args.min_psnr)
    except (FactoriseError, DataError, RegistryError, ExportError, OSError, KeyError) as exc:
        print(f"factorise: {exc}", file=sys.stderr)
        return 2
    print(f"wrote version {version} beside {args.version_dir}")
    return 0
