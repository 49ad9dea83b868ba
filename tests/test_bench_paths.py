"""The bench's raw path does, per call, the work the server does per photo (bench/paths.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.paths import RawRun, context_model
from scripts.server_memory import sample_image
from tessera.registry import read_manifest

VERSION = Path(__file__).resolve().parents[1] / "model_registry" / "blue-ink" / "12"


class CountingContext:
    """A context model that counts its runs."""

    def __init__(self, inner) -> None:
        self.inner, self.runs = inner, 0

    def run_named(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        self.runs += 1
        return self.inner.run_named(feeds)

    def release_idle(self) -> None:
        self.inner.release_idle()


def _raw(context_each_call: bool) -> tuple[RawRun, CountingContext]:
    manifest = read_manifest(VERSION)
    assert manifest.context_onnx is not None, "the test needs a version with image-wide statistics"
    counting = CountingContext(context_model(VERSION, manifest, threads=1))
    photo = sample_image(96, 64)
    return RawRun(VERSION, photo, threads=1, context_runtime=counting, context_each_call=context_each_call), counting


def test_the_raw_path_computes_the_photos_context_in_every_call_and_paints_the_same():
    each, each_count = _raw(context_each_call=True)
    once, once_count = _raw(context_each_call=False)
    before = each_count.runs, once_count.runs
    first, again = each(), each()
    fixed = once()
    assert each_count.runs - before[0] == 2  # one context run in each call, as for every served photo
    assert once_count.runs - before[1] == 0  # a tool that times the model alone reuses one context
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, fixed)
