"""Several photos at once on the page: they go up as one batch and come back as one zip, with the
progress counted in photos; picking them works with the keyboard as for one photo."""

from __future__ import annotations

import re
import zipfile

import pytest
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def photos(photo, tmp_path):
    """Three photos: the astronaut and two crops of it."""
    paths = [photo]
    with Image.open(photo) as image:
        for index, box in enumerate(((0, 0, 256, 192), (100, 100, 420, 340))):
            path = tmp_path / f"crop{index}.png"
            image.crop(box).save(path)
            paths.append(path)
    return paths


def test_several_photos_come_back_as_one_zip(page, photos, tmp_path):
    page.on("filechooser", lambda chooser: None)  # see test_everything_works_with_the_keyboard_alone
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").focus()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    assert chooser.value.is_multiple()
    chooser.value.set_files(photos)
    expect(page.locator("#file-name")).to_contain_text("3 photos: astronaut.jpg and 2 more")
    page.locator("#submit").focus()
    page.keyboard.press("Enter")
    download_link = page.get_by_role("link", name="Download ZIP")
    expect(download_link).to_be_visible(timeout=60_000)
    expect(page.locator("#batch-meta")).to_have_text("3 of 3 photos restyled")
    expect(page.locator("#announcer")).to_contain_text("Your photos are restyled")
    download_link.focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    saved = tmp_path / "batch.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == ["astronaut-harbour-blue.jpg", "crop0-harbour-blue.png",
                                              "crop1-harbour-blue.png"]
    assert page.console_problems == []


def test_each_photo_of_a_batch_is_listed_and_shown_as_it_is_restyled(page, photos):
    """A user restyled three photos at once: the stage kept the first photo's original, nothing was listed
    under "Your results", and the label gave the first photo's size as if it were the selection's."""
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photos)
    expect(page.locator("#file-name")).to_have_text("3 photos: astronaut.jpg and 2 more")  # no one photo's size
    page.get_by_role("button", name="Restyle 3 photos").click()
    expect(page.locator("#batch-meta")).to_have_text("3 of 3 photos restyled", timeout=60_000)
    listed = page.locator("#results-list > li")
    expect(listed).to_have_count(3)
    expect(listed.first).to_contain_text("Harbour blue · strength 100%")
    for index in range(3):
        expect(listed.nth(index).locator("img")).to_have_attribute("src", re.compile(r"^data:image/jpeg"))
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_be_visible()  # a result on the stage, over its own photo
    before = page.get_by_role("img", name="Your photo, before restyling")
    assert after.evaluate("el => [el.naturalWidth, el.naturalHeight]") == \
        before.evaluate("el => [el.naturalWidth, el.naturalHeight]")
    expect(page.locator("#download")).to_have_text(re.compile(r"^Download (JPG|PNG)$"))  # the shown one
    expect(page.get_by_role("link", name="Download ZIP")).to_be_visible()

    sizes = {(256, 192), (320, 240), (512, 512)}
    shown = set()
    for index in range(3):
        listed.nth(index).get_by_role("button", name="Show").click()
        expect(after).to_have_attribute("src", re.compile("^blob:"))
        page.wait_for_function("() => document.getElementById('after-img').complete")
        shown.add(tuple(after.evaluate("el => [el.naturalWidth, el.naturalHeight]")))
    assert shown == sizes
    assert page.console_problems == []
