"""One pass for an image that is its own thumbnail (inference_server/whole_image.py): a style-conditioned
version's whole.onnx serves a stream whose one tile is the whole image, and gives the two passes' pixels.

A real server with metrics (tessera_stream_passes counts context-model runs and one-pass images), the
shipped teacher-26 version (the multistyle26 network as import-teacher wrote it), and a gateway in front
of it for the previews (the ones outside the featured grid painted at --more-looks-size, then enlarged)."""

from __future__ import annotations

import io
import json
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bff import close_app
from bff.images import decode_thumbnail
from bff.previews import _whole_multiples, encode_jpeg
from inference_server.model_version import LoadSettings, VersionRejected, load_version
from inference_server.whole_image import one_pass_fits
from scripts.local_stack import server_process
from tessera import registry
from tessera.brush_scale import shrink
from tessera.client import TesseraClient
from tessera.pixels import chw_to_rgb8, rgb8_to_nchw
from tessera.style_codes import mix_codes
from tessera.style_sources import StyleSource
from tessera.tiling import Rect
from tests.bff.live import make_app, multipart, post_form, serving
from tests.bff.pictures import encoded
from tests.support.conditioned import Reference, brighten_whole_model
from tests.support.metrics import counter_total


def photo(width: int, height: int) -> np.ndarray:
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.LANCZOS))


STYLE = "teacher-26"
SHIPPED = Path(__file__).resolve().parents[1] / "model_registry" / STYLE


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory) -> Path:
    """The newest shipped teacher-26 version, alone in a registry of its own (as version 1)."""
    versions = registry.version_dirs(SHIPPED)
    newest = versions[max(versions)]
    assert (newest / "whole.onnx").is_file()
    root = tmp_path_factory.mktemp("whole-registry")
    (root / STYLE).mkdir()
    shutil.copy(SHIPPED / "style.json", root / STYLE / "style.json")
    shutil.copytree(newest, root / STYLE / "1")
    manifest = json.loads((root / STYLE / "1" / "manifest.json").read_text())
    (root / STYLE / "1" / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    return root / STYLE / "1"


@pytest.fixture(scope="module")
def server(version_dir):
    with server_process(version_dir.parents[1], metrics_port=0, warmup_runs=0) as (_, address, log):
        yield address, log


@pytest.fixture(scope="module")
def reference(version_dir) -> Reference:
    return Reference(version_dir)


def preset_code(version_dir: Path, preset: str) -> np.ndarray:
    return np.asarray(next(p.code for p in registry.read_manifest(version_dir).presets if p.id == preset), np.float32)


def passes(log: Path) -> dict[str, float]:
    return {kind: counter_total(log, "tessera_stream_passes_total", style=STYLE, kind=kind)
            for kind in ("context", "one_pass")}


def stylize_counting(server, image: np.ndarray, **options) -> tuple[np.ndarray, dict[str, float]]:
    address, log = server
    before = passes(log)
    with TesseraClient(address, timeout=60) as client:
        result = client.stylize(image, STYLE, **options).image
    after = passes(log)
    return result, {kind: after[kind] - before[kind] for kind in after}


@pytest.mark.parametrize("mix", [(("style-03", 1.0),), (("style-03", 0.7), ("style-11", 0.3))])
def test_a_whole_image_in_one_tile_is_one_pass_with_the_two_passes_pixels(server, version_dir, reference, mix):
    image = photo(160, 120)
    result, counted = stylize_counting(server, image, tile_size=160,
                                       style_sources=[StyleSource(preset=p, weight=w) for p, w in mix])
    assert counted == {"context": 0, "one_pass": 1}
    code = mix_codes([preset_code(version_dir, p) for p, _ in mix], [w for _, w in mix]).astype(np.float32)
    assert np.array_equal(result, reference.stylize(image, code))


@pytest.mark.parametrize("size, tile_size", [((160, 120), 64),  # several tiles: the context is needed
                                             ((162, 122), 162)])  # one tile, but padded to the size multiple
def test_other_streams_keep_the_context_pass(server, size, tile_size):
    result, counted = stylize_counting(server, photo(*size), tile_size=tile_size,
                                       style_sources=[StyleSource(preset="style-03")])
    assert counted == {"context": 1, "one_pass": 0} and result.shape == (size[1], size[0], 3)


# 4:3; 3:2, whose 128x85 thumbnail is cut to 84 rows; 5:3, whose thumbnail (128x77) and 96 px copy (96x58)
# are both cut
@pytest.mark.parametrize("size", [(800, 600), (900, 600), (1000, 600)])
def test_gateway_previews_of_a_conditioned_style_are_one_pass_and_more_looks_are_painted_smaller(server, size):
    address, log = server
    jpeg = encoded(photo(*size), "JPEG", quality=90)
    app = make_app(servers=(address,), preview_size=128, more_looks_size=96)
    try:
        with serving(app) as base:
            status, body = post_form(f"{base}/api/photos", *multipart({}, {"image": ("photo.jpg", jpeg)}))
            assert status == 201, body
            looks = json.loads(urllib.request.urlopen(base + body["previews_url"], timeout=30).read())["previews"]
            looks = looks[:2]  # style-00 (featured) and style-01
            before = passes(log)
            shown = {}
            for look in looks:
                with urllib.request.urlopen(base + look["url"], timeout=60) as resp:
                    shown[look["preset"]] = np.asarray(Image.open(io.BytesIO(resp.read())).convert("RGB"))
            after = passes(log)
    finally:
        close_app(app)
    assert [(look["preset"], look["featured"]) for look in looks] == [("style-00", True), ("style-01", False)]
    assert after["one_pass"] - before["one_pass"] == 2 and after["context"] == before["context"]
    # The featured look is the thumbnail restyled; the other its 96 px copy restyled, then enlarged.
    thumb = decode_thumbnail(jpeg, 128, 10**8)
    height = thumb.shape[0]
    small = shrink(thumb, (96, round(96 * height / 128)))
    with TesseraClient(address, timeout=60) as client:
        def styled(image, preset):  # rows past whole multiples of 4 (the size multiple) left out, the last repeated
            cut = image.shape[0] % 4
            result = client.stylize(image[:image.shape[0] - cut], STYLE, tile_size=max(image.shape[:2]),
                                    style_sources=[StyleSource(preset=preset)]).image
            return np.concatenate([result] + [result[-1:]] * cut, axis=0)
        full = {preset: styled(thumb, preset) for preset in ("style-00", "style-01")}
        enlarged = np.asarray(Image.fromarray(styled(small, "style-01")).resize((128, height),
                                                                               Image.Resampling.BICUBIC))
    assert np.array_equal(shown["style-00"], as_served(full["style-00"]))
    assert np.array_equal(shown["style-01"], as_served(enlarged))
    assert not np.array_equal(shown["style-01"], as_served(full["style-01"]))


def test_a_preview_leaves_out_a_few_edge_rows_at_most():
    """More left-out rows, repeated, would show as a smeared band: such a thumbnail is padded instead."""
    assert _whole_multiples(np.zeros((85, 128, 3), np.uint8), 4).shape == (84, 128, 3)
    assert _whole_multiples(np.zeros((77, 130, 3), np.uint8), 4).shape == (76, 128, 3)
    assert _whole_multiples(np.zeros((85, 128, 3), np.uint8), 16).shape == (85, 128, 3)  # 5 rows > 4
    assert _whole_multiples(np.zeros((3, 128, 3), np.uint8), 4).shape == (3, 128, 3)  # shorter than one multiple


def as_served(pixels: np.ndarray) -> np.ndarray:
    """The pixels a page decodes from the gateway's preview JPEG of `pixels`."""
    return np.asarray(Image.open(io.BytesIO(encode_jpeg(pixels))).convert("RGB"))


@pytest.mark.parametrize("core, padded, width, height, thumb_side, fits", [
    (Rect(0, 0, 96, 64), Rect(0, 0, 96, 64), 96, 64, 512, True),
    (Rect(0, 0, 48, 64), Rect(0, 0, 96, 64), 96, 64, 512, False),  # a tile, not the image
    (Rect(0, 0, 96, 64), Rect(0, 0, 96, 64), 96, 64, 64, False),  # larger than the thumbnail: shrunk
    (Rect(0, 0, 94, 64), Rect(0, 0, 94, 64), 94, 64, 512, False),  # padded to the size multiple
    (Rect(0, 0, 12, 8), Rect(0, 0, 12, 8), 12, 8, 512, False),  # under 16 px: padded too
])
def test_one_pass_fits_only_an_image_that_is_its_own_thumbnail(core, padded, width, height, thumb_side, fits):
    pixels = photo(width, height)
    assert one_pass_fits(pixels.copy(), pixels, core, padded, width, height, thumb_side, 4) is fits
    if fits:  # a thumbnail of other pixels (another picture's statistics) never fits
        other = pixels.copy()
        other[0, 0] ^= 1
        assert not one_pass_fits(other, pixels, core, padded, width, height, thumb_side, 4)
        assert not one_pass_fits(None, pixels, core, padded, width, height, thumb_side, 4)


def test_a_whole_model_that_disagrees_with_the_two_passes_is_rejected(version_dir, tmp_path):
    version = tmp_path / "1"
    shutil.copytree(version_dir, version)
    brighten_whole_model(version)
    with pytest.raises(VersionRejected) as caught:
        load_version(version, LoadSettings(threads=1))
    assert caught.value.kind == "whole" and "differs from the two passes" in str(caught.value)


def test_the_int8_any_painting_teacher_ships_a_one_pass_with_its_two_passes_pixels():
    """any-painting-best is int8: its one pass agrees with its two only because sessions compute int8
    graphs in float (tessera/onnx_session.py); fused integer kernels put them up to 41 levels apart."""
    from trainer.cin_models import CinRunner
    from trainer.style_presets import PRESETS

    versions = registry.version_dirs(SHIPPED.parent / "any-painting-best")
    newest = versions[max(versions)]
    assert registry.read_manifest(newest).artifacts.whole_onnx is not None
    runner = CinRunner(newest, threads=2)
    presets = registry.read_manifest(newest).presets
    looks = [np.asarray(presets[0].code, np.float32), np.asarray(presets[-1].code, np.float32),
             runner.encode(next(s for s in PRESETS if s.id == "retina").make())]
    picture = photo(256, 192)
    image = rgb8_to_nchw(picture)
    for code in looks:
        two = runner.runner(runner.context(picture, code))(image)[0]
        one = runner.whole.run(None, {"image": image, "style_code": code[None]})[0][0]
        assert np.array_equal(chw_to_rgb8(one), chw_to_rgb8(two))
