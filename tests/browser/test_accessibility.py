"""axe-core finds no accessibility violation on the page, before and after a restyle, light and dark."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD, open_page

pytestmark = pytest.mark.browser
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright",
                                     reason="axe-playwright-python is not installed")


@pytest.fixture(params=["light", "dark"])
def themed_page(request, browser, gateway_url):
    yield from open_page(browser, request, gateway_url, color_scheme=request.param,
                         viewport={"width": 1280, "height": 860})


def assert_no_violations(page) -> None:
    results = axe_playwright.Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_no_violations_before_and_after_a_restyle(themed_page, photo):
    page = themed_page
    page.goto("/")
    expect(page.get_by_role("radio").first).to_be_checked()
    assert_no_violations(page)
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()
    assert_no_violations(page)
