"""Issue 16's promise in Chromium, on the real stack (gRPC server process, gateway under waitress): a
designer uploads a 12-megapixel photo once, sees it in every style, makes two, compares them side by
side, moves the strength without a request, changes the brush scale, reloads during a job and sees it
resume, and cancels it: the server's tile counter stops."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from bff import close_app
from scripts.local_stack import server_process
from tests.bff.gallery import TONES
from tests.bff.live import make_app, serving
from tests.browser.conftest import open_page
from tests.browser.test_keep_colours import RECORD_FORMS_JS
from tests.support.metrics import counter_total

pytestmark = [pytest.mark.browser, pytest.mark.slow]
STYLES = [name for name, _, _ in TONES.values()]
# 48 tiles for the 12 MP photo at full size: progress a reload and a cancel can be seen against.
TILE_SIZE = 512


@pytest.fixture(scope="module")
def metered_stack(gallery):
    """(gateway URL, server log): the server publishes its metrics, the log says where."""
    with server_process(gallery, metrics_port=0, default_tile_size=TILE_SIZE) as (_, address, log):
        app = make_app(servers=(address,))
        try:
            with serving(app) as url:
                yield url, log
        finally:
            close_app(app)


@pytest.fixture
def page(browser, request, metered_stack):
    yield from open_page(browser, request, metered_stack[0], viewport={"width": 1280, "height": 900})


def tiles_served(log, style: str = "harbour-blue") -> float:
    """Tiles of the style the job is made in (the previews that waited for the job come after it)."""
    return counter_total(log, "tessera_tiles_total", style=style)


def settled_tiles(log, timeout_s: float = 15.0) -> float:
    """The server's tile counter once no tile waits or runs any more (the tiles a cancelled job had
    already sent may still finish: a tile's time each)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        busy = counter_total(log, "tessera_tiles_queued") + counter_total(log, "tessera_tiles_in_flight")
        if busy == 0:
            return tiles_served(log)
        time.sleep(0.25)
    raise AssertionError(f"the server still had tiles to do {timeout_s} s after the job was cancelled")


def test_a_designer_tries_many_styles_on_one_12_megapixel_photo(page, big_photo, metered_stack):
    _, log = metered_stack
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url.split('/', 3)[3]}"))
    page.add_init_script(RECORD_FORMS_JS)
    page.goto("/")

    # Upload once; every style's preview of the photo arrives.
    started = time.monotonic()
    page.locator("#file-input").set_input_files(big_photo)
    expect(page.locator(".preview-card:not(.is-loading)")).to_have_count(len(STYLES), timeout=60_000)
    print(f"all {len(STYLES)} previews {time.monotonic() - started:.1f} s after choosing the photo")
    for name in STYLES:
        expect(page.get_by_role("img", name=f"Your photo in {name}")).not_to_have_js_property("naturalWidth", 0)

    # Pick two; compare them side by side.
    for name in ("Moss", "Harbour blue"):
        listed = page.locator(".result-item").count()
        page.get_by_role("button", name=f"Make the full-size result in {name}").click()
        expect(page.locator(".result-item")).to_have_count(listed + 1, timeout=120_000)
    after = page.get_by_role("img", name="Your photo, restyled")
    expect(after).to_have_js_property("naturalWidth", 4000)
    page.get_by_role("checkbox", name="Compare Moss").check()
    page.get_by_role("checkbox", name="Compare Harbour blue").check()
    side = page.locator("#pair-side")
    for name in ("Moss", "Harbour blue"):
        expect(side.get_by_role("img", name=name)).to_have_js_property("naturalWidth", 4000)

    # The strength slider changes what is shown, with no request.
    shown = page.locator("#compare").screenshot()
    asked = len(requests)
    page.get_by_role("slider", name="Strength", exact=True).fill("40")
    expect(after).to_have_css("opacity", "0.4")
    assert page.locator("#compare").screenshot() != shown
    assert requests[asked:] == [], "the strength of a pixel-mix style must be mixed in the page"

    # The brush scale: the previews follow it, and the job is made with it.
    page.get_by_label("Brush scale").select_option(label="Finest: painted at full size")
    chosen = page.get_by_role("img", name="Your photo in Harbour blue")  # the style chosen last comes first
    expect(chosen).to_have_attribute("src", re.compile(r"[?&]scale=1$"))
    expect(page.locator("#stale")).to_contain_text("Restyle to apply brush: Finest")
    tiles_before = tiles_served(log)
    page.get_by_role("button", name="Restyle photo").click()
    form = dict(page.evaluate("window.sentForms[window.sentForms.length - 1]"))
    assert form["scale"] == "1" and "photo_id" in form and "image" not in form
    progress = page.locator("#progress")
    page.wait_for_function("p => p.max > 1 && p.value >= 3", arg=progress.element_handle(), timeout=60_000)
    total = int(progress.evaluate("p => p.max"))
    expect(page.locator("#progress-label")).to_contain_text("left", timeout=30_000)  # time from throughput

    # A reload during the job: the browser asks first, then the page follows the same job again.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.accept()))
    done_before = int(progress.evaluate("p => p.value"))
    page.reload(wait_until="domcontentloaded")  # "load" waits for the 12 MP photo too
    assert dialogs == ["beforeunload"]
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    page.wait_for_function(f"p => p.max === {total} && p.value > {done_before}", arg=progress.element_handle(),
                           timeout=60_000)
    expect(page.locator(".result-item")).to_have_count(2)  # the results came back with the page
    expect(page.get_by_role("radio", name="Harbour blue")).to_be_checked()  # and the choices
    expect(page.get_by_label("Brush scale")).to_have_value("1")
    expect(page.get_by_role("img", name="Your photo, before restyling")).not_to_have_js_property("naturalWidth", 0)

    # Cancel: the page says so and the server stops making tiles.
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#progress-label")).to_have_text("Cancelled. Nothing more is being made.", timeout=30_000)
    stopped = settled_tiles(log)
    time.sleep(2.0)
    assert tiles_served(log) == stopped, "the server went on after the cancel"
    assert stopped - tiles_before < total, "the job ran to its end"
    expect(page.get_by_role("button", name="Cancel")).to_be_hidden()

    # The photo went over the network once; every job named it by id.
    assert [r for r in requests if r.startswith("POST api/photos")] == ["POST api/photos"]
    assert sum(r == "POST api/jobs" for r in requests) == 3  # made; the Cancel is POST api/jobs/<id>/cancel
    assert sum(r.startswith("POST api/jobs/") and r.endswith("/cancel") for r in requests) == 1
    assert page.console_problems == []
