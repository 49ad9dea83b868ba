"""A GIF or animated WebP of one frame on the page, in headless Chromium on the real stack: the same
decision as the gateway's (tessera/video_sniff.py). A one-frame GIF is refused when chosen with what to
do instead, a one-frame WebP animation is a photo (uploaded, previewed), two frames make a clip."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tessera.video_sniff import STILL_GIF
from tests.bff.pictures import animation

ONE_FRAME_GIF, TWO_FRAME_GIF, ONE_FRAME_WEBP = animation("GIF", 1), animation("GIF", 2), animation("WEBP", 1)

pytestmark = pytest.mark.browser
CLIP = re.compile(r"\bis-clip\b")


def _posts(page) -> list[str]:
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    return posts


def test_a_one_frame_gif_is_refused_when_chosen_with_what_to_do(page, tmp_path):
    (tmp_path / "static.gif").write_bytes(ONE_FRAME_GIF)
    posts = _posts(page)
    page.goto("/")
    page.locator("#file-input").set_input_files(tmp_path / "static.gif")
    expect(page.get_by_role("alert")).to_have_text(STILL_GIF)  # the gateway's own sentence, word for word
    expect(page.locator("#compare")).to_be_hidden()
    assert posts == []


def test_a_one_frame_webp_animation_is_taken_as_a_photo(page, tmp_path):
    (tmp_path / "still.webp").write_bytes(ONE_FRAME_WEBP)
    page.goto("/")
    with page.expect_response("**/api/photos") as uploaded:
        page.locator("#file-input").set_input_files(tmp_path / "still.webp")
    assert uploaded.value.status == 201
    expect(page.locator("#file-name")).to_contain_text("still.webp · 96 × 64 px")
    expect(page.locator("#compare")).to_be_visible()
    expect(page.locator("#compare")).not_to_have_class(CLIP)


def test_a_two_frame_gif_is_taken_as_a_clip(page, tmp_path):
    (tmp_path / "moving.gif").write_bytes(TWO_FRAME_GIF)
    posts = _posts(page)
    page.goto("/")
    page.locator("#file-input").set_input_files(tmp_path / "moving.gif")
    expect(page.locator("#compare")).to_have_class(CLIP)
    expect(page.locator("#file-name")).to_contain_text("moving.gif")
    expect(page.locator("#file-error")).to_be_hidden()
    assert posts == []  # a clip is uploaded by its job, not kept as a photo


def test_the_page_keeps_of_a_clip_the_kind_its_bytes_tell_not_the_bytes(page):
    """A GIF, WebP or PNG is read whole to count its frames; the page kept those bytes for as long as
    the clip was chosen, where the kind they tell is all it needs to show the clip again."""
    page.goto("/")
    kept = page.evaluate("""async (bytes) => {
        const { sortFiles } = await import("./photo_choice.js");
        const file = new File([new Uint8Array(bytes)], "moving.gif", { type: "image/gif" });
        const { clip } = await sortFiles([file], null, async () => null);
        return { kind: clip.kind, bytes: Object.values(clip).filter((v) => v instanceof Uint8Array).length };
    }""", list(TWO_FRAME_GIF))
    assert kept == {"kind": "gif", "bytes": 0}
