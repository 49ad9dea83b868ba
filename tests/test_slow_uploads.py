"""Slow and stalled uploads of unary Stylize requests are closed by the server, and hold only their
own client's slots meanwhile: raw HTTP/2 clients (tests/support/trickle.py) on loopback against a real
server whose upload limit is scaled down to 2 s."""

from __future__ import annotations

import threading

import grpc
import numpy as np
import pytest

from scripts.local_stack import running_server
from tessera.client import TesseraClient
from tessera.imageio import encode_image
from tessera.v1 import style_transfer_pb2 as pb
from tests.support import TINY_STYLE
from tests.support.trickle import trickle

# Serial pass of `make test`: upload timeouts: asserts when a trickled call is closed.
pytestmark = pytest.mark.serial

STYLIZE = "/tessera.v1.StyleTransfer/Stylize"
UPLOAD_SECONDS = 2
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


@pytest.fixture(scope="module")
def server(tiny_registry):
    with running_server(tiny_registry, unary_upload_seconds=UPLOAD_SECONDS, max_streams_per_peer=2) as address:
        yield address


def request_bytes() -> bytes:
    photo = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    return pb.StylizeRequest(style=TINY_STYLE, image=encode_image(photo, "png")).SerializeToString()


@pytest.mark.parametrize("chunk", [100, 0], ids=["trickled", "stalled"])
def test_an_upload_that_does_not_arrive_in_time_is_closed_with_a_reason(server, chunk):
    ending = trickle(server, STYLIZE, request_bytes(), chunk=chunk, interval=0.2, give_up=15)
    assert ending.status == DEADLINE_EXCEEDED, ending
    assert f"no whole request arrived within {UPLOAD_SECONDS} s" in ending.message
    assert UPLOAD_SECONDS - 0.5 < ending.seconds < UPLOAD_SECONDS + 5


def test_slow_uploads_hold_their_clients_slots_and_give_them_back(server):
    endings = []
    slow = [threading.Thread(target=lambda: endings.append(trickle(server, STYLIZE, request_bytes(), chunk=50,
                                                                   interval=0.2, give_up=15)))
            for _ in range(3)]
    for thread in slow:
        thread.start()
    for thread in slow:
        thread.join(20)
    # One address may have 2 image calls at once: the third upload is refused at once, not after 2 s.
    codes = sorted(e.status for e in endings)
    assert codes == sorted([DEADLINE_EXCEEDED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED]), endings
    busy = next(e for e in endings if e.status == RESOURCE_EXHAUSTED)
    assert busy.seconds < 1.5 and "2 image calls at once from one address" in busy.message
    with TesseraClient(server, timeout=30) as client:  # the slots came back
        assert client.stylize(np.zeros((40, 40, 3), np.uint8), TINY_STYLE).image.shape == (40, 40, 3)


def test_a_unary_request_that_arrives_in_time_is_served(server):
    with TesseraClient(server, timeout=30) as client:
        data, mime = client.stylize_encoded(encode_image(np.zeros((60, 80, 3), np.uint8), "png"), TINY_STYLE)
    assert mime == "image/png" and data
