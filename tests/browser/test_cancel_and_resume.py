"""Cancel stays cancelled on screen, and previews wait for a restyle followed again after a reload.
Before, a progress event that came after Cancel put "Cancelling…" back to the progress line, and a job
that finished before the gateway heard the cancel was shown as an ordinary result; after a reload the
page asked for every featured preview at once while the person's own restyle ran."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000


def running_job(page) -> dict:
    """The job the page follows, as it keeps it for a reload."""
    for _ in range(200):
        visit = json.loads(page.evaluate("() => sessionStorage.getItem('tessera.visit.v1') || '{}'"))
        if visit.get("running"):
            return visit["running"]
        page.wait_for_timeout(50)
    raise AssertionError("no job is followed")


def test_cancel_stays_on_screen_until_the_job_ends_and_a_late_one_says_so(page, big_photo):
    held = []
    page.route("**/api/jobs/*/cancel", lambda route: held.append(route))
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(big_photo)
    page.get_by_role("button", name="Restyle photo").click()
    label = page.locator("#progress-label")
    expect(label).to_have_text(re.compile(r"\d"), timeout=JOB_WAIT_MS)  # tiles are being made
    status_url = running_job(page)["statusUrl"]
    page.get_by_role("button", name="Cancel").click()
    expect(label).to_have_text("Cancelling…")
    deadline = time.monotonic() + 120
    while page.request.get(status_url).json()["state"] not in ("done", "failed"):  # the cancel is held
        assert label.inner_text() == "Cancelling…"  # progress coming meanwhile never undoes it
        assert time.monotonic() < deadline
        page.wait_for_timeout(200)
    for route in held:
        route.continue_()
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    expect(label).to_have_text(re.compile(r"^Not cancelled: it was finished before the server heard"))
    expect(page.locator("#announcer")).to_have_text(re.compile("finished before it could be cancelled"))
    # The late cancel left the finished job alone: its result is still the gateway's to link to and to
    # list after a reload (a DELETE would have discarded it).
    assert page.request.get(status_url).json()["state"] == "done"
    assert page.request.get(f"{status_url}/result").status == 200


def test_previews_wait_while_a_restyle_followed_after_a_reload_runs(page, photo):
    held = []
    page.route("**/api/jobs/*/result", lambda route: held.append(route))
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#scale").select_option("1")
    page.locator("#file-input").set_input_files(photo)
    expect(page.locator(".preview-card").first).to_be_visible()
    page.get_by_role("button", name="Restyle photo").click()
    running_job(page)
    page.on("dialog", lambda dialog: dialog.accept())
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/previews/" in r.url else None)
    page.reload()
    before_reload = len(held)  # fetches of the page before the reload, cut short by it
    expect(page.locator(".preview-card").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Restyl"))).to_have_attribute("aria-disabled", "true")
    page.wait_for_timeout(1500)
    assert asked == [], asked  # the person's own restyle runs: the previews wait
    for _ in range(1200):  # the reloaded page asks for the result once the job is done
        if len(held) > before_reload:
            break
        page.wait_for_timeout(50)
    page.unroute("**/api/jobs/*/result")
    for route in held:
        try:
            route.continue_()
        except PlaywrightError:  # asked for before the reload, which cut it short
            pass
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    # The result may have brought the stage into view: previews out of sight wait to be scrolled to.
    for card in page.locator(".preview-card").all():
        card.scroll_into_view_if_needed()
    expect(page.locator("#previews-status")).to_have_text(re.compile(r"previews? ready\.$"), timeout=JOB_WAIT_MS)
    assert asked and all("scale=1" in url for url in asked), asked
