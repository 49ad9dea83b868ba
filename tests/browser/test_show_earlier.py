"""Showing a result of another photo than the page's: the photo on the stage becomes the page's photo
again, so that the name line, the previews and Restyle are all about it. Before, the stage showed the
earlier photo while the name line paired the page's file name with the earlier photo's size, the
previews stayed the page photo's, and Restyle made a result of the page's photo; after a batch was
reloaded, Restyle said "Choose a photo first" under a photo on the stage."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data as skdata

from tests.browser.conftest import STAGE_DOWNLOAD
from tests.browser.test_batch_page import photos, restyle_three  # noqa: F401  (photos is a fixture)

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000


def restyle_in(page, style: str) -> None:
    listed = page.locator("#results-list > li").count()
    page.get_by_role("radio", name=style).check()
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(listed + 1, timeout=JOB_WAIT_MS)


def test_showing_an_earlier_photos_result_makes_it_the_page_photo_again(page, photo, tmp_path):
    cat = tmp_path / "chelsea.jpg"
    Image.fromarray(skdata.chelsea()).save(cat, "JPEG", quality=90)  # 451 x 300
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    restyle_in(page, "Moss")
    page.locator("#file-input").set_input_files(cat)
    restyle_in(page, "Moss")
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^chelsea\.jpg · 451 × 300"))

    page.locator("#results-list > li").nth(1).get_by_role("button", name="Show").click()  # the astronaut's
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^astronaut\.jpg · 512 × 512"))
    before = page.get_by_role("img", name="Your photo, before restyling")
    expect(before).to_have_attribute("src", re.compile(r"/api/photos/[^/]+/image$"))
    astronaut_id = before.get_attribute("src").split("/")[-2]
    assert page.request.get(before.get_attribute("src")).body() == photo.read_bytes()
    # The previews are the astronaut's again.
    expect(page.locator(".preview-card img").first).to_have_attribute(
        "src", f"/api/photos/{astronaut_id}/thumbnail.jpg")
    restyle_in(page, "Amber dusk")
    download = page.get_by_role("link", name=STAGE_DOWNLOAD)
    expect(download).to_have_attribute("download", re.compile(r"^astronaut-"))
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^astronaut\.jpg · 512 × 512"))
    # One photo brought back is still that photo, not a second one of its name.
    expect(page.locator(".result-item").filter(has_text="astronaut.jpg")).to_have_count(2)
    expect(page.locator(".result-item").filter(has_text="(2)")).to_have_count(0)

    page.reload()  # the visit keeps the photo brought back
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^astronaut\.jpg · 512 × 512"))


def test_a_reloaded_batchs_result_shown_is_the_photo_restyle_works_on(page, photos):  # noqa: F811
    restyle_three(page, photos)
    page.reload()
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" and r.url.endswith("/api/photos")
            else None)
    first = page.locator("#results-list > li").filter(has_text=photos[1].name)
    first.get_by_role("button", name="Show").click()
    expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(photos[1].name)} · 256 × 192"))
    assert uploads == []  # showing costs none of the person's photo allowance; Restyle sends the photo
    restyle_in(page, "Moss")
    expect(page.locator("#error")).to_be_hidden()
    download = page.get_by_role("link", name=STAGE_DOWNLOAD)
    expect(download).to_have_attribute("download", re.compile(rf"^{re.escape(photos[1].stem)}-"))
    # Shown again, the batch's photos are not uploaded: one by the gateway's copy, the restyled one by its id.
    page.locator("#results-list > li").filter(has_text=photos[2].name).get_by_role("button", name="Show").click()
    expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(photos[2].name)} "))
    page.locator("#results-list > li").filter(has_text="Harbour blue").filter(has_text=photos[1].name) \
        .get_by_role("button", name="Show").click()
    expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(photos[1].name)} · 256 × 192"))
    assert len(uploads) == 1, uploads  # the restyled copy, brought back by its id
    expect(page.locator(".result-item").filter(has_text="(2)")).to_have_count(0)


def test_showing_an_older_result_keeps_the_batch_on_the_page_and_its_zip(page, photo, photos):  # noqa: F811
    """Showing a single photo's result while a batch is on the page threw the batch and its zip away."""
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    restyle_in(page, "Amber dusk")
    page.locator("#file-input").set_input_files(photos)
    page.get_by_role("radio", name="Moss").check()
    page.get_by_role("button", name="Restyle 3 photos").click()
    expect(page.locator("#batch-meta")).to_have_text("3 of 3 photos restyled", timeout=JOB_WAIT_MS)
    page.locator("#results-list > li").filter(has_text="Amber dusk").get_by_role("button", name="Show").click()
    expect(page.locator("#result-meta")).to_contain_text("Amber dusk")
    expect(page.get_by_role("link", name="Download ZIP")).to_be_visible()
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^3 photos: "))
    expect(page.get_by_role("button", name="Restyle 3 photos")).to_be_visible()
