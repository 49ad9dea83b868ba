"""The bf16 CPU engine (inference_server/runtime/openvino_runtime.py): which versions it serves (those
whose manifest lists bf16 and whose probes agree), and that what a real server serves on it is
seam-free and close to ONNX Runtime fp32.

Runs only where OpenVINO reports native bf16 (AMX or AVX-512 BF16); elsewhere it skips, as the server
then serves everything on ONNX Runtime.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.paths import RawRun
from inference_server.model_version import LoadSettings, VersionRejected, load_version
from inference_server.runtime.openvino_runtime import NAME, OpenVinoRuntime, bf16_available
from scripts.local_stack import ROOT, server_process
from tessera.client import TesseraClient
from tessera.onnx_session import ARENA_QUIET_S
from tessera.registry import newest_version_dir
from tests.support.conditioned import brighten_whole_model

pytestmark = [pytest.mark.skipif(not bf16_available(), reason="no OpenVINO, or this CPU has no native bf16"),
              pytest.mark.timeout(240)]
REGISTRY = ROOT / "model_registry"
STUDENT = "wesnoth-painting"  # its newest version lists bf16 (scripts/bf16_check.py; docs/serving.md, "Engines")
UNCENTRED_TEACHER = REGISTRY / "teacher-26" / "3"  # v4 is the same network with its stem centred
# The wheel's graph centred, whose context model serves in its tiles' form (v5 is the same network in the
# students' serving form, docs/export.md, and v6 is v5 centred, whose context model serves in fp32).
CENTRED_TEACHER = REGISTRY / "teacher-26" / "4"
SERVING_FORM_TEACHER = REGISTRY / "teacher-26" / "6"


def newest(style: str) -> Path:
    return newest_version_dir(REGISTRY / style)


def engine_of(version_dir: Path, cpu_engine: str, caplog: pytest.LogCaptureFixture) -> str:
    with caplog.at_level(logging.INFO, logger="inference_server.model_version"):
        loaded = load_version(version_dir, LoadSettings(threads=1, cpu_engine=cpu_engine))
    try:
        return loaded.runtime.name
    finally:
        loaded.retire()


def worst_flat_psnr(version_dir: Path, precision: str, context_precisions: list[str]) -> dict[str, float]:
    """The worst PSNR in dB over the flat probe tiles of the version's tiles at `precision` against ONNX
    Runtime fp32, with its context model at each of `context_precisions`."""
    from inference_server.probe_tiles import probe_set
    from inference_server.runtime import cpu_runtime
    from inference_server.version_checks import probe, signed_psnr
    from tessera.registry import read_manifest

    manifest = read_manifest(version_dir)

    def context(context_precision: str):
        return cpu_runtime(version_dir / "context.onnx", context_precision, 1, output="context")

    reference = probe(cpu_runtime(version_dir / "model.onnx", "fp32", 1), context("fp32"), manifest)
    tiles = cpu_runtime(version_dir / "model.onnx", precision, 1)
    flats = [i for i, item in enumerate(probe_set(manifest.tiling.halo, manifest.tiling.size_multiple))
             if item.name.startswith("flat")]
    worst = {}
    for context_precision in context_precisions:
        outputs = probe(tiles, context(context_precision), manifest)
        worst[context_precision] = min(signed_psnr(outputs[i], reference[i]) for i in flats)
    return worst


def listing_bf16(version_dir: Path, tmp_path: Path, *precisions: str) -> Path:
    """A copy of a shipped version whose manifest lists `precisions` besides fp32 (default bf16; the
    manifest is not among the checksummed files)."""
    copy = tmp_path / version_dir.parent.name / version_dir.name
    shutil.copytree(version_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps({**manifest, "precisions": ["fp32", *(precisions or ["bf16"])]}))
    return copy


def test_a_version_listing_bf16_whose_probes_agree_serves_on_openvino(caplog):
    assert "bf16" in json.loads((newest(STUDENT) / "manifest.json").read_text())["precisions"]
    assert engine_of(newest(STUDENT), "auto", caplog) == NAME
    assert "serves on openvino-cpu-bf16" in caplog.text


def test_a_version_not_listing_bf16_stays_on_onnx_runtime_and_says_so(caplog):
    """Vermilion v10's probes agree in bf16, but its HF ratio at 4096 px leaves the band there (1.207):
    its manifest does not list bf16, so it is never tried."""
    version_dir = REGISTRY / "vermilion" / "10"
    assert "precisions" not in json.loads((version_dir / "manifest.json").read_text())
    assert engine_of(version_dir, "auto", caplog) == "onnxruntime-cpu"
    assert "vermilion v10 stays on ONNX Runtime: its manifest lists no bf16 precision" in caplog.text


def test_a_student_that_bf16_recolours_in_fog_stays_on_onnx_runtime(caplog, tmp_path):
    """Umber Oil v10 in bf16 paints a photo squeezed into 4 grey levels saturated orange; listed as bf16
    anyway, it fails the very low-contrast probe."""
    assert engine_of(listing_bf16(REGISTRY / "umber-oil" / "10", tmp_path), "auto", caplog) == "onnxruntime-cpu"
    assert "on the probe tile 'very low-contrast photo-like'" in caplog.text


@pytest.mark.parametrize("style", ["umber-oil", "blue-swirls"])
def test_the_same_student_with_its_stem_in_fp32_passes_the_fog_probes(style, caplog, tmp_path):
    """The stem (first convolution, its norm and ReLU) is where bf16 loses a foggy picture: with it in
    fp32 and the rest in bf16, every natural probe is within the gate (Umber Oil v10: 54 dB, against
    24 dB for the whole network in bf16)."""
    version_dir = listing_bf16(REGISTRY / style / ("10" if style == "umber-oil" else "13"), tmp_path, "bf16-fp32-stem")
    assert engine_of(version_dir, "auto", caplog) == f"{NAME}-fp32-stem"
    assert f"serves on {NAME}-fp32-stem" in caplog.text


def test_a_manifest_listing_both_bf16_forms_gets_the_faster_whole_network(caplog, tmp_path):
    assert engine_of(listing_bf16(newest(STUDENT), tmp_path, "bf16-fp32-stem", "bf16"), "auto", caplog) == NAME


def test_when_the_whole_network_fails_its_probes_the_fp32_stem_form_is_tried_next(caplog, tmp_path):
    version_dir = listing_bf16(REGISTRY / "umber-oil" / "10", tmp_path, "bf16", "bf16-fp32-stem")
    assert engine_of(version_dir, "auto", caplog) == f"{NAME}-fp32-stem"
    assert "umber-oil v10 stays on ONNX Runtime at bf16: OpenVINO is" in caplog.text


def test_the_fp32_stem_form_agrees_with_onnx_runtime_where_the_whole_bf16_network_does_not():
    """On a photo-like tile squeezed into 4 grey levels: fp32 stem within 40 dB, whole bf16 below 30."""
    from inference_server.probe_tiles import low_contrast, photo_like
    from inference_server.runtime import cpu_runtime
    from inference_server.version_checks import model_input, signed_psnr

    version_dir = REGISTRY / "umber-oil" / "10"
    loaded = load_version(version_dir, LoadSettings(threads=1))
    try:
        tile = low_contrast(photo_like(256, 256, seed=3), 4)
        batch = model_input(tile, loaded.tiling)[None]
        context = loaded.compute_context(tile, None)[None]
        fp32 = loaded.runtime.execute(batch, context)
        scores = {p: signed_psnr(cpu_runtime(version_dir / "model.onnx", p, 1).execute(batch, context), fp32)
                  for p in ("bf16", "bf16-fp32-stem")}
    finally:
        loaded.retire()
    assert scores["bf16-fp32-stem"] >= 40 and scores["bf16"] < 30, scores


def test_a_teacher_whose_whole_network_bf16_breaks_in_fog_stays_on_onnx_runtime(caplog, tmp_path):
    """multistyle26 divides by the picture's spread: with its stem in bf16 too, a photo squeezed into 4
    grey levels comes out below the gate (27 dB)."""
    assert engine_of(listing_bf16(UNCENTRED_TEACHER, tmp_path), "auto", caplog) == "onnxruntime-cpu"
    assert "stays on ONNX Runtime at bf16" in caplog.text and "'very low-contrast photo-like'" in caplog.text


def test_the_teacher_with_its_stem_in_fp32_serves_on_openvino_with_its_context_in_the_same_form(caplog, tmp_path):
    """With its stem in fp32 the teacher passes every natural probe, because its context model runs in
    the tiles' form too (stem_split.py): the server's context model is then an OpenVINO one."""
    with caplog.at_level(logging.INFO, logger="inference_server.model_version"):
        loaded = load_version(listing_bf16(UNCENTRED_TEACHER, tmp_path, "bf16-fp32-stem"),
                              LoadSettings(threads=1, cpu_engine="auto"))
    try:
        assert loaded.runtime.name == f"{NAME}-fp32-stem"
        assert isinstance(loaded.context_runtime, OpenVinoRuntime)
        assert loaded.context_runtime.precision == "bf16-fp32-stem"
    finally:
        loaded.retire()


@pytest.mark.parametrize("precision", ["bf16", "bf16-fp32-stem"])
def test_statistics_from_fp32_applied_to_bf16_tiles_break_a_flat_picture(precision):
    """Why the context model follows the tiles' form: a flat picture's activations are constant, so its
    norm divides their distance from the mean by about zero. With the mean from fp32 arithmetic and the
    activations from bf16 that distance is a rounding error, amplified; with both from the same
    arithmetic it is nothing. teacher-26 on the flat probes: below 10 dB, against above 35."""
    worst = worst_flat_psnr(UNCENTRED_TEACHER, precision, ["fp32", precision])
    assert worst["fp32"] < 10 and worst[precision] > 35, worst


def test_the_shipped_centred_teacher_serves_with_only_its_input_in_fp32(caplog):
    """teacher-26 v4 is v3 with its stem centred (trainer/centre_stem.py), listing bf16-fp32-input."""
    version_dir = CENTRED_TEACHER
    assert json.loads((version_dir / "manifest.json").read_text())["training"]["centred_stem"]
    assert engine_of(version_dir, "auto", caplog) == f"{NAME}-fp32-input"


def test_the_teacher_in_the_serving_form_serves_in_bf16_with_its_context_model_in_fp32(caplog):
    """teacher-26 v6 (v5 centred) fails the flat probes with its context model in bf16 and passes them
    with the fp32 one it was validated with (inference_server/bf16_forms.py)."""
    assert json.loads((SERVING_FORM_TEACHER / "manifest.json").read_text())["training"]["centred_stem"]
    with caplog.at_level(logging.INFO, logger="inference_server.model_version"):
        loaded = load_version(SERVING_FORM_TEACHER, LoadSettings(threads=1, cpu_engine="auto"))
    try:
        assert loaded.runtime.name == f"{NAME}-fp32-input"
        assert loaded.context_runtime.name == "onnxruntime-cpu" and loaded.context_runtime.precision == "fp32"
    finally:
        loaded.retire()
    assert "teacher-26 v6 serves on openvino-cpu-bf16-fp32-input, its context model on onnxruntime-cpu" in caplog.text


def test_in_the_serving_form_a_bf16_context_breaks_flat_pictures_and_an_fp32_one_does_not():
    """Its norms apply their statistics as one multiply-add and give a flat channel its bias
    (trainer/thumb_norm.py). A flat picture's channels are constant in fp32, but in OpenVINO's bf16
    convolutions only up to rounding, so a bf16 context measures a spread where fp32 finds none, and
    the tiles amplify it: the flat probes come out below 20 dB with it, above 60 dB with the fp32 one."""
    worst = worst_flat_psnr(SERVING_FORM_TEACHER, "bf16-fp32-input", ["bf16-fp32-input", "fp32"])
    assert worst["bf16-fp32-input"] < 20 and worst["fp32"] > 60, worst


@pytest.mark.parametrize("version_dir, context_precision", [(CENTRED_TEACHER, "bf16-fp32-input"),
                                                              (SERVING_FORM_TEACHER, "fp32")],
                         ids=["wheel-form", "serving-form"])
def test_tools_measure_a_bf16_form_with_the_context_model_the_server_chooses(version_dir, context_precision):
    """scripts/bf16_check.py, scripts/student_figures.py and the bench's raw engine path take their bf16
    runtimes from inference_server.bf16_forms.served_form, the server's own choice."""
    from inference_server.bf16_forms import served_form

    form = served_form(version_dir, "bf16-fp32-input", threads=1)
    try:
        assert form.runtime.precision == "bf16-fp32-input"
        assert form.context_model.precision == context_precision and form.psnr_db >= 30
    finally:
        form.runtime.finalize()
        form.context_model.finalize()


def test_tools_are_refused_a_bf16_form_the_server_would_refuse(tmp_path):
    """Umber Oil v10 listed as bf16 fails the very low-contrast probe, with either context model."""
    from inference_server.bf16_forms import Bf16Refused, served_form

    with pytest.raises(Bf16Refused) as caught:
        served_form(listing_bf16(REGISTRY / "umber-oil" / "10", tmp_path), "bf16", threads=1)
    message = str(caught.value)
    assert "with its context model in bf16" in message and "with its context model in fp32" in message
    assert "'very low-contrast photo-like'" in message and "(at least 30 dB needed)" in message


def test_an_idle_version_hands_its_context_models_memory_back_with_its_tiles(monkeypatch):
    """The context model on OpenVINO keeps its activation memory (about 120 MB for teacher-26's 512 px
    thumbnail) until asked; the version's batcher asks it with the tiles' runtime once idle."""
    released = []
    monkeypatch.setattr(OpenVinoRuntime, "release_idle", lambda runtime: released.append(runtime))
    loaded = load_version(CENTRED_TEACHER, LoadSettings(threads=1, cpu_engine="auto"))
    try:
        assert isinstance(loaded.context_runtime, OpenVinoRuntime)
        loaded.batcher._idle_release_s = 0.2  # the batcher's own idle time is 30 s (batcher.IDLE_RELEASE_S)
        loaded.batcher.submit(np.zeros((3, 64, 64), np.float32),
                              np.zeros(loaded.runtime.context_size(), np.float32)).result(timeout=60)
        deadline = time.monotonic() + 10
        while loaded.context_runtime not in released and time.monotonic() < deadline:
            time.sleep(0.1)
        assert loaded.context_runtime in released and loaded.runtime in released
    finally:
        loaded.retire()


def test_a_version_whose_tiles_run_in_bf16_serves_its_previews_in_two_bf16_passes_not_one_fp32():
    """whole.onnx runs on ONNX Runtime fp32: beside bf16 tiles its one pass was the slower (146 against
    89 ms for a 512x340 preview of teacher-26 v4) and painted fp32 pixels. It is still checked at load."""
    loaded = load_version(CENTRED_TEACHER, LoadSettings(threads=1, cpu_engine="auto"))
    try:
        assert isinstance(loaded.runtime, OpenVinoRuntime) and loaded.whole_runtime is None
    finally:
        loaded.retire()
    fp32 = load_version(CENTRED_TEACHER, LoadSettings(threads=1))
    try:
        assert fp32.whole_runtime is not None
    finally:
        fp32.retire()


def test_a_wrong_whole_model_is_refused_under_auto_though_it_would_be_let_go(tmp_path):
    """whole.onnx is let go beside bf16 tiles only after it passed its check: a version publishing a
    one-pass model that disagrees with its two passes is refused on every engine."""
    version = tmp_path / "teacher-26" / CENTRED_TEACHER.name
    shutil.copytree(CENTRED_TEACHER, version)
    brighten_whole_model(version)
    with pytest.raises(VersionRejected) as caught:
        load_version(version, LoadSettings(threads=1, cpu_engine="auto"))
    assert caught.value.kind == "whole" and "differs from the two passes" in str(caught.value)


def test_without_centring_the_input_form_still_loses_fog(caplog, tmp_path):
    """The uncentred teacher with its picture's preparation in fp32: its stem convolution's output keeps
    the picture's offset, which bf16 rounds, so the very low-contrast probe fails as in whole bf16."""
    assert engine_of(listing_bf16(UNCENTRED_TEACHER, tmp_path, "bf16-fp32-input"), "auto", caplog) == \
        "onnxruntime-cpu"
    assert "'very low-contrast photo-like'" in caplog.text


def test_centred_and_with_its_input_in_fp32_the_teacher_agrees_in_fog():
    """On a photo-like tile squeezed into 4 grey levels: the centred teacher (v4) with its input in fp32
    within 45 dB of fp32, in whole bf16 (which rounds the prepared picture) below 40."""
    from inference_server.probe_tiles import low_contrast, photo_like
    from inference_server.runtime import cpu_runtime
    from inference_server.version_checks import context_row, model_input, signed_psnr
    from tessera.registry import read_manifest

    version_dir = CENTRED_TEACHER
    manifest = read_manifest(version_dir)
    tile = low_contrast(photo_like(256, 256, seed=3), 4)
    batch = model_input(tile, manifest.tiling)[None]
    code = np.eye(1, 26, 0, dtype=np.float32)[0]

    def paint(precision: str) -> np.ndarray:
        context = cpu_runtime(version_dir / "context.onnx", precision, 1, output="context")
        return cpu_runtime(version_dir / "model.onnx", precision, 1).execute(
            batch, context_row(context, tile, manifest.tiling, code)[None])

    fp32 = paint("fp32")
    scores = {p: signed_psnr(paint(p), fp32) for p in ("bf16", "bf16-fp32-input")}
    assert scores["bf16-fp32-input"] >= 45 and scores["bf16"] < 40, scores


def test_a_network_whose_first_layers_have_no_norm_keeps_them_all_in_its_fp32_stem(caplog):
    """any-painting's first three layers are a convolution and a ReLU each; its first norm is in the
    fourth. Its stem ends at the ReLU after that norm, so every layer whose output still carries the
    picture's offset runs in fp32 (cut after the first ReLU instead, two foggy hold-out photos came
    out 27.9 and 29.0 dB from fp32). v5 is v4's files listing bf16-fp32-stem."""
    from inference_server.runtime.stem_split import split_after_stem

    version_dir = newest("any-painting")
    assert engine_of(version_dir, "auto", caplog) == f"{NAME}-fp32-stem"
    split = split_after_stem(version_dir / "model.onnx")
    assert split.cuts[0] == "/generator/net/body/blocks/blocks.0/Relu_output_0"
    # Its context model keeps the same four layers in fp32, as the server checks.
    assert split.convolutions == split_after_stem(version_dir / "context.onnx", "context").convolutions == 4


def test_a_model_openvino_cannot_compile_in_bf16_stays_on_onnx_runtime(caplog, tmp_path):
    """any-painting-best is quantized to int8; OpenVINO has no bf16 kernel for its int8 convolutions."""
    assert engine_of(listing_bf16(newest("any-painting-best"), tmp_path), "auto", caplog) == "onnxruntime-cpu"
    assert "stays on ONNX Runtime at bf16: OpenVINO failed" in caplog.text


def test_cpu_engine_onnxruntime_keeps_a_version_on_onnx_runtime(caplog):
    assert engine_of(newest(STUDENT), "onnxruntime", caplog) == "onnxruntime-cpu"
    assert "openvino" not in caplog.text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TesseraClient, Path, Path]]:
    registry = tmp_path_factory.mktemp("bf16") / "model_registry"
    source = newest(STUDENT)
    shutil.copytree(source, registry / STUDENT / source.name)
    shutil.copy(REGISTRY / STUDENT / "style.json", registry / STUDENT / "style.json")
    with server_process(registry, env={"TESSERA_CPU_ENGINE": "auto"}, warmup_runs=0) as (_, address, log_path), \
            TesseraClient(address, timeout=120) as client:
        yield client, log_path, source


def photo() -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((900, 700), Image.Resampling.LANCZOS))


def test_the_server_serves_the_student_on_openvino_bf16(served):
    _, log_path, _ = served
    assert "serves on openvino-cpu-bf16" in log_path.read_text()


def test_tiles_served_in_bf16_agree_with_the_whole_picture_in_bf16(served):
    """Seam-free: small tiles with their halos give the whole-picture bf16 result, within a level."""
    client, _, version_dir = served
    picture = photo()
    tiled = client.stylize(picture, STUDENT, tile_size=256).image
    whole = _whole(version_dir, picture, "bf16")
    diff = np.abs(tiled.astype(np.int16) - whole.astype(np.int16))
    assert diff.max() <= 2, f"tiles differ from the whole picture by up to {diff.max()} levels"
    assert (diff > 1).mean() < 0.001, f"{(diff > 1).mean():.2%} of values differ by more than a level"


def test_bf16_results_are_close_to_onnx_runtime_fp32(served):
    client, _, version_dir = served
    picture = photo()
    served_image = client.stylize(picture, STUDENT).image.astype(np.float64)
    reference = _whole(version_dir, picture, "fp32").astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / np.square(served_image - reference).mean())
    assert psnr >= 35, f"bf16 result is {psnr:.1f} dB PSNR from ONNX Runtime fp32"


def _whole(version_dir: Path, picture: np.ndarray, precision: str) -> np.ndarray:
    """The whole picture in one run at `precision`, as 8-bit RGB (bench.paths.RawRun: the server's context, border)."""
    run = RawRun(version_dir, picture, threads=1, precision=precision)
    border = json.loads((version_dir / "manifest.json").read_text())["tiling"].get("border", 0)
    height, width = picture.shape[:2]
    output = run()[0].transpose(1, 2, 0)[border:border + height, border:border + width]
    return np.round((np.clip(output, -1, 1) + 1) * 127.5).astype(np.uint8)


def test_two_runners_call_at_once_and_agree_with_one():
    """Two threads run at once on one compiled model (each call its own infer request) and agree with one."""

    model = OpenVinoRuntime(newest("vermilion") / "model.onnx", threads=1, streams=2)
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1, 1, (1, 3, 128, 128)).astype(np.float32)
    context = _context_row(model, batch)
    alone = model.execute(batch, context)
    results = []
    threads = [threading.Thread(target=lambda: results.append(model.execute(batch, context))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and all(np.array_equal(r, alone) for r in results)


@pytest.mark.parametrize("precision", ["bf16", "bf16-fp32-stem"])
@pytest.mark.parametrize(("version", "size"), [("vermilion/10", 574), ("wesnoth-painting/8", None)])
def test_context_size_is_the_width_of_the_context_input_or_none_as_on_onnx_runtime(version, size, precision):
    from inference_server.runtime.onnx_runtime import OnnxRuntime

    model = REGISTRY / version / "model.onnx"
    assert OnnxRuntime(model, threads=1).context_size() == size
    assert OpenVinoRuntime(model, precision=precision).context_size() == size


def _context_row(model: OpenVinoRuntime, batch: np.ndarray) -> np.ndarray | None:
    """A mid-grey [N, K] context for `batch`, or None when the model takes none."""
    size = model.context_size()
    return None if size is None else np.full((batch.shape[0], size), 0.5, np.float32)


@pytest.mark.parametrize(("version", "precision"), [(STUDENT, "bf16"), ("umber-oil/10", "bf16-fp32-stem")])
@pytest.mark.serial  # serial pass of `make test`: RSS kept and released
def test_release_idle_hands_the_activation_memory_back_and_the_next_call_agrees(version, precision):
    """OpenVINO keeps a call's activation memory in the compiled model's stream (and the fp32 stem's in
    ONNX Runtime's shared arena); release_idle gives it back (about 200 MB for a 1 MP tile of these
    students), and a call after it paints the same pixels."""
    from scripts.server_memory import rss_mib
    from tessera.heap import release_freed_memory

    version_dir = REGISTRY / version if "/" in version else newest(version)
    model = OpenVinoRuntime(version_dir / "model.onnx", threads=1, streams=1, precision=precision)
    batch = np.random.default_rng(1).uniform(-1, 1, (1, 3, 1024, 1024)).astype(np.float32)
    context = _context_row(model, batch)
    release_freed_memory()
    before = rss_mib(os.getpid())
    first = model.execute(batch, context)
    release_freed_memory()
    kept = rss_mib(os.getpid()) - before
    # The stem's share of the shared arena goes back only once every session has been quiet for
    # ARENA_QUIET_S (SharedArenaActivity.shrink): right after the call, a stem form says to ask again.
    assert model.release_idle() is (precision == "bf16")
    time.sleep(ARENA_QUIET_S)
    assert model.release_idle() is True
    release_freed_memory()
    after_release = rss_mib(os.getpid()) - before
    assert kept > 100, f"the call kept only {kept:.0f} MiB: nothing for this test to see released"
    assert after_release < kept / 3, f"kept {kept:.0f} MiB, {after_release:.0f} MiB after release_idle"
    assert np.array_equal(model.execute(batch, context), first)


class _CountingReleases:
    """A compiled model whose release_memory calls are counted: done, and refused (a call was running)."""

    def __init__(self, compiled) -> None:
        self._compiled = compiled
        self.done = self.refused = 0

    def release_memory(self) -> None:
        try:
            self._compiled.release_memory()
        except RuntimeError:
            self.refused += 1
            raise
        self.done += 1

    def __getattr__(self, name: str):
        return getattr(self._compiled, name)


def test_release_idle_during_a_call_is_refused_quietly_and_the_call_finishes():
    """OpenVINO refuses release_memory while an infer request runs: release_idle then keeps the memory
    without raising, and the running calls paint what a call alone paints."""

    model = OpenVinoRuntime(newest(STUDENT) / "model.onnx", threads=1, streams=2)
    batch = np.random.default_rng(2).uniform(-1, 1, (1, 3, 512, 512)).astype(np.float32)
    alone = model.execute(batch)
    counting = model._compiled = _CountingReleases(model._compiled)
    results, stop = [], threading.Event()

    def call_repeatedly():
        while not stop.is_set():
            results.append(model.execute(batch))

    callers = [threading.Thread(target=call_repeatedly) for _ in range(2)]
    for caller in callers:
        caller.start()
    attempts = 0
    try:
        while not results:  # the callers are running (a CI run's 200 quick releases all came before them)
            time.sleep(0.01)
        until = time.monotonic() + 2.0
        while time.monotonic() < until:
            model.release_idle()
            attempts += 1
            time.sleep(0.002)
    finally:
        stop.set()
        for caller in callers:
            caller.join()
    assert counting.refused > 0, "no release_idle met a running call: the race was not exercised"
    assert counting.done + counting.refused == attempts
    assert results and all(np.array_equal(r, alone) for r in results)


class _CountingRequests:
    """A compiled model that counts the infer requests made from it; while `hold` is set, a run waits
    inside its request (holding it) until `hold` lets it go."""

    def __init__(self, compiled) -> None:
        self._compiled = compiled
        self.made = 0
        self.hold: threading.Barrier | None = None

    def create_infer_request(self):
        self.made += 1
        return _HeldRequest(self._compiled.create_infer_request(), self)

    def __getattr__(self, name: str):
        return getattr(self._compiled, name)


class _HeldRequest:
    def __init__(self, request, owner: _CountingRequests) -> None:
        self._request, self._owner = request, owner

    def infer(self, inputs):
        result = self._request.infer(inputs)
        if self._owner.hold is not None:
            self._owner.hold.wait(timeout=10)
        return result


def test_calls_reuse_kept_infer_requests_one_per_call_at_once_until_release_idle():
    """A fresh request per call re-allocated its buffers every tile (0.85-1.05 s against 0.76 s for six
    teacher-26 tiles on two streams under the server's heap settings): requests are kept. Calls at
    once each hold their own; release_idle lets the idle ones go, and the next call makes one again."""
    model = OpenVinoRuntime(newest(STUDENT) / "model.onnx", threads=1, streams=2)
    batch = np.random.default_rng(3).uniform(-1, 1, (1, 3, 256, 256)).astype(np.float32)
    counting = model._compiled = _CountingRequests(model._compiled)
    alone = model.execute(batch)
    for _ in range(3):
        assert np.array_equal(model.execute(batch), alone)
    assert counting.made == 1
    counting.hold = threading.Barrier(2)  # both calls are inside their requests at once
    results = []
    callers = [threading.Thread(target=lambda: results.append(model.execute(batch))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=20)
    counting.hold = None
    assert counting.made == 2 and len(results) == 2
    assert all(np.array_equal(r, alone) for r in results)
    model.release_idle()
    assert np.array_equal(model.execute(batch), alone)
    assert counting.made == 3


class _Gate:
    """A `hold` for _CountingRequests: says when a run is inside its request, which waits for `go`."""

    def __init__(self) -> None:
        self.inside, self.go = threading.Event(), threading.Event()

    def wait(self, timeout: float) -> None:
        self.inside.set()
        self.go.wait(timeout)


def test_at_most_a_request_per_stream_is_kept_and_none_after_finalize():
    """Calls beyond the streams made their own requests and kept them all (about 6 MB each for a context
    model, until the version went idle); a call running through finalize put its request back."""
    model = OpenVinoRuntime(newest(STUDENT) / "model.onnx", threads=1, streams=1)
    batch = np.random.default_rng(4).uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32)
    counting = model._compiled = _CountingRequests(model._compiled)
    counting.hold = threading.Barrier(3)
    callers = [threading.Thread(target=model.execute, args=(batch,)) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=20)
    counting.hold = None
    assert counting.made == 3 and len(model._idle_requests) == 1
    model.execute(batch)
    assert counting.made == 3
    gate = counting.hold = _Gate()
    caller = threading.Thread(target=model.execute, args=(batch,))
    caller.start()
    assert gate.inside.wait(timeout=20)
    model.finalize()
    gate.go.set()
    caller.join(timeout=20)
    assert model._idle_requests == []
