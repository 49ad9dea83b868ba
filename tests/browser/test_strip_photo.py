"""A photo of an extreme shape the gateway accepts (up to 1000:1) is seen on the stage, with its result
over it and the divider across it: drawn at least 3rem (48 px) thick, stretched where it must be."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

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
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name="Download")).to_be_visible(timeout=60_000)
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_have_js_property("naturalWidth", width)
    # Read at one moment: the page may still scroll the stage into view.
    boxes = page.evaluate("""() => ['before-img', 'after-img', 'compare-range'].map((id) => {
      const { width, height } = document.getElementById(id).getBoundingClientRect();
      return [width, height];
    })""")
    assert boxes[0] == boxes[1] == boxes[2] and min(boxes[0]) >= THICK_PX, boxes
