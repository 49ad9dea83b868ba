"""The issue's promise: a 12-megapixel photo is restyled in the browser, with progress to the end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD, open_page, stack

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def default_tiles_url(gallery):
    """The gallery stack with the server's own default tile size, as `make run` has it."""
    with stack(gallery) as url:
        yield url


@pytest.fixture
def page(browser, request, default_tiles_url):
    yield from open_page(browser, request, default_tiles_url, viewport={"width": 1280, "height": 860})


def test_a_12_megapixel_photo_is_restyled_to_the_end(page, big_photo):
    page.goto("/")
    page.get_by_role("radio", name="Moss").check()
    page.locator("#file-input").set_input_files(big_photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=120_000)
    assert page.locator("#progress").evaluate("p => p.value === p.max && p.max > 1")
    expect(page.get_by_role("img", name="Your photo, restyled")).to_have_js_property("naturalWidth", 4000)
