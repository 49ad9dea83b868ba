"""The client accepts gRPC's dns:/// targets, as a Kubernetes headless Service gives them."""

import numpy as np
import pytest

from tessera.client import TesseraClient
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference


def test_a_dns_target_resolves_and_stylizes(inference_server):
    port = inference_server.rsplit(":", 1)[1]
    image = np.random.default_rng(5).integers(0, 256, size=(80, 96, 3), dtype=np.uint8)
    with TesseraClient(f"dns:///localhost:{port}", timeout=30) as client:
        assert TINY_STYLE in [s.id for s in client.list_styles()]
        assert client.check_health()
        result = client.stylize(image, TINY_STYLE, tile_size=32)
    assert_same_up_to_rounding(result.image, whole_image_reference(TinyGenerator(0), image))


def test_a_dns_target_cannot_be_mixed_with_a_list():
    with pytest.raises(ValueError, match="only server address"):
        TesseraClient(["dns:///localhost:1", "127.0.0.1:2"])
