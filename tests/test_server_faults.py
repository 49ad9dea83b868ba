"""Faults and load: cancelled streams, too many streams, many clients at once. Each test is
bounded in requests and time and stops by itself."""

import queue
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest

from scripts.local_stack import running_server, server_process
from tessera.client import TesseraClient, TesseraError
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.metrics import counter_total
from tests.support.tiny_model import TinyGenerator, whole_image_reference


def _held_stream(stub) -> tuple[queue.SimpleQueue, object]:
    """A stream that has sent its header and waits for the test to close it."""
    requests: queue.SimpleQueue = queue.SimpleQueue()
    requests.put(pb.StylizeTilesRequest(header=pb.StreamHeader(style=TINY_STYLE, image_width=64, image_height=64)))
    return requests, stub.StylizeTiles(iter(requests.get, None), timeout=30)


def test_a_client_that_cancels_mid_stream_does_not_disturb_the_server(inference_server):
    with grpc.insecure_channel(inference_server) as channel:
        requests, call = _held_stream(pb_grpc.StyleTransferStub(channel))
        assert next(call).HasField("accepted")
        requests.put(pb.StylizeTilesRequest(tile=pb.Tile(index=0, x=0, y=0, width=32, height=32,
                                                         rgb=bytes(48 * 48 * 3))))
        call.cancel()
    image = np.full((50, 50, 3), 90, dtype=np.uint8)
    with TesseraClient(inference_server) as client:
        result = client.stylize(image, TINY_STYLE)
    assert_same_up_to_rounding(result.image, whole_image_reference(TinyGenerator(0), image))


def test_streams_beyond_the_limit_get_resource_exhausted(tiny_registry):
    with running_server(tiny_registry, max_streams=2) as address, grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        held = [_held_stream(stub) for _ in range(2)]
        for _, call in held:
            assert next(call).HasField("accepted")
        _, third = _held_stream(stub)
        with pytest.raises(grpc.RpcError) as caught:
            next(third)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "busy" in caught.value.details()
        # At full load the server still answers what load balancers and the gateway ask it.
        with TesseraClient(address, timeout=10) as client:
            assert client.check_health()
            assert [s.id for s in client.list_styles()] == [TINY_STYLE]
        for requests, call in held:
            requests.put(None)
            assert list(call) == []


def test_many_clients_at_once_all_get_their_own_correct_image(inference_server):
    images = [np.random.default_rng(seed).integers(0, 256, size=(90, 120, 3), dtype=np.uint8) for seed in range(12)]
    # References first, in this thread: building the generator seeds torch's global RNG.
    expected = [whole_image_reference(TinyGenerator(0), image) for image in images]

    def restyle(image: np.ndarray) -> np.ndarray:
        with TesseraClient(inference_server, timeout=60) as client:
            return client.stylize(image, TINY_STYLE, tile_size=32).image

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(restyle, images, timeout=120))
    for result, reference in zip(results, expected, strict=True):
        assert_same_up_to_rounding(result, reference)


def _accepted_stream_within(stub, seconds: float):
    """A held stream, opened again while the server answers busy; fails if no slot frees in ``seconds``.

    A cancel reaches the server asynchronously, so the slot of a stream cancelled a moment ago may
    still be taken; a leaked slot never comes back.
    """
    give_up = time.monotonic() + seconds
    while True:
        _, call = _held_stream(stub)
        try:
            assert next(call).HasField("accepted")
            return call
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > give_up:
                raise
            time.sleep(0.05)


def test_streams_cancelled_before_any_tile_give_their_slots_back(tiny_registry):
    with running_server(tiny_registry, max_streams=2) as address, grpc.insecure_channel(address) as channel:
        stub = pb_grpc.StyleTransferStub(channel)
        for _ in range(4):  # twice the stream limit: leaked slots would lock the server out
            _accepted_stream_within(stub, seconds=5).cancel()
        with TesseraClient(address, timeout=20) as client:
            assert client.check_health()
            assert client.stylize(np.zeros((20, 20, 3), dtype=np.uint8), TINY_STYLE).image.shape == (20, 20, 3)


def test_a_stream_that_sends_nothing_is_closed_after_the_idle_limit(tiny_registry):
    with running_server(tiny_registry, stream_idle_seconds=1) as address, grpc.insecure_channel(address) as channel:
        requests, call = _held_stream(pb_grpc.StyleTransferStub(channel))
        assert next(call).HasField("accepted")
        with pytest.raises(grpc.RpcError) as caught:
            next(call)
        requests.put(None)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no tile arrived for 1 s" in caught.value.details()


def test_tiles_slower_than_the_idle_limit_are_not_blamed_on_the_client(tiny_registry):
    """The idle limit is for clients that send nothing; tiles the server is still computing (a big
    tile on a loaded machine) keep the stream open. The tiny model needs ~0.3 s for 256 px."""
    image = np.random.default_rng(0).integers(0, 256, (256, 512, 3), dtype=np.uint8)
    with running_server(tiny_registry, stream_idle_seconds=0.1) as address, \
            TesseraClient(address, timeout=60) as client:
        assert client.stylize(image, TINY_STYLE, tile_size=256).image.shape == image.shape


def test_an_image_over_the_size_limit_fails_once_and_is_not_retried(tiny_registry):
    """Too large is permanent (INVALID_ARGUMENT), unlike busy (RESOURCE_EXHAUSTED, which clients retry)."""
    with server_process(tiny_registry, metrics_port=0, max_image_pixels=50 * 50) as (_, address, log), \
            TesseraClient(address, timeout=10) as client:
        with pytest.raises(TesseraError) as caught:
            client.stylize(np.zeros((60, 60, 3), dtype=np.uint8), TINY_STYLE)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "60x60 image (3,600 pixels) exceeds the server's limit of 2,500 pixels" in caught.value.message
        assert counter_total(log, "tessera_requests_total", method="StylizeTiles", code="INVALID_ARGUMENT") == 1
        assert client.stylize(np.zeros((50, 50, 3), dtype=np.uint8), TINY_STYLE).image.shape == (50, 50, 3)
