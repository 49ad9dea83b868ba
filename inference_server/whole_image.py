"""One pass for an image that is its own thumbnail: a style-conditioned version's optional whole.onnx.

A conditioned version runs two networks per stream: context.onnx on the thumbnail (nearly the whole
network, for the statistics of every normalisation layer) and model.onnx on each tile with that
context. When the stream's one tile is the whole image, needs no padding, and is its own thumbnail
(the header's thumbnail holds the same pixels and fits the version's thumbnail size), the statistics
are the image's own, so whole.onnx (image + style code, statistics computed in-graph) gives the same
pixels in one pass: half the work. The gateway's previews (a 512 px thumbnail as one tile) are such
streams (docs/gateway.md, "Previews").

`load_whole` opens whole.onnx and serves it only if it agrees with the two passes on probe images
(registry.whole_agreement_problem); `one_pass_fits` decides per region.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from inference_server.conditioned_version import probe_code
from inference_server.probe_tiles import photo_like
from inference_server.runtime.onnx_runtime import OnnxRuntime
from inference_server.version_checks import VersionRejected, context_row, model_input
from tessera.pixels import MIN_EDGE
from tessera.registry import STYLE_CODE_INPUT, Manifest, whole_agreement_problem, whole_io_problem
from tessera.tiling import Rect

# Probe images (width, height): a photo-like one at a typical preview's aspect, and a tall one.
PROBE_SIZES = ((96, 72), (48, 80))


def one_pass_fits(thumbnail: np.ndarray | None, pixels: np.ndarray, core: Rect, padded: Rect,
                  width: int, height: int, thumbnail_size: int, size_multiple: int) -> bool:
    """Whether a region's one-pass result equals the two-pass one: its core is the whole width x height
    image (so is its padded rectangle), no padding to `size_multiple` is needed (padding would join the
    statistics), and the stream's thumbnail (HxWx3 uint8) is these very pixels, which it is only when
    the image fits `thumbnail_size` (a larger one is shrunk before its statistics are taken)."""
    if thumbnail is None or core != Rect(0, 0, width, height) or padded != core:
        return False
    if width % size_multiple or height % size_multiple or min(width, height) < MIN_EDGE:
        return False
    if max(width, height) > thumbnail_size or thumbnail.shape != pixels.shape:
        return False
    return bool(np.array_equal(thumbnail, pixels))


def load_whole(version_dir: Path, manifest: Manifest, open_model: Callable[..., OnnxRuntime],
               transform: OnnxRuntime, context_model: OnnxRuntime) -> OnnxRuntime | None:
    """The version's whole.onnx as a runtime whose `execute(image, codes)` takes the style codes [N, D]
    where a generator takes its context; None when the version ships none.

    ``open_model(path, context_input)`` opens an ONNX file as the server's OnnxRuntime. Raises
    VersionRejected (kind "whole") when its I/O is wrong or it disagrees with the two passes.
    """
    artifact = getattr(manifest.artifacts, "whole_onnx", None)
    if artifact is None:
        return None
    whole = open_model(version_dir / artifact.file, STYLE_CODE_INPUT)
    problem = whole_io_problem(whole.inputs(), whole.outputs())
    if problem:
        raise VersionRejected(problem, "whole")
    code = probe_code(manifest)
    for width, height in PROBE_SIZES:
        image = photo_like(height, width, seed=width)
        two_pass = transform.execute(model_input(image, manifest.tiling)[None],
                                     context_row(context_model, image, manifest.tiling, code[0])[None],
                                     release_memory=True)
        try:
            one_pass = whole.execute(model_input(image, manifest.tiling)[None], code, release_memory=True)
        except Exception as exc:  # ORT's own exception classes for shape and type errors
            raise VersionRejected(f"whole-image model failed on a {width}x{height} probe: {exc}", "whole") from None
        problem = whole_agreement_problem(one_pass, two_pass)
        if problem:
            raise VersionRejected(f"{problem} on a {width}x{height} probe", "whole")
    return whole
