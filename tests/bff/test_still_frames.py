"""A GIF, animated WebP or animated PNG of one frame is a still image, on every route
(tessera/video_sniff.py decides): a one-frame WebP or APNG is restyled as a photo, a one-frame GIF is
refused at once with a sentence saying to save it as PNG or JPEG (GIF is no photo format), and two frames
or more make a clip. An MPO (a camera's JPEG with a second frame) is a photo."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tessera.video_sniff import NOT_VIDEO_BRANDS, STILL_GIF, is_still_gif, read_for_sniff, sniff_clip
from tests.bff.pictures import HEIC_HEAD, M4A_HEAD, animation, encoded, gradient, iso_media
from tests.support import TINY_STYLE

ONE_FRAME_GIF, TWO_FRAME_GIF = animation("GIF", 1), animation("GIF", 2)
ONE_FRAME_WEBP, TWO_FRAME_WEBP = animation("WEBP", 1), animation("WEBP", 2)
ONE_FRAME_APNG, TWO_FRAME_APNG = animation("PNG", 1), animation("PNG", 2)
PAGE = Path(__file__).resolve().parents[2] / "frontend_static"


def test_frames_decide_between_clip_and_still():
    assert Image.open(io.BytesIO(ONE_FRAME_WEBP)).n_frames == 1 and ONE_FRAME_WEBP[12:16] == b"VP8X"
    assert (sniff_clip(ONE_FRAME_GIF), sniff_clip(TWO_FRAME_GIF)) == (None, "gif")
    assert (sniff_clip(ONE_FRAME_WEBP), sniff_clip(TWO_FRAME_WEBP)) == (None, "webp")
    assert Image.open(io.BytesIO(ONE_FRAME_APNG)).n_frames == 1 and b"acTL" in ONE_FRAME_APNG
    assert (sniff_clip(ONE_FRAME_APNG), sniff_clip(TWO_FRAME_APNG)) == (None, "apng")
    assert read_for_sniff(io.BytesIO(TWO_FRAME_APNG)) == TWO_FRAME_APNG[:TWO_FRAME_APNG.index(b"IDAT") + 4]
    assert is_still_gif(ONE_FRAME_GIF) and not is_still_gif(TWO_FRAME_GIF)
    assert is_still_gif(b"GIF89a...")  # no frame left to read: not a clip either


def _form(data: bytes, name: str, path: str = "/api/stylize") -> dict:
    """The form of `path` with the file as its photo: /api/photos takes the photo alone (400 unknown_field for a
    style there)."""
    return {**({} if path == "/api/photos" else {"style": TINY_STYLE}), "image": (io.BytesIO(data), name)}


@pytest.mark.parametrize("path", ["/api/stylize", "/api/photos", "/api/jobs"])
def test_a_one_frame_gif_is_refused_at_once_with_what_to_do(client, path):
    answer = client.post(path, data=_form(ONE_FRAME_GIF, "static.gif", path))
    assert (answer.status_code, answer.json["error"], answer.json["message"]) == (415, "still_gif", STILL_GIF)
    assert "save it as PNG or JPEG" in STILL_GIF


def test_a_one_frame_gif_in_a_batch_is_refused_by_name(client):
    answer = client.post("/api/batches", data={"style": TINY_STYLE, "images": [
        (io.BytesIO(ONE_FRAME_WEBP), "still.webp"),
        (io.BytesIO(ONE_FRAME_GIF), "static.gif")]})
    assert (answer.status_code, answer.json["error"]) == (415, "still_gif")
    assert answer.json["message"] == f"static.gif: {STILL_GIF}"


@pytest.mark.parametrize("data, fmt", [(ONE_FRAME_WEBP, "webp"), (ONE_FRAME_APNG, "png")], ids=["webp", "apng"])
def test_a_one_frame_animation_is_restyled_as_a_photo_everywhere(client, data, fmt):
    restyled = client.post("/api/stylize", data=_form(data, f"still.{fmt}"))
    assert (restyled.status_code, restyled.mimetype) == (200, f"image/{fmt}")
    assert Image.open(io.BytesIO(restyled.data)).size == (96, 64)
    kept = client.post("/api/photos", data=_form(data, f"still.{fmt}", "/api/photos"))
    assert (kept.status_code, kept.json["format"]) == (201, fmt)
    job = client.post("/api/jobs", data=_form(data, f"still.{fmt}"))
    assert job.status_code == 202, job.json
    client.get(job.json["events_url"]).get_data()  # the stream ends with the job
    result = client.get(job.json["result_url"])
    assert (result.status_code, result.mimetype) == (200, f"image/{fmt}")  # a photo's result, not a clip's mp4


@pytest.mark.parametrize("data", [TWO_FRAME_GIF, TWO_FRAME_WEBP, TWO_FRAME_APNG], ids=["gif", "webp", "apng"])
@pytest.mark.parametrize("path", ["/api/stylize", "/api/photos"])
def test_two_frames_make_a_clip_that_the_photo_routes_point_to_the_jobs(client, path, data):
    answer = client.post(path, data=_form(data, "moving", path))
    assert (answer.status_code, answer.json["error"]) == (415, "clip_needs_job")


def test_two_frames_of_apng_in_a_batch_are_refused_by_name(client):
    answer = client.post("/api/batches", data={"style": TINY_STYLE, "images": [
        (io.BytesIO(ONE_FRAME_APNG), "still.png"), (io.BytesIO(TWO_FRAME_APNG), "moving.png")]})
    assert (answer.status_code, answer.json["error"]) == (415, "clip_needs_job")
    assert answer.json["message"].startswith("moving.png: ")


def test_an_apng_clip_is_restyled_as_a_clip_job(client):
    job = client.post("/api/jobs", data=_form(TWO_FRAME_APNG, "moving.png"))
    assert job.status_code == 202, job.json
    client.get(job.json["events_url"]).get_data()
    result = client.get(job.json["result_url"])
    assert (result.status_code, result.mimetype) == (200, "video/mp4"), result.data[:300]


def test_a_camera_mpo_is_a_jpeg_photo_of_its_first_frame(client):
    """An MPO is a JPEG with a second (preview or stereo) frame appended: a photo, not a clip."""
    first, second = Image.fromarray(gradient()), Image.fromarray(gradient()).rotate(180)
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2 and sniff_clip(buffer.getvalue()) is None
    restyled = client.post("/api/stylize", data=_form(buffer.getvalue(), "camera.jpg"))
    assert (restyled.status_code, restyled.mimetype) == (200, "image/jpeg")
    assert Image.open(io.BytesIO(restyled.data)).size == (96, 64)


@pytest.mark.parametrize("data", [iso_media("AVIF", 1), iso_media("AVIF", 2), HEIC_HEAD, M4A_HEAD],
                         ids=["avif", "avif-sequence", "heic", "m4a"])
@pytest.mark.parametrize("path", ["/api/stylize", "/api/jobs"])
def test_heic_avif_and_m4a_are_no_clips_but_formats_not_read(client, path, data):
    """They start with an MP4's ftyp box; their major brand says photo or audio, not video."""
    assert data[4:8] == b"ftyp" and sniff_clip(data) is None
    answer = client.post(path, data=_form(data, "phone-photo"))
    assert (answer.status_code, answer.json["error"]) == (415, "unsupported_format")


def test_video_brands_stay_clips():
    for brand, kind in [(b"isom", "mp4"), (b"mp42", "mp4"), (b"3gp5", "mp4"), (b"M4V ", "mp4"), (b"qt  ", "mov")]:
        assert sniff_clip(b"\x00\x00\x00\x20ftyp" + brand + bytes(20)) == kind


# ftyp boxes whose 32-bit size is 0 (the box runs to the end of the file) or 1 (a 64-bit size follows the
# type, then the major brand), as ISO/IEC 14496-12 allows, with the kind sniff_clip must tell.
ODD_SIZED_FTYP = {
    "size-0-mp4": (b"\x00\x00\x00\x00ftypisom" + bytes(20), "mp4"),
    "size-0-mov": (b"\x00\x00\x00\x00ftypqt  " + bytes(20), "mov"),
    "size-0-heic": (b"\x00\x00\x00\x00ftypheic" + bytes(20), None),
    "size-0-cut": (b"\x00\x00\x00\x00ftypisom", None),
    "largesize-mp4": (b"\x00\x00\x00\x01ftyp" + (32).to_bytes(8, "big") + b"mp42" + bytes(12), "mp4"),
    "largesize-avif": (b"\x00\x00\x00\x01ftyp" + (32).to_bytes(8, "big") + b"avif" + bytes(12), None),
    "largesize-too-small": (b"\x00\x00\x00\x01ftyp" + (20).to_bytes(8, "big") + b"isom" + bytes(12), None),
    "largesize-cut": (b"\x00\x00\x00\x01ftyp" + (32).to_bytes(8, "big") + b"is", None),
}


@pytest.mark.parametrize("name", list(ODD_SIZED_FTYP))
def test_an_ftyp_box_sized_to_the_end_or_by_64_bits_names_its_brand(name):
    data, kind = ODD_SIZED_FTYP[name]
    assert sniff_clip(data) == kind


@pytest.mark.parametrize("data", [b"\x00\x00\x00\x18ftypjpeg\x00\x00\x00\x00isomjpeg" + bytes(16),
                                  b"\x00\x00\x00\x18ftypvvic\x00\x00\x00\x00mif1vvic" + bytes(16),
                                  b"\x00\x00\x00\x18ftypj2ki\x00\x00\x00\x00mif1j2ki" + bytes(16),
                                  b"\x00\x00\x00\x0aftyphe", b"\x00\x00\x00\x08ftyp",
                                  b"\x00\x00\x00\x08ftypisom" + bytes(24)],
                         ids=["jpeg-in-heif", "vvc-image", "jpeg2000-in-heif", "cut-in-brand", "no-brand",
                              "box-too-short"])
def test_other_iso_photos_and_ftyp_boxes_too_short_for_a_brand_are_no_clips(client, data):
    assert sniff_clip(data) is None
    answer = client.post("/api/stylize", data=_form(data, "odd"))
    assert (answer.status_code, answer.json["error"]) == (415, "unsupported_format")


@pytest.mark.parametrize("path", ["/api/stylize", "/api/photos", "/api/jobs"])
def test_an_apng_whose_actl_crc_fails_is_a_damaged_photo_not_a_clip(client, path):
    """The page reads it as a still (its clipKind drops the chunk); the gateway must not make it a clip job."""
    answer = client.post(path, data=_form(_damaged_actl_crc(TWO_FRAME_APNG), "moving.png", path))
    assert (answer.status_code, answer.json["error"]) == (422, "undecodable_image"), answer.json
    assert answer.json["message"].startswith("The file looks like a PNG image but its header is damaged")


def test_a_multi_frame_tiff_is_no_photo_format(client):
    buffer = io.BytesIO()
    Image.fromarray(gradient()).save(buffer, "TIFF", save_all=True, append_images=[Image.fromarray(gradient())])
    answer = client.post("/api/stylize", data=_form(buffer.getvalue(), "scan.tif"))
    assert (answer.status_code, answer.json["error"]) == (415, "unsupported_format")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's module")
def test_the_page_tells_clips_from_stills_as_the_gateway_does(tmp_path):
    """frontend_static/clip_sniff.js clipKind, run by Node on the same files as sniff_clip."""
    files = {"apng2": TWO_FRAME_APNG, "apng1": ONE_FRAME_APNG, "gif2": TWO_FRAME_GIF, "webp1": ONE_FRAME_WEBP,
             "apng2-acTL-CRC-damaged": _damaged_actl_crc(TWO_FRAME_APNG), "webp2": animation("WEBP", 2),
             "gif1": animation("GIF", 1), "apng2-cut-in-acTL": TWO_FRAME_APNG[:TWO_FRAME_APNG.index(b"acTL") + 6],
             "mp4": b"\x00\x00\x00\x20ftypisom" + bytes(20), "jpeg": encoded(gradient(), "JPEG"),
             "mov": b"\x00\x00\x00\x14ftypqt  " + bytes(20), "avif": iso_media("AVIF", 1),
             "avis": iso_media("AVIF", 2), "heic": HEIC_HEAD, "m4a": M4A_HEAD,
             "jpeg-in-heif": b"\x00\x00\x00\x18ftypjpeg\x00\x00\x00\x00isomjpeg" + bytes(16),
             "cut-in-brand": b"\x00\x00\x00\x0aftyphe", "box-too-short": b"\x00\x00\x00\x08ftypisom" + bytes(24),
             **{name: data for name, (data, _) in ODD_SIZED_FTYP.items()},
             **{f"brand-{brand.decode()}": b"\x00\x00\x00\x20ftyp" + brand + bytes(20) for brand in NOT_VIDEO_BRANDS}}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    script = ("import { readFileSync } from 'node:fs';\n"
              f"const {{ clipKind }} = await import({json.dumps(str(PAGE / 'clip_sniff.js'))});\n"
              f"for (const name of {json.dumps(list(files))}) "
              f"console.log(clipKind(new Uint8Array(readFileSync({json.dumps(str(tmp_path))} + '/' + name))));\n")
    ran = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert ran.returncode == 0, ran.stderr
    expected = ["apng", "null", "gif", "null", "null", "webp", "null", "null", "mp4", "null", "mov", "null", "null",
                "null", "null", "null", "null", "null", *[kind or "null" for _, kind in ODD_SIZED_FTYP.values()],
                *["null"] * len(NOT_VIDEO_BRANDS)]
    assert ran.stdout.splitlines() == expected == [sniff_clip(d) or "null" for d in files.values()]


def _damaged_actl_crc(apng: bytes) -> bytes:
    """The APNG with its acTL chunk's CRC flipped: a decoder drops the chunk and shows a still PNG."""
    crc_at = apng.index(b"acTL") + 4 + int.from_bytes(apng[apng.index(b"acTL") - 4:apng.index(b"acTL")], "big")
    return apng[:crc_at] + bytes(b ^ 0xFF for b in apng[crc_at:crc_at + 4]) + apng[crc_at + 4:]
