"""An inference server that takes an image call but sends nothing back: every route that restyles ends
within the stall timeout (--stall-timeout) with 503 and "The model server stopped answering ... Try
again.", not at the 10-minute stylize deadline; a slow server that keeps sending tiles back is waited
for. A relay in front of a real server holds or slows the image calls (tests/support/grpc_relay.py);
the gateway runs under waitress."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from bff import close_app
from tests.bff.live import make_app, multipart, post_form, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE
from tests.support.gateway import follow_events, get
from tests.support.grpc_relay import relay

# Serial pass of `make test`: stall timeouts: asserts calls end within STALL_S..BOUND_S.
pytestmark = pytest.mark.serial

STALL_S = 1.5
BOUND_S = STALL_S + 4.0  # the stall, plus the upload and listing styles on a busy shared machine
PNG = encoded(gradient(), "PNG")
STOPPED = "The model server stopped answering"


@contextmanager
def _gateway(server: str, stall_s: float, preview_stall_s: float = 20.0):
    """(base URL, relay controls) of a gateway whose only server is a relay to `server`; the stylize
    deadline is long (60 s), the stall timeout `stall_s` (a preview's at most `preview_stall_s`)."""
    with relay(server) as (address, controls):
        app = make_app(servers=(address,), stylize_timeout_s=60.0, stall_timeout_s=stall_s,
                       preview_stall_timeout_s=preview_stall_s)
        try:
            with serving(app) as base:
                yield base, controls
        finally:
            close_app(app)


@pytest.fixture
def gateway(inference_server):
    with _gateway(inference_server, STALL_S) as running:
        yield running


def _post(url: str, fields: dict[str, str], photo: bytes = PNG) -> tuple[int, dict]:
    return post_form(url, *multipart({"style": TINY_STYLE, **fields}, {"image": ("photo.png", photo)}))


def _assert_stopped_answering(answer: dict) -> None:
    assert (answer["status"], answer["error"]) == (503, "unavailable"), answer
    assert answer["message"].startswith(STOPPED) and answer["message"].endswith("Try again."), answer


def test_a_job_on_a_hung_server_fails_within_the_stall_timeout_saying_so(gateway):
    base, controls = gateway
    controls.hang = True
    started = time.monotonic()
    status, job = _post(f"{base}/api/jobs", {})
    assert status == 202, job
    events = follow_events(base + job["events_url"], timeout=30)
    took = time.monotonic() - started
    assert events[-1][1] == "error", events
    _assert_stopped_answering(events[-1][2])
    assert STALL_S <= took < BOUND_S, took
    with pytest.raises(urllib.error.HTTPError) as failed:  # the job's own error, without a Retry-After:
        urllib.request.urlopen(base + job["result_url"], timeout=30)  # asking again cannot help a failed job
    with failed.value as reply:
        assert reply.code == 503 and json.loads(reply.read())["message"].startswith(STOPPED)
        assert reply.headers.get("Retry-After") is None
    status, body = get(base + job["status_url"])
    assert status == 200 and json.loads(body)["state"] == "failed"


def test_a_restyle_on_a_hung_server_answers_503_within_the_stall_timeout(gateway):
    base, controls = gateway
    controls.hang = True
    started = time.monotonic()
    status, answer = _post(f"{base}/api/stylize", {})
    assert status == 503, answer
    _assert_stopped_answering(answer)
    assert STALL_S <= time.monotonic() - started < BOUND_S


def test_a_preview_on_a_hung_server_answers_503_within_the_stall_timeout(gateway):
    base, controls = gateway
    status, photo = post_form(f"{base}/api/photos", *multipart({}, {"image": ("photo.png", PNG)}))
    assert status == 201, photo
    controls.hang = True
    started = time.monotonic()
    status, body = get(f"{base}{photo['url']}/previews/{TINY_STYLE}")
    assert status == 503
    _assert_stopped_answering(json.loads(body))
    assert STALL_S <= time.monotonic() - started < BOUND_S


def test_a_preview_gives_up_on_a_hung_server_sooner_than_a_restyle(inference_server):
    """A preview is one small tile: with the gateway's 60 s stall timeout it still fails within its own
    shorter one, saying so, while a restyle of the same photo is still waited for."""
    with _gateway(inference_server, stall_s=60.0, preview_stall_s=STALL_S) as (base, controls):
        status, photo = post_form(f"{base}/api/photos", *multipart({}, {"image": ("photo.png", PNG)}))
        assert status == 201, photo
        controls.hang = True
        started = time.monotonic()
        status, body = get(f"{base}{photo['url']}/previews/{TINY_STYLE}")
        assert status == 503, body
        _assert_stopped_answering(json.loads(body))
        assert STALL_S <= time.monotonic() - started < BOUND_S
        ended: list[object] = []

        def restyle() -> None:
            try:
                ended.append(_post(f"{base}/api/stylize", {}))
            except OSError as exc:  # the gateway closes under it when the test ends
                ended.append(exc)

        waiting = threading.Thread(target=restyle, daemon=True)
        waiting.start()
        waiting.join(BOUND_S)
        assert waiting.is_alive(), f"the restyle gave up within the preview's stall timeout: {ended}"


def test_a_slow_server_that_keeps_sending_tiles_back_is_waited_for(inference_server):
    """Each reply comes 1 s late, so the call lasts about twice the 2.5 s stall timeout, yet it never
    goes 2.5 s without a reply: it is restyled."""
    stall_s = 2.5
    photo = encoded(gradient(800, 600), "PNG")  # at brush scale 1: four tiles, each its own reply
    with _gateway(inference_server, stall_s) as (base, controls):
        controls.delay_s = 1.0
        started = time.monotonic()
        request = urllib.request.Request(f"{base}/api/stylize", *_body(photo, {"scale": "1", "format": "jpeg"}))
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"] == "image/jpeg"
                resp.read()
        except urllib.error.HTTPError as err:
            pytest.fail(f"{err.code}: {err.read()!r} after {time.monotonic() - started:.1f} s, {controls}")
        assert controls.replies >= 5 and time.monotonic() - started > stall_s, controls


def _body(photo: bytes, fields: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    body, content_type = multipart({"style": TINY_STYLE, **fields}, {"image": ("photo.png", photo)})
    return body, {"Content-Type": content_type}


def test_the_stall_timeout_is_a_setting_of_the_gateway_and_the_worker():
    from bff.config import parse_args
    from bff.worker import parse_args as worker_args

    assert parse_args([]).stall_timeout_s == 60.0
    assert parse_args([]).preview_stall_timeout_s == 20.0
    assert parse_args(["--preview-stall-timeout", "3"]).preview_stall_timeout_s == 3.0
    assert parse_args([], environ={"TESSERA_PREVIEW_STALL_TIMEOUT": "4"}).preview_stall_timeout_s == 4.0
    assert parse_args(["--stall-timeout", "7"]).stall_timeout_s == 7.0
    assert parse_args([], environ={"TESSERA_STALL_TIMEOUT": "9"}).stall_timeout_s == 9.0
    assert worker_args(["--job-store", "redis://127.0.0.1:6379/0", "--stall-timeout", "7"]).stall_timeout_s == 7.0
