"""Calls whose caller has gone stop their work, and control calls answer while image calls fill the server.

A real server process with a shipped compact generator (a realistic cost per tile) on a tall image,
as the issue reported it: unary calls with a 0.3 s deadline, in waves, on a server with few slots.
"""

from __future__ import annotations

import io
import itertools
import shutil
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from bench.procfs import cpu_seconds
from scripts.local_stack import ROOT, server_process
from tessera.registry import style_dirs, version_dirs
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support.metrics import counter_total

# Serial pass of `make test`: asserts control-call gaps under 3 s and CPU idle after a flood.
pytestmark = [pytest.mark.slow, pytest.mark.serial]
STYLE = "wesnoth-painting"
WIDTH, HEIGHT = 720, 16889  # 12.2 MP, under the unary limit of 16 MP


@pytest.fixture(scope="module")
def shipped_registry(tmp_path_factory) -> Path:
    """The newest shipped version of one style, alone in a registry."""
    source = next(d for d in style_dirs(ROOT / "model_registry") if d.name == STYLE)
    newest = max(version_dirs(source).items())[1]
    root = tmp_path_factory.mktemp("shipped")
    (root / STYLE).mkdir()
    shutil.copy(source / "style.json", root / STYLE / "style.json")
    shutil.copytree(newest, root / STYLE / newest.name)
    return root


@pytest.fixture(scope="module")
def tall_jpeg() -> bytes:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, (xx + yy) % 256], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=85)
    return out.getvalue()


class _ControlProbe:
    """Asks health and ListStyles every 0.1 s from its own thread; keeps every failure and the
    time.monotonic() of every round that both answered."""

    def __init__(self, address: str) -> None:
        self.failures: list[str] = []
        self.answered: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(address,), daemon=True)
        self._thread.start()

    def _run(self, address: str) -> None:
        with grpc.insecure_channel(address) as channel:
            health, styles = health_pb2_grpc.HealthStub(channel), pb_grpc.StyleTransferStub(channel)
            while not self._stop.wait(0.1):
                try:
                    status = health.Check(health_pb2.HealthCheckRequest(), timeout=3).status
                    listed = styles.ListStyles(pb.ListStylesRequest(), timeout=3)
                except grpc.RpcError as error:
                    self.failures.append(f"{error.code().name}: {error.details()}")
                    continue
                if status != health_pb2.HealthCheckResponse.SERVING or not listed.styles:
                    self.failures.append(f"health {status}, {len(listed.styles)} styles")
                self.answered.append(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_abandoned_unary_calls_stop_within_a_tile_and_control_calls_always_answer(shipped_registry, tall_jpeg):
    request = pb.StylizeRequest(style=STYLE, image=tall_jpeg, output_format="jpeg", max_reply_bytes=64 << 20)
    with server_process(shipped_registry, metrics_port=0, max_streams=4) as (process, address, log), \
            grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        probe = _ControlProbe(address)
        flood_started = time.monotonic()
        calls = []
        for _ in range(3):  # waves: a slot freed by a deadline is taken again at once
            calls += [stub.Stylize.future(request, timeout=0.3) for _ in range(9)]
            time.sleep(0.5)
        codes = {call.exception().code() for call in calls}
        flood_ended = time.monotonic()
        stopped_after = _wait_for(log, ("tessera_image_calls",), limit=180.0)
        probe.stop()
        # The runtime finishes the tile it has started (a 1024 px tile takes about 1.7 s here), then idles.
        idle_after = _wait_for(log, ("tessera_tiles_queued", "tessera_tiles_in_flight"), limit=10.0)
        tiles, cpu_then = counter_total(log, "tessera_batch_size_sum"), cpu_seconds(process.pid)
        time.sleep(2.0)
        cpu_idle = cpu_seconds(process.pid) - cpu_then
        ended = counter_total(log, "tessera_requests_total", method="Stylize", code="DEADLINE_EXCEEDED")
    assert codes <= {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert probe.failures == []
    # Control calls kept answering while the image calls filled the server: the issue saw them refused
    # or NOT_SERVING for about 5 s. Rounds are 0.1 s apart plus two calls; no gap reaches 3 s.
    during = [t for t in probe.answered if flood_started <= t <= flood_ended]
    assert len(during) >= 3, f"{len(during)} control rounds answered in {flood_ended - flood_started:.1f} s of flood"
    times = [flood_started, *probe.answered]
    assert max(b - a for a, b in itertools.pairwise(times)) < 3.0, probe.answered
    # Finishing the calls would run 17 tiles of 1024 px each (about 20 CPU-seconds); a call queues at most 8
    # before it sees that it has ended (decoding its image, about 0.7 CPU-s here, cannot be cut short).
    assert tiles <= 27 * 8, f"{tiles} tiles ran for calls whose callers had gone"
    assert stopped_after < 180
    assert idle_after < 10, "the runtime still had tiles 10 s after every handler had returned"
    assert cpu_idle < 0.5  # nothing left running once the handlers and the tile in the runtime are done
    assert ended >= 4  # the calls that got a slot count under their real code


def _wait_for(log: Path, gauges: tuple[str, ...], limit: float) -> float:
    """Seconds until every one of the server's `gauges` reads 0 (at most `limit`)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if all(counter_total(log, gauge) == 0 for gauge in gauges):
            return time.monotonic() - started
        time.sleep(0.2)
    return limit
