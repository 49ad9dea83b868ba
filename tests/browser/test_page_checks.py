"""The page checks a file when it is chosen, against the limits the gateway publishes (/api/limits):
nothing is uploaded that the gateway would refuse, and a refused file leaves no broken preview. A job's
result keeps the style it was made with, and a tiny image is shown enlarged, not as an invisible dot."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from bff import close_app
from scripts.local_stack import running_server
from tests.bff.live import make_app, serving
from tests.bff.pictures import png_declaring
from tests.browser.conftest import STAGE_DOWNLOAD, open_page

pytestmark = pytest.mark.browser

MAX_BYTES = 200_000
MAX_PIXELS = 100_000


@pytest.fixture(scope="module")
def strict_url(gallery):
    """A gateway with small limits (200 kB, 0.1 MP) in front of a real server with the gallery styles."""
    with running_server(gallery) as address:
        app = make_app(servers=(address,), max_upload_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        try:
            with serving(app) as url:
                yield url
        finally:
            close_app(app)


@pytest.fixture
def strict_page(browser, request, strict_url):
    yield from open_page(browser, request, strict_url, viewport={"width": 1280, "height": 860})


def png_file(path, width: int, height: int, noisy: bool = False):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (height, width, 3), np.uint8) if noisy else np.full((height, width, 3), 120, np.uint8)
    Image.fromarray(pixels).save(path, "PNG")
    return path


def watch_uploads(page) -> list[str]:
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    return uploads


def assert_refused_when_chosen(page, path, message: str) -> None:
    """Chooses `path` on a fresh page: the page says exactly `message`, shows no photo, sends nothing."""
    uploads = watch_uploads(page)
    page.goto("/")
    page.locator("#file-input").set_input_files(path)
    expect(page.get_by_role("alert")).to_have_text(message)
    expect(page.locator("#compare")).to_be_hidden()
    assert uploads == []


def test_the_gateway_publishes_its_limits(strict_page):
    limits = strict_page.request.get("/api/limits").json()
    assert limits["max_upload_bytes"] == MAX_BYTES and limits["max_pixels"] == MAX_PIXELS
    assert limits["max_aspect_ratio"] == 1000 and limits["max_style_image_pixels"] == 40_000_000
    assert {f["name"]: f["max_side"] for f in limits["formats"]} == {"png": None, "jpeg": 65500, "webp": 16383}


def test_a_file_over_the_byte_limit_is_refused_before_upload(strict_page, tmp_path):
    uploads = watch_uploads(strict_page)
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files(png_file(tmp_path / "noise.png", 300, 300, noisy=True))
    expect(strict_page.get_by_role("alert")).to_contain_text("the limit is 0.2 MB")
    expect(strict_page.locator("#file-error")).to_be_in_viewport()  # right under the drop zone, in sight
    expect(strict_page.locator("#compare")).to_be_hidden()
    strict_page.get_by_role("button", name="Restyle photo").click()
    expect(strict_page.get_by_role("alert")).to_contain_text("Choose a photo first")
    assert uploads == []


def test_a_photo_chosen_before_the_limits_arrive_is_checked_once_they_do(strict_page, tmp_path):
    """The page asks for /api/limits as it loads; a photo chosen before the answer waits for it instead
    of going to the gateway unchecked (a race CI once lost)."""
    uploads = watch_uploads(strict_page)
    held = []
    strict_page.route("**/api/limits", lambda route: held.append(route))
    strict_page.goto("/")
    strict_page.wait_for_timeout(300)
    assert len(held) == 1  # asked, and the answer is held back
    strict_page.locator("#file-input").set_input_files(png_file(tmp_path / "wide.png", 400, 300))
    strict_page.wait_for_timeout(300)
    expect(strict_page.get_by_role("alert")).to_have_count(0)
    held[0].continue_()
    expect(strict_page.get_by_role("alert")).to_have_text(
        "That image is 400 × 300 (0.12 megapixels); the limit is 0.1 megapixels.")
    assert uploads == []


def test_an_image_over_the_pixel_limit_is_refused_before_upload(strict_page, tmp_path):
    assert_refused_when_chosen(strict_page, png_file(tmp_path / "wide.png", 400, 300),
                               "That image is 400 × 300 (0.12 megapixels); the limit is 0.1 megapixels.")


def test_a_damaged_image_is_refused_when_chosen(strict_page, tmp_path):
    broken = tmp_path / "broken.png"
    data = (png_file(tmp_path / "ok.png", 50, 50)).read_bytes()
    broken.write_bytes(data[:40])  # a PNG signature and header, then nothing
    uploads = watch_uploads(strict_page)
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files(broken)
    expect(strict_page.get_by_role("alert")).to_contain_text("cannot be read as an image")
    expect(strict_page.locator("#compare")).to_be_hidden()
    assert uploads == []


def cut_jpeg(path, size=(300, 200)):
    whole = image_bytes("JPEG", size)
    path.write_bytes(whole[: len(whole) // 2])
    return path


def text_file(path):
    path.write_text("plain text")
    return path


def heic_file(path):
    """The first bytes of an iPhone photo (an ISO media file of brand 'heic'): enough to be told apart."""
    path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    return path


def still_gif(path):
    Image.new("P", (20, 20)).save(path, "GIF")
    return path


# A file of each kind the page refuses (name, how to make it, what it says), also beside good photos.
REFUSED = [
    ("notes.png", text_file, "That file is not a PNG, JPEG or WebP image."),
    ("noise.png", lambda p: png_file(p, 300, 300, noisy=True), "That file is 0.3 MB; the limit is 0.2 MB."),
    ("cut.jpg", cut_jpeg, "That JPEG image is cut short or damaged and cannot be read."),
    ("still.gif", still_gif, "That GIF holds a single frame"),
    # A phone's photo was only "not a PNG, JPEG or WebP image", with no word of what it is or what to do.
    ("IMG_0001.heic", heic_file, "That file is not a PNG, JPEG or WebP image (it is a HEIC image: save or export "
                                 "it as JPEG or PNG, and choose that file)."),
]


@pytest.mark.parametrize("name, make, message", REFUSED, ids=[r[0] for r in REFUSED])
def test_a_refused_file_keeps_the_photo_chosen_before_and_is_named(strict_page, tmp_path, name, make, message):
    """A user's good photo was dropped when the next file chosen was refused: now the refusal names the
    file, and the photo, its upload and Restyle stay."""
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files(png_file(tmp_path / "small.png", 60, 40))
    before = strict_page.get_by_role("img", name="Your photo, before restyling")
    expect(before).to_have_js_property("naturalWidth", 60)
    expect(strict_page.locator(".preview-card").first).to_be_visible()  # uploaded, previews offered
    strict_page.locator("#file-input").set_input_files(make(tmp_path / name))
    expect(strict_page.get_by_role("alert")).to_contain_text(f"{name}: {message}")
    expect(before).to_be_visible()
    expect(before).to_have_js_property("naturalWidth", 60)
    expect(strict_page.locator("#file-name")).to_contain_text("small.png")
    strict_page.get_by_role("button", name="Restyle photo").click()
    expect(strict_page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    expect(strict_page.locator("#file-error")).to_contain_text(f"{name}: {message}")  # still said


def test_stray_files_in_a_selection_are_refused_each_by_name_and_the_photos_kept(strict_page, tmp_path):
    uploads = watch_uploads(strict_page)
    strict_page.goto("/")
    good = [png_file(tmp_path / "one.png", 60, 40), png_file(tmp_path / "two.png", 50, 30)]
    stray = [text_file(tmp_path / "notes.png"), cut_jpeg(tmp_path / "cut.jpg")]
    strict_page.locator("#file-input").set_input_files([good[0], stray[0], good[1], stray[1]])
    error = strict_page.get_by_role("alert")
    expect(error).to_contain_text("notes.png: That file is not a PNG, JPEG or WebP image.")
    expect(error).to_contain_text("cut.jpg: That JPEG image is cut short or damaged and cannot be read.")
    expect(strict_page.locator("#file-name")).to_contain_text("2 photos: one.png and 1 more")
    expect(strict_page.get_by_role("img", name="Your photo, before restyling")).to_have_js_property("naturalWidth", 60)

    strict_page.locator("#file-input").set_input_files([stray[0], good[1]])  # one good photo left: no batch
    expect(strict_page.get_by_role("alert")).to_contain_text("notes.png: That file is not")
    expect(strict_page.locator("#file-name")).to_contain_text("two.png")
    expect(strict_page.locator("#file-name")).not_to_contain_text("photos")
    expect(strict_page.locator(".preview-card").first).to_be_visible()
    assert uploads == [f"{strict_page.url}api/photos"]


def test_a_selection_whose_first_file_cannot_be_decoded_shows_the_next(strict_page, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(png_file(tmp_path / "ok.png", 50, 50).read_bytes()[:40])
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files([broken, png_file(tmp_path / "good.png", 70, 30)])
    expect(strict_page.get_by_role("alert")).to_contain_text("broken.png: That file cannot be read as an image")
    expect(strict_page.get_by_role("img", name="Your photo, before restyling")).to_have_js_property("naturalWidth", 70)


def test_changing_the_style_during_a_job_keeps_the_result_labelled_with_its_own(page, photo):
    held = []
    page.route("**/api/jobs/*/result", lambda route: held.append(route))
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    for _ in range(200):  # the job is done and its result asked for: now change the style
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for the result"
    page.get_by_role("radio", name="Moss").check()
    held[0].continue_()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    expect(page.locator("#result-meta")).to_contain_text("Harbour blue, version")
    expect(page.locator("#result-meta")).not_to_contain_text("Moss")


@pytest.mark.parametrize("width, height", [(1, 1), (3, 2)])
def test_a_tiny_image_is_restyled_and_shown_enlarged(page, tmp_path, width, height):
    tiny = png_file(tmp_path / "dot.png", width, height)
    page.goto("/")
    page.locator("#file-input").set_input_files(tiny)
    expect(page.locator("#file-name")).to_have_text(f"dot.png · {width} × {height} px · shown enlarged")
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    expect(page.locator("#progress-label")).to_have_text("Restyled")  # in a person's words: no "1 tiles"
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_have_js_property("naturalWidth", width)
    box = after.bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200 * height / width - 1, box
    before = page.get_by_role("img", name="Your photo, before restyling").bounding_box()
    assert abs(before["width"] - box["width"]) < 1 and abs(before["height"] - box["height"]) < 1
    assert page.locator("#compare").evaluate("el => getComputedStyle(el.querySelector('img')).imageRendering") \
        == "pixelated"


def test_restyle_clicked_before_the_styles_arrive_waits_for_them(page, tmp_path):
    """A click on Restyle while /api/styles is still on the way is kept: the photo is restyled in the
    default style once the styles arrive, instead of "Choose a style" (a race CI once lost)."""
    held = []
    page.route("**/api/styles", lambda route: held.append(route))
    page.goto("/")
    page.locator("#file-input").set_input_files(png_file(tmp_path / "dot.png", 3, 2))
    expect(page.locator("#file-name")).to_contain_text("dot.png")
    page.get_by_role("button", name="Restyle photo").click()
    page.wait_for_timeout(300)
    assert len(held) == 1  # asked, and the answer is held back
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#submit")).to_have_text("Restyling…")  # the click is seen to be kept
    held[0].continue_()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#style-grid input:checked")).to_have_count(1)


def test_restyle_with_no_style_serving_says_so(page, tmp_path):
    page.route("**/api/styles", lambda route: route.fulfill(json={"styles": []}))
    page.goto("/")
    page.locator("#file-input").set_input_files(png_file(tmp_path / "dot.png", 3, 2))
    expect(page.locator("#file-name")).to_contain_text("dot.png")
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("alert")).to_have_text("No style is ready on the server yet. Try again in a moment.")


def test_the_drop_zone_states_the_limits(strict_page):
    strict_page.goto("/")
    expect(strict_page.locator("#dropzone-hint")).to_have_text(
        "PNG, JPEG or WebP photo, up to 0.2 MB and 0.1 megapixels (several come back as one zip), "
        "or a video clip of up to 60 s")  # all the drop zone takes, not only photos


# Makes every image decode take 1.5 s longer, as a large photo does on a slow machine.
SLOW_DECODE_JS = """{
    const decode = HTMLImageElement.prototype.decode;
    HTMLImageElement.prototype.decode = function () {
        return new Promise((resolve) => setTimeout(resolve, 1500)).then(() => decode.call(this));
    };
}"""


def test_restyle_clicked_while_the_photo_is_still_being_checked_waits_for_it(page, photo):
    page.add_init_script(SLOW_DECODE_JS)
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()  # at once: the check has not finished
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=60_000)
    expect(page.get_by_role("alert")).to_have_count(0)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG with an EXIF segment before its frame header, whose frame header claims width x height."""
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x010E] = "x" * 3000  # ImageDescription: a long APP1 segment ahead of the frame header
    Image.new("RGB", (16, 16), (90, 140, 200)).save(out, "JPEG", exif=exif)
    data = bytearray(out.getvalue())
    frame = data.index(b"\xff\xc0")
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("name, data, message", [
    ("huge.png", png_declaring(100_000, 100_000),
     "That image is 100000 × 100000 (10,000 megapixels); the limit is 50 megapixels."),
    ("huge.jpg", jpeg_declaring(60_000, 50_000),
     "That image is 60000 × 50000 (3,000 megapixels); the limit is 50 megapixels."),
], ids=["png", "jpeg-after-exif"])
def test_an_image_too_large_to_decode_gets_the_pixel_limit_not_damaged(page, tmp_path, name, data, message):
    """Chromium refuses to decode such an image at all: the size comes from its header first (a new
    user's 100000 × 100000 PNG was called "damaged or cut short")."""
    (tmp_path / name).write_bytes(data)
    assert_refused_when_chosen(page, tmp_path / name, message)


def test_a_long_thin_image_is_refused_when_chosen_as_the_gateway_would(page, tmp_path):
    assert_refused_when_chosen(
        page, png_file(tmp_path / "wide.png", 60_000, 40),
        "That image is 60000 × 40: one side may be at most 1,000 times the other. Crop or pad it first.")


def png_with_a_bad_text_checksum() -> bytes:
    """A PNG whose tEXt chunk has a wrong CRC: Chromium shows it, the gateway's decoder refuses it."""
    whole = image_bytes("PNG", (80, 60))
    at = whole.index(b"IDAT") - 4
    return whole[:at] + struct.pack(">I", 5) + b"tEXt" + b"a\x00bcd" + b"\x00\x00\x00\x00" + whole[at:]


def test_a_photo_the_gateway_finds_damaged_is_dropped_with_its_message(page, tmp_path):
    """The page's checks pass it, the gateway's upload refuses it (422); the page then drops it as it
    drops a file it refuses itself, instead of offering its previews."""
    (tmp_path / "crc.png").write_bytes(png_with_a_bad_text_checksum())
    page.goto("/")
    page.locator("#file-input").set_input_files(tmp_path / "crc.png")
    expect(page.get_by_role("alert")).to_have_text(
        "The file looks like a PNG image but its header is damaged or it is cut short.")
    expect(page.locator("#compare")).to_be_hidden()
    expect(page.locator(".preview-card")).to_have_count(0)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("alert")).to_contain_text("Choose a photo first")


@pytest.mark.parametrize("fmt, label", [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP")])
def test_a_photo_cut_short_is_refused_when_chosen(page, tmp_path, fmt, label):
    """Chromium shows a file cut short (grey below the cut), the gateway would refuse it: the page says
    so before sending it (a new user's cut-short JPEG was shown and uploaded)."""
    whole = image_bytes(fmt, (400, 300))
    (tmp_path / "cut").write_bytes(whole[: len(whole) // 2])
    assert_refused_when_chosen(page, tmp_path / "cut",
                               f"That {label} image is cut short or damaged and cannot be read.")


CUT_JPEG = "That JPEG image is cut short or damaged and cannot be read."


@pytest.mark.parametrize("wait", [True, False], ids=["restyle-after-the-message", "restyle-at-once"])
def test_a_cut_short_jpeg_keeps_its_own_message_when_restyle_is_pressed(page, tmp_path, wait):
    """A user's cut-short JPEG was said to be so, then "Choose a photo first" took its place on Restyle
    (at once when Restyle came while the file was still being checked): the reason stays readable."""
    page.goto("/")
    page.locator("#file-input").set_input_files(cut_jpeg(tmp_path / "cut.jpg"))
    if wait:
        expect(page.get_by_role("alert")).to_have_text(CUT_JPEG)
    page.get_by_role("button", name="Restyle photo").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Choose a photo first")
    expect(alert).to_contain_text(CUT_JPEG)
    expect(alert).to_be_visible()


def test_a_photo_the_gateway_refuses_keeps_its_message_when_restyle_is_pressed(page, tmp_path):
    (tmp_path / "crc.png").write_bytes(png_with_a_bad_text_checksum())
    page.goto("/")
    page.locator("#file-input").set_input_files(tmp_path / "crc.png")
    damaged = "The file looks like a PNG image but its header is damaged or it is cut short."
    expect(page.get_by_role("alert")).to_have_text(damaged)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("alert")).to_contain_text(damaged)
    expect(page.get_by_role("alert")).to_contain_text("Choose a photo first")


def image_bytes(fmt: str, size: tuple[int, int], **options) -> bytes:
    out = io.BytesIO()
    pixels = np.random.default_rng(2).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(out, fmt, **options)
    return out.getvalue()


def test_the_header_size_reader_agrees_with_pillow_on_every_format(page):
    exif = Image.Exif()
    exif[0x010E] = "y" * 5000
    cases = {
        "png": image_bytes("PNG", (33, 21)),
        "jpeg baseline": image_bytes("JPEG", (47, 29)),
        "jpeg progressive, exif and icc": image_bytes("JPEG", (61, 35), progressive=True, exif=exif,
                                                      icc_profile=b"\0" * 70_000),
        "webp lossy (VP8)": image_bytes("WEBP", (123, 77), quality=80),
        "webp lossless (VP8L)": image_bytes("WEBP", (99, 55), lossless=True),
        "webp extended (VP8X)": image_bytes("WEBP", (71, 45), exif=exif),
    }
    page.goto("/")
    for name, data in cases.items():
        with Image.open(io.BytesIO(data)) as opened:
            expected = {"width": opened.width, "height": opened.height}
        got = page.evaluate("async (bytes) => (await import('./checks.js')).headerSize(new Uint8Array(bytes))",
                            list(data[:512 * 1024]))
        assert got == expected, name
    for junk in ([], [0xFF, 0xD8, 0xFF, 0xDA, 0, 4, 0, 0, 0, 0, 0], list(b"RIFF\0\0\0\0WEBPXXXX" + bytes(20))):
        assert page.evaluate("async (bytes) => (await import('./checks.js')).headerSize(new Uint8Array(bytes))",
                             junk) is None


def exif_with_thumbnail_jpeg() -> bytes:
    """A JPEG whose EXIF holds a whole JPEG thumbnail, with its own end marker, before the main scan."""
    small = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 10)).save(small, "JPEG")
    exif = Image.Exif()
    exif[0x010E] = "thumbnail ahead"
    data = bytearray(image_bytes("JPEG", (64, 48), exif=exif))
    app1 = data.index(b"\xff\xe1")
    length = struct.unpack(">H", data[app1 + 2:app1 + 4])[0]
    inner = bytes(data[app1 + 4:app1 + 2 + length]) + small.getvalue()  # the thumbnail's bytes, EOI included
    segment = b"\xff\xe1" + struct.pack(">H", len(inner) + 2) + inner
    return bytes(data[:app1]) + segment + bytes(data[app1 + 2 + length:])


def test_the_cut_short_reader_agrees_with_the_gateways_decoder(page):
    from tessera import imageio

    whole = {"jpeg": image_bytes("JPEG", (64, 48)), "png": image_bytes("PNG", (64, 48)),
             "webp": image_bytes("WEBP", (64, 48)), "jpeg with exif thumbnail": exif_with_thumbnail_jpeg()}
    cases = {f"{name} whole": data for name, data in whole.items()}
    cases |= {f"{name} half": data[: len(data) // 2] for name, data in whole.items()}
    cases["jpeg with data after its end"] = whole["jpeg"] + b"trailer" * 100
    cases["png without IEND"] = whole["png"][:-12]
    page.goto("/")
    for name, data in cases.items():
        try:
            imageio.decode_thumbnail(data, 64, 10**8)
            decodes = True
        except imageio.ImageFormatError:
            decodes = False
        cut = page.evaluate("async (bytes) => (await import('./checks.js')).cutShort(new Uint8Array(bytes))",
                            list(data))
        assert cut == (not decodes), name


def test_an_empty_photo_is_refused_as_empty(page, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert_refused_when_chosen(page, tmp_path / "empty.jpg", "That file is empty. Choose a photo.")
