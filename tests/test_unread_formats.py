"""A file in a well-known image format Tessera does not read is told what it is, by the library, the
CLI and the gateway alike (tessera/formats.py UNREAD_FORMATS; the page reads the table from /api/limits)."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from bff import close_app
from tessera import formats, imageio
from tests.bff.live import make_app
from tests.support import TINY_STYLE

HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
HINT = "(it is {} image: save or export it as JPEG or PNG, and choose that file)"


@pytest.mark.parametrize(("head", "label"), [
    (HEIC, "a HEIC"),
    (b"\x00\x00\x00\x18ftypmif1\x00\x00\x00\x00mif1heic", "a HEIC"),
    (b"\x00\x00\x00\x18ftypmiaf\x00\x00\x00\x00miafhevc", "a HEIC"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "an AVIF"),
    (b"II*\x00\x08\x00\x00\x00", "a TIFF"),
    (b"MM\x00*\x00\x00\x00\x08", "a TIFF"),
    (b"BM6\x00\x0c\x00\x00\x00\x00\x00", "a BMP"),
])
def test_a_refused_image_of_a_known_format_is_told_what_it_is(head, label):
    """A phone's HEIC photo was only "not a PNG, JPEG or WebP image", with no word of what to do."""
    data = head + b"\x00" * 32
    assert formats.not_read(data) == f"the file is not a PNG, JPEG or WebP image {HINT.format(label)}"
    with pytest.raises(imageio.UnsupportedFormatError) as refused:
        imageio.open_image(data, 10_000)
    assert HINT.format(label) in str(refused.value)
    assert label.split()[1] in {f.label for f in formats.UNREAD_FORMATS}


def test_other_bytes_are_refused_without_a_guess():
    assert formats.not_read(b"plain text") == "the file is not a PNG, JPEG or WebP image"
    assert formats.not_read(b"BMW service notes") == "the file is not a PNG, JPEG or WebP image"  # text, not a BMP
    assert formats.not_read(b"\x00\x00\x00\x18ftypisom") == "the file is not a PNG, JPEG or WebP image"  # an MP4


def test_the_gateway_and_the_cli_say_what_a_heic_photo_is(inference_server, tmp_path):
    app = make_app(servers=(inference_server,))
    try:
        client = app.test_client()
        answer = client.post("/api/stylize", data={"style": TINY_STYLE, "image": (io.BytesIO(HEIC), "IMG_0001.heic")})
        assert (answer.status_code, answer.json["error"]) == (415, "unsupported_format"), answer.json
        assert answer.json["message"] == f"That file is not a PNG, JPEG or WebP image {HINT.format('a HEIC')}."
        as_job = client.post("/api/jobs", data={"style": TINY_STYLE, "image": (io.BytesIO(HEIC), "IMG_0001.heic")})
        assert (as_job.status_code, as_job.json["error"]) == (415, "unsupported_format"), as_job.json
        assert as_job.json["message"].endswith(f"{HINT.format('a HEIC')}."), as_job.json
        published = client.get("/api/limits").json["unread_formats"]
        assert {"label": "HEIC", "signature": [[4, b"ftyp".hex()], [8, b"heic".hex()]]} in published
    finally:
        close_app(app)
    photo = tmp_path / "IMG_0001.heic"
    photo.write_bytes(HEIC)
    done = subprocess.run([sys.executable, "-m", "tessera.cli", "stylize", str(photo), "-o", str(tmp_path / "o.png"),
                           "--style", TINY_STYLE, "--server", inference_server], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "it is a HEIC image" in done.stderr, done.stderr
