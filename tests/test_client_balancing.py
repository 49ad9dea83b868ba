"""One client, several server replicas: tiles spread over them, and survive a dead replica."""

import time

import numpy as np
import pytest

from scripts.local_stack import server_process, stop_process
from tessera.client import TesseraClient
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.metrics import counter_total
from tests.support.tiny_model import TinyGenerator, whole_image_reference


def _tiles_served(log_path) -> float:
    return counter_total(log_path, "tessera_tiles_total", code="OK", style=TINY_STYLE)


def _connect_to_both(client: TesseraClient, logs, seconds: float = 20.0) -> None:
    """Call until every replica has answered one: round_robin picks only connected replicas, and on a
    loaded machine a few calls could all go to the first one while the second still connects (a CI
    run sent all 16 tiles to one replica). A long-lived client, the gateway, is connected to all."""
    deadline = time.monotonic() + seconds
    while min(counter_total(log, "tessera_requests_total", method="ListStyles") for log in logs) == 0:
        assert time.monotonic() < deadline, "a replica never answered ListStyles"
        client.list_styles(include_previews=False)


@pytest.fixture
def two_replicas(tiny_registry):
    with server_process(tiny_registry, metrics_port=0) as first, \
            server_process(tiny_registry, metrics_port=0) as second:
        yield first, second


def test_tiles_of_one_image_spread_over_the_replicas(two_replicas):
    (_, a, log_a), (_, b, log_b) = two_replicas
    image = np.random.default_rng(2).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
    with TesseraClient([a, b], timeout=30) as client:
        _connect_to_both(client, (log_a, log_b))
        result = client.stylize(image, TINY_STYLE, tile_size=32)
    assert_same_up_to_rounding(result.image, whole_image_reference(TinyGenerator(0), image))
    served = (_tiles_served(log_a), _tiles_served(log_b))
    assert sum(served) == 16 and min(served) > 0


def test_a_dead_replica_does_not_fail_the_image(two_replicas):
    (dead, a, _), (_, b, _) = two_replicas
    stop_process(dead)
    image = np.random.default_rng(3).integers(0, 256, size=(96, 96, 3), dtype=np.uint8)
    with TesseraClient([a, b], timeout=30) as client:
        for _ in range(3):  # whichever replica round-robin tries first, every image completes
            result = client.stylize(image, TINY_STYLE, tile_size=32)
            assert_same_up_to_rounding(result.image, whole_image_reference(TinyGenerator(0), image))


def test_tiles_of_a_replica_that_dies_mid_image_are_retried_on_the_other(two_replicas):
    (victim, a, _), (_, b, _) = two_replicas
    image = np.random.default_rng(4).integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    expected = whole_image_reference(TinyGenerator(0), image)

    def kill_after_a_few_tiles(done: int, total: int) -> None:
        if done == 5:
            victim.kill()

    with TesseraClient([a, b], timeout=60) as client:
        for _ in range(4):
            client.list_styles()  # connect to both replicas first, as a long-lived client has
        result = client.stylize(image, TINY_STYLE, tile_size=32, progress=kill_after_a_few_tiles)
    assert victim.wait(timeout=10) != 0
    assert_same_up_to_rounding(result.image, expected)
