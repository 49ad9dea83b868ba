"""The pair of results under "Your results", at desktop and phone size: in the slider the two tags never
print over each other, however long what they say; side by side the two pictures are one size. Before,
two long descriptions printed on top of each other, and two results of different pixel sizes were shown
each at its own size. Screenshots in test-artifacts/ (pair-*.png) are for a look by eye."""

from __future__ import annotations

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data as skdata

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000


def restyle(page, path) -> None:
    listed = page.locator("#results-list > li").count()
    page.locator("#file-input").set_input_files(path)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(listed + 1, timeout=JOB_WAIT_MS)


def box(locator) -> dict:
    return locator.evaluate("el => { const r = el.getBoundingClientRect(); "
                            "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, "
                            "width: r.width, height: r.height}; }")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_pair_of_results_lays_out_long_tags_and_equal_pictures(request, size, tmp_path, photo):
    page = request.getfixturevalue("page" if size == "desktop" else "phone_page")
    first = tmp_path / "our-summer-holiday-on-the-lake-with-the-whole-family-2026.jpg"
    first.write_bytes(photo.read_bytes())  # 512 x 512
    second = tmp_path / "the-cat-asleep-on-the-sofa-after-a-very-long-afternoon-outside.jpg"
    Image.fromarray(skdata.chelsea()).save(second, "JPEG", quality=90)  # 451 x 300
    page.goto("/")
    page.get_by_role("radio", name="Moss").check()
    restyle(page, first)
    restyle(page, second)
    for box_ in page.locator("#results-list input[data-pick]").all():
        box_.check()
    side = page.locator("#pair-side")
    expect(side).to_be_visible()
    pictures = [page.locator("#pair-a-photo"), page.locator("#pair-b-photo")]
    page.wait_for_function("() => [...document.querySelectorAll('#pair-side img')].every(i => i.complete)")
    side.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    side.screenshot(path=str(ARTIFACTS / f"pair-side-{size}.png"))
    a, b = (box(p) for p in pictures)
    assert abs(a["width"] - b["width"]) <= 1, (a, b)  # one size: each as wide as its column
    for key in "ab":  # the result lies exactly over its photo
        assert box(page.locator(f"#pair-{key}")) == box(page.locator(f"#pair-{key}-photo"))

    page.get_by_label("Slider").check()
    slider = page.locator("#pair-slider")
    expect(slider).to_be_visible()
    slider.scroll_into_view_if_needed()
    slider.screenshot(path=str(ARTIFACTS / f"pair-slider-{size}.png"))
    tag_a, tag_b = box(page.locator("#pair-tag-a")), box(page.locator("#pair-tag-b"))
    frame = box(slider)
    assert tag_a["right"] < tag_b["left"], (tag_a, tag_b)  # side by side, not over each other
    for tag in (tag_a, tag_b):
        assert frame["left"] <= tag["left"] and tag["right"] <= frame["right"], (tag, frame)
