"""The server while the registry changes under it, while stopping, and as operators see it."""

import queue
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest

from scripts.local_stack import server_command, server_process
from tessera.admin_client import AdminClient
from tessera.child_process import spawn
from tessera.client import TesseraClient, TesseraError
from tessera.v1 import admin_pb2 as apb
from tessera.v1 import admin_pb2_grpc as apb_grpc
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support.images import assert_same_up_to_rounding
from tests.support.server_here import running_here
from tests.support.tiny_model import TinyGenerator, whole_image_reference, write_tiny_version

STYLE = "swappable"
SIZE = 32  # one 32x32 tile, no halo needed beyond the image


class OpenStream:
    """A StylizeTiles call whose requests the test feeds one at a time."""

    def __init__(self, stub, image: np.ndarray, version: int = 0) -> None:
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.image = image
        height, width = image.shape[:2]
        self.requests.put(pb.StylizeTilesRequest(header=pb.StreamHeader(style=STYLE, version=version,
                                                                        image_width=width, image_height=height)))
        self.replies = stub.StylizeTiles(iter(self.requests.get, None), timeout=60)

    def send_whole_image_as_tile(self, index: int = 0) -> None:
        height, width = self.image.shape[:2]
        self.requests.put(pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=0, y=0, width=width, height=height,
                                                              rgb=self.image.tobytes())))

    def close(self) -> None:
        self.requests.put(None)


def _pixels(reply: pb.StylizeTilesResponse) -> np.ndarray:
    tile = reply.tile
    return np.frombuffer(tile.rgb, dtype=np.uint8).reshape(tile.height, tile.width, 3)


def _wait_until(predicate, timeout: float = 30.0, explain=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not reached in time {explain()}"
        time.sleep(0.1)


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path, seed=0)
    return root


def test_a_new_version_is_picked_up_while_an_open_stream_stays_on_its_version(registry, tmp_path):
    image = np.random.default_rng(5).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    with server_process(registry, poll_interval=0.2) as (_, address, _), grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        old = OpenStream(stub, image)
        assert next(old.replies).accepted.version == 1
        write_tiny_version(registry, STYLE, tmp_path, seed=1)
        with TesseraClient(address) as client:
            _wait_until(lambda: client.list_styles()[0].serving_version == 2)
            new_result = client.stylize(image, STYLE)
        old.send_whole_image_as_tile()
        old.close()
        (old_reply,) = list(old.replies)
        assert_same_up_to_rounding(_pixels(old_reply), whole_image_reference(TinyGenerator(0), image))
        assert new_result.version == 2
        assert_same_up_to_rounding(new_result.image, whole_image_reference(TinyGenerator(1), image))


def test_a_removed_style_answers_calls_naming_its_version_while_they_come_then_is_released(registry, tmp_path,
                                                                                            monkeypatch):
    """A style folder removed mid-clip retired its versions at once, and the clip's next frame, which
    names its first frame's version, failed. A removed style now drains as a removed version does
    (docs/serving.md, "Registry changes while serving"): it is no longer listed and its health check
    says NOT_SERVING, a call naming no version finds no such style, and calls naming its version are
    answered until DRAIN_SECONDS after the last (at most REMOVED_DRAIN_MAX_S after the removal); then
    the version is retired, and released once its last stream ends."""
    write_tiny_version(registry, "other", tmp_path, seed=1)
    image = np.random.default_rng(3).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    token = "drain-token"
    with running_here(registry, token) as (running, metrics):
        address = f"127.0.0.1:{running.port}"
        with grpc.insecure_channel(address) as channel, TesseraClient(address, timeout=30) as client, \
                AdminClient(address, token, timeout=30) as admin:
            model = next(s for s in running.store.styles() if s.meta.id == STYLE).versions[1]
            assert client.stylize(image, STYLE, version=1).version == 1  # a clip's first frame
            stream = OpenStream(pb_grpc.StyleTransferStub(channel), image, version=1)  # the call's next stream
            assert next(stream.replies).accepted.version == 1
            shutil.rmtree(registry / STYLE)
            assert [s.id for s in admin.reload()] == ["other"]
            assert [s.id for s in client.list_styles()] == ["other"]
            assert not client.check_health(f"style/{STYLE}")
            assert client.stylize(image, STYLE, version=1).version == 1  # the clip's next frame
            served = {"method": "StylizeTiles", "style": STYLE, "version": "1", "code": "OK"}
            assert metrics.registry.get_sample_value("tessera_requests_total", served) == 2  # both frames, by name
            with pytest.raises(TesseraError) as caught:
                client.stylize(image, STYLE)
            assert caught.value.code == grpc.StatusCode.NOT_FOUND
            assert f"unknown style {STYLE!r}; this server serves other" in str(caught.value)

            monkeypatch.setattr("inference_server.model_store.REMOVED_DRAIN_MAX_S", 0.0)  # the drain is over
            admin.reload()
            assert model.retired and model.runtime.session is not None  # the open stream still holds it
            stream.send_whole_image_as_tile()
            stream.close()
            (reply,) = list(stream.replies)
            assert_same_up_to_rounding(_pixels(reply), whole_image_reference(TinyGenerator(0), image))
            _wait_until(lambda: model.runtime.session is None)  # released after its last stream
            with pytest.raises(TesseraError) as caught:
                client.stylize(image, STYLE, version=1)
            assert caught.value.code == grpc.StatusCode.NOT_FOUND
            assert f"unknown style {STYLE!r}" in str(caught.value)


def test_sigterm_lets_an_open_stream_finish_then_exits_cleanly(registry):
    image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    with server_process(registry, grace_seconds=20) as (process, address, log), \
            grpc.insecure_channel(address) as channel:
        stream = OpenStream(pb_grpc.StyleTransferStub(channel), image)
        assert next(stream.replies).HasField("accepted")
        process.terminate()
        _wait_until(lambda: "stopping" in log.read_text(),
                    explain=lambda: f"(exit code {process.poll()}); server log:\n{log.read_text()}")
        stream.send_whole_image_as_tile()
        stream.close()
        assert len(list(stream.replies)) == 1
        assert process.wait(timeout=30) == 0
        assert log.read_text().rstrip().endswith("server stopped")  # its last line, as the gateway's


def test_sigterm_during_a_long_start_up_exits_cleanly_after_the_version_being_loaded(tmp_path):
    """Loading every shipped version takes a minute or more on 2 cores; a SIGTERM early in it (Ctrl-C of
    `make run` while it starts) must not wait for the rest (run_platform gives a child 15 s)."""
    log_path = tmp_path / "server.log"
    shipped = Path(__file__).resolve().parents[1] / "model_registry"
    with log_path.open("w") as log:
        process = spawn(server_command(shipped, host="127.0.0.1", port=0, threads=1, load_versions=0),
                        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until(lambda: "loaded " in log_path.read_text() or process.poll() is not None, timeout=120,
                    explain=lambda: log_path.read_text())
        process.terminate()
        assert process.wait(timeout=20) == 0, log_path.read_text()
    finally:
        process.kill()
        process.wait()


def test_metrics_count_tiles_and_show_loaded_versions(registry):
    with server_process(registry, metrics_port=0) as (_, address, log), TesseraClient(address) as client:
        client.stylize(np.zeros((40, 40, 3), dtype=np.uint8), STYLE, tile_size=16)
        url = re.search(r"metrics on (\S+)", log.read_text()).group(1)
        text = urllib.request.urlopen(url, timeout=10).read().decode()
    assert f'tessera_tiles_total{{code="OK",style="{STYLE}"}} 9.0' in text
    assert f'tessera_requests_total{{code="OK",method="StylizeTiles",style="{STYLE}",version="1"}} 1.0' in text
    assert f'tessera_batch_size_count{{style="{STYLE}"}}' in text
    assert re.search(rf'tessera_loaded_version{{runtime="onnxruntime-cpu",serving="true",style="{STYLE}",'
                     rf'version="1"}} 1.0', text)


def test_admin_rpcs_need_the_token_and_pin_and_roll_back(registry, tmp_path):
    write_tiny_version(registry, STYLE, tmp_path, seed=1)
    with server_process(registry, admin_token="s3cret") as (_, address, _), \
            grpc.insecure_channel(address) as channel:
        admin = apb_grpc.AdminStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            admin.Status(apb.StatusRequest(), timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        auth = [("authorization", "Bearer s3cret")]
        assert admin.Status(apb.StatusRequest(), metadata=auth, timeout=10).styles[0].serving_version == 2
        rolled = admin.Rollback(apb.RollbackRequest(style=STYLE), metadata=auth, timeout=10).style
        assert (rolled.serving_version, rolled.pinned) == (1, True)
        unpinned = admin.Unpin(apb.UnpinRequest(style=STYLE), metadata=auth, timeout=10).style
        assert (unpinned.serving_version, unpinned.pinned) == (2, False)
        with pytest.raises(grpc.RpcError) as caught:
            admin.Pin(apb.PinRequest(style=STYLE, version=9), metadata=auth, timeout=10)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "cannot pin version 9" in caught.value.details()
