"""What the client puts on the wire: thumbnails only for styles that need them, at their size; a
bounded window of tiles per stream; ListStyles without previews; few tiles for long thin images."""

import shutil
from pathlib import Path

import grpc
import pytest

from scripts.local_stack import running_server
from tessera.client import TesseraClient, TesseraError
from tessera.registry import read_manifest, version_dirs
from tessera.tile_streams import WINDOW
from tests.support import TINY_STYLE
from tests.support.tiny_model import TinyGenerator, whole_image_reference
from tests.support.wire import Recorder
from tests.test_server_e2e import photo, psnr

SHIPPED = Path(__file__).resolve().parents[1] / "model_registry"
CONTEXT_STYLE, PLAIN_STYLE = "blue-ink", "wesnoth-painting"  # needs a 256 px thumbnail / needs none


def _newest(style: str, thumbnail_size: int | None) -> Path:
    """The newest shipped version of `style` whose thumbnail size is `thumbnail_size` (any when None)."""
    versions = version_dirs(SHIPPED / style)
    if thumbnail_size is not None:
        versions = {n: d for n, d in versions.items() if read_manifest(d).tiling.thumbnail_size == thumbnail_size}
    return versions[max(versions)]


@pytest.fixture(scope="module")
def shipped_server(tmp_path_factory):
    """The server on two shipped styles: one with a context model at a 256 px thumbnail (Blue Ink's
    compact student: not the 512 px the client assumes for versions it knows nothing of, nor what the
    multistyle26-shaped students take), and the newest of one without a context model."""
    registry = tmp_path_factory.mktemp("shipped")
    for style in (CONTEXT_STYLE, PLAIN_STYLE):
        newest = _newest(style, 256 if style == CONTEXT_STYLE else None)
        (registry / style).mkdir()
        shutil.copy(SHIPPED / style / "style.json", registry / style / "style.json")
        shutil.copytree(newest, registry / style / newest.name)
    with running_server(registry, threads=2) as address:
        yield address


@pytest.mark.parametrize(("style", "thumbnail_side"), [(CONTEXT_STYLE, 256), (PLAIN_STYLE, None)])
def test_streams_carry_a_thumbnail_only_for_styles_that_need_one_at_the_size_they_need(
        shipped_server, style, thumbnail_side):
    recorder = Recorder()
    with TesseraClient(shipped_server, timeout=120, interceptors=[recorder]) as client:
        result = client.stylize(photo(300, 700), style)
    assert result.image.shape == (300, 700, 3)
    (header,) = recorder.headers()
    if thumbnail_side is None:
        assert not header.HasField("thumbnail")
    else:
        assert max(header.thumbnail.width, header.thumbnail.height) == thumbnail_side


@pytest.mark.parametrize(("style", "thumbnail_side"), [(CONTEXT_STYLE, 256), (PLAIN_STYLE, None)])
def test_calls_pinned_to_a_version_already_seen_carry_its_thumbnail_size(shipped_server, style, thumbnail_side):
    # A clip pins every frame after the first to the first one's version (tessera.video): those frames
    # get the same thumbnail as the first, not the 512 px one kept for versions the client knows nothing of.
    recorder = Recorder()
    with TesseraClient(shipped_server, timeout=120, interceptors=[recorder]) as client:
        first = client.stylize(photo(300, 700), style)
        client.stylize(photo(300, 700), style, version=first.version)
    unpinned, pinned = recorder.headers()
    assert pinned.version == first.version
    assert pinned.HasField("thumbnail") == unpinned.HasField("thumbnail") == (thumbnail_side is not None)
    if thumbnail_side is not None:
        assert max(pinned.thumbnail.width, pinned.thumbnail.height) == thumbnail_side


def test_style_list_without_previews_is_small_and_previews_stay_by_default(shipped_server):
    recorder = Recorder()
    with TesseraClient(shipped_server, timeout=30, interceptors=[recorder]) as client:
        light = client.list_styles(include_previews=False)
        full = client.list_styles()
    assert all(s.preview_jpeg == b"" for s in light)
    assert all(len(s.preview_jpeg) > 1000 for s in full)
    small, large = (reply.ByteSize() for _, reply in recorder.unary)
    assert small * 20 < large
    assert [(s.id, s.serving_version) for s in light] == [(s.id, s.serving_version) for s in full]


def test_the_client_keeps_at_most_a_window_of_tiles_outstanding(inference_server):
    recorder = Recorder()
    outstanding = []
    with TesseraClient(inference_server, timeout=60, interceptors=[recorder]) as client:
        image = photo(320, 480)
        result = client.stylize(image, TINY_STYLE, tile_size=32,
                                progress=lambda done, total: outstanding.append(recorder.tiles_sent() - done))
    assert len(outstanding) == 150
    assert max(outstanding) <= WINDOW
    assert psnr(result.image, whole_image_reference(TinyGenerator(0), image)) >= 50.0


def test_a_strip_beyond_the_shape_limit_is_refused_before_any_tile(inference_server):
    with TesseraClient(inference_server, timeout=60) as client, pytest.raises(TesseraError) as caught:
        client.stylize(photo(1, 40_000), TINY_STYLE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1,000 times the other" in caught.value.message


# The tiny model computes ~0.2 MP/s, so these stay small; tests/test_tile_plan.py counts the tiles of
# long strips, and these show the server takes strips up to the 1000:1 shape limit whole.
@pytest.mark.parametrize(("width", "height", "most_tiles"), [(20_000, 20, 8), (24, 9000, 8)])
def test_long_thin_images_are_cut_into_few_tiles_and_come_back_whole(inference_server, width, height, most_tiles):
    image = photo(height, width)
    totals = []
    with TesseraClient(inference_server, timeout=120) as client:
        result = client.stylize(image, TINY_STYLE, progress=lambda done, total: totals.append(total))
    assert totals and totals[-1] <= most_tiles
    assert psnr(result.image, whole_image_reference(TinyGenerator(0), image)) >= 50.0
