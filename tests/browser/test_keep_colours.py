"""The keep-colours switch in Chromium, with a fixed style of the gallery: it reaches the server and
the result keeps the photo's chroma."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tessera.colors import to_ycbcr
from tests.browser.conftest import STAGE_DOWNLOAD, restyle_first

pytestmark = pytest.mark.browser

# Records the fields of every form the page sends (Chromium does not report multipart bodies with
# files to the test), as [name, value or file name] pairs in window.sentForms.
RECORD_FORMS_JS = """(() => {
  window.sentForms = [];
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    if (body instanceof FormData) {
      window.sentForms.push([...body.entries()].map(([k, v]) => [k, v instanceof File ? `file:${v.name}` : v]));
    }
    return send.call(this, body);
  };
})();"""


def sent_fields(page, field: str = "style") -> dict[str, str]:
    """The fields of the last form the page sent that has `field`, once one has been sent: the click
    that sends it returns before the page does, and the photo's upload form comes earlier."""
    wanted = f"(window.sentForms || []).filter((f) => f.some(([k]) => k === {field!r}))"
    # An arrow function: Playwright polls a bare expression with eval, which the page's CSP forbids.
    page.wait_for_function(f"() => {wanted}.length > 0")
    return dict(page.evaluate(f"{wanted}.at(-1)"))


def test_keep_colours_switch_sends_the_field_and_the_result_keeps_the_photos_colours(page, photo):
    page.add_init_script(RECORD_FORMS_JS)
    page.goto("/")
    expect(page.locator("#look")).to_be_hidden()  # fixed styles have no painting controls
    page.locator("#file-input").set_input_files(photo)
    switch = page.get_by_role("switch", name="Keep my photo's colours")
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).to_be_checked()
    page.get_by_role("button", name="Restyle photo").click()
    fields = sent_fields(page)
    assert fields["keep_colors"] == "true" and "style_image" not in fields and "preset" not in fields
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name=STAGE_DOWNLOAD).click()
    result = np.asarray(Image.open(download.value.path()).convert("RGB"))
    original = np.asarray(Image.open(photo).convert("RGB"))
    inside = ((result > 2) & (result < 253)).all(axis=-1)
    # The photo and the result are both JPEGs, whose chroma is subsampled and quantized: compare means.
    difference = np.abs(to_ycbcr(result)[inside][:, 1:].mean(0) - to_ycbcr(original)[inside][:, 1:].mean(0))
    assert difference.max() < 2.0, difference
    assert page.console_problems == []


def test_the_switch_marks_a_result_made_the_other_way_out_of_date_and_the_previews_follow_it(page, photo):
    """The switch changed neither the previews (they never asked for kept colours) nor the shown result's
    state: a result made with the style's colours looked current after the switch was turned on."""
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    stale = page.locator("#stale")
    expect(stale).to_be_hidden()
    previews = page.locator("#preview-grid img[data-preview]")
    expect(previews.first).not_to_have_attribute("src", re.compile("keep_colors"))
    switch = page.get_by_role("switch", name="Keep my photo's colours")
    switch.check()
    expect(stale).to_have_text("Out of date: this result was made with strength 100% and brush: Auto. "
                               "Restyle to apply your photo's colours.")
    expect(previews.first).to_have_attribute("src", re.compile(r"[?&]keep_colors=true"))
    switch.uncheck()
    expect(stale).to_be_hidden()
    expect(previews.first).not_to_have_attribute("src", re.compile("keep_colors"))
    switch.check()
    page.get_by_role("button", name="Restyle photo").click()  # made with the colours kept: current again
    expect(page.locator("#results-list > li")).to_have_count(2, timeout=60_000)
    expect(stale).to_be_hidden()
    switch.uncheck()
    expect(stale).to_contain_text("made with strength 100%, keeping your photo's colours, and brush: Auto. "
                                  "Restyle to apply the style's colours.")


def test_a_result_that_kept_the_photos_colours_says_so_wherever_it_is_described(page, photo):
    """Two results of one style, one made with "Keep my photo's colours", read the same in the results
    list, the line under the result and the comparison's captions: only the pictures told them apart."""
    restyle, listed = restyle_first(page, photo)
    page.get_by_role("switch", name="Keep my photo's colours").check()
    restyle.click()
    expect(listed).to_have_count(2, timeout=60_000)
    kept, plain = "Harbour blue (your photo's colours) · strength 100%", "Harbour blue · strength 100%"
    expect(listed.first.locator(".result-item__text")).to_have_text(re.compile(f"^{re.escape(kept)}"))
    expect(listed.last.locator(".result-item__text")).to_have_text(re.compile(f"^{re.escape(plain)}"))
    meta = page.locator("#result-meta")
    expect(meta).to_have_text(re.compile(r"^Harbour blue \(your photo's colours\), version 1 · "))
    page.get_by_role("checkbox", name=f"Compare {kept}").check()
    page.get_by_role("checkbox", name=f"Compare {plain}").check()
    captions = page.locator("#pair-side figcaption").all_inner_texts()
    assert sorted(caption.split(" · ")[0] for caption in captions) == \
        ["Harbour blue", "Harbour blue (your photo's colours)"], captions
    page.get_by_label("Slider").check()
    tags = sorted(page.locator("#pair-slider .compare__tag").all_inner_texts())
    assert tags == ["Harbour blue", "Harbour blue (your photo's colours)"], tags
    listed.last.get_by_role("button", name="Show").click()
    expect(meta).to_have_text(re.compile(r"^Harbour blue, version 1 · "))
    assert page.console_problems == []
