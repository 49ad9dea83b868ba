"""The job flow against a real inference server: 202 with links, progress as Server-Sent Events,
then the result; and what happens with unknown, unfinished and failed jobs."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest
from PIL import Image

from bff import close_app
from bff.errors import ApiError
from bff.job_queue import job_queue_of
from bff.jobs import Outcome, job_store_of
from bff.pixel_budget import pixel_budget_of
from scripts.local_stack import running_server
from tests.bff.live import make_app
from tests.bff.pictures import encoded, gradient, png_declaring
from tests.support import TINY_STYLE
from tests.support.redis_server import running_redis


def upload(client, width=1100, height=600, **fields):
    """POSTs a photo big enough for several of the server's default (512 px) tiles."""
    data = {"style": TINY_STYLE, "image": (io.BytesIO(encoded(gradient(width, height), "JPEG")), "big.jpg"),
            **fields}
    return client.post("/api/jobs", data=data)


def sse(text: str) -> list[tuple[str, dict]]:
    """Parses a text/event-stream body into (event name, JSON data) pairs, skipping comments."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_a_job_streams_its_progress_and_then_serves_its_result(client):
    created = upload(client, strength="0.7")
    assert created.status_code == 202
    job = created.json
    assert created.headers["Location"] == job["status_url"]

    stream = client.get(job["events_url"])
    assert stream.mimetype == "text/event-stream"
    events = sse(stream.get_data(as_text=True))
    names = [name for name, _ in events]
    assert names[-1] == "done" and set(names[:-1]) == {"progress"}
    done_counts = [data["done"] for _, data in events]
    assert done_counts == sorted(done_counts) and events[-1][1]["done"] == events[-1][1]["total"] > 1

    result = client.get(events[-1][1]["result_url"])
    assert result.status_code == 200 and result.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(result.data)).size == (1100, 600)
    assert client.get(job["status_url"]).json["state"] == "done"


@pytest.mark.parametrize("suffix", ["", "/events", "/result"])
def test_unknown_jobs_are_404(client, suffix):
    resp = client.get(f"/api/jobs/not-a-real-job-id{suffix}")
    assert resp.status_code == 404 and "expired" in resp.json["message"]


def test_the_result_of_an_unfinished_job_is_409_saying_how_far_it_is(inference_server):
    """A queued job's 409 said "still running (0 of 0 tiles done)"."""
    app = make_app(servers=(inference_server,), job_workers=1)
    release = threading.Event()
    try:
        store, client = job_store_of(app), app.test_client()
        started = store.submit(lambda progress: release.wait(10) and Outcome(b"", "image/png", "x.png", 1))
        queued = store.submit(lambda progress: Outcome(b"", "image/png", "x.png", 1))
        wait_for(lambda: started.snapshot()["state"] == "running")
        counted = client.get(f"/api/jobs/{started.id}/result")
        waiting = client.get(f"/api/jobs/{queued.id}/result")
        release.set()
    finally:
        release.set()
        close_app(app)
    assert (counted.status_code, waiting.status_code) == (409, 409)
    assert counted.json["message"] == ("The job has started; its tiles are not counted yet; fetch the result "
                                       "when it is done.")
    assert waiting.json["message"] == "The job is queued: it has not started yet; fetch the result when it is done."


def test_bad_uploads_are_refused_before_a_job_exists(client):
    # (A GIF of two frames or more is a clip, of one a still refused: tests/bff/test_still_frames.py.)
    resp = client.post("/api/jobs", data={"style": TINY_STYLE, "image": (io.BytesIO(b"BM6...."), "a.bmp")})
    assert resp.status_code == 415


@pytest.mark.parametrize(("name", "content"), [("notes.mp4", b"this is not a video\n"), ("a.bmp", b"BM6...."),
                                               ("notes.webm", b"\x00" * 64)])
def test_an_upload_that_is_neither_photo_nor_clip_says_jobs_take_clips_too(client, name, content):
    """/api/jobs takes photos and clips: its 415 said only "not a PNG, JPEG or WebP image" before.
    (An empty file is 400 missing_field, before any sniffing.)"""
    resp = client.post("/api/jobs", data={"style": TINY_STYLE, "image": (io.BytesIO(content), name)})
    body = resp.get_json()
    assert resp.status_code == 415 and body["error"] == "unsupported_format", body
    assert "neither a PNG, JPEG or WebP image nor a video clip (MP4, MOV, WebM" in body["message"], body


@pytest.fixture
def strict_server_client(tiny_registry):
    """A gateway whose inference server refuses images over 10 000 pixels, although the gateway allows more."""
    with running_server(tiny_registry, max_image_pixels=10_000) as address:
        app = make_app(servers=(address,))
        yield app.test_client()
        close_app(app)


def test_a_job_the_server_refuses_ends_with_an_error_event(strict_server_client):
    job = upload(strict_server_client).json
    name, data = sse(strict_server_client.get(job["events_url"]).get_data(as_text=True))[-1]
    # A permanent refusal (400), not "busy" (429): retrying the same image would fail again.
    assert name == "error" and data["state"] == "failed" and data["status"] == 400
    assert "exceeds the server's limit" in data["message"]
    result = strict_server_client.get(job["result_url"])
    assert result.status_code == data["status"] and result.json["message"] == data["message"]


def flipped(data: bytes, count: int = 64) -> bytes:
    """The file with `count` bytes in its middle inverted: its header whole, its data corrupt."""
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + count]) + data[middle + count:]


JPEG, PNG, WEBP = (encoded(gradient(1200, 800), fmt) for fmt in ("JPEG", "PNG", "WEBP"))
DAMAGED_PAST_THE_HEADER = {
    "jpeg-cut-short": JPEG[: len(JPEG) * 2 // 3],
    "png-cut-short": PNG[: len(PNG) // 2],
    "png-header-only": png_declaring(4000, 3000),
    "png-corrupt": flipped(PNG),
    "webp-corrupt": flipped(WEBP),
}


@pytest.mark.parametrize("damaged", DAMAGED_PAST_THE_HEADER.values(), ids=DAMAGED_PAST_THE_HEADER.keys())
def test_an_upload_damaged_past_its_header_is_refused_before_a_job_exists(app, client, damaged):
    """/api/jobs answered 202 and the job failed later; now it refuses the file at once, with the
    sentence /api/stylize gives for it, and no job is queued. Its pixels are held in the budget
    only while it is checked."""
    form = {"style": TINY_STYLE, "image": (io.BytesIO(damaged), "damaged.img")}
    refused = client.post("/api/jobs", data=form)
    assert refused.status_code == 422 and refused.json["error"] == "undecodable_image", refused.json
    assert sum(job_store_of(app).count_by_state().values()) == 0
    assert pixel_budget_of(app).in_use == 0
    synchronous = client.post("/api/stylize", data={**form, "image": (io.BytesIO(damaged), "damaged.img")})
    assert (synchronous.status_code, synchronous.json["message"]) == (422, refused.json["message"])
    assert "damaged or cut short" in refused.json["message"] and refused.json["message"].endswith(".")


def wait_for(condition, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_job_answered_as_queued_has_its_place_even_when_it_starts_meanwhile(inference_server, monkeypatch):
    """Memory store: the 202 read the job's state, then its place; a job that a worker took in between
    was answered as "queued" with queue_position null."""
    app = make_app(servers=(inference_server,), job_workers=1)
    try:
        store, release = job_store_of(app), threading.Event()
        store.submit(lambda progress: release.wait(10) and Outcome(b"", "image/png", "x.png", 1))  # the one worker
        original = store.queue_facts

        def started_meanwhile(job_id, *args):
            release.set()  # the worker is free and takes the job, between its snapshot and its place
            wait_for(lambda: store.get(job_id).snapshot()["state"] != "queued")
            return original(job_id, *args)

        monkeypatch.setattr(store, "queue_facts", started_meanwhile)
        created = upload(app.test_client(), 64, 48).json
        assert created["state"] == "queued" and created["queue_position"] == 1, created
    finally:
        close_app(app)


def test_with_redis_a_queued_job_has_its_place_and_a_failed_one_no_time_left(inference_server, tmp_path,
                                                                            monkeypatch):
    """Redis store, a real redis-server: a job claimed by a runner while its 202 was written said "queued"
    with queue_position null; one that failed part way still had an eta_s."""
    with running_redis(tmp_path) as redis_server:
        app = make_app(servers=(inference_server,), job_store=redis_server.url, job_workers=0)
        try:
            queue, claims = job_queue_of(app), []
            original = queue.queue_facts

            def claimed_meanwhile(job_id, *args):
                claims.append(queue.claim("runner", block_s=1.0))  # a worker takes it, between snapshot and place
                return original(job_id, *args)

            monkeypatch.setattr(queue, "queue_facts", claimed_meanwhile)
            client = app.test_client()
            created = upload(client, 64, 48).json
            assert created["state"] == "queued" and created["queue_position"] == 1, created
            monkeypatch.undo()
            claim = claims[0]
            queue.record_throughput(1_000_000, 1.0)  # a rate, so that work left would have a time
            queue.progress(claim, 1, 4)
            queue.fail(claim, ApiError(503, "unavailable", "The inference servers cannot be reached."))
            failed = client.get(created["status_url"]).json
            assert failed["state"] == "failed" and failed["eta_s"] is None and failed["queue_position"] is None, failed
        finally:
            close_app(app)


def _clip_form(frames: int) -> dict:
    from scripts.make_clips import make_clip

    return {"style": TINY_STYLE, "image": (io.BytesIO(make_clip("moving", "mp4", 96, 64, frames, 10)), "walk.mp4")}


def _batch_form(sizes: list[tuple[int, int]]) -> dict:
    return {"style": TINY_STYLE, "images": [(io.BytesIO(encoded(gradient(w, h), "PNG")), f"p{n}.png")
                                            for n, (w, h) in enumerate(sizes)]}


BATCH_SIZES = [(64, 48), (1100, 600)]


def test_every_kind_of_job_carries_its_working_pixels_for_the_time_estimates(client, app):
    """A batch's photos and a clip were queued with 0 working pixels: they fed no rate and had no time
    estimate. A photo counts its working resolution, a clip frames x frame pixels (at brush scale 1)."""
    from bff.forms import work_pixels

    batch = client.post("/api/batches", data=_batch_form(BATCH_SIZES))
    assert batch.status_code == 202, batch.json
    store = job_queue_of(app).store
    assert [store.get(p["id"]).work for p in batch.json["photos"]] == [work_pixels(w, h, None) for w, h in BATCH_SIZES]
    clip = client.post("/api/jobs", data=_clip_form(4))
    assert clip.status_code == 202, clip.json
    assert job_store_of(app).get(clip.json["id"]).work == 4 * 96 * 64
    for job in (*[store.get(p["id"]) for p in batch.json["photos"]], job_store_of(app).get(clip.json["id"])):
        assert job.wait_finished(timeout=60)["state"] == "done"
    assert store.throughput.rate is not None and job_store_of(app).throughput.rate is not None


def test_with_redis_batch_photos_and_clips_are_queued_with_their_working_pixels(inference_server, tmp_path):
    """In Redis a job of unknown work ahead in the shared queue leaves every job behind it without an
    estimate; a batch's photos and a clip are queued with theirs."""
    from bff.forms import work_pixels

    with running_redis(tmp_path) as redis_server:
        app = make_app(servers=(inference_server,), job_store=redis_server.url, job_workers=0)
        try:
            client, queue = app.test_client(), job_queue_of(app)
            batch = client.post("/api/batches", data=_batch_form(BATCH_SIZES))
            clip = client.post("/api/jobs", data=_clip_form(4))
            assert batch.status_code == 202 and clip.status_code == 202, (batch.json, clip.json)
            ids = [p["id"] for p in batch.json["photos"]] + [clip.json["id"]]
            works = [int(queue.redis.hget(queue._keys(job_id).hash, "work")) for job_id in ids]
            assert works == [work_pixels(w, h, None) for w, h in BATCH_SIZES] + [4 * 96 * 64]
            queue.record_throughput(1_000_000, 1.0)
            assert client.get(clip.json["status_url"]).json["eta_s"] is not None
        finally:
            close_app(app)


EXPLAINED = Outcome(b"img", "image/png", "a.png", 1, maps={"realism": b"r", "gradcam": b"g"})


def test_deleting_a_finished_job_discards_it_with_its_result_and_maps(down_client):
    """DELETE of a finished job answered 204 and changed nothing: it stayed done, its result and maps
    downloadable. It now discards them; every URL of the job answers 404 from then on."""
    app = down_client.application
    job = job_store_of(app).submit(lambda progress: EXPLAINED)
    assert job.wait_finished(timeout=5)["state"] == "done"
    assert down_client.get(f"/api/jobs/{job.id}/maps/realism").status_code == 200
    assert down_client.delete(f"/api/jobs/{job.id}").status_code == 204
    for suffix in ("", "/result", "/events"):
        gone = down_client.get(f"/api/jobs/{job.id}{suffix}")
        assert gone.status_code == 404 and "expired or was deleted" in gone.json["message"], (suffix, gone.json)
    assert down_client.get(f"/api/jobs/{job.id}/maps/realism").status_code == 404
    assert down_client.delete(f"/api/jobs/{job.id}").status_code == 404


def test_a_job_is_refused_with_retry_after_while_kept_results_fill_the_budget(inference_server):
    """The gateway made room by dropping the oldest finished results, someone's before its expires_at; a
    full --max-result-mb now refuses the new job up front, saying when the oldest kept result expires."""
    app = make_app(servers=(inference_server,), max_result_bytes=1000, job_ttl_s=600)
    try:
        client, store = app.test_client(), job_store_of(app)
        kept = store.submit(lambda progress: Outcome(b"x" * 1000, "image/png", "x.png", 1))
        assert kept.wait_finished(timeout=5)["state"] == "done"
        refused = upload(client, 64, 48)
        assert (refused.status_code, refused.json["error"]) == (429, "results_full"), refused.json
        assert 590 <= int(refused.headers["Retry-After"]) <= 600
        assert refused.json["message"].endswith(f"try again in {refused.headers['Retry-After']} seconds.")
        assert client.get(f"/api/jobs/{kept.id}/result").data == b"x" * 1000  # still there, as promised
    finally:
        close_app(app)


def test_cancel_stops_an_unfinished_job_and_leaves_a_finished_one_with_its_result(down_client):
    """The page's Cancel may reach the gateway just after the job finished: DELETE would then discard the
    result the page is about to show and link to. POST .../cancel never does."""
    app = down_client.application
    finished = job_store_of(app).submit(lambda progress: EXPLAINED)
    assert finished.wait_finished(timeout=5)["state"] == "done"
    assert down_client.post(f"/api/jobs/{finished.id}/cancel").status_code == 204
    assert down_client.get(f"/api/jobs/{finished.id}").json["state"] == "done"
    assert down_client.get(f"/api/jobs/{finished.id}/result").status_code == 200
    assert down_client.get(f"/api/jobs/{finished.id}/maps/realism").status_code == 200
    release = threading.Event()
    running = job_store_of(app).submit(lambda progress: (release.wait(5), progress(0, 1), EXPLAINED)[-1])
    try:
        assert down_client.post(f"/api/jobs/{running.id}/cancel").status_code == 204
    finally:
        release.set()
    ended = running.wait_finished(timeout=5)
    assert (ended["state"], ended["error"]) == ("failed", "cancelled"), ended
    assert down_client.post("/api/jobs/no-such-job/cancel").status_code == 404


def test_a_synchronous_restyle_is_counted_in_the_budget_for_kept_results(inference_server, monkeypatch):
    """POST /api/stylize was counted at 0 bytes, though its job (and an explained one's kept maps) takes
    memory like any other: it is now counted at its upload's size, as POST /api/jobs is."""
    photo = encoded(gradient(64, 48), "PNG")
    app = make_app(servers=(inference_server,), max_result_bytes=2 * len(photo))
    try:
        store = job_store_of(app)
        kept = store.submit(lambda progress: Outcome(b"x" * (len(photo) + 1), "image/png", "x.png", 1))
        assert kept.wait_finished(timeout=5)["state"] == "done"
        monkeypatch.setattr(store, "check_capacity", lambda kept_bytes=0: None)  # the job's own count, alone
        refused = app.test_client().post("/api/stylize", data={"style": TINY_STYLE,
                                                               "image": (io.BytesIO(photo), "p.png")})
        assert (refused.status_code, refused.json["error"]) == (429, "results_full"), refused.json
    finally:
        close_app(app)


def test_a_full_budget_refuses_a_stored_photo_before_decoding_it_with_its_own_code(inference_server, monkeypatch):
    """The refusal said `busy`, which the page retries every few seconds, and each try decoded the whole
    stored photo before the budget (counting it at 0 bytes then) refused it. Now the check before the
    decode counts the stored photo's size, and says `results_full` (the page shows it, no retry)."""
    from bff import api_jobs

    photo = encoded(gradient(64, 48), "PNG")
    app = make_app(servers=(inference_server,), max_result_bytes=2 * len(photo), job_ttl_s=600)
    try:
        client = app.test_client()
        stored = client.post("/api/photos", data={"image": (io.BytesIO(photo), "p.png")})
        assert stored.status_code == 201, stored.json
        kept = job_store_of(app).submit(lambda progress: Outcome(b"x" * (len(photo) + 1), "image/png", "x.png", 1))
        assert kept.wait_finished(timeout=5)["state"] == "done"

        def never(gateway):
            raise AssertionError("the photo was read and decoded before the budget refused it")

        monkeypatch.setattr(api_jobs, "read_order", never)
        refused = client.post("/api/jobs", data={"style": TINY_STYLE, "photo_id": stored.json["id"]})
        assert (refused.status_code, refused.json["error"]) == (429, "results_full"), refused.json
        assert 590 <= int(refused.headers["Retry-After"]) <= 600
    finally:
        close_app(app)
