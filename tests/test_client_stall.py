"""The client library's limit on time without progress (tessera.client, tessera.tile_streams): a server
that takes an image call and sends nothing back fails the call with UNAVAILABLE "The model server
stopped answering" after the client's stall timeout, or after a call's own shorter one. A relay holds
the calls of a real server (tests/support/grpc_relay.py)."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from tessera.client import TesseraClient, TesseraError
from tests.support import TINY_STYLE
from tests.support.grpc_relay import relay

# Serial pass of `make test`: a call fails within its stall timeout plus SLACK_S.
pytestmark = pytest.mark.serial

PHOTO = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
SLACK_S = 4.0  # the stream's set-up on a busy shared machine


def _stalls_after(client: TesseraClient, **options) -> float:
    """Seconds until a held stylize call fails as a stall."""
    started = time.monotonic()
    with pytest.raises(TesseraError) as failed:
        client.stylize(PHOTO, TINY_STYLE, **options)
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE, failed.value
    assert "stopped answering" in failed.value.message, failed.value
    return time.monotonic() - started


@pytest.mark.parametrize("scale", [1.0, 0.5])  # 0.5: the brush-scale path, which streams a smaller image
def test_a_call_may_shorten_the_clients_stall_timeout_but_not_lengthen_it(inference_server, scale):
    with relay(inference_server) as (address, controls), \
            TesseraClient(address, timeout=60, stall_timeout=2.0) as client:
        client.stylize(PHOTO, TINY_STYLE, scale=scale)  # the style's facts are known before calls are held
        controls.hang = True
        assert 1.0 <= _stalls_after(client, stall_timeout=1.0, scale=scale) < 1.0 + SLACK_S
        assert 2.0 <= _stalls_after(client, stall_timeout=30.0, scale=scale) < 2.0 + SLACK_S


def test_a_client_without_a_stall_timeout_takes_a_calls_own(inference_server):
    with relay(inference_server) as (address, controls), \
            TesseraClient(address, timeout=60, stall_timeout=None) as client:
        client.stylize(PHOTO, TINY_STYLE)
        controls.hang = True
        assert 1.0 <= _stalls_after(client, stall_timeout=1.0) < 1.0 + SLACK_S


class CountingCalls(grpc.UnaryUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Counts the calls a client makes."""

    def __init__(self) -> None:
        self.calls = 0

    def intercept_unary_unary(self, continuation, details, request):
        self.calls += 1
        return continuation(details, request)

    def intercept_stream_stream(self, continuation, details, requests):
        self.calls += 1
        return continuation(details, requests)


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf"), True, "5"])
def test_a_stall_timeout_that_is_not_positive_seconds_is_refused_before_any_call(inference_server, seconds, scale):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client, \
            pytest.raises(ValueError, match="stall_timeout"):
        client.stylize(PHOTO, TINY_STYLE, stall_timeout=seconds, scale=scale)
    assert counting.calls == 0
