"""What a result downloads as, and what its link in "Your results" says, in Chromium on the real stack:
each file is named for what made it (photo, style, look, strength, brush, kept colours), the same on the
stage and in the list, so two different files never share one name (a designer's trial: Mosaic and
Retina both came as coffee-any-painting.png)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD, restyle_first

pytestmark = pytest.mark.browser
# Any painting's full-size result is a server job of a real model: on a loaded 2-core machine it is slow.
JOB_WAIT_MS = 120_000
UNTIL = r"until \d\d:\d\d\b"  # 24-hour or "03:53 AM", as the browser's locale has it


def restyle(page, listed: int) -> None:
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(listed, timeout=JOB_WAIT_MS)


def list_names(page) -> list[str]:
    """The download names of the listed results' links, newest first."""
    return page.locator("#results-list a[download]").evaluate_all("links => links.map((a) => a.download)")


def test_results_of_other_looks_strengths_or_paintings_download_under_names_of_their_own(ppage, photo, own_painting):
    page = ppage
    page.goto("/")
    page.get_by_role("radio", name="Mosaic").check()
    page.locator("#file-input").set_input_files(photo)
    restyle(page, 1)
    download = page.locator("#download")
    expect(download).to_have_attribute("download", "astronaut-any-painting-mosaic.jpg")

    page.get_by_role("radio", name="Retina").check()
    page.get_by_role("slider", name="Strength", exact=True).fill("70")  # in the style code: the server's file
    restyle(page, 2)
    expect(download).to_have_attribute("download", "astronaut-any-painting-retina-strength-70.jpg")

    page.locator("#painting-input").set_input_files(own_painting)
    page.get_by_label("Mix with").select_option(label="Marbling")
    page.get_by_role("slider", name="Share of the second style").fill("40")
    page.get_by_role("switch", name="Keep my photo's colours").check()
    restyle(page, 3)
    mixed = "astronaut-any-painting-painting-with-marbling-40-strength-70-own-colours.jpg"
    expect(download).to_have_attribute("download", mixed)
    with page.expect_download() as saved:
        page.get_by_role("link", name=STAGE_DOWNLOAD).click()
    assert saved.value.suggested_filename == mixed
    assert list_names(page) == [mixed, "astronaut-any-painting-retina-strength-70.jpg",
                                "astronaut-any-painting-mosaic.jpg"]

    page.get_by_role("button", name="Show Any painting: Mosaic · ").click()  # the stage names it as the list
    expect(download).to_have_attribute("download", "astronaut-any-painting-mosaic.jpg")
    assert page.console_problems == []


def test_results_that_differ_in_kept_colours_or_brush_download_under_names_of_their_own(page, photo):
    """Three results of one pixel-mix style at 100%, then shown at 40%, one with the photo's colours:
    the list's links all said astronaut-moss.jpg, and the stage named both 40% mixes alike."""
    restyle_first(page, photo, "Moss")
    download = page.locator("#download")
    expect(download).to_have_attribute("download", "astronaut-moss.jpg")
    page.get_by_role("slider", name="Strength", exact=True).fill("40")  # mixed in the page
    expect(download).to_have_attribute("download", "astronaut-moss-strength-40.jpg")

    page.get_by_role("switch", name="Keep my photo's colours").check()
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(2, timeout=60_000)
    expect(download).to_have_attribute("download", "astronaut-moss-strength-40-own-colours.jpg")

    page.get_by_label("Brush scale").select_option(label="Finest: painted at full size")
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(3, timeout=60_000)
    expect(download).to_have_attribute("download", "astronaut-moss-strength-40-brush-finest-own-colours.jpg")
    # The list's links are the server's files, at the strength they were made at (full), and say so.
    assert list_names(page) == ["astronaut-moss-brush-finest-own-colours.jpg", "astronaut-moss-own-colours.jpg",
                                "astronaut-moss.jpg"]
    newest = page.locator("#results-list > li").first
    expect(newest.get_by_role("link")).to_have_text(re.compile(rf"^Download \(full strength\) {UNTIL}"))
    assert page.console_problems == []


def test_the_list_says_a_link_is_a_download_until_when_and_the_brush_as_its_control_does(page, photo):
    """The list said "Link until 03:53 AM" of what is a download that expires, and "brush 1×" of a
    result made with the control's "Finest: painted at full size"."""
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.get_by_label("Brush scale").select_option(label="Finest: painted at full size")
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    item = page.locator("#results-list > li")
    expect(item).to_have_count(1, timeout=60_000)
    expect(item.locator(".result-item__text")).to_contain_text("Harbour blue · strength 100% · brush: Finest · ")
    expect(page.locator("#result-meta")).to_contain_text("strength 100% · brush: Finest · ")
    link = item.get_by_role("link")
    expect(link).to_have_text(re.compile(rf"^Download {UNTIL}"))
    expect(link).to_have_accessible_name(re.compile(rf"^Download the file of Harbour blue · .* {UNTIL}"))
    page.get_by_label("Brush scale").select_option(label="Strokes 2× larger")
    expect(page.locator("#stale")).to_have_text("Out of date: this result was made with strength 100% and "
                                                "brush: Finest. Restyle to apply brush: Strokes 2× larger.")
    assert page.console_problems == []
