"""A single photo's restyle refused because the gateway is busy (429 busy: it already works on as many
images as it may) waits and asks again, as a batch waits in the gateway's queue, with a line that says
so and a Cancel that works. Before, the page showed the refusal and gave up."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000
BUSY = {"error": "busy", "message": "The gateway is already working on 8 images; try again in 30 seconds."}


def refuse_jobs(page, times: int) -> list[str]:
    """Answers the first `times` POST /api/jobs with the gateway's 429 busy; returns what each POST got."""
    posts: list[str] = []

    def route(handle):
        if handle.request.method != "POST":
            return handle.continue_()
        if len(posts) < times:
            posts.append("busy")
            return handle.fulfill(status=429, content_type="application/json", body=json.dumps(BUSY),
                                  headers={"Retry-After": "30"})
        posts.append("sent")
        return handle.continue_()

    page.route(re.compile(r"/api/jobs$"), route)
    return posts


def test_a_photo_waits_for_a_busy_gateway_and_is_restyled(page, photo):
    posts = refuse_jobs(page, 2)
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#progress-label")).to_have_text(re.compile(r"^Waiting for the gateway"))
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    assert posts == ["busy", "busy", "sent"]
    expect(page.locator("#error")).to_be_hidden()


def test_cancel_ends_the_wait_for_a_busy_gateway(page, photo):
    posts = refuse_jobs(page, 100)
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    restyle = page.get_by_role("button", name="Restyle photo")
    restyle.click()
    expect(page.locator("#progress-label")).to_have_text(re.compile(r"^Waiting for the gateway"))
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#progress-label")).to_have_text("Cancelled. Nothing more is being made.")
    expect(restyle).to_be_enabled()
    asked = len(posts)
    page.wait_for_timeout(4000)
    assert len(posts) == asked  # no more asking after Cancel
    expect(page.locator("#error")).to_be_hidden()


def test_cancel_while_the_gateway_is_asked_again_cancels_the_job_it_makes(page, photo):
    """Cancel pressed while a request for the job was on its way did nothing: the wait had no timer to
    stop and no job to cancel yet, so the photo was restyled anyway. Now the job that request makes is
    cancelled at once, and nothing is listed."""
    held, posts, cancels = [], [], []

    def route(handle):
        if handle.request.method != "POST":
            return handle.continue_()
        posts.append(1)
        if len(posts) == 1:
            return handle.fulfill(status=429, content_type="application/json", body=json.dumps(BUSY))
        held.append(handle)  # the second request waits on the wire

    page.route(re.compile(r"/api/jobs$"), route)
    page.on("request", lambda req: cancels.append(req.url) if req.url.endswith("/cancel") else None)
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#progress-label")).to_have_text(re.compile(r"^Waiting for the gateway"))
    for _ in range(200):  # the page asks again after its pause
        if held:
            break
        page.wait_for_timeout(50)
    page.get_by_role("button", name="Cancel").click()
    held[0].continue_()  # the gateway takes it after all
    expect(page.locator("#progress-label")).to_have_text("Cancelled. Nothing more is being made.")
    assert any("/api/jobs/" in url for url in cancels)
    page.wait_for_timeout(1000)
    expect(page.locator("#results-list > li")).to_have_count(0)
