"""POST /api/batches on the in-memory store: one job per photo, progress per photo and overall, a zip
back; every bound (count, bytes, zip sizes and ratios) holds before any photo is decoded."""

from __future__ import annotations

import io
import json
import re
import struct
import threading
import time
import urllib.request
import zipfile

import numpy as np
import pytest
from PIL import Image

from bff import close_app
from bff.job_queue import job_queue_of
from bff.jobs import Outcome, job_store_of
from tests.bff.live import make_app, post_form, serving
from tests.bff.pictures import encoded, gradient, png_declaring
from tests.support import TINY_STYLE
from tests.support.images import assert_same_up_to_rounding
from tests.support.tiny_model import TinyGenerator, whole_image_reference

# The first bytes of every PNG: a zip entry counts as a photo by them (bff.batch_forms._no_photo_by_head).
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def photos(count: int) -> list[tuple[str, np.ndarray]]:
    return [(f"photo{i}.png", gradient(64 + 8 * i, 48)) for i in range(count)]


def files_form(items: list[tuple[str, bytes]], **fields) -> dict:
    return {"style": TINY_STYLE, **fields, "images": [(io.BytesIO(data), name) for name, data in items]}


def zip_of(items: list[tuple[str, bytes]], method=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in items:
            archive.writestr(name, data)
    return buffer.getvalue()


def wait_finished(client, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(status_url).json
        if status["state"] == "finished":
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


@pytest.fixture
def small_limits_client(inference_server):
    app = make_app(servers=(inference_server,), max_batch_photos=3, max_batch_bytes=200_000)
    yield app.test_client()
    close_app(app)


@pytest.mark.parametrize("as_zip", [False, True], ids=["multipart", "zip"])
def test_a_batch_restyles_every_photo_and_zips_the_results(client, as_zip):
    pictures = photos(3)
    items = [(name, encoded(pixels, "PNG")) for name, pixels in pictures]
    data = ({"style": TINY_STYLE, "archive": (io.BytesIO(zip_of([("in/" + n, d) for n, d in items])), "p.zip")}
            if as_zip else files_form(items))
    resp = client.post("/api/batches", data=data)
    assert resp.status_code == 202, resp.json
    # a zip's photos by their paths in it, as its skipped entries
    assert [p["name"] for p in resp.json["photos"]] == [("in/" if as_zip else "") + name for name, _ in pictures]
    status = wait_finished(client, resp.json["status_url"])
    assert (status["done_photos"], status["failed_photos"], status["total_photos"]) == (3, 0, 3)
    assert status["tiles_done"] == status["tiles_total"] > 0
    result = client.get(status["result_url"])
    assert result.status_code == 200 and result.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(result.data)) as archive:
        for name, pixels in pictures:
            out = np.asarray(Image.open(io.BytesIO(archive.read(name.replace(".png", f"-{TINY_STYLE}.png")))))
            assert_same_up_to_rounding(out, whole_image_reference(TinyGenerator(0), pixels))
    # Each photo is also an ordinary job.
    assert client.get(status["photos"][0]["result_url"]).status_code == 200


def test_finished_photos_say_when_their_results_expire_as_their_jobs_do(client):
    """A batch's photos did not say until when their results' links work, as a job's own status does.
    Each photo says it once finished, the same as its job's status; one queued or running says nothing."""
    items = [("big.png", encoded(gradient(1200, 900), "PNG")), *[(n, encoded(p, "PNG")) for n, p in photos(2)]]
    resp = client.post("/api/batches", data=files_form(items))
    seen = [resp.json]
    deadline = time.monotonic() + 60
    while seen[-1]["state"] != "finished":
        assert time.monotonic() < deadline, seen[-1]
        time.sleep(0.02)
        seen.append(client.get(resp.json["status_url"]).json)
    shown = [photo for status in seen for photo in status["photos"]]
    assert any(photo["state"] in ("queued", "running") for photo in shown)
    for photo in shown:
        assert ("expires_at" in photo) == (photo["state"] in ("done", "failed")), photo
    for photo in seen[-1]["photos"]:
        assert photo["expires_at"] == client.get(photo["status_url"]).json["expires_at"] is not None


def test_each_photo_is_kept_as_uploaded_as_long_as_its_job(app, client):
    """A page reloaded after a batch had no photo to show each result over: the gateway kept none. Each
    photo now stays, as uploaded, at its image_url for as long as its job (and its result)."""
    items = [(name, encoded(pixels, "PNG")) for name, pixels in photos(2)]
    status = wait_finished(client, client.post("/api/batches", data=files_form(items)).json["status_url"])
    for (_, data), photo in zip(items, status["photos"], strict=True):
        kept = client.get(photo["image_url"])
        assert kept.status_code == 200 and kept.mimetype == "image/png" and kept.data == data
    assert client.get(status["photos"][1]["image_url"].replace("/photos/1/", "/photos/2/")).status_code == 404
    job_queue_of(app).store.discard(status["photos"][0]["id"])  # as when its job expires
    gone = client.get(status["status_url"]).json["photos"][0]
    assert gone["error"] == "expired" and "image_url" not in gone and "expires_at" not in gone
    assert client.get(status["photos"][0]["image_url"]).status_code == 404


def test_the_openapi_document_describes_every_field_of_a_batch_photo(client):
    items = [(name, encoded(pixels, "PNG")) for name, pixels in photos(1)]
    status = wait_finished(client, client.post("/api/batches", data=files_form(items)).json["status_url"])
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    job, own = schemas["BatchPhoto"]["allOf"]
    assert job == {"$ref": "#/components/schemas/Job"}
    assert set(status["photos"][0]) <= set(schemas["Job"]["properties"]) | set(own["properties"])
    assert own["properties"]["expires_at"]["type"] == "string"  # absent until finished, never null
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(status, {"$ref": "#/components/schemas/Batch", "components": {"schemas": schemas}})


def test_a_damaged_photo_fails_alone_and_is_named_in_errors_txt(client):
    good = encoded(gradient(), "PNG")
    damaged = good[: len(good) // 2]  # the header is fine, the pixels are cut off
    resp = client.post("/api/batches", data=files_form([("good.png", good), ("cut.png", damaged)]))
    assert resp.status_code == 202, resp.json
    status = wait_finished(client, resp.json["status_url"])
    assert [p["state"] for p in status["photos"]] == ["done", "failed"]
    assert status["photos"][1]["status"] == 422
    with zipfile.ZipFile(io.BytesIO(client.get(status["result_url"]).data)) as archive:
        assert sorted(archive.namelist()) == ["errors.txt", f"good-{TINY_STYLE}.png"]
        assert archive.read("errors.txt").decode().startswith(f"cut.png (photo 2 of 2, result cut-{TINY_STYLE}.png): ")


def test_photos_of_one_name_each_download_under_their_name_in_the_zip(client):
    """Two photos called photo.png (from two folders) both downloaded as photo-<style>.png, while the zip
    held photo-<style>.png and photo-<style>-2.png. Each job now downloads under its name in the zip; a
    name that differs only in case is numbered too, as a Windows or macOS folder would overwrite it."""
    uploads = ["a/photo.png", "b/photo.png", "Photo.png", "other.png"]
    items = [(name, encoded(gradient(64 + 8 * i, 48), "PNG")) for i, name in enumerate(uploads)]
    status = wait_finished(client, client.post("/api/batches", data=files_form(items)).json["status_url"])
    downloads = [re.search(r'filename="([^"]+)"', client.get(photo["result_url"]).headers["Content-Disposition"])[1]
                 for photo in status["photos"]]
    assert downloads == [f"photo-{TINY_STYLE}.png", f"photo-{TINY_STYLE}-2.png", f"Photo-{TINY_STYLE}-3.png",
                         f"other-{TINY_STYLE}.png"]
    with zipfile.ZipFile(io.BytesIO(client.get(status["result_url"]).data)) as archive:
        assert archive.namelist() == downloads


def test_a_zips_photos_of_one_name_are_listed_by_their_paths(client):
    """sub/small.jpg and small.jpg were both listed as small.jpg: a person could not tell which failed."""
    photo = encoded(gradient(), "JPEG")
    form = {"style": TINY_STYLE, "archive": (io.BytesIO(zip_of([("sub/small.jpg", photo), ("small.jpg", photo)])),
                                             "x.zip")}
    created = client.post("/api/batches", data=form).json
    assert [p["name"] for p in created["photos"]] == ["sub/small.jpg", "small.jpg"]
    status = wait_finished(client, created["status_url"])
    assert [p["name"] for p in status["photos"]] == ["sub/small.jpg", "small.jpg"]
    with zipfile.ZipFile(io.BytesIO(client.get(status["result_url"]).data)) as archive:
        assert archive.namelist() == [f"small-{TINY_STYLE}.jpg", f"small-{TINY_STYLE}-2.jpg"]


def test_the_zip_is_not_ready_while_photos_run(client):
    resp = client.post("/api/batches", data=files_form([("big.png", encoded(gradient(1200, 900), "PNG"))]))
    early = client.get(resp.json["result_url"])
    assert early.status_code in (200, 409)  # 200 only if the photo already finished
    if early.status_code == 409:
        assert early.json["message"] == ("The zip is not ready: 0 of 1 photos have finished so far; fetch it when "
                                         "all have.")
    wait_finished(client, resp.json["status_url"])


@pytest.mark.parametrize("make_form, status, words", [
    (lambda: files_form([(f"p{i}.png", encoded(gradient(), "PNG")) for i in range(4)]), 413, "at most 3 photos"),
    (lambda: files_form([("a.png", bytes(120_000)), ("b.png", bytes(120_000))]), 413, "0.2 MB limit"),
    (lambda: files_form([("a.png", bytes(300_000))]), 413, "0.2 MB limit"),
    (lambda: files_form([("bomb.png", png_declaring(100_000, 100_000))]), 413, "bomb.png: "),
    (lambda: files_form([("notes.txt", b"hello")]), 415, "notes.txt: "),
    (lambda: files_form([("ok.png", encoded(gradient(), "PNG")), ("strip.png", _strip(20_000, 1))]), 400,
     "strip.png: The image is 20000×1 pixels: one side may be at most 1,000 times the other"),
    (lambda: {"style": TINY_STYLE, "archive": (io.BytesIO(zip_of([("tall.png", _strip(1, 1001))])), "x.zip")}, 400,
     "tall.png: The image is 1×1001 pixels"),
    (lambda: files_form([]), 400, "Attach photos"),
    (lambda: {"images": [(io.BytesIO(encoded(gradient(), "PNG")), "a.png")]}, 400, "'style' field"),
    (lambda: {"style": TINY_STYLE, "archive": (io.BytesIO(b"PK not really"), "x.zip")}, 422, "not a readable zip"),
    (lambda: {"style": TINY_STYLE, "archive": (io.BytesIO(zip_of([(f"p{i}.png", PNG_SIGNATURE) for i in range(4)])),
                                                "x.zip")}, 413, "at most 3 photos"),
    (lambda: {"style": TINY_STYLE, "archive": (io.BytesIO(_lying_zip()), "x.zip")}, 422, "cannot be read"),
], ids=["too-many", "too-many-bytes", "request-too-large", "pixel-bomb", "not-an-image", "strip", "zip-strip",
        "no-photos", "no-style",
        "bad-zip", "zip-too-many", "zip-lies-about-size"])
def test_batch_bounds_are_checked_before_any_work(small_limits_client, make_form, status, words):
    resp = small_limits_client.post("/api/batches", data=make_form())
    assert resp.status_code == status, resp.json
    assert words in resp.json["message"]


def test_a_zip_bomb_is_refused_by_its_compression_ratio(client):
    bomb = zip_of([("zeros.png", PNG_SIGNATURE + bytes(20_000_000))])  # 20 MB of zeros in about 20 kB, as a PNG
    resp = client.post("/api/batches", data={"style": TINY_STYLE, "archive": (io.BytesIO(bomb), "x.zip")})
    assert resp.status_code == 413 and resp.json["error"] == "zip_bomb" and "expands" in resp.json["message"]


def test_a_zip_declaring_more_bytes_than_allowed_is_refused_from_its_directory(small_limits_client):
    archive = bytearray(zip_of([("a.png", PNG_SIGNATURE)], method=zipfile.ZIP_STORED))
    directory = archive.index(b"PK\x01\x02")
    struct.pack_into("<I", archive, directory + 24, 10_000_000)  # declared uncompressed size
    resp = small_limits_client.post("/api/batches", data={"style": TINY_STYLE,
                                                          "archive": (io.BytesIO(bytes(archive)), "x.zip")})
    assert resp.status_code == 413 and "MB limit" in resp.json["message"]


def _strip(width: int, height: int) -> bytes:
    """A PNG far longer than wide (cheap to send, dear to tile)."""
    return encoded(np.zeros((height, width, 3), np.uint8), "PNG")


def _lying_zip() -> bytes:
    """A zip whose directory says its photo is shorter than it is (a size the CRC does not match)."""
    archive = bytearray(zip_of([("a.png", encoded(gradient(), "PNG"))], method=zipfile.ZIP_STORED))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        struct.pack_into("<I", archive, archive.index(signature) + offset, 100)
    return bytes(archive)


@pytest.mark.parametrize("method, path", [("GET", "/api/batches/nope"), ("DELETE", "/api/batches/nope"),
                                          ("POST", "/api/batches/nope/cancel")])
def test_an_unknown_batch_is_404(client, method, path):
    resp = client.open(path, method=method)
    assert resp.status_code == 404 and resp.json["error"] == "unknown_batch"


def held_photos(app, hold) -> threading.Event:
    """Makes the app's batch photos (in-memory queue) finish at once, each with a result named as its job's,
    except those whose result name `hold(name)` picks: they report progress until cancelled (or released)."""
    queue, release = job_queue_of(app), threading.Event()

    def execute(task, progress):
        while hold(task.filename) and not release.wait(0.01):
            progress(1, 2)  # where a cancelled job stops
        return Outcome(task.image, "image/jpeg", task.filename, 1)

    queue.execute = execute
    return release


# DELETE, and POST .../cancel as a job has it (it was a 404): one cancel, which discards nothing.
CANCEL_BATCH = [("DELETE", ""), ("POST", "/cancel")]


@pytest.mark.parametrize("method, suffix", CANCEL_BATCH, ids=["delete", "post-cancel"])
def test_cancelling_a_batch_stops_its_unfinished_photos_and_keeps_the_finished_ones(app, client, method, suffix):
    """A batch could not be cancelled: DELETE /api/batches/<id> answered 405, and its photos ran on."""
    release = held_photos(app, lambda name: not name.startswith("a-"))
    try:
        items = [(name, encoded(gradient(), "JPEG")) for name in ("a.jpg", "b.jpg", "c.jpg")]
        created = client.post("/api/batches", data=files_form(items)).json
        first = created["photos"][0]
        deadline = time.monotonic() + 10
        while client.get(first["status_url"]).json["state"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert client.open(created["status_url"] + suffix, method=method).status_code == 204
        status = wait_finished(client, created["status_url"], timeout=10)
    finally:
        release.set()
    assert [(p["state"], p.get("error")) for p in status["photos"]] == [
        ("done", None), ("failed", "cancelled"), ("failed", "cancelled")]
    assert client.get(first["result_url"]).data == items[0][1]  # downloadable until it expires
    assert client.open(created["status_url"] + suffix, method=method).status_code == 204  # nothing left to cancel
    assert client.get(first["result_url"]).status_code == 200
    with zipfile.ZipFile(io.BytesIO(client.get(status["result_url"]).data)) as archive:
        assert sorted(archive.namelist()) == [f"a-{TINY_STYLE}.jpg", "errors.txt"]


@pytest.mark.parametrize("as_zip", [False, True], ids=["multipart", "zip"])
def test_errors_txt_tells_apart_failed_photos_of_one_name(app, client, as_zip):
    """big.jpg x3 and coffee.jpg, the third photo cancelled: the zip held big-<style>.jpg and big-<style>-2.jpg,
    and errors.txt said only "big.jpg: The request was cancelled ...", which of the three it did not say. Each
    failed photo is now named with its place in the batch and the name its result would have had; a skipped
    zip entry the same way, its name (path in the zip) and then what became of it."""
    third = f"big-{TINY_STYLE}-3.jpg"
    release = held_photos(app, lambda name: name == third)
    try:
        photo = encoded(gradient(), "JPEG")
        names = ["big.jpg", "big.jpg", "big.jpg", "coffee.jpg"]
        if as_zip:
            entries = [(f"{folder}/{name}", photo) for folder, name in zip("abcd", names, strict=True)]
            form = {"style": TINY_STYLE, "archive": (io.BytesIO(zip_of([*entries, ("d/notes.txt", b"hi")])), "x.zip")}
        else:
            form = files_form([(name, photo) for name in names])
        created = client.post("/api/batches", data=form).json
        assert client.delete(created["photos"][2]["status_url"]).status_code == 204
        status = wait_finished(client, created["status_url"], timeout=10)
    finally:
        release.set()
    with zipfile.ZipFile(io.BytesIO(client.get(status["result_url"]).data)) as archive:
        assert sorted(archive.namelist()) == sorted(
            [f"big-{TINY_STYLE}.jpg", f"big-{TINY_STYLE}-2.jpg", f"coffee-{TINY_STYLE}.jpg", "errors.txt"])
        lines = archive.read("errors.txt").decode().splitlines()
    name = "c/big.jpg" if as_zip else "big.jpg"  # a zip's photo by its path in the zip, as a skipped entry
    assert lines[0] == f"{name} (photo 3 of 4, result {third}): The request was cancelled before the image was done."
    assert (status["failed_photos"], status["cancelled_photos"]) == (1, 1)
    assert lines[1:] == (["d/notes.txt (skipped): that file is not a PNG, JPEG or WebP image"] if as_zip else [])


def test_progress_events_carry_ids_and_a_reconnect_resumes(client):
    resp = client.post("/api/jobs", data={"style": TINY_STYLE, "image": (io.BytesIO(encoded(gradient(), "PNG")),
                                                                          "a.png")})
    events = client.get(resp.json["events_url"]).get_data(as_text=True)
    ids = [line.removeprefix("id: ") for line in events.splitlines() if line.startswith("id: ")]
    assert ids and events.rstrip().splitlines()[-2] == "event: done"
    resumed = client.get(resp.json["events_url"], headers={"Last-Event-ID": ids[0]}).get_data(as_text=True)
    assert "event: done" in resumed and "event: progress" not in resumed



# Zip entries that are no photo, and forms that say two things, over real HTTP (waitress, as `python -m bff`).

@pytest.fixture
def live(app):
    with serving(app) as base:
        yield base


def post_batch(base: str, parts: list[tuple[str, str, bytes]], **fields) -> tuple[int, dict]:
    """POSTs a batch of file `parts` (field, file name, bytes; a field may repeat) and text `fields`."""
    boundary = "tessera-batch-boundary"
    chunks = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
              for name, value in {"style": TINY_STYLE, **fields}.items()]
    for name, filename, data in parts:
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                      "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return post_form(f"{base}/api/batches", body, f"multipart/form-data; boundary={boundary}")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.read()


def wait_finished_live(base: str, status_url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (status := json.loads(fetch(base + status_url)))["state"] != "finished":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    return status


def test_a_zip_entry_leading_out_of_the_zip_is_skipped_and_said(live):
    """'../../etc/evil.jpg' was dropped without a word: the batch answered with the other photo alone. It is
    still never read, and the reply, the batch's status and its errors.txt now say it was skipped and why."""
    photo = encoded(gradient(), "PNG")
    traversals = ["../../etc/evil.png", "/etc/abs.png", "a/../../up.png", "..\\win.png", "C:/drive.png"]
    archive = zip_of([*[(name, photo) for name in traversals], ("sub/dir/cat.png", photo)])
    status, answer = post_batch(live, [("archive", "photos.zip", archive)])
    assert status == 202, answer
    assert [p["name"] for p in answer["photos"]] == ["sub/dir/cat.png"]
    assert [s["name"] for s in answer["skipped"]] == traversals
    finished = wait_finished_live(live, answer["status_url"])
    assert finished["skipped"] == answer["skipped"] and finished["total_photos"] == 1
    with zipfile.ZipFile(io.BytesIO(fetch(live + finished["result_url"]))) as result:
        assert sorted(result.namelist()) == [f"cat-{TINY_STYLE}.png", "errors.txt"]
        lines = result.read("errors.txt").decode().splitlines()
    assert lines == [f"{name} (skipped): its path leads out of the zip's folder, so it was not read"
                     for name in traversals]


def test_files_in_a_zip_that_are_no_photos_are_skipped_and_said_not_refusing_the_batch(live):
    """One notes.txt beside the photos refused the whole zip with 415; hidden files were dropped unsaid."""
    photo = encoded(gradient(), "PNG")
    items = [("trip/a.png", photo), ("trip/notes.txt", b"hello"), ("__MACOSX/trip/._a.png", b"\x00\x05\x16\x07"),
             ("trip/.DS_Store", b"\x00\x00\x00\x01Bud1"), ("trip/b.png", photo), ("trip/still.gif", _still_gif())]
    status, answer = post_batch(live, [("archive", "trip.zip", zip_of(items))])
    assert status == 202, answer
    assert [p["name"] for p in answer["photos"]] == ["trip/a.png", "trip/b.png"]
    reasons = {s["name"]: s["reason"] for s in answer["skipped"]}
    assert list(reasons) == ["trip/notes.txt", "__MACOSX/trip/._a.png", "trip/.DS_Store", "trip/still.gif"]
    assert "not a PNG, JPEG or WebP image" in reasons["trip/notes.txt"]
    assert "hidden file" in reasons["__MACOSX/trip/._a.png"] and "hidden file" in reasons["trip/.DS_Store"]
    assert "GIF" in reasons["trip/still.gif"]
    finished = wait_finished_live(live, answer["status_url"])
    assert (finished["done_photos"], finished["skipped"]) == (2, answer["skipped"])
    with zipfile.ZipFile(io.BytesIO(fetch(live + finished["result_url"]))) as result:
        assert "trip/notes.txt (skipped): " in result.read("errors.txt").decode()


def test_files_in_a_zip_that_are_no_photos_do_not_count_toward_the_batch_limits(small_limits_client):
    """A zip of as many photos as a batch holds and a README, an empty file, a large clip and a GIF was
    refused as 'the zip holds 7 files': every file counted toward the photos and the bytes. Now a file
    whose first bytes are no PNG, JPEG or WebP is skipped before the limits are judged."""
    photo = encoded(gradient(), "PNG")
    clip_head = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2mp41"
    items = [("a.png", photo), ("README.txt", b"holiday photos"), ("b.png", photo), ("empty.jpg", b""),
             ("clip.mp4", clip_head + bytes(300_000)), ("anim.gif", _still_gif()), ("c.png", photo)]
    resp = small_limits_client.post("/api/batches", data={"style": TINY_STYLE,
                                                          "archive": (io.BytesIO(zip_of(items)), "x.zip")})
    assert resp.status_code == 202, resp.json
    assert [p["name"] for p in resp.json["photos"]] == ["a.png", "b.png", "c.png"]
    reasons = {s["name"]: s["reason"] for s in resp.json["skipped"]}
    assert list(reasons) == ["README.txt", "empty.jpg", "clip.mp4", "anim.gif"]
    assert reasons["empty.jpg"] == "the file is empty" and "clip" in reasons["clip.mp4"]
    assert "GIF" in reasons["anim.gif"] and "not a PNG, JPEG or WebP image" in reasons["README.txt"]


def test_a_zip_of_more_photos_than_a_batch_holds_is_still_refused_counting_only_photos(small_limits_client):
    photo = encoded(gradient(), "PNG")
    items = [(f"p{i}.png", photo) for i in range(4)] + [("notes.txt", b"x")]
    resp = small_limits_client.post("/api/batches", data={"style": TINY_STYLE,
                                                          "archive": (io.BytesIO(zip_of(items)), "x.zip")})
    assert (resp.status_code, resp.json["error"]) == (413, "too_many_batch_photos")
    assert resp.json["message"] == "A batch holds at most 3 photos, the zip holds 4 photos."


def test_a_zip_of_more_files_than_can_be_skipped_is_refused_before_they_are_read(small_limits_client, monkeypatch):
    """The files' first bytes are read only for a zip within the batch's photos and the skipped entries'
    bound together; past it, and past that bound of files that are no photos, the zip is refused."""
    monkeypatch.setattr("bff.batch_forms.MAX_PASSED_ENTRIES", 4)
    many = zip_of([(f"n{i}.txt", b"x") for i in range(8)])
    read = []
    real = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open",
                        lambda self, entry, *a, **k: read.append(entry) or real(self, entry, *a, **k))
    resp = small_limits_client.post("/api/batches", data={"style": TINY_STYLE, "archive": (io.BytesIO(many), "x.zip")})
    assert (resp.status_code, resp.json["error"]) == (413, "too_many_batch_photos")
    assert "8 files" in resp.json["message"]
    assert read == []
    notes = zip_of([(f"n{i}.txt", b"x") for i in range(5)] + [("a.png", encoded(gradient(), "PNG"))])
    resp = small_limits_client.post("/api/batches", data={"style": TINY_STYLE, "archive": (io.BytesIO(notes), "x.zip")})
    assert (resp.status_code, resp.json["error"]) == (413, "too_many_batch_photos")
    assert "5 files that are no photos" in resp.json["message"]


def test_a_zip_of_no_photos_at_all_is_refused_naming_what_it_holds(live):
    status, answer = post_batch(live, [("archive", "x.zip", zip_of([("notes.txt", b"hello"), ("../x.png", b"x")]))])
    assert (status, answer["error"]) == (400, "missing_field"), answer
    assert "no photo to restyle" in answer["message"]
    assert "notes.txt: " in answer["message"] and "../x.png: " in answer["message"]


def test_images_sent_as_files_are_each_still_checked_as_photos(live):
    """Files chosen one by one are not a packed folder: one that is no photo still refuses the batch."""
    status, answer = post_batch(live, [("images", "a.png", encoded(gradient(), "PNG")), ("images", "notes.txt", b"hi")])
    assert (status, answer["error"]) == (415, "unsupported_format") and answer["message"].startswith("notes.txt: ")


def test_a_brush_scale_too_small_for_one_photo_refuses_the_batch_naming_that_photo(live):
    """0.04 paints the 64x48 photo at 3x2 px: refused (brush_scale.check_scale_for), and the sentence
    names the photo, as every other refusal of a batch does (the review found it unnamed)."""
    status, answer = post_batch(live, [("images", "big.png", encoded(gradient(800, 600), "PNG")),
                                       ("images", "small.png", encoded(gradient(64, 48), "PNG"))], scale="0.04")
    assert (status, answer["error"]) == (400, "invalid_scale")
    assert answer["message"].startswith("small.png: Brush scale 0.04 would paint this 64x48 image at 3x2 px")


@pytest.mark.parametrize("parts, error, words", [
    ([("archive", "a.zip", "a.png"), ("images", "b.png", "")], "invalid_batch", "'images'"),
    ([("images", "b.png", ""), ("archive", "a.zip", "a.png")], "invalid_batch", "'images'"),
    ([("archive", "1.zip", "a.png"), ("archive", "2.zip", "b.png")], "repeated_field", "send it once"),
], ids=["archive-then-images", "images-then-archive", "two-archives"])
def test_an_ambiguous_batch_is_refused_naming_the_fields(live, parts, error, words):
    """A zip sent with 'images' files queued the zip's photos and dropped the files without a word (and a
    second zip was dropped the same way; it is now refused as any field sent twice is, tests/bff/test_form_shape.py)."""
    photo = encoded(gradient(), "PNG")
    sent = [(field, name, zip_of([(inner, photo)]) if inner else photo) for field, name, inner in parts]
    status, answer = post_batch(live, sent)
    assert (status, answer["error"]) == (400, error), answer
    assert "'archive'" in answer["message"] and words in answer["message"]


@pytest.mark.parametrize("archive, held", [
    (zip_of([]), "it holds nothing"),
    (zip_of([("photos/", b""), ("photos/2026/", b"")]), "it holds only folders, no files"),
    (b"", "its file has 0 bytes"),
], ids=["no-entries", "folders-only", "zero-bytes"])
def test_an_empty_zip_is_refused_saying_the_zip_is_empty(live, archive, held):
    """It was refused as if nothing had been attached: "Attach photos in the 'images' field, or one zip in
    'archive'."."""
    status, answer = post_batch(live, [("archive", "photos.zip", archive)])
    assert (status, answer["error"]) == (400, "missing_field"), answer
    assert answer["message"].startswith(f"The zip is empty: {held}.") and "Attach" not in answer["message"]


def _still_gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "GIF")
    return buffer.getvalue()


def test_batch_photos_and_single_jobs_keep_their_results_within_one_budget(inference_server):
    """--max-result-mb bounds what the process keeps: a single job's result counts against a batch too."""
    app = make_app(servers=(inference_server,), max_result_bytes=1000)
    try:
        kept = job_store_of(app).submit(lambda progress: Outcome(b"x" * 1000, "image/png", "x.png", 1))
        assert kept.wait_finished(timeout=5)["state"] == "done"
        items = [(name, encoded(pixels, "PNG")) for name, pixels in photos(1)]
        refused = app.test_client().post("/api/batches", data=files_form(items))
        assert (refused.status_code, refused.json["error"]) == (429, "results_full"), refused.json
    finally:
        close_app(app)


def test_a_batch_is_never_queued_in_part(inference_server):
    """The batch was checked whole, then admitted photo by photo: with nothing held the check passed, the
    first photo was queued and the second refused with 429, leaving the first running for nobody (no batch
    recorded it) and holding the budget until it expired. It is now admitted whole, under one lock (and,
    as a single result may be, made alone when nothing else is held)."""
    items = [(name, encoded(pixels, "PNG")) for name, pixels in photos(2)]
    # Each photo keeps itself and a result its size: the first fits, both do not.
    app = make_app(servers=(inference_server,), max_result_bytes=sum(len(data) for _, data in items) + 1)
    try:
        client = app.test_client()
        resp = client.post("/api/batches", data=files_form(items))
        assert resp.status_code == 202, resp.json
        assert wait_finished(client, resp.json["status_url"])["done_photos"] == 2
        assert sum(job_queue_of(app).store.count_by_state().values()) == 2  # no job of nobody's batch
    finally:
        close_app(app)
