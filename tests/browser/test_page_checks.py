"""The page checks a file when it is chosen, against the limits the gateway publishes (/api/limits):
nothing is uploaded that the gateway would refuse, and a refused file leaves no broken preview. A job's
result keeps the style it was made with, and a tiny image is shown enlarged, not as an invisible dot."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from bff import close_app
from scripts.local_stack import running_server
from tests.bff.live import make_app, serving
from tests.browser.conftest import open_page

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


def test_the_gateway_publishes_its_limits(strict_page):
    limits = strict_page.request.get("/api/limits").json()
    assert limits["max_upload_bytes"] == MAX_BYTES and limits["max_pixels"] == MAX_PIXELS
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
        "That image is 400 × 300 (0.1 megapixels); the limit is 0.1 megapixels.")
    assert uploads == []


def test_an_image_over_the_pixel_limit_is_refused_before_upload(strict_page, tmp_path):
    uploads = watch_uploads(strict_page)
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files(png_file(tmp_path / "wide.png", 400, 300))
    expect(strict_page.get_by_role("alert")).to_have_text(
        "That image is 400 × 300 (0.1 megapixels); the limit is 0.1 megapixels.")
    expect(strict_page.locator("#compare")).to_be_hidden()
    assert uploads == []


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


def test_a_refused_file_replaces_the_photo_chosen_before(strict_page, tmp_path):
    strict_page.goto("/")
    strict_page.locator("#file-input").set_input_files(png_file(tmp_path / "small.png", 60, 40))
    expect(strict_page.get_by_role("img", name="Your photo, before restyling")).to_have_js_property("naturalWidth", 60)
    not_image = tmp_path / "notes.png"
    not_image.write_text("plain text")
    strict_page.locator("#file-input").set_input_files(not_image)
    expect(strict_page.get_by_role("alert")).to_have_text("That file is not a PNG, JPEG or WebP image.")
    expect(strict_page.locator("#compare")).to_be_hidden()


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
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    expect(page.locator("#result-meta")).to_contain_text("Harbour blue, version")
    expect(page.locator("#result-meta")).not_to_contain_text("Moss")


@pytest.mark.parametrize("width, height", [(1, 1), (3, 2)])
def test_a_tiny_image_is_restyled_and_shown_enlarged(page, tmp_path, width, height):
    tiny = png_file(tmp_path / "dot.png", width, height)
    page.goto("/")
    page.locator("#file-input").set_input_files(tiny)
    expect(page.locator("#file-name")).to_have_text(f"dot.png · {width} × {height} px · shown enlarged")
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name="Download")).to_be_visible()
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
    held[0].continue_()
    expect(page.get_by_role("link", name="Download")).to_be_visible()
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
        "PNG, JPEG or WebP photo, up to 0.2 MB and 0.1 megapixels")


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
    expect(page.get_by_role("link", name="Download")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("alert")).to_have_count(0)
