"""A video clip on the page, in headless Chromium on the real stack: chosen like a photo, restyled with
progress in frames, played over the original with the before/after divider, both in step, downloaded."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tessera.video_io import open_clip
from tests.browser.conftest import CLIP_FRAMES as FRAMES

pytestmark = pytest.mark.browser


def test_a_clip_is_restyled_played_beside_the_original_and_downloaded(page, clip, tmp_path):
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(clip)
    before = page.locator("video[aria-label='Your clip, before restyling']")
    expect(before).to_be_visible()
    expect(page.locator("#before-img")).to_be_hidden()
    # A clip is painted at full size: the brush scale, which it would not use, is off and says why.
    expect(page.get_by_label("Brush scale")).to_be_disabled()
    expect(page.locator("#scale-hint")).to_have_text(
        "A clip is painted at full size, frame by frame: the brush scale is for photos.")
    page.get_by_role("button", name="Restyle clip").click()
    expect(page.get_by_role("link", name="Download MP4")).to_be_visible(timeout=60_000)
    expect(page.locator("#progress-label")).to_have_text(f"Restyled all {FRAMES} frames")
    after = page.locator("video[aria-label='Your clip, restyled']")
    expect(after).to_be_visible()
    expect(after).to_have_js_property("videoWidth", 160)
    expect(page.locator("#after-img")).to_be_hidden()

    page.get_by_role("button", name="Play both").click()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.wait_for_function("() => document.querySelectorAll('#compare video')[1].currentTime > 0.3")
    drift = page.evaluate("""() => {
        const [before, after] = document.querySelectorAll('#compare video');
        return Math.abs(before.currentTime - after.currentTime);
    }""")
    assert drift < 0.3
    page.get_by_role("button", name="Pause").click()

    divider = page.get_by_role("slider", name="Compare")
    divider.fill("30")
    assert page.locator("#compare").evaluate("el => el.style.getPropertyValue('--pos')") == "30%"
    page.screenshot(path=str(tmp_path / "clip.png"))

    with page.expect_download() as download:
        page.get_by_role("link", name="Download MP4").click()
    assert download.value.suggested_filename == "harbour-walk-harbour-blue.mp4"
    saved = tmp_path / "saved.mp4"
    download.value.save_as(saved)
    result = open_clip(saved.read_bytes())
    assert (result.info.width, result.info.height, result.info.audio_codec) == (160, 96, "aac")
    assert sum(kind == "video" for kind, *_ in result.items()) == FRAMES
    assert page.console_problems == []  # among others: no CSP violation for the blob: videos


def test_a_photo_after_a_clip_is_shown_as_a_photo_again(page, clip, photo):
    page.goto("/")
    page.locator("#file-input").set_input_files(clip)
    expect(page.locator("video[aria-label='Your clip, before restyling']")).to_be_visible()
    page.locator("#file-input").set_input_files(photo)
    expect(page.get_by_role("img", name="Your photo, before restyling")).to_be_visible()
    expect(page.get_by_role("button", name="Restyle photo")).to_be_visible()
    expect(page.get_by_label("Brush scale")).to_be_enabled()
    expect(page.locator("#scale-hint")).to_contain_text("The size of the painted strokes")
    expect(page.locator("#compare video")).to_have_count(2)
    expect(page.locator("#compare video").first).to_be_hidden()


def test_a_clip_longer_than_the_gateway_takes_is_refused_before_upload(page, clip):
    """The page reads a playable clip's duration from the browser and refuses one over the gateway's
    published limit, with both figures, before sending anything (here a limit of 0.5 s: the clip
    lasts 1 s)."""
    def lowered(route):
        limits = route.fetch().json()
        route.fulfill(json={**limits, "clips": {**limits["clips"], "max_seconds": 0.5}})

    page.route("**/api/limits", lowered)
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    page.goto("/")
    page.locator("#file-input").set_input_files(clip)
    expect(page.get_by_role("alert")).to_have_text("The clip lasts 1.0 s; the limit is 0.5 s.")
    expect(page.locator("video[aria-label='Your clip, before restyling']")).to_be_hidden()
    assert uploads == []
