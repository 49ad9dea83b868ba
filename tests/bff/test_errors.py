"""bff.errors.from_grpc: every gRPC failure becomes the right HTTP code and a sentence for people."""

from __future__ import annotations

import grpc
import pytest

from bff.errors import from_grpc


@pytest.mark.parametrize("code, details, status, words", [
    (grpc.StatusCode.NOT_FOUND, "unknown style 'x'", 404, "Unknown style 'x'."),
    (grpc.StatusCode.INVALID_ARGUMENT, "tile 3 lies outside the image", 400, "Tile 3 lies outside the image."),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, "too many streams (32)", 429, "Too many streams (32)."),
    (grpc.StatusCode.UNAVAILABLE, "style 'x' has no valid version: bad checksum", 503,
     "Style 'x' has no valid version: bad checksum."),
    (grpc.StatusCode.INVALID_ARGUMENT, "That photo is too small.", 400, "That photo is too small."),
    (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: ...", 503, "cannot be reached"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", 504, "did not finish in time"),
    (grpc.StatusCode.INTERNAL, "", 502, "failed"),
])
def test_grpc_failures_map_to_http(code, details, status, words):
    err = from_grpc(code, details)
    assert err.status == status and words in err.message
    assert (err.retry_after is not None) == (status in (429, 503))
