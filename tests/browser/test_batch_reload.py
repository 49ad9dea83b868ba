"""A batch after a reload: the name line names what Restyle works on, and Restyle works on what is
shown. Before, the drop zone said "Choose a photo, drop it here or paste it" over a photo and its
result with "Download ZIP", and Restyle said "Choose a photo first"; a batch reloaded while it ran lost
its "5 photos: …" line; and "Show" on a row listed after the reload left the name line empty."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_batch_page import five_photos, hide_the_batchs_end, hold_results, photos, restyle_three  # noqa: F401

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000


def test_a_reloaded_batch_names_the_photo_shown_and_restyle_works_on_it(page, photos):  # noqa: F811
    restyle_three(page, photos)
    page.reload()
    expect(page.get_by_role("link", name="Download ZIP")).to_be_visible()
    name_line = page.locator("#file-name")
    expect(name_line).to_be_visible()
    expect(name_line).to_have_text(re.compile(r"^(" + "|".join(re.escape(p.name) for p in photos) + r") · "))
    page.get_by_role("radio", name="Moss").check()
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(4, timeout=JOB_WAIT_MS)
    expect(page.locator("#error")).to_be_hidden()


def start_batch(page, paths) -> None:
    """Opens the page and restyles `paths` as one batch in Harbour blue."""
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(paths)
    page.get_by_role("button", name=f"Restyle {len(paths)} photos").click()


def test_a_batch_reloaded_while_it_runs_keeps_its_name_line(page, five_photos):  # noqa: F811
    phase = {"reloading": False, "reloaded": False, "ended": False}
    hold_results(page, let_through=2, holding=lambda: not phase["reloading"])
    hidden = hide_the_batchs_end(page, hiding=lambda: not phase["ended"])
    start_batch(page, five_photos)
    listed = page.locator("#results-list > li")
    expect(listed).to_have_count(2, timeout=JOB_WAIT_MS)

    def leave(dialog) -> None:
        phase["reloading"] = True
        dialog.accept()

    page.on("dialog", leave)
    page.reload()
    phase["reloaded"] = True
    name_line = page.locator("#file-name")
    expect(name_line).to_have_text(f"5 photos: {five_photos[0].name} and 4 more")
    expect(listed).to_have_count(5, timeout=JOB_WAIT_MS)
    for _ in range(1200):
        if hidden:
            break
        page.wait_for_timeout(50)
    expect(name_line).to_have_text(f"5 photos: {five_photos[0].name} and 4 more")  # still running, as it seems
    phase["ended"] = True
    expect(page.get_by_role("link", name="Download ZIP")).to_be_visible(timeout=30_000)
    expect(name_line).not_to_have_text(re.compile(r"^5 photos"))
    # A row listed after the reload names its photo when shown, as one listed before it does.
    for path in five_photos[2:]:
        listed.filter(has_text=path.name).get_by_role("button", name="Show").click()
        expect(name_line).to_have_text(re.compile(rf"^{re.escape(path.name)} · "))
    listed.filter(has_text=five_photos[0].name).get_by_role("button", name="Show").click()
    expect(name_line).to_have_text(re.compile(rf"^{re.escape(five_photos[0].name)} · "))
    expect(page.get_by_role("link", name="Download ZIP")).to_be_visible()
