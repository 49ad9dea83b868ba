"""The server's memory does not grow with the number of versions it has served: a small, bounded
version of `python -m scripts.server_memory` (docs/serving.md, "Memory") on tiny models."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.local_stack import server_process
from scripts.server_memory import rss_mib, sample_image
from tessera.client import TesseraClient
from tests.support.tiny_model import write_tiny_version

STYLES = [f"tiny-{i}" for i in range(5)]
SIDE, TILE = 1024, 512
# With an ONNX Runtime arena per version, RSS grew about 150 MiB per style here (282 -> 897 MiB over five);
# without, it creeps about 20 MiB per image whatever the style (126 -> 192 MiB), which the bound allows.
MAX_GROWTH_MIB = 120
# Serial pass of `make test`: measures the server's RSS as versions load.
pytestmark = [pytest.mark.timeout(240), pytest.mark.serial]


def test_memory_stays_flat_as_more_versions_serve(tmp_path):
    root = tmp_path / "registry"
    for i, style in enumerate(STYLES):
        write_tiny_version(root, style, tmp_path, seed=i)
    image = sample_image(SIDE, SIDE)
    after = []
    with server_process(root, threads=1, warmup_runs=0, poll_interval=3600) as (process, address, _), \
            TesseraClient(address, timeout=120) as client:
        for style in STYLES:
            result = client.stylize(image, style, tile_size=TILE)
            assert not np.array_equal(result.image, image)
            after.append(rss_mib(process.pid))
    growth = max(after[1:]) - after[0]
    assert growth <= MAX_GROWTH_MIB, f"RSS after each style: {[round(a) for a in after]} MiB"
