"""Numbers that are not what they claim to be (tessera/number_checks.py): a bool, NaN, an infinity, a
negative or a fraction where a whole number belongs. Each is refused with a sentence naming the argument
before anything is sent, by the client library, the CLI's flags and the processes' settings
(tests/test_settings.py), instead of passing a comparison NaN always fails, stalling a thread on an
infinite wait, or cutting a photo into 4 px tiles for minutes of work."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tessera import cli, number_checks
from tessera.client import TesseraClient
from tessera.video import ClipOptions
from tessera.video_io import ClipLimits
from tests.support import TINY_STYLE
from tests.test_client_stall import CountingCalls

PHOTO = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
NOT_SECONDS = [0, -1.0, math.nan, math.inf, True, "5"]


@pytest.mark.parametrize(("check", "good", "bad"), [
    (lambda v: number_checks.positive_seconds("t", v), [0.5, 3, np.float32(2.0)], NOT_SECONDS),
    (lambda v: number_checks.fraction("s", v), [0, 0.25, 1, np.float64(0.5)], [-0.1, 1.01, math.nan, True, None]),
    (lambda v: number_checks.whole_number("n", v, 1), [1, 7, np.int64(3)], [0, 2.0, True, "3", -4]),
])
def test_each_check_takes_real_numbers_in_range_and_refuses_the_rest(check, good, bad):
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(ValueError, match="must be"):
            check(value)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "Infinity", "1e400", "x", ""])
def test_finite_float_refuses_text_that_is_no_finite_number(text):
    with pytest.raises(ValueError, match="is not a"):
        number_checks.finite_float(text)
    assert number_checks.finite_float(" 2.5 ") == 2.5


@pytest.mark.parametrize(("options", "named"), [
    *[({"timeout": v}, "timeout") for v in NOT_SECONDS],
    *[({"stall_timeout": v}, "stall_timeout") for v in (True, math.inf)],
    ({"strength": True}, "strength"), ({"strength": math.nan}, "strength"), ({"strength": 1.5}, "strength"),
    ({"version": -1}, "version"), ({"version": True}, "version"), ({"version": 1.0}, "version"),
    ({"tile_size": 4}, "tile_size"), ({"tile_size": -512}, "tile_size"), ({"tile_size": 64.0}, "tile_size"),
    ({"tile_size": True}, "tile_size"), ({"scale": True}, "scale"), ({"scale": math.inf}, "scale"),
])
@pytest.mark.parametrize("scale", [1.0, 0.5])  # 0.5: the brush-scale path, which asks for the style first
def test_stylize_refuses_a_bad_number_before_any_call(inference_server, options, named, scale):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client, \
            pytest.raises(ValueError, match=named):
        client.stylize(PHOTO, TINY_STYLE, **{"scale": scale, **options})
    assert counting.calls == 0


@pytest.mark.parametrize("image", [np.zeros((0, 8, 3), np.uint8), np.zeros((8, 8), np.uint8),
                                   np.zeros((8, 8, 3), np.float32)])
def test_stylize_refuses_an_image_that_is_not_rgb8_before_any_call(inference_server, image):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client:
        for scale in (1.0, 0.5):
            with pytest.raises(ValueError, match="image must be HxWx3 uint8 of at least 1x1"):
                client.stylize(image, TINY_STYLE, scale=scale)
    assert counting.calls == 0


def test_the_other_calls_and_the_client_itself_refuse_bad_numbers(inference_server):
    counting = CountingCalls()
    with TesseraClient(inference_server, timeout=5, interceptors=[counting]) as client:
        for call in (lambda: client.list_styles(timeout=-1), lambda: client.check_health(timeout=math.nan),
                     lambda: client.stylize_encoded(b"", TINY_STYLE, strength=math.nan),
                     lambda: client.stylize_encoded(b"", TINY_STYLE, timeout=math.inf),
                     lambda: client.stylize_encoded(b"", TINY_STYLE, scale=0)):
            with pytest.raises(ValueError, match="must be"):
                call()
    assert counting.calls == 0
    for options in ({"timeout": math.nan}, {"timeout": 0}, {"stall_timeout": -1},
                    {"streams_per_target": 0}, {"streams_per_target": True}):
        with pytest.raises(ValueError, match="must be"):
            TesseraClient(inference_server, **options)


@pytest.mark.parametrize(("flags", "words"), [
    (["--tile", "3"], "argument --tile: a tile edge is a whole number from 16 to 4294967295, got 3"),
    (["--tile", "-5"], "argument --tile: a tile edge is a whole number from 16 to 4294967295, got -5"),
    (["--tile", "1.5"], "argument --tile: a tile edge is a whole number from 16 to 4294967295, got 1.5"),
    (["--max-pixels", "-1"], "argument --max-pixels: a pixel limit is a whole number from 1, got -1"),
    (["--frames-in-flight", "0"], "argument --frames-in-flight: frames in flight is a whole number from 1"),
    (["--max-seconds", "nan"], "argument --max-seconds: the longest clip must be positive seconds, at most 1e+07, "
                               "got nan"),
    (["--max-seconds", "-3"], "argument --max-seconds: the longest clip must be positive seconds, at most 1e+07, "
                              "got -3"),
    (["--strength", "nan"], "argument --strength: strength must be between 0 and 1, got nan"),
    (["--temporal-blend", "inf"], "argument --temporal-blend: the temporal blend must be at least 0 and below 1"),
    (["--timeout", "nan"], "argument --timeout: 'nan' is not a finite number"),
])
def test_the_cli_refuses_a_bad_number_in_a_flag_with_exit_status_2(capsys, flags, words):
    with pytest.raises(SystemExit) as caught:  # no server: the refusal comes before any connection
        cli.main(["stylize", "photo.png", "-o", "out.png", "--style", TINY_STYLE, "--server", "127.0.0.1:9", *flags])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_the_cli_refuses_pinning_version_0(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(["admin", "pin", TINY_STYLE, "0", "--server", "127.0.0.1:9", "--token", "t"])
    assert caught.value.code == 2
    assert "argument version: a version is a whole number from 1 to 4294967295, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", [0, -5, math.nan, math.inf, True])
def test_the_admin_client_refuses_a_timeout_that_is_not_positive_seconds(timeout):
    from tessera.admin_client import AdminClient

    with pytest.raises(ValueError, match="timeout must be positive seconds"):
        AdminClient("127.0.0.1:9", "token", timeout=timeout)


@pytest.mark.parametrize(("make", "named"), [
    (lambda: ClipLimits(max_seconds=math.nan), "max_seconds"),  # NaN switched the length limit off
    (lambda: ClipLimits(max_seconds=0), "max_seconds"),
    (lambda: ClipLimits(max_total_pixels=2.5), "max_total_pixels"),
    (lambda: ClipOptions(frames_in_flight=True), "frames_in_flight"),
    (lambda: ClipOptions(frames_in_flight=math.inf), "frames_in_flight"),
    (lambda: ClipOptions(frames_in_flight=0), "frames_in_flight"),
    (lambda: ClipOptions(strength=math.nan), "strength"),
    (lambda: ClipOptions(timeout=-1), "timeout"),
])
def test_clip_options_and_limits_refuse_a_bad_number_before_any_frame(make, named):
    with pytest.raises(ValueError, match=named):
        make()


@pytest.mark.parametrize("seconds", [1e10, 1e8])
def test_seconds_stop_at_a_bound_a_clock_can_wait(inference_server, seconds):
    """1e10 s, finite as it is, overflowed a thread's wait (the registry poller died) and made gRPC end
    every call at once."""
    with pytest.raises(ValueError, match="at most 1e"):
        TesseraClient(inference_server, timeout=seconds)
    with TesseraClient(inference_server, timeout=number_checks.MAX_SECONDS) as client:
        assert client.list_styles(include_previews=False)  # the bound itself is a working deadline


@pytest.mark.parametrize(("value", "words"), [
    ("0", "argument --max-upload-mb: must be more than 0 and at most 1,000,000, got 0"),  # was "0 must be above 0"
    ("1e303", "must be more than 0 and at most 1,000,000, got 1e303"),  # was an OverflowError's traceback
    ("1e-9", "must be at least 0.000001 (one byte or pixel), got 1e-9"),  # was a limit of 0 bytes
    ("nan", "'nan' is not a finite number"),
])
def test_the_gateway_refuses_a_size_in_millions_out_of_range(value, words):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "bff", "--max-upload-mb", value], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("weight", [True, math.nan, math.inf, -1, "2"])
def test_a_style_source_refuses_a_weight_that_is_not_a_number_from_0(weight):
    from tessera.style_sources import StyleSource

    with pytest.raises(ValueError, match="weight must be a number >= 0"):
        StyleSource(preset="swirls", weight=weight)


@pytest.mark.parametrize("weight", [1e308, np.float64(1e39), 3.5e38])
def test_a_style_source_refuses_a_weight_a_32_bit_float_cannot_hold(weight):
    """The wire carries the weight as a proto float: 1e308 arrived as inf and the server refused the
    call, "its weight must be a number >= 0, got inf", for a number the caller never gave."""
    from tessera.style_sources import StyleSource

    with pytest.raises(ValueError, match=r"weight must be a number >= 0 and at most 3\.403e\+38 \(a 32-bit float\)"):
        StyleSource(preset="swirls", weight=weight)
    for fits in (number_checks.FLOAT32_MAX, 3e38, np.float32(0.5), 0):
        assert StyleSource(preset="swirls", weight=fits).to_proto().weight == pytest.approx(float(fits), rel=1e-7)
