"""Arguments of the wrong type (tessera.client, tessera.style_sources): each is refused with a ValueError
naming the argument and what it must be, before any call, instead of a TypeError from deep inside
protobuf ("bad argument type for built-in operation"), an AttributeError, a style id of '' the server
calls unknown, or a progress that fails only once every tile is done."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tessera import number_checks
from tessera.client import TesseraClient, server_is_serving
from tessera.style_sources import StyleSource, mix_in, parse_mix
from tests.support import TINY_STYLE
from tests.test_client_stall import CountingCalls

PHOTO = np.random.default_rng(2).integers(0, 256, (40, 56, 3), dtype=np.uint8)
SWIRLS = StyleSource(preset="swirls")
NOT_STYLE_SOURCES = [["swirls"], "swirls", SWIRLS, [None], 5]


@pytest.mark.parametrize(("options", "named"), [
    *[({"style": v}, "style must be a style id") for v in (123, None, "", "  ", b"tiny-sepia")],
    *[({"keep_colors": v}, "keep_colors must be True or False") for v in ("no", None, 1)],
    ({"explain": "yes"}, "explain must be True or False"),
    *[({"style_sources": v}, "style_sources must be a list of StyleSource") for v in NOT_STYLE_SOURCES],
    *[({"progress": v}, "progress must be a function") for v in (5, "dots")],
    ({"style_sources": [SWIRLS] * 9}, "at most 8 style sources can be mixed, got 9"),
    ({"style_sources": [StyleSource(preset="swirls", weight=0)] * 2}, "weights must not all be 0"),
    ({"style_sources": [StyleSource(preset="swirls", weight=1e-50)]}, "weights must not all be 0"),  # 0 in float32
])
@pytest.mark.parametrize("scale", [1.0, 0.5])  # 0.5: the brush-scale path, which asks for the style first
def test_stylize_refuses_an_argument_of_the_wrong_type_before_any_call(inference_server, options, named, scale):
    counting = CountingCalls()
    arguments = {"style": TINY_STYLE, "scale": scale, **options}
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client, \
            pytest.raises(ValueError, match=named):
        client.stylize(PHOTO, **arguments)
    assert counting.calls == 0


@pytest.mark.parametrize(("options", "named"), [
    ({"style": 123}, "style must be"), ({"style": None}, "style must be"),
    ({"data": "photo.png"}, "data must be the bytes"), ({"data": None}, "data must be the bytes"),
    ({"output_format": 1}, "output_format must be"), ({"output_format": None}, "output_format must be"),
    ({"output_format": "tiff"}, "output_format must be one of png, jpeg, webp"),
    ({"style_sources": [SWIRLS] * 9}, "at most 8 style sources"),
    ({"keep_colors": "no"}, "keep_colors must be"),
    *[({"style_sources": v}, "style_sources must be") for v in NOT_STYLE_SOURCES],
])
def test_stylize_encoded_refuses_an_argument_of_the_wrong_type_before_any_call(inference_server, options, named):
    counting = CountingCalls()
    arguments = {"data": b"\x89PNG", "style": TINY_STYLE, **options}
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client, \
            pytest.raises(ValueError, match=named):
        client.stylize_encoded(**arguments)
    assert counting.calls == 0


def test_listing_and_health_refuse_an_argument_of_the_wrong_type_before_any_call(inference_server):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client:
        with pytest.raises(ValueError, match="include_previews must be True or False"):
            client.list_styles(include_previews="no")
        for service in (None, 123):
            with pytest.raises(ValueError, match="service must be a health service name"):
                client.check_health(service)
    assert counting.calls == 0


@pytest.mark.parametrize(("options", "named"), [
    ({"targets": 123}, "targets must be HOST:PORT"), ({"targets": None}, "targets must be HOST:PORT"),
    ({"targets": [123]}, "targets must be HOST:PORT"), ({"targets": b"127.0.0.1:1"}, "targets must be HOST:PORT"),
    ({"tls_ca": "ca.pem"}, "tls_ca must be the PEM bytes"), ({"tls_ca": Path("ca.pem")}, "tls_ca must be the PEM"),
    ({"interceptors": [object()]}, "interceptors must be"), ({"interceptors": None}, "interceptors must be"),
])
def test_the_client_refuses_a_target_certificate_or_interceptor_of_the_wrong_type(options, named):
    with pytest.raises(ValueError, match=named):
        TesseraClient(**{"targets": "127.0.0.1:9", **options})


@pytest.mark.parametrize(("options", "named"), [
    ({"timeout": math.nan}, "timeout must be positive seconds"), ({"timeout": -1}, "timeout must be positive"),
    ({"address": 123}, "address must be HOST:PORT"), ({"tls_ca": "ca.pem"}, "tls_ca must be the PEM bytes"),
])
def test_server_is_serving_refuses_a_bad_argument(options, named):
    with pytest.raises(ValueError, match=named):
        server_is_serving(**{"address": "127.0.0.1:9", **options})


def test_numpy_scalars_and_any_iterable_still_work(inference_server):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=30, interceptors=iter([counting])) as client:
        assert client.list_styles(include_previews=np.bool_(False))
        seen = []
        result = client.stylize(PHOTO, TINY_STYLE, strength=np.float32(0.5), keep_colors=np.bool_(True),
                                explain=np.bool_(False), style_sources=iter(()), scale=np.float64(1.0),
                                progress=lambda done, total: seen.append(done))
        assert result.image.shape == PHOTO.shape and seen
    assert counting.calls >= 2


@pytest.mark.parametrize(("make", "words"), [
    (lambda: StyleSource(preset=123), "preset must be a preset id"),
    (lambda: StyleSource(preset=None, image=b"\x89PNG"), "preset must be a preset id"),
    (lambda: StyleSource(image="painting.jpg"), "image must be the bytes of an encoded image"),
    (lambda: mix_in(["swirls"], []), "base must be a list of StyleSource"),
    (lambda: mix_in([SWIRLS], [("ribbons", 0.3)]), r"each mix must be a \(StyleSource, share\) pair"),
    (lambda: mix_in([SWIRLS], SWIRLS), r"mixes must be a list of \(StyleSource, share\) pairs"),
    (lambda: parse_mix(Path("painting.jpg")), "a mix must be text such as 'painting.jpg:0.3'"),
])
def test_style_sources_and_mixes_of_the_wrong_type_are_refused_at_once(make, words):
    with pytest.raises(ValueError, match=words):
        make()


@pytest.mark.parametrize("share", [-0.5, 1.5, math.nan, math.inf, True, "0.3"])
def test_a_mix_share_that_is_no_number_from_0_to_1_is_named(share):
    """-0.5 and NaN came out as a style source's weight, the one number the caller never gave."""
    with pytest.raises(ValueError, match="the --mix share must be between 0 and 1"):
        mix_in([SWIRLS], [(StyleSource(preset="ribbons"), share)], "--mix")


def test_mixes_take_numpy_shares_and_weights():
    mixed = mix_in([StyleSource(preset="swirls", weight=np.float32(2.0))],
                   [(StyleSource(preset="ribbons"), np.float64(0.25))])
    assert [s.weight for s in mixed] == [0.75, 0.25]


@pytest.mark.parametrize("seconds", [10**400, -(10**400)], ids=["10**400", "-10**400"])
def test_an_int_beyond_a_floats_range_is_out_of_range_not_an_overflow(seconds):
    """math.isfinite(10**400) raises OverflowError: the checks let that traceback through."""
    assert number_checks.is_real(seconds) and not number_checks.is_float32(seconds)
    with pytest.raises(ValueError, match="timeout must be positive seconds"):
        number_checks.positive_seconds("timeout", seconds)
    with pytest.raises(ValueError, match="weight must be a number >= 0"):
        StyleSource(preset="swirls", weight=seconds)


def test_a_closed_client_says_so_in_words(inference_server):
    """gRPC's bare "Cannot invoke RPC on closed channel!" came back from every call after close()."""
    client = TesseraClient(inference_server)
    client.close()
    for call in (lambda: client.list_styles(), lambda: client.stylize(np.zeros((8, 8, 3), np.uint8), TINY_STYLE),
                 lambda: client.stylize_encoded(b"x", TINY_STYLE)):
        with pytest.raises(ValueError, match="this TesseraClient is closed"):
            call()
