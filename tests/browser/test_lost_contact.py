"""The gateway out of reach while a photo is restyled: the page says so while its progress stream cannot
reconnect, and stops saying so when it does (the browser's EventSource retries by itself)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LOST = "Lost contact with the server; trying again…"
# A stream that says the job is queued, asks the browser to retry quickly, and ends: as a gateway that
# was killed mid-stream would leave it.
QUEUED = {"id": "x", "state": "queued", "done": 0, "total": 0, "queue_position": 5}
CUT_SHORT = f"retry: 100\n\nevent: progress\ndata: {json.dumps(QUEUED)}\n\n"


def test_while_the_progress_stream_cannot_reconnect_the_page_says_so_and_clears_it_when_it_does(page, photo):
    """After the gateway was killed the page kept showing "Queued: 4 jobs ahead of yours · done in about
    11 s" while its progress stream failed with connection refused, until the gateway came back."""
    streams = []

    def events(route):
        streams.append(route)
        if len(streams) == 1:
            route.fulfill(status=200, content_type="text/event-stream", body=CUT_SHORT)
        elif len(streams) <= 3:
            route.abort("connectionrefused")
        # The fourth attempt waits, unanswered, until the test lets it through.

    results = []
    page.route("**/api/jobs/*/events", events)
    page.route("**/api/jobs/*/result", lambda route: results.append(route))  # the line stays on progress
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    label, announcer = page.locator("#progress-label"), page.locator("#announcer")
    expect(label).to_have_text(LOST)
    expect(announcer).to_have_text(LOST)  # said to screen readers, in the page's live region
    for _ in range(200):
        if len(streams) >= 4:
            break
        page.wait_for_timeout(50)
    assert len(streams) >= 4, f"the page tried the stream {len(streams)} times in 10 s"
    page.wait_for_timeout(300)
    expect(label).to_have_text(LOST)  # still trying
    streams[3].continue_()
    page.unroute("**/api/jobs/*/events")
    expect(announcer).to_have_text("Back in contact with the server.")
    expect(label).not_to_have_text(LOST)
    expect(label).to_have_text("Finishing: saving your picture…", timeout=30_000)  # the real stream's end
    for _ in range(200):
        if results:
            break
        page.wait_for_timeout(50)
    assert results, "the page did not ask for the result within 10 s of the stream's end"
    results[0].continue_()
    expect(label).to_have_text("Restyled", timeout=30_000)
    expect(page.locator("#error")).to_be_hidden()
    # The browser logs the refused attempts itself (how many times is its own affair); nothing else went wrong.
    refused = "Failed to load resource: net::ERR_CONNECTION_REFUSED"
    assert page.console_problems.count(refused) >= 1 and set(page.console_problems) == {refused}, \
        page.console_problems
