"""The integer form of any-painting-best (trainer/onnx_integer.py), built from the shipped graphs: ONNX
Runtime and OpenVINO fp32 give the same bytes, and the form is at least as close to the network's own
arithmetic (its QDQ graph in float64, trainer/onnx_float64.py) as the shipped version on ONNX Runtime is."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from scripts.graph_form_version import exact_shortfall
from scripts.local_stack import ROOT
from tessera.imageio import statistics_thumbnail
from tessera.onnx_session import session_options
from tessera.pixels import rgb8_to_nchw
from trainer.onnx_float64 import float64_outputs
from trainer.onnx_integer import EXACT_SUM_LIMIT, IntegerFormError, integer_graph

pytestmark = pytest.mark.timeout(120)
STYLE = ROOT / "model_registry" / "any-painting-best"
PRESETS = (0, 4, 8)  # ribbons, pastel-crackle, marbling


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(path of the integer form built from v3's graph with v2's weight scales, its report)."""
    model, lines = integer_graph(onnx.load(str(STYLE / "3" / "model.onnx")), onnx.load(str(STYLE / "2" / "model.onnx")))
    path = tmp_path_factory.mktemp("integer") / "model.onnx"
    onnx.save(model, str(path))
    return path, lines


def _session(path, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL):
    options = session_options(2)
    options.graph_optimization_level = level
    return ort.InferenceSession(str(path), options)


def _cases():
    """(name, image [1, 3, H, W], context [1, K]) for three small photos with three presets each, the
    context from v4's context model, which the integer form reads unchanged."""
    from skimage import data

    manifest = json.loads((STYLE / "4" / "manifest.json").read_text())
    context = _session(STYLE / "4" / "context.onnx")
    for name in ("astronaut", "coffee", "chelsea"):
        picture = np.asarray(Image.fromarray(getattr(data, name)()).resize((256, 192), Image.BICUBIC))
        thumbnail = rgb8_to_nchw(statistics_thumbnail(picture, 512))
        for preset in PRESETS:
            code = np.asarray(manifest["presets"][preset]["code"], np.float32)[None]
            row = context.run(None, {"thumbnail": thumbnail, "style_code": code})[0].astype(np.float32)
            yield f"{name} {manifest['presets'][preset]['id']}", rgb8_to_nchw(picture), row


def test_every_sum_is_bounded_below_two_to_the_24(built):
    _, lines = built
    largest = next(line for line in lines if line.startswith("largest possible partial sum"))
    assert int(largest.split()[4].replace(",", "")) < EXACT_SUM_LIMIT


def test_openvino_fp32_gives_onnx_runtimes_bytes(built):
    ov = pytest.importorskip("openvino")
    path, _ = built
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    session = _session(path)
    for name, image, context in _cases():
        ours = session.run(None, {"image": image, "context": context})[0]
        theirs = request.infer({"image": image, "context": context})[0]
        assert np.array_equal(ours.view(np.uint32), theirs.view(np.uint32)), name


def test_the_form_is_at_least_as_close_to_the_networks_arithmetic_as_the_source(built):
    """Against v3's QDQ graph evaluated in float64, F is at least as close as v4 on ONNX Runtime fp32 on
    every case (graph_form_version.exact_shortfall: PSNR, capped, and values more than a level off)."""
    path, _ = built
    form, source = _session(path), _session(STYLE / "4" / "model.onnx")
    network = onnx.load(str(STYLE / "3" / "model.onnx"))
    for name, image, context in _cases():
        feeds = {"image": image, "context": context}
        exact = float64_outputs(network, feeds)[0].astype(np.float32)
        ours, theirs = form.run(None, feeds)[0], source.run(None, feeds)[0]
        assert exact_shortfall(ours, theirs, exact) is None, name


def test_a_graph_without_the_networks_tail_is_refused(built):
    source = onnx.load(str(STYLE / "3" / "model.onnx"))
    sigmoid = next(n for n in source.graph.node if n.op_type == "Sigmoid")
    sigmoid.op_type = "Tanh"
    with pytest.raises(IntegerFormError, match="no Sigmoid output tail"):
        integer_graph(source, onnx.load(str(STYLE / "2" / "model.onnx")))
