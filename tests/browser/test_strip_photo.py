"""A photo of an extreme shape the gateway accepts (up to 1000:1) is seen on the stage, with its result
over it and the divider across it: drawn at least 3rem (48 px) thick, stretched where it must be."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD
from tests.browser.test_page_checks import png_file

pytestmark = pytest.mark.browser
THICK_PX = 47.5


@pytest.mark.parametrize("width, height", [(8000, 10), (1, 900)])
def test_a_strip_and_its_result_are_drawn_thick_enough_to_see_and_compare(page, tmp_path, width, height):
    page.goto("/")
    page.get_by_role("radio", name="Moss").check()
    page.locator("#file-input").set_input_files(png_file(tmp_path / "strip.png", width, height, noisy=True))
    before = page.get_by_role("img", name="Your photo, before restyling")
    expect(before).to_have_js_property("naturalWidth", width)
    drawn = before.bounding_box()
    assert min(drawn["width"], drawn["height"]) >= THICK_PX, drawn
    # Drawn thicker than its shape, and said so, as a tiny image is said to be enlarged.
    expect(page.locator("#file-name")).to_have_text(f"strip.png · {width} × {height} px · shown stretched")
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=60_000)
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_have_js_property("naturalWidth", width)
    # Read at one moment: the page may still scroll the stage into view.
    boxes = page.evaluate("""() => ['before-img', 'after-img', 'compare-range'].map((id) => {
      const { width, height } = document.getElementById(id).getBoundingClientRect();
      return [width, height];
    })""")
    assert boxes[0] == boxes[1] == boxes[2] and min(boxes[0]) >= THICK_PX, boxes


@pytest.mark.parametrize("width, height", [(8000, 10), (1, 900)])
def test_two_results_of_a_strip_side_by_side_are_thick_enough_and_within_the_window(page, tmp_path, width, height):
    """Side by side, each result lay over its photo at the column's width with the height that gave:
    0.3 px for 8000x10, and for 1x900 some 200,000 px tall."""
    page.goto("/")
    page.locator("#file-input").set_input_files(png_file(tmp_path / "strip.png", width, height, noisy=True))
    restyle = page.get_by_role("button", name="Restyle photo")
    listed = page.locator("#results-list > li")
    for count, style in enumerate(("Moss", "Harbour blue"), start=1):
        page.get_by_role("radio", name=style).check()
        expect(restyle).to_be_enabled()
        restyle.click()
        expect(listed).to_have_count(count, timeout=60_000)
    for item in range(2):
        listed.nth(item).get_by_role("checkbox").check()
    expect(page.locator("#pair-side")).to_be_visible()
    expect(page.locator("#pair-a")).to_have_js_property("complete", True)
    boxes = page.evaluate("""() => ['pair-a-photo', 'pair-a', 'pair-b-photo', 'pair-b'].map((id) => {
      const { width, height } = document.getElementById(id).getBoundingClientRect();
      return [width, height];
    })""")
    limit = 0.68 * page.evaluate("innerHeight") + 1
    assert boxes[0] == boxes[1] and boxes[2] == boxes[3], boxes
    assert all(min(box) >= THICK_PX and box[1] <= limit for box in boxes), boxes


def test_a_photo_of_an_ordinary_shape_is_not_said_to_be_stretched(page, tmp_path):
    page.goto("/")
    page.locator("#file-input").set_input_files(png_file(tmp_path / "wide.png", 1200, 300, noisy=True))
    expect(page.get_by_role("img", name="Your photo, before restyling")).to_have_js_property("naturalWidth", 1200)
    expect(page.locator("#file-name")).to_have_text("wide.png · 1200 × 300 px")


def test_a_tiny_strip_is_said_to_be_enlarged_and_stretched(page, tmp_path):
    """A 1x200 image is enlarged (it is tiny) and drawn 3rem wide (16 times out of its shape): the line
    said only "shown enlarged"."""
    page.goto("/")
    page.locator("#file-input").set_input_files(png_file(tmp_path / "thin.png", 1, 200))
    expect(page.get_by_role("img", name="Your photo, before restyling")).to_have_js_property("naturalWidth", 1)
    expect(page.locator("#file-name")).to_have_text("thin.png · 1 × 200 px · shown enlarged and stretched")
