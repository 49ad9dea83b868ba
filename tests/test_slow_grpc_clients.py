"""Slow and stalled gRPC clients cannot keep the server's image slots: real streams on loopback, each test
bounded in time. The server's limits are scaled down (seconds instead of tens of seconds)."""

from __future__ import annotations

import queue
import socket
import threading
import time

import grpc
import numpy as np
import pytest

from scripts.local_stack import running_server
from tessera.client import TesseraClient, TesseraError
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import TINY_STYLE

# Serial pass of `make test`: slot and deadline timing: asserts elapsed seconds.
pytestmark = pytest.mark.serial

HALO = 16  # the tiny style's


def _tile(x: int, y: int, size: int, width: int, height: int, index: int = 0) -> pb.StylizeTilesRequest:
    w, h = min(width, x + size + HALO) - max(0, x - HALO), min(height, y + size + HALO) - max(0, y - HALO)
    return pb.StylizeTilesRequest(tile=pb.Tile(index=index, x=x, y=y, width=size, height=size, rgb=bytes(w * h * 3)))


class _Stream:
    """A raw StylizeTiles call fed from a queue; a thread reads its replies unless `read` is False."""

    def __init__(self, stub, width: int, height: int, read: bool = True, timeout: float = 60) -> None:
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.requests.put(pb.StylizeTilesRequest(header=pb.StreamHeader(style=TINY_STYLE, image_width=width,
                                                                        image_height=height)))
        self.call = stub.StylizeTiles(iter(self.requests.get, None), timeout=timeout)
        self.error: grpc.RpcError | None = None
        self.replies = 0
        if read:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for _ in self.call:
                self.replies += 1
        except grpc.RpcError as error:
            self.error = error

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


def _stylize_within(address: str, seconds: float) -> float:
    """Seconds until a normal client restyles a small image; fails after `seconds`."""
    started = time.monotonic()
    while True:
        try:
            with TesseraClient(address, timeout=10) as client:
                client.stylize(np.zeros((40, 40, 3), dtype=np.uint8), TINY_STYLE)
            return time.monotonic() - started
        except Exception:
            if time.monotonic() - started > seconds:
                raise
            time.sleep(0.2)


def test_streams_that_send_a_small_tile_now_and_then_lose_their_slots(tiny_registry):
    with running_server(tiny_registry, max_streams=3, stream_wait_allowance=1, stream_min_rate=10_000) as address, \
            grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        slow = [_Stream(stub, 1024, 1024) for _ in range(3)]
        deadline = time.monotonic() + 15
        sent = 0
        while any(s.error is None for s in slow) and time.monotonic() < deadline:
            for s in slow:  # one 16x16 tile every 0.6 s: 427 pixels per second, below the minimum
                s.requests.put(_tile(16 * (sent % 64), 16 * (sent // 64), 16, 1024, 1024, index=sent))
            sent += 1
            time.sleep(0.6)
        for s in slow:
            s.close()
        assert [s.error.code() for s in slow if s.error] == [grpc.StatusCode.DEADLINE_EXCEEDED] * 3
        assert "must send at least 10,000 pixels per second of waiting" in slow[0].error.details()
        assert sent < 10  # closed after the 1 s allowance and the little their tiles earned
        assert _stylize_within(address, 10) < 10


def test_a_stream_that_sends_no_header_loses_its_slot(tiny_registry):
    with running_server(tiny_registry, max_streams=1, stream_wait_allowance=1) as address, \
            grpc.insecure_channel(address) as channel:
        requests: queue.SimpleQueue = queue.SimpleQueue()
        call = pb_grpc.StyleTransferStub(channel).StylizeTiles(iter(requests.get, None), timeout=30)
        with pytest.raises(grpc.RpcError) as caught:
            next(call)
        requests.put(None)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "no header arrived within 1 s" in caught.value.details()
        assert _stylize_within(address, 10) < 10


def test_a_stream_that_sends_but_never_reads_is_cancelled_and_frees_its_slot(tiny_registry):
    with running_server(tiny_registry, max_streams=1, stream_read_seconds=1) as address, \
            grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        hog = _Stream(stub, 4096, 4096, read=False)
        for index in range(64):  # 50 MB of results that nobody reads
            hog.requests.put(_tile(512 * (index % 8), 512 * (index // 8), 512, 4096, 4096, index=index))
        took = _stylize_within(address, 30)
        hog.requests.put(None)
        assert took < 30
        with pytest.raises(grpc.RpcError) as caught:
            for _ in hog.call:
                pass
        assert caught.value.code() == grpc.StatusCode.CANCELLED


def test_a_stream_cannot_send_more_tiles_than_its_image_needs(inference_server):
    with grpc.insecure_channel(inference_server) as channel:
        stream = _Stream(pb_grpc.StyleTransferStub(channel), 64, 64, read=False)
        for index in range(5):  # five 32x32 cores on a 64x64 image: one more than it has room for
            stream.requests.put(_tile(0, 0, 32, 64, 64, index=index))
        stream.requests.put(None)
        with pytest.raises(grpc.RpcError) as caught:
            for _ in stream.call:
                pass
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "tile 4: the stream's tiles cover 5,120 pixels, more than its 64x64 image has" in caught.value.details()


class _Relay:
    """A TCP relay whose connections to the server come from another loopback address (127.0.0.2), so
    the server sees a second client address."""

    def __init__(self, target: str, source: str = "127.0.0.2") -> None:
        host, _, port = target.rpartition(":")
        self._target, self._source = (host, int(port)), source
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.socket()
            upstream.bind((self._source, 0))
            upstream.connect(self._target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()

    def close(self) -> None:
        self._listener.close()


def test_one_client_address_gets_at_most_its_share_of_image_calls(tiny_registry):
    with running_server(tiny_registry, max_streams=4, max_streams_per_peer=2) as address, \
            grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        held = [_Stream(stub, 64, 64, read=False) for _ in range(2)]
        for stream in held:
            assert next(stream.call).HasField("accepted")
        third = _Stream(stub, 64, 64, read=False)
        with pytest.raises(grpc.RpcError) as caught:
            next(third.call)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "busy for this client: it allows 2 image calls at once from one address" in caught.value.details()
        relay = _Relay(address)
        try:
            with grpc.insecure_channel(relay.address) as other:
                other_stream = _Stream(pb_grpc.StyleTransferStub(other), 64, 64, read=False)
                assert next(other_stream.call).HasField("accepted")  # another address still gets a slot
                other_stream.close()
        finally:
            relay.close()
        for stream in held:
            stream.close()


def test_a_client_refused_as_busy_waits_for_a_place_until_its_deadline(tiny_registry):
    """24 CLI calls at once from one machine, against a server that takes 16 per address, had 8 fail
    after 0.75 s of retries (4 of them) while the others ran. A stream refused as busy is now asked
    again, in pauses doubling to 2 s with jitter, until the call's own deadline."""
    image = np.zeros((48, 64, 3), np.uint8)
    with running_server(tiny_registry, max_streams_per_peer=1) as address, \
            grpc.insecure_channel(address) as channel:
        held = _Stream(pb_grpc.StyleTransferStub(channel), 64, 64, read=False)
        assert next(held.call).HasField("accepted")
        threading.Timer(2.5, held.close).start()  # the other call ends 2.5 s on
        started = time.monotonic()
        with TesseraClient(address, timeout=30) as client:
            assert client.stylize(image, TINY_STYLE).image.shape == image.shape
        assert time.monotonic() - started >= 2.0
        held = _Stream(pb_grpc.StyleTransferStub(channel), 64, 64, read=False)
        assert next(held.call).HasField("accepted")
        started = time.monotonic()
        with TesseraClient(address, timeout=3) as client, pytest.raises(TesseraError) as refused:
            client.stylize(image, TINY_STYLE)
        assert time.monotonic() - started < 6  # within the deadline, not forever
        assert refused.value.code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED)
        held.close()
