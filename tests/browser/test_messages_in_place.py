"""A message is said where the person acted, and goes once it no longer holds, in Chromium on the real
stack. A designer's trial: a photo chosen while a restyle ran was told to wait under the Restyle button,
off screen, and the words stayed after the restyle had finished."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import STAGE_DOWNLOAD, restyle_first

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000
WAIT = "Please wait until this photo is finished, then choose the next one."
# The browser cannot encode a canvas (out of memory for a large photo, say): the page's mix cannot be made.
CANVAS_FAILS_JS = "HTMLCanvasElement.prototype.toBlob = function (callback) { setTimeout(() => callback(null)); };"
REFUSED = {"error": "refused_by_test", "message": "Refused by the test.", "status": 500}


def held_until_asked(page, pattern: str, method: str = "GET") -> list:
    """Holds the page's first request to `pattern` made with `method` (the others go on); returns the list
    it is held in, once it is made."""
    held: list = []
    page.route(pattern, lambda route: held.append(route) if route.request.method == method and not held
               else route.continue_())
    return held


def wait_for(held: list, page) -> None:
    for _ in range(400):
        if held:
            return
        page.wait_for_timeout(50)
    raise AssertionError("the request was never made")


def restyle_held(page, photo) -> list:
    """Opens the page, restyles `photo` with Harbour blue and holds the job's POST once made; returns the
    list it is held in (continue it to let the restyle go on)."""
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    held = held_until_asked(page, "**/api/jobs", "POST")
    page.get_by_role("button", name="Restyle photo").click()
    wait_for(held, page)
    return held


def test_a_photo_chosen_during_a_restyle_is_told_to_wait_by_the_picker_until_the_restyle_ends(page, photo):
    held = restyle_held(page, photo)

    said = page.locator("#file-error")
    for choose in (lambda: page.get_by_role("button", name="Coffee").click(),
                   lambda: page.locator("#file-input").set_input_files(photo)):
        choose()
        expect(said).to_have_text(WAIT)
        expect(said).to_be_in_viewport()  # by the picker the person just used
        expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#file-name")).to_contain_text("astronaut.jpg")  # the photo being restyled stays

    held[0].continue_()
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    expect(said).to_be_hidden()  # a photo may be chosen now


def test_a_refusal_said_by_the_picker_is_not_taken_for_the_wait_and_stays(page, photo, tmp_path):
    """Only the wait goes when the restyle ends: a refusal of a file chosen since is still news."""
    held = restyle_held(page, photo)
    page.get_by_role("button", name="Coffee").click()
    said = page.locator("#file-error")
    expect(said).to_have_text(WAIT)
    held[0].continue_()
    expect(said).to_be_hidden(timeout=JOB_WAIT_MS)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.locator("#file-input").set_input_files(notes)
    expect(said).to_contain_text("notes.txt")
    page.get_by_role("button", name="Restyle photo").click()  # the photo restyled again, the refusal still there
    expect(page.locator("#results-list > li")).to_have_count(2, timeout=JOB_WAIT_MS)
    expect(said).to_contain_text("notes.txt")


def test_a_download_the_page_cannot_make_is_said_by_the_download_button_until_the_strength_moves(page, photo):
    page.add_init_script(CANVAS_FAILS_JS)
    restyle_first(page, photo, "Moss")
    page.get_by_role("slider", name="Strength", exact=True).fill("40")  # mixed in the page, on a canvas
    page.get_by_role("link", name=STAGE_DOWNLOAD).click()
    said = page.locator("#stage-error")
    expect(said).to_have_text("The browser could not make the file at this strength. Please restyle at this strength.")
    expect(said).to_be_in_viewport()
    expect(page.locator("#error")).to_be_hidden()
    page.get_by_role("slider", name="Strength", exact=True).fill("50")
    expect(said).to_be_hidden()


def test_a_cancel_the_gateway_refuses_is_said_by_the_stage_until_the_restyle_ends(page, photo):
    page.route("**/api/jobs/*/cancel", lambda route: route.fulfill(status=500, json=REFUSED))
    held = held_until_asked(page, "**/api/jobs/*/result")  # the job is done, its image not fetched yet
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    wait_for(held, page)
    page.get_by_role("button", name="Cancel").click()
    said = page.locator("#stage-error")
    expect(said).to_have_text("Refused by the test.")
    expect(said).to_be_in_viewport()
    expect(page.locator("#error")).to_be_hidden()
    held[0].continue_()
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    expect(said).to_be_hidden()
