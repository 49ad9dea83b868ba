"""The inference server's metrics name the model version that served each call, and show tiles
waiting for and inside runtime calls (one per runner) while an image is restyled."""

from __future__ import annotations

import re
import threading
import urllib.request

import numpy as np

from scripts.local_stack import server_process
from tessera.client import TesseraClient
from tests.support import TINY_STYLE
from tests.support.metrics import counter_total


def gauges(log_path) -> dict[str, float]:
    url = re.search(r"metrics on (\S+)", log_path.read_text()).group(1)
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {name: sum(float(v) for v in re.findall(rf"^{name}{{[^}}]*}} (\S+)$", text, re.M))
            for name in ("tessera_tiles_queued", "tessera_tiles_in_flight")}


def test_requests_carry_the_version_and_tiles_are_gauged(tiny_registry):
    image = np.random.default_rng(7).integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
    with server_process(tiny_registry, metrics_port=0, default_tile_size=32, max_batch_size=1,
                        runners=2) as (_, address, log):
        seen = {"tessera_tiles_queued": 0.0, "tessera_tiles_in_flight": 0.0}
        with TesseraClient(address, timeout=60, streams_per_target=4) as client:
            worker = threading.Thread(target=client.stylize, args=(image, TINY_STYLE))
            worker.start()
            while worker.is_alive():  # 256 tiles, two calls at a time: seconds of work to sample
                for name, value in gauges(log).items():
                    seen[name] = max(seen[name], value)
            worker.join(60)
        # One tile per call (batch size 1) on each of the two runners (tests/test_batcher.py shows
        # the two calls overlapping; sampling sub-millisecond calls here may or may not catch it).
        assert seen["tessera_tiles_queued"] > 0 and 1 <= seen["tessera_tiles_in_flight"] <= 2
        assert gauges(log) == {"tessera_tiles_queued": 0, "tessera_tiles_in_flight": 0}
        assert counter_total(log, "tessera_requests_total", method="StylizeTiles", version="1", code="OK") >= 1
