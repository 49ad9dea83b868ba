"""The version policy (`--load-versions N`, Triton's "latest N"): a style's newest N healthy versions
and a pinned one are loaded; older ones stay on disk unloaded until a pin or a rollback loads them.

The store tests use tiny real versions and the real loader; the last test drives a real server
through the admin RPCs and a pinned-version request."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest

from inference_server.model_store import ModelStore, StyleNotFound, StyleUnavailable
from inference_server.model_version import LoadSettings, load_version
from inference_server.warm_up import WarmUp
from scripts.local_stack import running_server
from tessera.admin_client import AdminClient
from tessera.client import TesseraClient, TesseraError
from tessera.registry import set_pin, write_version
from tests.support.tiny_model import TinyGenerator, export_onnx, tiny_manifest

STYLE = "layered"
TOKEN = "policy-token"


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """One exported tiny generator, published as every version (the policy looks at numbers, not weights)."""
    path = tmp_path_factory.mktemp("tiny") / "model.onnx"
    export_onnx(TinyGenerator(0), path)
    return path


@pytest.fixture
def add_version(tiny_onnx):
    def add(root: Path) -> int:
        return write_version(root, STYLE, {"model.onnx": tiny_onnx}, tiny_manifest(), {"display_name": "Layered"})
    return add


@pytest.fixture
def registry(add_version, tmp_path):
    def make(versions: int) -> Path:
        root = tmp_path / "registry"
        for _ in range(versions):
            add_version(root)
        return root
    return make


def _store(root: Path, keep: int, on_change=None, workers: int = 1) -> tuple[ModelStore, list[int]]:
    """A store that records every version number it loads."""
    loads: list[int] = []

    def loader(path: Path):
        loads.append(int(path.name))
        return load_version(path, LoadSettings(threads=1, warm_up=WarmUp(max_runs=0)))

    store = ModelStore(root, loader, on_change=on_change, keep=keep, workers=workers)
    store.refresh()
    return store, loads


def _mark_unhealthy(store: ModelStore, number: int) -> None:
    """As a served tile with NaN does: the version is marked, then the store told."""
    model = store.styles()[0].versions[number]
    model.keep_unhealthy("it gave NaN or infinite values for a served tile (test)")
    store.version_unhealthy(model)


def _used(store: ModelStore, number: int) -> None:
    """One call on a version by number, as a clip's frame or a call's further stream asks for it."""
    with store.lease(STYLE, number):
        pass


def _garble(root: Path, number: int) -> None:
    (root / STYLE / str(number) / "manifest.json").write_text("{ not json")


def test_only_the_newest_n_load_and_the_rest_are_listed_unloaded(registry):
    store, loads = _store(registry(4), keep=2)
    state = store.styles()[0]
    assert (sorted(state.versions), state.unloaded, state.serving.version) == ([3, 4], (1, 2), 4)
    assert sorted(loads) == [3, 4]
    store.refresh()
    assert sorted(loads) == [3, 4]  # a scan loads nothing new


def test_zero_loads_every_version(registry):
    store, _ = _store(registry(3), keep=0)
    assert (sorted(store.styles()[0].versions), store.styles()[0].unloaded) == ([1, 2, 3], ())


def test_a_rejected_version_does_not_count_and_is_not_retried_every_scan(registry):
    root = registry(4)
    _garble(root, 4)
    store, loads = _store(root, keep=2)
    state = store.styles()[0]
    assert (sorted(state.versions), sorted(state.rejected), state.unloaded) == ([2, 3], [4], (1,))
    for _ in range(3):
        store.refresh()
    assert sorted(loads) == [2, 3, 4]  # version 4 was tried once, while its folder stays unchanged


def test_a_new_version_pushes_the_oldest_unused_one_out(registry, add_version):
    root = registry(2)
    store, _ = _store(root, keep=2)
    add_version(root)
    store.refresh()
    state = store.styles()[0]
    assert (sorted(state.versions), state.unloaded, state.serving.version) == ([2, 3], (1,), 3)


def test_a_version_in_use_stays_loaded_after_it_leaves_the_policy_until_it_drains(registry, add_version,
                                                                                 monkeypatch):
    root = registry(2)
    store, _ = _store(root, keep=1)
    _used(store, 2)  # a clip's first frame ran on version 2
    with store.lease(STYLE, 2) as frame:
        add_version(root)
        store.refresh()
        assert store.styles()[0].serving.version == 3
        # The frame in flight finishes on version 2, and the clip's next frame still finds it by number.
        assert frame.infer(np.zeros((16, 16, 3), np.uint8), None).result(timeout=10).shape == (3, 16, 16)
    _used(store, 2)
    store.refresh()
    assert sorted(store.styles()[0].versions) == [2, 3]
    monkeypatch.setattr("inference_server.model_store.DRAIN_SECONDS", 0.0)
    store.refresh()
    state = store.styles()[0]
    assert (sorted(state.versions), state.unloaded) == ([3], (1, 2))
    assert frame.runtime.session is None  # its sessions went with it


def test_unpinning_keeps_the_old_pin_for_the_calls_still_on_it(registry):
    store, _ = _store(registry(4), keep=2)
    store.pin(STYLE, 1)
    _used(store, 1)
    store.pin(STYLE, None)
    with store.lease(STYLE, 1) as model:
        assert model.version == 1


def test_an_unhealthy_version_does_not_count_and_stays_unhealthy_when_loaded_again(registry, add_version):
    root = registry(3)
    store, _ = _store(root, keep=1)
    _mark_unhealthy(store, 3)
    store.refresh()
    state = store.styles()[0]
    assert (sorted(state.versions), state.serving.version, state.unloaded) == ([2, 3], 2, (1,))
    add_version(root)
    store.refresh()
    assert 3 not in store.styles()[0].versions  # out of the policy and unused: let go
    state = store.pin(STYLE, 3)  # loaded again, and still unhealthy: the healthy newest serves
    assert state.versions[3].health_problem and state.serving.version == 4
    assert "pinned version 3 cannot serve (it is unhealthy" in state.status_message()


def test_pinning_an_unloaded_version_loads_it_and_unpinning_lets_it_go(registry, monkeypatch):
    store, loads = _store(registry(4), keep=2)
    with pytest.raises(StyleNotFound, match="version 1: it is not loaded: this server loads the newest 2 healthy "
                                            "versions of a style .--load-versions.; pinning it loads it"):
        store._acquire(STYLE, 1)
    state = store.pin(STYLE, 1)
    assert (state.serving.version, sorted(state.versions), state.unloaded) == (1, [1, 3, 4], (2,))
    with store.lease(STYLE) as model:
        assert model.version == 1
    state = store.pin(STYLE, None)
    assert (state.serving.version, sorted(state.versions), state.unloaded) == (4, [1, 3, 4], (2,))  # draining
    monkeypatch.setattr("inference_server.model_store.DRAIN_SECONDS", 0.0)
    store.refresh()
    state = store.styles()[0]
    assert (state.serving.version, sorted(state.versions), state.unloaded) == (4, [3, 4], (1, 2))


def test_a_pin_on_an_unloaded_version_that_fails_validation_changes_nothing_meanwhile(registry):
    root = registry(4)
    set_pin(root / STYLE, 1)  # the old pin lies outside the newest two
    published = []
    store, loads = _store(root, keep=2, on_change=lambda s: published.append(
        (s.styles()[0].serving.version, sorted(s.styles()[0].versions))))
    old = store.styles()[0].versions[1]
    _garble(root, 2)
    with pytest.raises(StyleUnavailable, match="cannot pin version 2: manifest.json is not valid JSON"):
        store.pin(STYLE, 2)
    state = store.styles()[0]
    assert (state.meta.pinned_version, state.serving, sorted(state.rejected)) == (1, old, [2])
    assert published == [(1, [1, 3, 4])]  # only the start-up's: no other version ever served
    assert sorted(loads) == [1, 2, 3, 4]  # version 1 was not let go and loaded again


def test_rollback_loads_the_next_older_version_and_passes_over_broken_and_unhealthy_ones(registry):
    root = registry(6)
    store, _ = _store(root, keep=2)
    _mark_unhealthy(store, 5)
    assert store.rollback(STYLE).serving.version == 4  # 5 is unhealthy; 4 was loaded already
    _garble(root, 3)
    state = store.rollback(STYLE)  # 3 fails validation on load: 2 instead
    assert (state.serving.version, state.meta.pinned_version, 3 in state.rejected) == (2, 2, True)
    shutil.rmtree(root / STYLE / "1")
    store.refresh()
    with pytest.raises(StyleUnavailable, match="no valid version older than the one serving$"):
        store.rollback(STYLE)
    store.pin(STYLE, 4)
    shutil.rmtree(root / STYLE / "2")
    with pytest.raises(StyleUnavailable, match=r"older than the one serving \(version 3 was rejected: manifest.json "
                                               "is not valid JSON"):
        store.rollback(STYLE)  # the message says why 3 cannot serve ...
    assert store.styles()[0].meta.pinned_version == 4  # ... and the pin stays


def test_styles_load_on_several_workers(tmp_path, tiny_onnx):
    root = tmp_path / "registry"
    for style in ("one", "two", "three"):
        for _ in range(2):
            write_version(root, style, {"model.onnx": tiny_onnx}, tiny_manifest(), {"display_name": style})
    store, loads = _store(root, keep=1, workers=2)
    assert [(s.meta.id, sorted(s.versions), s.unloaded) for s in store.styles()] == [
        ("one", [2], (1,)), ("three", [2], (1,)), ("two", [2], (1,))]
    assert sorted(loads) == [2, 2, 2]


def test_a_server_lists_unloaded_versions_and_an_admin_pin_serves_one(registry):
    root = registry(3)
    photo = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    with running_server(root, admin_token=TOKEN, load_versions=1, warmup_runs=0) as address, \
            AdminClient(address, TOKEN, timeout=20) as admin, TesseraClient(address, timeout=20) as client:
        (style,) = client.list_styles()
        assert (style.serving_version, style.available_versions, style.unloaded_versions) == (3, (3,), (1, 2))
        with pytest.raises(TesseraError) as caught:
            client.stylize(photo, STYLE, version=1)
        assert caught.value.code == grpc.StatusCode.NOT_FOUND
        assert "version 1: it is not loaded" in str(caught.value) and "pinning it loads it" in str(caught.value)
        pinned = admin.pin(STYLE, 1)
        assert (pinned.serving_version, pinned.available_versions, pinned.unloaded_versions) == (1, (1, 3), (2,))
        assert client.stylize(photo, STYLE).version == 1


def test_a_removed_version_answers_calls_by_number_while_in_use_then_is_retired(registry, monkeypatch):
    """A clip restyles frame after frame on its first frame's version; an operator's removal of that
    version's folder mid-clip failed its next frame ("has no servable version 21: it does not exist")
    and lost the clip. A removed version now answers calls that name it for DRAIN_SECONDS after its
    last (at most REMOVED_DRAIN_MAX_S after its removal, however often it is asked for), never serves a
    call that does not name it, and is retired after that."""
    root = registry(2)
    store, loads = _store(root, keep=2)
    with store.lease(STYLE, 2):  # the clip's first frame
        pass
    shutil.rmtree(root / STYLE / "2")
    store.refresh()
    state = store.styles()[0]
    assert state.serving.version == 1 and sorted(state.draining) == [2]
    with store.lease(STYLE, 0) as model:
        assert model.version == 1  # a new call gets what the registry holds
    with store.lease(STYLE, 2) as model:  # the clip's next frame
        kept = model
        assert model.version == 2
    monkeypatch.setattr("inference_server.model_store.REMOVED_DRAIN_MAX_S", 0.0)  # used, but long gone
    store.refresh()
    assert store.styles()[0].draining == {} and kept.retired
    with pytest.raises(StyleNotFound, match="has no servable version 2"):
        with store.lease(STYLE, 2):
            pass
    assert sorted(loads) == [1, 2]  # never loaded again
