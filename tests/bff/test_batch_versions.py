"""A batch is restyled by one model version: the style's serving version when the batch was accepted, named
by number in every photo's job, whatever the registry does while its photos wait (a new version, a pin,
the style's folder removed), in either job store. A version retired for good fails the photos left with a
410 naming it. One job worker, and the registry changed once the first photo is done: deterministic."""

from __future__ import annotations

import io
import json
import shutil
import time
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image

from bff import close_app
from bff.job_queue import job_queue_of
from bff.tasks import RestyleTask
from tessera.admin_client import AdminClient
from tests.bff.live import make_app
from tests.bff.pictures import encoded
from tests.support.images import assert_same_up_to_rounding
from tests.support.server_here import server_here
from tests.support.tiny_model import TinyGenerator, whole_image_reference, write_tiny_version

STYLE = "swirls"
TOKEN = "batch-versions"
PICTURES = [np.random.default_rng(seed).integers(0, 256, size=(40, 56, 3), dtype=np.uint8) for seed in range(3)]


@pytest.fixture
def registry(tmp_path):
    """Version 1 of STYLE, and a style whose id STYLE is one letter from (an unknown style's typo hint)."""
    root = tmp_path / "registry"
    write_tiny_version(root, STYLE, tmp_path, seed=0)
    write_tiny_version(root, "swirl", tmp_path, seed=5)
    return root


def run_batch(address: str, change: Callable[[], None], job_store: str = "memory") -> tuple[dict, list]:
    """A batch of PICTURES through a gateway with one job worker, calling `change()` once its first photo is
    restyled and before the next starts; its finished status and each photo's result (None if it failed)."""
    app = make_app(servers=(address,), job_store=job_store, job_workers=1)
    try:
        queue = job_queue_of(app)
        runner = getattr(queue, "runner", None) or queue  # Redis: this gateway's runner; memory: the queue
        run, changed = runner.execute, []

        def execute(task, progress):
            outcome = run(task, progress)
            if not changed:
                changed.append(change())
            return outcome

        runner.execute = execute
        client = app.test_client()
        images = [(io.BytesIO(encoded(pixels, "PNG")), f"p{i}.png") for i, pixels in enumerate(PICTURES)]
        created = client.post("/api/batches", data={"style": STYLE, "images": images})
        assert created.status_code == 202, created.json
        deadline = time.monotonic() + 60
        while (status := client.get(created.json["status_url"]).json)["state"] != "finished":
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        results = [np.asarray(Image.open(io.BytesIO(client.get(p["result_url"]).data))) if p["state"] == "done"
                   else None for p in status["photos"]]
        return {**status, "accepted_version": created.json.get("version")}, results
    finally:
        close_app(app)


@pytest.mark.parametrize("job_store, change", [("memory", "publish"), ("redis", "pin")])
def test_every_photo_of_a_batch_keeps_the_version_serving_when_it_was_accepted(registry, tmp_path, request,
                                                                                 job_store, change):
    """A batch of 4 photos with `tessera admin pin` two seconds later ended on versions [14, 14, 13, 13]
    (a new user's trial). Every photo now names the version serving at acceptance, which the status says."""
    if change == "pin":
        write_tiny_version(registry, STYLE, tmp_path, seed=1)  # v2 serves; the pin goes back to v1
    seed = {"publish": 0, "pin": 1}[change]
    store = request.getfixturevalue("redis_server").url if job_store == "redis" else "memory"
    if job_store == "redis":
        request.getfixturevalue("redis_client")  # an empty database
    with server_here(registry, TOKEN) as address, AdminClient(address, TOKEN) as admin:
        def swap():
            if change == "pin":
                assert admin.pin(STYLE, 1).serving_version == 1
            else:
                write_tiny_version(registry, STYLE, tmp_path, seed=1)
                assert next(s for s in admin.reload() if s.id == STYLE).serving_version == 2

        status, results = run_batch(address, swap, store)
    assert [(p["state"], p.get("version")) for p in status["photos"]] == [("done", seed + 1)] * len(PICTURES), status
    assert (status["accepted_version"], status.get("version")) == (seed + 1, seed + 1)
    for pixels, result in zip(PICTURES, results, strict=True):
        assert_same_up_to_rounding(result, whole_image_reference(TinyGenerator(seed), pixels))


def test_a_batch_whose_style_folder_is_removed_finishes_on_its_draining_version(registry):
    """The photos still queued failed with unknown_style ("did you mean 'swirl'?"), though the removed
    style's versions answer calls naming them while they drain (docs/serving.md)."""
    with server_here(registry, TOKEN) as address, AdminClient(address, TOKEN) as admin:
        def remove():
            shutil.rmtree(registry / STYLE)
            assert STYLE not in [s.id for s in admin.reload()]

        status, results = run_batch(address, remove)
    assert [(p["state"], p.get("version")) for p in status["photos"]] == [("done", 1)] * len(PICTURES), status
    for pixels, result in zip(PICTURES, results, strict=True):
        assert_same_up_to_rounding(result, whole_image_reference(TinyGenerator(0), pixels))


def test_a_photo_whose_version_was_retired_fails_naming_the_version_not_a_typo(registry, monkeypatch):
    with server_here(registry, TOKEN) as address, AdminClient(address, TOKEN) as admin:
        def retire():
            monkeypatch.setattr("inference_server.model_store.REMOVED_DRAIN_MAX_S", 0.0)  # its drain is over
            shutil.rmtree(registry / STYLE)
            admin.reload()

        status, _ = run_batch(address, retire)
    done, *failed = status["photos"]
    for photo in failed:
        assert (photo["state"], photo["status"], photo["error"]) == ("failed", 410, "version_gone"), photo
        assert photo["message"].startswith(f"Version 1 of the style {STYLE!r}, which this photo was queued with")
        assert "did you mean" not in photo["message"]
    assert (done["state"], done["version"], status.get("version")) == ("done", 1, 1)


def test_a_task_record_carries_its_version_and_one_written_before_names_none():
    """The job stores keep a task as options_json() and the photo (Redis: the job's hash)."""
    task = RestyleTask(style=STYLE, strength=1.0, format="png", filename="a.png", image=b"photo", version=3)
    assert RestyleTask.from_parts(task.options_json(), b"photo") == task
    older = {k: v for k, v in json.loads(task.options_json()).items() if k != "version"}
    assert RestyleTask.from_parts(json.dumps(older), b"photo").version == 0  # whichever version serves
