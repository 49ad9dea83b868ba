"""Trying many styles on one photo in Chromium, on the real stack with the gallery styles: examples,
one upload, previews of every style, strength mixed live in the page (and downloaded as shown), the
results kept and compared, and a warning before leaving a running job."""

from __future__ import annotations

import io
import re
import urllib.request

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data as skdata

from tests.bff.gallery import TONES
from tests.browser.conftest import STAGE_DOWNLOAD, astronaut_and_cat

pytestmark = pytest.mark.browser
STYLES = [name for name, _, _ in TONES.values()]
# A full-size result is a server job: on a loaded 2-core machine it can take longer than the
# 5 s Playwright waits by default (a CI run at load 10 listed one of two results after 5 s).
JOB_WAIT_MS = 60_000


def api_requests(page) -> list[str]:
    """Every request the page sends to /api/ from now on, as 'METHOD path'."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.method} {r.url.split('/', 3)[3]}") if "/api/" in r.url else None)
    return seen


def upload(page, photo) -> None:
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES))


def make(page, style: str) -> None:
    """Clicks the style's preview and waits until its full-size result is listed."""
    listed = page.locator(".result-item").count()
    page.get_by_role("button", name=f"Make the full-size result in {style}").click()
    expect(page.locator(".result-item")).to_have_count(listed + 1, timeout=JOB_WAIT_MS)


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def test_an_example_is_uploaded_once_and_previewed_in_every_style(page):
    sent = api_requests(page)
    page.goto("/")
    page.get_by_role("button", name="Coffee").click()
    expect(page.locator("#file-name")).to_have_text("coffee.jpg · 600 × 400 px")
    previews = page.get_by_role("img", name="Your photo in")
    expect(previews).to_have_count(len(STYLES))
    for index in range(len(STYLES)):
        expect(previews.nth(index)).not_to_have_js_property("naturalWidth", 0)
    expect(page.locator("#previews-status")).to_have_text(f"{len(STYLES)} previews ready.")
    assert [s for s in sent if s.startswith("POST")] == ["POST api/photos"]
    assert page.console_problems == []


def test_strength_is_mixed_in_the_page_without_a_request_and_downloads_as_shown(page, photo, gateway_url):
    upload(page, photo)
    make(page, "Moss")
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_have_js_property("complete", True)
    full = page.locator("#compare").screenshot()
    sent = api_requests(page)
    page.get_by_role("slider", name="Strength", exact=True).fill("40")
    expect(page.locator("#strength-value")).to_have_text("40%")
    assert after.evaluate("img => getComputedStyle(img).opacity") == "0.4"
    assert page.locator("#compare").screenshot() != full
    expect(page.locator("#result-meta")).to_contain_text("strength 40%")
    expect(page.locator("#stale")).to_be_hidden()
    assert sent == [], "moving the strength of a pixel-mix style must not ask the server"

    with page.expect_download() as download:
        page.get_by_role("link", name=STAGE_DOWNLOAD).click()
    assert sent == []
    # The list says 40%, but its link is the server's file at full strength, and says so; the mix shown
    # downloads under a name of its own, never the full-strength file's (trial: both astronaut-moss.jpg).
    assert download.value.suggested_filename == "astronaut-moss-strength-40.jpg"
    listed_link = page.locator(".result-item a")
    expect(page.locator(".result-item__text")).to_contain_text("Moss · strength 40%")
    expect(listed_link).to_have_text(re.compile(r"^Download \(full strength\) until \d"))
    expect(listed_link).to_have_accessible_name(re.compile(r"^Download the full-strength file of Moss · strength 40%"))
    expect(listed_link).to_have_attribute("download", "astronaut-moss.jpg")
    shown = rgb(download.value.path().read_bytes())
    link = after.evaluate("() => document.querySelector('.result-item a').getAttribute('href')")
    made = rgb(urllib.request.urlopen(gateway_url + link).read())
    original = rgb(photo.read_bytes())
    expected = 0.4 * made + 0.6 * original
    difference = np.abs(shown - expected)
    assert shown.shape == made.shape and difference.mean() < 1.5 and np.percentile(difference, 99) < 8, \
        (difference.mean(), np.percentile(difference, 99))

    page.get_by_role("slider", name="Strength", exact=True).fill("100")  # the server's file again, by its name
    expect(page.locator("#download")).to_have_attribute("download", "astronaut-moss.jpg")
    expect(listed_link).to_have_text(re.compile(r"^Download until \d"))


def test_results_stay_listed_after_a_reload_and_two_compare_side_by_side_or_with_a_slider(page, photo):
    upload(page, photo)
    make(page, "Moss")
    make(page, "Amber dusk")
    sent = api_requests(page)
    page.reload()
    items = page.locator(".result-item")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("Amber dusk · strength 100% · brush: Auto")
    expect(page.get_by_role("img", name="Your photo in")).to_have_count(len(STYLES))  # by id, not uploaded again
    assert not any(s.startswith("POST") for s in sent)
    page.get_by_role("checkbox", name="Compare Moss").check()
    page.get_by_role("checkbox", name="Compare Amber dusk").check()
    side = page.locator("#pair-side")
    expect(side).to_be_visible()
    for name in ("Moss", "Amber dusk"):
        expect(side.get_by_role("img", name=name)).not_to_have_js_property("naturalWidth", 0)
    page.get_by_label("Slider").check()
    slider = page.get_by_role("slider", name="Slide between the two results")
    expect(slider).to_be_visible()
    slider.focus()
    page.keyboard.press("Home")
    assert page.locator("#pair-slider").evaluate("el => el.style.getPropertyValue('--pos')") == "0%"
    page.get_by_role("button", name="Show Moss").click()
    expect(page.locator("#result-meta")).to_contain_text("Moss, version 1")


def test_leaving_while_a_job_runs_asks_first(page, photo):
    upload(page, photo)
    held = []
    page.route("**/api/jobs/*/result", lambda route: held.append(route))  # the job never seems to end
    page.get_by_role("button", name="Make the full-size result in Moss").click()
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(200)
    assert dialogs == ["beforeunload"]


def tab_to(page, accessible_name: str, limit: int = 40) -> None:
    """Presses Tab until the focused element's accessible name starts with `accessible_name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = page.evaluate("(e => e.getAttribute('aria-label') || e.textContent || '')(document.activeElement)")
        if name.strip().startswith(accessible_name):
            return
    raise AssertionError(f"Tab never reached {accessible_name!r}")


def test_previews_results_and_the_comparison_work_with_the_keyboard(page, photo):
    upload(page, photo)
    page.get_by_role("button", name="Restyle photo").focus()
    tab_to(page, "Make the full-size result in Moss")
    page.keyboard.press("Enter")
    expect(page.locator(".result-item")).to_have_count(1, timeout=JOB_WAIT_MS)
    tab_to(page, "Make the full-size result in Harbour blue")
    page.keyboard.press("Space")
    expect(page.locator(".result-item")).to_have_count(2, timeout=JOB_WAIT_MS)
    page.get_by_role("button", name="Restyle photo").focus()
    for style in ("Harbour blue", "Moss"):
        tab_to(page, f"Compare {style}")
        page.keyboard.press("Space")
    expect(page.locator("#pair-side")).to_be_visible()
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python is not installed")
    report = axe.Axe().run(page)  # previews, results and the pair: no accessibility rule broken
    assert report.violations_count == 0, report.generate_report()
    page.keyboard.press("Shift+Tab")  # back from "Compare Moss" to its "Show"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith("Show Moss")
    page.keyboard.press("Enter")
    expect(page.locator("#result-meta")).to_contain_text("Moss, version 1")


def test_a_photo_the_gateway_has_forgotten_is_uploaded_again_once(page, photo, gateway_url):
    sent = api_requests(page)
    upload(page, photo)
    photo_id = page.evaluate("JSON.parse(sessionStorage.getItem('tessera.visit.v1')).photo.id")
    urllib.request.urlopen(urllib.request.Request(f"{gateway_url}/api/photos/{photo_id}", method="DELETE"))
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator(".result-item")).to_have_count(1, timeout=JOB_WAIT_MS)
    assert [s for s in sent if s.startswith("POST")] == ["POST api/photos", "POST api/jobs", "POST api/photos",
                                                         "POST api/jobs"]
    expect(page.get_by_role("alert")).to_be_hidden()


# The page's waits before it asks for a failed preview again (frontend_static/previews.js, RETRY_WAITS_MS).
RETRY_WAITS_MS = (3000, 10000, 30000)


def failing_preview(page, answers: list[int]) -> tuple[str, list[str]]:
    """(style name, the URLs asked for) of a style whose previews the gateway answers with the statuses
    in `answers`, one per request (503: a busy or hung server), then as usual."""
    failing = STYLES[1]
    asked: list[str] = []

    def answer(route) -> None:
        asked.append(route.request.url)
        if len(asked) <= len(answers):
            route.fulfill(status=answers[len(asked) - 1], body="busy")
        else:
            route.continue_()

    page.route(f"**/previews/{next(k for k, v in TONES.items() if v[0] == failing)}*", answer)
    return failing, asked


def test_a_preview_that_could_not_be_made_is_named_shows_no_picture_and_is_asked_for_a_few_times(page, photo):
    """A preview the gateway could not make (a busy server: 503) was counted ready, and its card showed
    the untouched photo beneath it, as if the style changed nothing. Now the count names it apart and
    the card says "No preview" instead of showing a picture; the page asks for it again after each of
    its waits, then no more."""
    failing, asked = failing_preview(page, [503] * 10)
    page.clock.install()
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    failed = f"{len(STYLES) - 1} previews ready. 1 could not be made."
    expect(status).to_have_text(failed, timeout=60_000)
    card = page.locator(".preview-card.is-failed")
    expect(card).to_have_count(1)
    expect(card.get_by_role("img", name=f"Your photo in {failing}")).to_be_hidden()
    label = card.locator(".preview-card__image").evaluate("e => getComputedStyle(e, '::after').content")
    assert label == '"No preview"'
    assert page.locator(".preview-card__image img:visible").count() >= len(STYLES) - 1
    card.scroll_into_view_if_needed()  # a waiting preview is asked for once it is seen
    for tries, wait in enumerate(RETRY_WAITS_MS, start=2):
        page.clock.run_for(wait)  # the page's clock runs on its own too, so a wait may be over already
        wait_until(page, lambda n=tries: len(asked) >= n)
        expect(status).to_have_text(failed)
    page.clock.run_for(2 * RETRY_WAITS_MS[-1])
    page.wait_for_timeout(300)
    expect(status).to_have_text(failed)
    assert len(asked) == 1 + len(RETRY_WAITS_MS), "a preview that keeps failing is asked for without end"


def wait_until(page, check, seconds: float = 30.0) -> None:
    """Until `check()` holds, letting Playwright handle the page's requests meanwhile."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page did not get there in time")


def test_a_preview_that_failed_once_is_made_when_the_server_answers_again(page, photo):
    failing, asked = failing_preview(page, [503])
    page.clock.install()
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    expect(status).to_have_text(f"{len(STYLES) - 1} previews ready. 1 could not be made.", timeout=60_000)
    page.locator(".preview-card.is-failed").scroll_into_view_if_needed()
    page.clock.run_for(RETRY_WAITS_MS[0])
    expect(status).to_have_text(f"{len(STYLES)} previews ready.", timeout=60_000)
    expect(page.get_by_role("img", name=f"Your photo in {failing}")).not_to_have_js_property("naturalWidth", 0)
    assert len(asked) == 2


def test_results_of_two_photos_are_named_by_their_photo(page, photo, tmp_path):
    """One photo's results need no name (every one is of that photo); once results of a second photo are
    listed, each says which photo it was made from, in the list and in the comparison. Before, two Moss
    results of two photos had the same name and were told apart by their thumbnails only."""
    cat = tmp_path / "chelsea.jpg"
    Image.fromarray(skdata.chelsea()).save(cat, "JPEG", quality=90)
    upload(page, photo)
    make(page, "Moss")
    expect(page.get_by_role("checkbox", name="Compare Moss")).to_have_count(1)
    expect(page.locator(".result-item").first).not_to_contain_text("astronaut.jpg")
    page.locator("#file-input").set_input_files(cat)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES))
    page.get_by_role("button", name="Make the full-size result in Moss").click()
    # A person on the first result meanwhile keeps the focus there when the item takes its photo's name.
    page.get_by_role("checkbox", name="Compare Moss").focus()
    expect(page.locator(".result-item")).to_have_count(2, timeout=JOB_WAIT_MS)
    first = page.get_by_role("checkbox", name="Compare astronaut.jpg · Moss")
    expect(first).to_be_focused()
    second = page.get_by_role("checkbox", name="Compare chelsea.jpg · Moss")
    expect(first).to_have_count(1)
    expect(second).to_have_count(1)
    first.check()
    second.check()
    side = page.locator("#pair-side")
    expect(side.get_by_role("img", name="chelsea.jpg · Moss")).to_be_visible()
    expect(side.get_by_role("img", name="astronaut.jpg · Moss")).to_be_visible()
    page.get_by_label("Slider").check()  # its tags, not only its pictures' names, say which photo is which
    expect(page.locator("#pair-tag-a")).to_have_text("astronaut.jpg · Moss")
    expect(page.locator("#pair-tag-b")).to_have_text("chelsea.jpg · Moss")
    page.reload()  # kept with their names
    expect(page.get_by_role("checkbox", name="Compare chelsea.jpg · Moss")).to_have_count(1)


def test_two_photos_of_one_name_are_told_apart_and_downloaded_apart(page, photo, tmp_path):
    """A trial user restyled a/photo.jpg (an astronaut), then b/photo.jpg (a cat): the two results read the
    same, as did their comparison's captions, and both downloaded as photo-moss.jpg. Photos of one name are
    now numbered in the order chosen, and so are their downloads, as a batch's zip numbers them."""
    restyle_in_moss(page, *astronaut_and_cat(photo, tmp_path))
    expect(page.locator("#download")).to_have_attribute("download", "photo-moss-2.jpg")
    first = page.locator(".result-item").filter(has_text="photo.jpg · Moss")
    second = page.locator(".result-item").filter(has_text="photo.jpg (2) · Moss")
    expect(first.get_by_role("link")).to_have_attribute("download", "photo-moss.jpg")
    expect(second.get_by_role("link")).to_have_attribute("download", "photo-moss-2.jpg")
    first.get_by_role("checkbox").check()
    second.get_by_role("checkbox").check()
    expect(page.locator("#pair-a-caption")).to_contain_text("photo.jpg · Moss")
    expect(page.locator("#pair-b-caption")).to_contain_text("photo.jpg (2) · Moss")
    page.get_by_label("Slider").check()
    expect(page.locator("#pair-tag-a")).to_have_text("photo.jpg · Moss")
    expect(page.locator("#pair-tag-b")).to_have_text("photo.jpg (2) · Moss")
    page.reload()  # numbered the same
    expect(page.get_by_role("checkbox", name="Compare photo.jpg (2) · Moss")).to_have_count(1)
    expect(page.get_by_role("checkbox", name="Compare photo.jpg · Moss")).to_have_count(1)


def test_photos_whose_names_differ_only_in_case_are_numbered_as_one_name(page, photo, tmp_path):
    """photo.jpg and Photo.JPG are one name to the batch's zip (bff.forms.unique_name) and to the folders
    people save to (Windows, macOS): the page numbered them apart, so both downloaded as photo-moss.jpg."""
    restyle_in_moss(page, *astronaut_and_cat(photo, tmp_path, "Photo.JPG"))
    second = page.locator(".result-item").filter(has_text="Photo.JPG (2) · Moss")
    expect(second.get_by_role("link")).to_have_attribute("download", re.compile(r"^Photo-moss-2\.(jpg|JPG)$"))
    first = page.locator(".result-item").filter(has_text="photo.jpg · Moss")
    expect(first.get_by_role("link")).to_have_attribute("download", "photo-moss.jpg")


def restyle_in_moss(page, first, second) -> None:
    """Restyles `first`, then `second` chosen on the page as it is, in Moss."""
    upload(page, first)
    make(page, "Moss")
    upload_another(page, second)
    make(page, "Moss")


def upload_another(page, photo) -> None:
    """Chooses another photo on the page as it is, and waits for its previews."""
    page.locator("#file-input").set_input_files(photo)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES))


def test_the_same_photo_chosen_again_is_still_one_photo(page, photo):
    """Choosing the same file again uploads it anew (another id): its results were then all named by it,
    as if they were of two photos."""
    upload(page, photo)
    make(page, "Moss")
    page.locator("#file-input").set_input_files(photo)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES))
    make(page, "Amber dusk")
    expect(page.get_by_role("checkbox", name="Compare Moss")).to_have_count(1)
    expect(page.get_by_role("checkbox", name="Compare Amber dusk")).to_have_count(1)
    expect(page.locator(".result-item").filter(has_text="astronaut.jpg")).to_have_count(0)


def test_a_long_file_name_wraps_inside_its_result_on_a_phone(phone_page, photo, tmp_path):
    """Named results made a 375 px page 439 px wide with a long camera file name."""
    page = phone_page
    long_name = tmp_path / "IMG_20261203_134512_HDR_PORTRAIT_with_a_very_long_name_from_a_camera.jpg"
    Image.fromarray(skdata.chelsea()).save(long_name, "JPEG", quality=90)
    upload(page, photo)
    make(page, "Moss")
    page.locator("#file-input").set_input_files(long_name)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES))
    make(page, "Moss")
    expect(page.locator(".result-item").first).to_contain_text("IMG_20261203_134512")
    assert page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
    page.get_by_role("checkbox", name=f"Compare {long_name.name} · Moss").check()  # in reach
