"""A flood of uploads over real HTTP: the gateway takes what its pool allows, refuses the rest with
429, finishes what it took and stays up."""

from __future__ import annotations

import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from bff import close_app
from tests.bff.live import make_app, multipart, post_form, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE

BODY, CONTENT_TYPE = multipart({"style": TINY_STYLE}, {"image": ("p.png", encoded(gradient(1500, 1000), "PNG"))})


def post_job(url: str) -> tuple[int, dict]:
    return post_form(url + "/api/jobs", BODY, CONTENT_TYPE)


def state_when_finished(url: str, job: dict) -> str:
    with urllib.request.urlopen(url + job["events_url"], timeout=60) as stream:
        last = [line for line in stream.read().decode().splitlines() if line.startswith("event: ")][-1]
    return last.removeprefix("event: ")


def test_a_flood_of_jobs_is_bounded_and_the_gateway_survives(inference_server):
    app = make_app(servers=(inference_server,), job_workers=1, max_active_jobs=3)
    try:
        with serving(app, threads=8) as url, ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda _: post_job(url), range(12)))
            codes = sorted(code for code, _ in answers)
            assert set(codes) == {202, 429} and codes.count(202) >= 3
            assert all("try again" in body["message"] for code, body in answers if code == 429)
            accepted = [body for code, body in answers if code == 202]
            assert [state_when_finished(url, job) for job in accepted] == ["done"] * len(accepted)
            with urllib.request.urlopen(url + "/healthz", timeout=5) as health:
                assert health.status == 200
    finally:
        close_app(app)
