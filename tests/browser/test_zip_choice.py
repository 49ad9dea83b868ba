"""A .zip chosen or dropped as a photo: the page says what to do with it. Before, it said only "That
file is not a PNG, JPEG or WebP image.", while the drop hint says several photos come back as one zip."""

from __future__ import annotations

import zipfile

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
ADVICE = "That file is a zip archive, not a photo: unzip it, then choose the photos in it"


@pytest.fixture
def archive(photo, tmp_path):
    path = tmp_path / "holiday.zip"
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.write(photo, "astronaut.jpg")
    return path


def test_a_zip_chosen_says_to_unzip_it(page, archive):
    page.goto("/")
    page.locator("#file-input").set_input_files(archive)
    expect(page.locator("#file-error")).to_have_text(
        "That file is a zip archive, not a photo: unzip it, then choose the photos in it "
        "(several at once are restyled together).")


def test_a_zip_chosen_with_photos_is_named_and_the_photos_are_taken(page, archive, photo):
    page.goto("/")
    page.locator("#file-input").set_input_files([photo, archive])
    expect(page.locator("#file-error")).to_contain_text(f"holiday.zip: {ADVICE}")
    expect(page.locator("#file-name")).to_have_text(f"{photo.name} · 512 × 512 px")
