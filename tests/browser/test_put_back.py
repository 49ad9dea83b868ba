"""A photo the gateway refuses gives back what the person had chosen before it, as they had it: the
photo, batch or clip itself (the very pixels chosen, not just an image of its size), its previews,
the result that was on the stage, a batch's zip, a clip's restyled clip. Also when the refused photo
was chosen while another was still uploading; and the refused file can be chosen again."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD
from tests.browser.test_page_checks import png_with_a_bad_text_checksum

pytestmark = pytest.mark.browser

REFUSED = "crc.png: The file looks like a PNG image but its header is damaged or it is cut short."
# The decoded pixels of an <img>, row by row, RGBA.
PIXELS_JS = """el => {
  const canvas = document.createElement("canvas");
  canvas.width = el.naturalWidth;
  canvas.height = el.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(el, 0, 0);
  return Array.from(context.getImageData(0, 0, canvas.width, canvas.height).data);
}"""


def noisy_png(path, width: int, height: int, seed: int):
    """A PNG of random pixels: no other photo shows the same, whatever its size."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    Image.fromarray(pixels).save(path, "PNG")
    return path


def refused_png(tmp_path):
    """80 × 60: Chromium shows it and the page's checks pass it; the gateway's upload refuses it (422)."""
    path = tmp_path / "crc.png"
    path.write_bytes(png_with_a_bad_text_checksum())
    return path


def expect_shown(image, path, timeout_s: float = 10.0) -> None:
    """The <img> shows the pixels of the file at `path` (a blob URL the page freed would show none)."""
    with Image.open(path) as opened:
        wanted = np.asarray(opened.convert("RGB"))
    deadline = time.monotonic() + timeout_s
    while not shows(image, wanted):
        if time.monotonic() > deadline:
            pytest.fail(f"the page does not show {path.name}")
        image.page.wait_for_timeout(100)


def shows(image, wanted: np.ndarray) -> bool:
    shown = np.array(image.evaluate(PIXELS_JS), np.uint8)
    return shown.size == wanted.size // 3 * 4 and np.array_equal(shown.reshape(*wanted.shape[:2], 4)[..., :3], wanted)


def choose(page, *paths) -> None:
    page.locator("#file-input").set_input_files(list(paths))


def refuse_a_photo_over(result, tmp_path) -> None:
    """Chooses a photo the gateway refuses while `result` is on the stage: the same result is back."""
    page, url = result.page, result.get_attribute("src")
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    expect(result).to_be_visible()
    expect(result).to_have_attribute("src", url)


def test_a_photo_the_gateway_refuses_gives_the_photo_chosen_before_back(page, tmp_path):
    """The page's checks pass it, the gateway's upload refuses it: the good photo chosen before came off
    the page with it (a file the page refuses itself never replaced it). Now it is back, with its
    previews, and Restyle paints it. The two are the same size: only their pixels tell them apart."""
    good = noisy_png(tmp_path / "good.png", 80, 60, seed=1)
    page.goto("/")
    choose(page, good)
    before = page.get_by_role("img", name="Your photo, before restyling")
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    expect(page.locator("#file-name")).to_contain_text("good.png")
    expect_shown(before, good)
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=30_000)
    expect(page.locator("#download")).to_have_attribute("download", re.compile(r"^good-"))
    expect_shown(before, good)  # under the result too
    page.reload()  # the photo kept for a reload is the good one too
    expect(page.locator("#file-name")).to_contain_text("good.png")


def test_a_photo_comes_back_with_the_result_that_was_on_its_stage(page, tmp_path):
    good = noisy_png(tmp_path / "good.png", 80, 60, seed=1)
    page.goto("/")
    choose(page, good)
    page.get_by_role("button", name="Restyle photo").click()
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_be_visible(timeout=30_000)
    refuse_a_photo_over(after, tmp_path)
    expect(after).to_have_js_property("naturalWidth", 80)
    expect(page.locator("#download")).to_have_attribute("download", re.compile(r"^good-"))
    expect_shown(page.get_by_role("img", name="Your photo, before restyling"), good)
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)


def test_a_batch_chosen_before_a_refused_photo_comes_back(page, tmp_path):
    one, two = noisy_png(tmp_path / "one.png", 80, 60, seed=1), noisy_png(tmp_path / "two.png", 80, 60, seed=2)
    page.goto("/")
    choose(page, one, two)
    expect(page.locator("#file-name")).to_contain_text("2 photos: one.png and 1 more")
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    expect(page.locator("#file-name")).to_contain_text("2 photos: one.png and 1 more")
    expect_shown(page.get_by_role("img", name="Your photo, before restyling"), one)


def test_a_batch_comes_back_with_its_results_over_their_own_photos_and_its_zip(page, tmp_path):
    photos = {name: noisy_png(tmp_path / f"{name}.png", 64, 48, seed=seed) for seed, name in enumerate(["one", "two"])}
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    choose(page, *photos.values())
    page.get_by_role("button", name="Restyle 2 photos").click()
    zip_link = page.get_by_role("link", name="Download ZIP")
    expect(zip_link).to_be_visible(timeout=60_000)
    refuse_a_photo_over(page.get_by_role("img", name="Your photo, restyled"), tmp_path)
    expect(zip_link).to_be_visible()
    before = page.get_by_role("img", name="Your photo, before restyling")
    for name in ("one", "two"):  # each result over its own photo, as before the refused one was chosen
        listed = page.locator("#results-list > li").filter(has=page.locator(f"a[download='{name}-harbour-blue.png']"))
        listed.get_by_role("button", name="Show").click()
        expect(page.locator("#download")).to_have_attribute("download", f"{name}-harbour-blue.png")
        expect_shown(before, photos[name])


def test_a_clip_chosen_before_a_photo_the_gateway_refuses_comes_back(page, clip, tmp_path):
    page.goto("/")
    choose(page, clip)
    video = page.locator("video[aria-label='Your clip, before restyling']")
    expect(video).to_be_visible()
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_contain_text(REFUSED)
    expect(video).to_be_visible()
    expect(video).to_have_js_property("videoWidth", 160)  # still playable: its object URL was kept
    expect(page.locator("#file-name")).to_contain_text("harbour-walk.mp4")
    page.get_by_role("button", name="Restyle clip").click()
    expect(page.get_by_role("link", name="Download MP4")).to_be_visible(timeout=60_000)


def test_a_clip_comes_back_with_its_restyled_clip(page, clip, tmp_path):
    page.goto("/")
    choose(page, clip)
    page.get_by_role("button", name="Restyle clip").click()
    download = page.get_by_role("link", name="Download MP4")
    expect(download).to_be_visible(timeout=60_000)
    restyled = page.locator("video[aria-label='Your clip, restyled']")
    refuse_a_photo_over(restyled, tmp_path)
    expect(download).to_be_visible()
    expect(restyled).to_have_js_property("readyState", 4)  # loads again: its object URL was kept
    page.get_by_role("button", name="Play both").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()


def test_a_photo_refused_while_another_uploads_gives_back_the_one_before_both(page, tmp_path):
    """A third file chosen while the second was still uploading: the gateway refused it, and the first
    photo, uploaded long before, was gone too. The second's late answer changes nothing."""
    first = noisy_png(tmp_path / "first.png", 80, 60, seed=1)
    second = noisy_png(tmp_path / "second.png", 80, 60, seed=2)
    held: list = []
    uploads: list = []

    def hold_the_second(route):
        uploads.append(route)
        if len(uploads) == 2:
            return held.append(route)
        route.continue_()

    page.route("**/api/photos", hold_the_second)
    page.goto("/")
    choose(page, first)
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)
    choose(page, second)
    for _ in range(200):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the second photo's upload was not held"
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    before = page.get_by_role("img", name="Your photo, before restyling")
    expect(page.locator("#file-name")).to_contain_text("first.png")
    expect_shown(before, first)
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)
    with page.expect_response("**/api/photos"):
        held[0].continue_()
    page.wait_for_timeout(300)  # its answer is read after the response arrives
    expect(page.locator("#file-name")).to_contain_text("first.png")
    expect_shown(before, first)
    page.reload()  # the photo kept for a reload is the first too
    expect(page.locator("#file-name")).to_contain_text("first.png")


def test_a_refused_file_can_be_chosen_again(page, tmp_path):
    """The browser reports a choice only when it changes: the input must not keep a file the page did
    not take, or choosing it again (to try once more) would do nothing."""
    page.goto("/")
    choose(page, noisy_png(tmp_path / "good.png", 80, 60, seed=1))
    expect(page.locator(".preview-card").first).to_be_visible(timeout=15_000)
    choose(page, refused_png(tmp_path))  # refused by the gateway: the good photo comes back
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    expect(page.locator("#file-input")).to_have_value("")
    (tmp_path / "cut.png").write_bytes((tmp_path / "good.png").read_bytes()[:400])
    choose(page, tmp_path / "cut.png")  # refused by the page's own checks
    expect(page.get_by_role("alert")).to_contain_text("cut.png: That PNG image is cut short")
    expect(page.locator("#file-input")).to_have_value("")


# The gateway's answer while the inference servers are starting (bff: 503, "unavailable").
STARTING = '{"error": "unavailable", "message": "The style servers are starting."}'


@pytest.mark.serial  # serial pass of `make test`: counts the page's asks in a 7 s window
def test_previews_asked_again_after_a_put_back_follow_one_retry_chain(page, tmp_path):
    """While the servers start, the page asks for the previews every few seconds; a photo put back asked
    again beside the asks already going, and both went on, each every few seconds."""
    asked: list[float] = []

    def starting(route):
        asked.append(time.monotonic())
        route.fulfill(status=503, content_type="application/json", body=STARTING)

    page.route("**/api/photos/*/previews", starting)
    page.goto("/")
    choose(page, noisy_png(tmp_path / "good.png", 80, 60, seed=1))
    expect(page.locator("#previews-status")).to_contain_text("Trying again")
    page.wait_for_timeout(1500)  # halfway to its next ask
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    page.wait_for_timeout(7000)  # two more asks of one chain; four of two
    since_put_back = asked[1:]
    gaps = np.diff(since_put_back)
    assert len(since_put_back) >= 3 and gaps.min() > 2.5, [round(t - asked[0], 1) for t in asked]


def test_an_example_photo_given_back_is_marked_as_the_photo_again(page, tmp_path):
    """Its button said it was the photo, then nothing once it came back after a refused photo."""
    page.goto("/")
    coffee = page.get_by_role("button", name="Coffee")
    with page.expect_response(lambda answer: answer.url.endswith("/api/photos") and answer.status == 201):
        coffee.click()
    expect(page.locator("#file-name")).to_contain_text("coffee.jpg")
    expect(coffee).to_have_attribute("aria-pressed", "true")
    choose(page, refused_png(tmp_path))
    expect(page.get_by_role("alert")).to_have_text(REFUSED)
    expect(page.locator("#file-name")).to_contain_text("coffee.jpg")
    expect(coffee).to_have_attribute("aria-pressed", "true")
