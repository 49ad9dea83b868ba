"""Static compiles per tile shape of an exact form on OpenVINO fp32 (inference_server/runtime/
openvino_shapes.py): a shape asked for twice is compiled once the model is idle and then served on its
static model, only if that model gave the dynamic model's bytes on a kept input; never while a call
runs; a shape whose static model differs or does not compile stays dynamic; at most MAX_SHAPES are kept;
nothing is kept after close."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import onnx
import pytest

from inference_server.runtime import openvino_shapes
from inference_server.runtime.openvino_runtime import OpenVinoRuntime, openvino_available
from inference_server.runtime.openvino_shapes import COMPILE_AFTER, ShapeCompiles
from scripts.local_stack import ROOT
from trainer.onnx_integer import integer_graph

pytestmark = pytest.mark.timeout(120)
IDLE_S = 0.05  # the idle time before a compile, short for these tests
STYLE = ROOT / "model_registry" / "any-painting-best"


class _Compiled:
    """A compiled model of one shape as ShapeCompiles uses OpenVINO's: `output`, infer requests,
    `release_memory`. Its function is `paint` (numpy), so a test can give a static model other bytes."""

    def __init__(self, paint, log: list) -> None:
        self.paint, self.log = paint, log

    def output(self, name):
        return name

    def create_infer_request(self):
        return self

    def infer(self, inputs):
        self.log.append("static")
        return {"out": self.paint(inputs["image"])}

    def release_memory(self):
        self.log.append("released")


def _double(x):
    return x * 2


def _compiles(log: list, paint=_double, max_shapes: int = 4, gate: threading.Event | None = None,
              fail: bool = False, dynamic_gate: threading.Event | None = None) -> ShapeCompiles:
    def compile_for(shapes):
        if gate is not None:
            gate.wait(10)
        log.append(("compiled", tuple(shapes["image"])))
        if fail:
            raise RuntimeError("cannot compile this shape")
        return _Compiled(paint, log)

    def dynamic(inputs):
        log.append("dynamic")
        if dynamic_gate is not None:
            dynamic_gate.wait(10)
        return _double(inputs["image"])

    return ShapeCompiles(compile_for, dynamic, "out", kept_requests=1, max_shapes=max_shapes,
                         idle_before_compile_s=IDLE_S)


def _image(height: int, width: int = 8) -> dict[str, np.ndarray]:
    return {"image": np.arange(height * width, dtype=np.float32).reshape(1, 1, height, width)}


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_shape_asked_for_twice_is_compiled_when_idle_verified_and_then_served_static():
    log: list = []
    shapes = _compiles(log)
    for _ in range(COMPILE_AFTER - 1):
        np.testing.assert_array_equal(shapes.infer(_image(4)), _image(4)["image"] * 2)
    time.sleep(IDLE_S * 4)
    assert not [entry for entry in log if isinstance(entry, tuple)], "compiled a shape asked for once"
    shapes.infer(_image(4))  # the COMPILE_AFTER-th call queues it, and runs dynamic
    _wait_for(lambda: shapes.shapes)
    assert log[-2:] == [("compiled", (1, 1, 4, 8)), "static"]  # checked against the queueing call's output
    log.clear()
    np.testing.assert_array_equal(shapes.infer(_image(4)), _image(4)["image"] * 2)
    assert log == ["static"]


def test_the_servers_own_calls_are_not_counted_toward_a_compile():
    """A version's probe tiles and warm-up runs counted like a client's: v5 kept static models of the
    160 px probe tile and the 1152 px warm-up tile, which no client asked for (about 0.3 GB at idle)."""
    log: list = []
    shapes = _compiles(log)
    with shapes.uncounted():
        for _ in range(COMPILE_AFTER + 2):
            np.testing.assert_array_equal(shapes.infer(_image(4)), _image(4)["image"] * 2)
    time.sleep(IDLE_S * 4)
    assert not [entry for entry in log if isinstance(entry, tuple)] and shapes.shapes == []
    for _ in range(COMPILE_AFTER):  # a client's calls of the same shape count from their first
        shapes.infer(_image(4))
    _wait_for(lambda: shapes.shapes)
    assert ("compiled", (1, 1, 4, 8)) in log


def test_another_threads_calls_count_while_one_thread_makes_its_own():
    log: list = []
    shapes = _compiles(log)
    inside, done = threading.Event(), threading.Event()

    def own_calls():
        with shapes.uncounted():
            inside.set()
            done.wait(10)

    warming = threading.Thread(target=own_calls)
    warming.start()
    assert inside.wait(10)
    for _ in range(COMPILE_AFTER):  # a client's, on this thread, while the other warms up
        shapes.infer(_image(6))
    done.set()
    warming.join(10)
    _wait_for(lambda: shapes.shapes)
    assert ("compiled", (1, 1, 6, 8)) in log


def test_nothing_compiles_while_a_call_runs():
    log: list = []
    running = threading.Event()
    shapes = _compiles(log, dynamic_gate=running)
    running.set()
    for _ in range(COMPILE_AFTER - 1):
        shapes.infer(_image(4))
    running.clear()
    call = threading.Thread(target=shapes.infer, args=(_image(4),))  # queues the shape, then holds the model
    call.start()
    time.sleep(IDLE_S * 10)
    assert not [entry for entry in log if isinstance(entry, tuple)], "compiled while a call ran"
    running.set()
    call.join(5)
    _wait_for(lambda: shapes.shapes)
    shapes.close()


def test_a_static_model_with_other_bytes_is_refused_and_the_shape_stays_dynamic(caplog):
    log: list = []
    shapes = _compiles(log, paint=lambda x: x * 2 + 1e-3)
    with caplog.at_level(logging.WARNING, logger=openvino_shapes.__name__):
        for _ in range(COMPILE_AFTER):
            shapes.infer(_image(4))
        _wait_for(lambda: "gave other bytes than the dynamic one" in caplog.text)
    assert shapes.shapes == []
    log.clear()
    for _ in range(COMPILE_AFTER + 1):
        np.testing.assert_array_equal(shapes.infer(_image(4)), _image(4)["image"] * 2)
    time.sleep(IDLE_S * 4)
    assert log == ["dynamic"] * (COMPILE_AFTER + 1)  # never compiled again


def test_a_shape_that_does_not_compile_stays_dynamic(caplog):
    log: list = []
    shapes = _compiles(log, fail=True)
    with caplog.at_level(logging.WARNING, logger=openvino_shapes.__name__):
        for _ in range(COMPILE_AFTER):
            shapes.infer(_image(4))
        _wait_for(lambda: "did not compile" in caplog.text)
    for _ in range(COMPILE_AFTER):
        np.testing.assert_array_equal(shapes.infer(_image(4)), _image(4)["image"] * 2)
    assert [entry for entry in log if isinstance(entry, tuple)] == [("compiled", (1, 1, 4, 8))]


def test_at_most_max_shapes_are_kept_the_least_recently_used_released():
    log: list = []
    shapes = _compiles(log, max_shapes=2)
    for height in (4, 8, 12):
        for _ in range(COMPILE_AFTER):
            shapes.infer(_image(height))
        _wait_for(lambda h=height: any(dict(key)["image"][2] == h for key in shapes.shapes))
    assert [dict(key)["image"][2] for key in shapes.shapes] == [8, 12]
    assert "released" in log


def test_a_compile_ending_after_close_is_not_kept():
    log: list = []
    gate = threading.Event()
    shapes = _compiles(log, gate=gate)
    for _ in range(COMPILE_AFTER):
        shapes.infer(_image(4))
    _wait_for(lambda: not shapes._queued)  # the worker took it and waits in the compile
    shapes.close()
    gate.set()
    _wait_for(lambda: ("compiled", (1, 1, 4, 8)) in log)
    time.sleep(0.05)
    assert shapes.shapes == []
    assert [entry for entry in shapes.infer(_image(4)).ravel()[:1]] == [0.0]  # still answers, dynamic


@pytest.mark.skipif(not openvino_available(), reason="OpenVINO is not installed")
def test_the_integer_form_serves_a_repeated_tile_shape_on_its_static_compile_with_the_same_bytes(tmp_path):
    model, _ = integer_graph(onnx.load(str(STYLE / "3" / "model.onnx")), onnx.load(str(STYLE / "2" / "model.onnx")))
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path))
    runtime = OpenVinoRuntime(path, threads=1, precision="fp32-openvino")
    try:
        rng = np.random.default_rng(0)
        image = rng.uniform(-1, 1, (1, 3, 96, 128)).astype(np.float32)
        context = np.zeros((1, runtime.context_size()), np.float32)
        context[:, 100:] = 0.5  # the statistics' spreads, positive
        first = [runtime.execute(image, context) for _ in range(COMPILE_AFTER)]
        _wait_for(lambda: runtime._shapes.shapes, seconds=60)
        assert dict(runtime._shapes.shapes[0])["image"] == (1, 3, 96, 128)
        served = [runtime.execute(image, context) for _ in range(2)]  # on the static compile
        assert all(np.array_equal(first[0], other) for other in first[1:] + served)
        assert runtime.release_idle()
    finally:
        runtime.finalize()
    assert runtime._shapes.shapes == []
