"""The page with the shipped "Any painting" style in Chromium, on the real stack: presets, your own
painting (picked, dropped or pasted, shown beside the photo), a mix of two, keep colours; by keyboard too."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.bff.pictures import animation, png_declaring
from tests.browser.conftest import STAGE_DOWNLOAD, open_page
from tests.browser.test_keep_colours import RECORD_FORMS_JS, sent_fields
from tests.browser.test_page import DATA_TRANSFER_JS, TEXT_LOG_JS

pytestmark = pytest.mark.browser


def test_a_painting_chosen_before_the_styles_arrive_is_kept_for_the_style_chosen_then(ppage, own_painting):
    """A painting still being checked when the style list arrived was counted as chosen for "another
    style" (none, since none was chosen yet) once Any painting was chosen, and dropped without a word: CI
    lost it twice under load (tests/browser/test_look_switch.py). Here the limits its check waits for
    are held until the styles have come."""
    page = ppage
    styles, limits = [], []
    page.route("**/api/styles", lambda route: styles.append(route))
    page.route("**/api/limits", lambda route: limits.append(route))
    page.goto("/")
    page.wait_for_timeout(300)
    assert (len(styles), len(limits)) == (1, 1)  # both asked, both answers held back
    page.locator("#painting-input").set_input_files(own_painting)
    page.wait_for_timeout(300)
    styles[0].continue_()
    expect(page.get_by_role("radio", name="Any painting")).to_be_checked()
    limits[0].continue_()
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (my-mosaic.png)")
    assert page.console_problems == []


def test_presets_own_painting_mix_and_keep_colours_reach_the_server(ppage, photo, own_painting):
    page = ppage
    page.add_init_script(RECORD_FORMS_JS)
    page.goto("/")
    expect(page.get_by_role("radio", name="Any painting")).to_be_checked()
    presets = page.locator("#preset-grid").get_by_role("radio")
    assert presets.count() >= 8
    expect(page.get_by_role("radio", name="Ribbons")).to_be_checked()  # the first preset
    page.get_by_role("radio", name="Swirls").check()
    page.locator("#file-input").set_input_files(photo)
    expect(page.get_by_role("img", name="Style: Swirls")).to_be_visible()  # beside the photo
    page.locator("#painting-input").set_input_files(own_painting)
    expect(page.get_by_role("img", name="Style: your painting (my-mosaic.png)")).to_be_visible()
    page.get_by_label("Mix with").select_option(label="Marbling")
    mix = page.get_by_role("slider", name="Share of the second style")
    expect(mix).to_be_enabled()
    mix.fill("40")
    page.get_by_role("switch", name="Keep my photo's colours").check()
    page.get_by_role("button", name="Restyle photo").click()
    fields = sent_fields(page)
    assert fields["style_image"] == "file:my-mosaic.png" and fields["mix_preset"] == "marbling"
    assert fields["mix"] == "0.4" and fields["keep_colors"] == "true"
    assert "preset" not in fields  # the own painting wins over the preset
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=120_000)
    assert page.console_problems == []


def test_a_painting_can_be_dropped_or_pasted_on_its_zone_without_replacing_the_photo(ppage, photo, own_painting):
    page = ppage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    transfer = page.evaluate_handle(DATA_TRANSFER_JS, [list(own_painting.read_bytes()), "dropped.png"])
    page.locator("#painting-zone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.get_by_role("img", name="Style: your painting (dropped.png)")).to_be_visible()
    page.locator("#painting-input").focus()
    pasted = page.evaluate_handle(DATA_TRANSFER_JS, [list(own_painting.read_bytes()), "pasted.png"])
    page.evaluate("t => document.activeElement.dispatchEvent("
                  "new ClipboardEvent('paste', {clipboardData: t, bubbles: true}))", pasted)
    expect(page.get_by_role("img", name="Style: your painting (pasted.png)")).to_be_visible()
    expect(page.locator("#file-name")).to_contain_text("astronaut.jpg")  # the photo stayed
    page.get_by_role("button", name="Use the preset instead").click()
    expect(page.get_by_role("img", name="Style: Ribbons")).to_be_visible()


def test_the_painting_controls_work_with_the_keyboard(ppage):
    page = ppage
    page.goto("/")
    page.get_by_role("radio", name="Ribbons").focus()
    page.keyboard.press("ArrowRight")
    checked = page.locator("#preset-grid input:checked")
    expect(checked).to_have_count(1)
    assert checked.get_attribute("value") != "ribbons"
    page.get_by_label("Mix with").focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("slider", name="Share of the second style")).to_be_enabled()
    page.get_by_role("slider", name="Share of the second style").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#mix-value")).to_have_text("35%")
    switch = page.get_by_role("switch", name="Keep my photo's colours")
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).to_be_checked()


@pytest.mark.parametrize("content, message", [
    (b"plain text", "Your painting: That file is not a PNG, JPEG or WebP image."),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "Your painting: That file cannot be read as an image"),
    # Chromium shows the first frame; the gateway refused it only once Restyle was pressed (415)
    (animation("PNG", 2), "Your painting: That file is an animated PNG clip of several frames; a style is one "
                          "still PNG, JPEG or WebP picture."),
    (animation("WEBP", 3), "Your painting: That file is an animated WebP clip of several frames"),
    (b"", "Your painting: That file is empty. Choose a painting."),  # it asked for a photo
    # A GIF was "not a PNG, JPEG or WebP image" whatever it held, where the gateway says what it is.
    (animation("GIF", 3), "Your painting: That file is an animated GIF clip of several frames; a style is one "
                          "still PNG, JPEG or WebP picture."),
    (animation("GIF", 1), "Your painting: That GIF holds a single frame, a still image, and GIF is not read as "
                          "a painting: save it as PNG or JPEG"),
], ids=["text", "damaged", "apng", "animated-webp", "empty", "animated-gif", "still-gif"])
def test_a_painting_that_is_not_an_image_is_refused_when_chosen(ppage, tmp_path, content, message):
    uploads: list[str] = []
    ppage.on("request", lambda request: uploads.append(request.url) if request.method == "POST" else None)
    ppage.goto("/")
    expect_the_preset_is_the_style(ppage, "Ribbons")
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    ppage.locator("#painting-input").set_input_files(bad)
    expect(ppage.get_by_role("alert")).to_contain_text(message)
    expect_the_preset_is_the_style(ppage, "Ribbons")
    assert uploads == []
    expect(ppage.locator("#painting-input")).to_have_value("")  # so that choosing it again is reported again
    # Said right under the painting's own drop zone, where the person is looking, not under the photo's.
    error, zone = ppage.locator("#painting-error"), ppage.locator("#painting-zone")
    expect(error).to_contain_text(message)
    expect(ppage.locator("#file-error")).to_be_hidden()
    gap = error.bounding_box()["y"] - (zone.bounding_box()["y"] + zone.bounding_box()["height"])
    assert 0 <= gap < 40, gap
    ppage.locator("#painting-input").set_input_files(photo_file(tmp_path))
    expect(error).to_be_hidden()  # a good painting clears it


def expect_the_preset_is_the_style(page, preset: str) -> None:
    """The controls say the preset paints: it is checked and no painting of the person's is named."""
    expect(page.get_by_role("radio", name=preset)).to_be_checked()
    expect(page.locator("#painting-name")).to_be_hidden()
    expect(page.locator("#preset-grid")).not_to_have_class(re.compile("is-overridden"))


def test_the_painting_beside_the_stage_waits_for_a_photo(ppage, photo):
    """Before a photo is chosen the stage is empty, with no "Style: Ribbons" beside it; with the photo
    the look the controls will use appears, and it follows the presets."""
    page = ppage
    page.goto("/")
    expect(page.get_by_role("radio", name="Ribbons")).to_be_checked()
    inset = page.locator("#painting-inset")
    page.get_by_role("radio", name="Swirls").check()
    expect(inset).to_be_hidden()
    expect(page.locator("#stage-empty")).to_be_visible()
    page.locator("#file-input").set_input_files(photo)
    expect(page.get_by_role("img", name="Style: Swirls")).to_be_visible()
    page.get_by_role("radio", name="Mosaic").check()
    expect(page.get_by_role("img", name="Style: Mosaic")).to_be_visible()


def photo_file(tmp_path):
    path = tmp_path / "good.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path)
    return path


def test_a_painting_cut_short_is_refused_when_chosen_under_its_zone(ppage, tmp_path, own_painting):
    cut = tmp_path / "cut.png"
    cut.write_bytes(own_painting.read_bytes()[:3000])
    ppage.goto("/")
    expect_the_preset_is_the_style(ppage, "Ribbons")
    ppage.locator("#painting-input").set_input_files(cut)
    expect(ppage.locator("#painting-error")).to_have_text(
        "Your painting: That PNG image is cut short or damaged and cannot be read. The style is still Ribbons.")
    expect_the_preset_is_the_style(ppage, "Ribbons")


def test_own_painting_unchecks_the_preset_and_the_preset_comes_back_checked(ppage, photo, own_painting):
    """A user saw the dimmed check mark of the preset stay once their own painting was the style: one
    check mark now, on what paints."""
    page = ppage
    page.goto("/")
    page.get_by_role("radio", name="Swirls").check()
    page.locator("#painting-input").set_input_files(own_painting)
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (my-mosaic.png)")
    expect(page.locator("#preset-grid input:checked")).to_have_count(0)
    page.wait_for_timeout(400)  # the badge fades
    assert page.locator("#preset-grid .style-card__badge").evaluate_all(
        "badges => badges.map((b) => Number(getComputedStyle(b).opacity)).filter((o) => o > 0)") == []
    page.get_by_role("button", name="Use the preset instead").click()
    expect_the_preset_is_the_style(page, "Swirls")


def test_a_refused_painting_says_which_style_stays(ppage, photo, own_painting, tmp_path):
    page = ppage
    page.add_init_script(RECORD_FORMS_JS)
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.locator("#painting-input").set_input_files(own_painting)
    expect(page.locator("#painting-name")).to_be_visible()
    bad = tmp_path / "notes.png"
    bad.write_text("plain text")
    page.locator("#painting-input").set_input_files(bad)
    expect(page.locator("#painting-error")).to_have_text(
        "Your painting: That file is not a PNG, JPEG or WebP image. "
        "The style is still your painting (my-mosaic.png).")
    page.get_by_role("button", name="Restyle photo").click()
    assert sent_fields(page)["style_image"] == "file:my-mosaic.png"


def test_a_painting_the_gateway_refuses_says_why_under_it_and_nothing_else_is_painted(ppage, photo, tmp_path):
    """Chromium shows this PNG, the gateway refuses it: the reason is said under the painting, the
    painting stays the style, and Restyle never quietly paints a preset instead."""
    from tests.browser.test_page_checks import png_with_a_bad_text_checksum

    page = ppage
    jobs = []
    page.on("request", lambda request: jobs.append(request.url) if request.url.endswith("/api/jobs") else None)
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    (tmp_path / "crc.png").write_bytes(png_with_a_bad_text_checksum())
    page.locator("#painting-input").set_input_files(tmp_path / "crc.png")
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (crc.png)")
    for attempt in (1, 2):
        page.get_by_role("button", name="Restyle photo").click()
        expect(page.locator("#painting-error")).to_contain_text("Your painting: The style image cannot be used")
        expect(page.locator("#painting-error")).to_contain_text("Choose another painting")
        expect(page.get_by_role("button", name="Restyle photo")).to_be_enabled()
        assert len(jobs) == attempt
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (crc.png)")
    expect(page.locator("#preset-grid input:checked")).to_have_count(0)
    expect(page.locator("#results")).to_be_hidden()
    expect(page.locator("#after-img")).to_be_hidden()


def test_a_painting_over_its_pixel_limit_gets_the_limit_not_damaged(ppage, tmp_path):
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_declaring(100_000, 100_000))
    ppage.goto("/")
    expect_the_preset_is_the_style(ppage, "Ribbons")
    ppage.locator("#painting-input").set_input_files(huge)
    expect(ppage.locator("#painting-error")).to_have_text(
        "Your painting: That painting is 100000 × 100000 (10,000 megapixels); the limit is 40 megapixels. "
        "The style is still Ribbons.")


def test_the_painting_hint_offers_own_paintings_only_where_the_style_takes_them(ppage):
    """teacher-26 has presets but no encoder: its hint must not promise "use your own"."""
    hint = ppage.locator("#look-hint")
    ppage.goto("/")
    expect(hint).to_have_text("This style paints like any picture: pick one below or use your own.")

    def presets_only(route):
        listed = route.fetch().json()
        for style in listed["styles"]:
            style["accepts_style_images"] = False
        route.fulfill(json=listed)

    ppage.route("**/api/styles", presets_only)
    ppage.reload()
    expect(hint).to_have_text("Pick one of this style's paintings below, or mix two of them.")
    expect(ppage.locator("#painting-zone")).to_be_hidden()


@pytest.mark.serial  # serial pass of `make test`: preview within 10 s
def test_strength_of_a_painting_style_updates_its_preview_first_and_marks_the_result_out_of_date(ppage, photo):
    page = ppage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    cards = page.locator(".preview-card")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 8  # one per preset of the painting style
    page.locator("#more-previews-summary").click()
    page.get_by_role("button", name="Make the full-size result in Any painting: Swirls").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible(timeout=120_000)
    expect(page.locator("#stale")).to_be_hidden()
    swirls = page.get_by_role("img", name="Your photo in Any painting: Swirls")
    expect(swirls).not_to_have_js_property("naturalWidth", 0, timeout=60_000)

    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "strength=0.5" in r.url else None)
    page.get_by_role("slider", name="Strength", exact=True).fill("50")
    started = page.evaluate("performance.now()")
    expect(swirls).to_have_attribute("src", re.compile(r"preset=swirls&strength=0\.5"))
    page.wait_for_function("img => img.complete && !img.closest('.is-loading')", arg=swirls.element_handle())
    elapsed_ms = page.evaluate("performance.now()") - started
    assert swirls.evaluate("img => img.naturalWidth") > 0
    assert "preset=swirls" in asked[0], asked  # the one being looked at is asked for first, alone
    # The issue asks for 1 s; this bound only catches a page that never updates (the shared test
    # machine runs other suites meanwhile). docs/gateway.md gives the measured time.
    assert elapsed_ms < 10_000, f"the preview at 50% took {elapsed_ms:.0f} ms"
    print(f"preview at a new strength after {elapsed_ms:.0f} ms")
    expect(page.locator("#stale")).to_contain_text("Restyle to apply strength 50%")
    assert page.get_by_role("img", name="Your photo, restyled").evaluate("img => getComputedStyle(img).opacity") == "1"


def test_only_the_featured_previews_are_made_at_once_and_more_looks_wait_for_the_job(ppage, photo):
    """After the upload the page asks for the featured preview alone (the first preset); the other
    presets' previews are asked for once "More looks" is open and they are seen, and not while the
    person's own restyle runs (its request is held here until that has been checked)."""
    page = ppage
    previews: list[str] = []
    page.on("request", lambda r: previews.append(r.url) if "/previews/" in r.url else None)
    held = []
    page.route("**/api/jobs", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    featured = page.get_by_role("img", name="Your photo in Any painting: Ribbons")
    expect(featured).not_to_have_js_property("naturalWidth", 0, timeout=60_000)
    expect(page.locator("#more-previews .preview-card.is-pending")).to_have_count(9)
    page.wait_for_timeout(500)
    assert [url for url in previews if "preset=" in url] == [previews[0]] and "preset=ribbons" in previews[0]

    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("button", name="Restyling…")).to_be_visible()
    page.locator("#more-previews-summary").click()
    expect(page.locator("#more-previews")).to_have_js_property("open", True)
    page.locator("#more-previews").scroll_into_view_if_needed()
    page.wait_for_timeout(700)
    assert len(previews) == 1, "a preview was asked for while the person's restyle ran"
    assert len(held) == 1
    # The restyle ends (refused here, which ends it as surely as a result and sooner): they follow.
    held[0].fulfill(status=400, json={"error": "refused_by_test", "message": "Refused by the test.", "status": 400})
    expect(page.get_by_role("alert")).to_contain_text("Refused by the test.")
    seen = page.locator("#more-previews .preview-card:not(.is-pending):not(.is-loading)")
    expect(seen.first).to_be_visible(timeout=60_000)
    assert len(previews) > 1 and all("preset=" in url for url in previews)


def log_status(page) -> None:
    """Records every text the previews' status line takes from now on, as a person would hear it (it
    is a live region), in window.statusLog."""
    page.evaluate(TEXT_LOG_JS, ["previews-status", "statusLog"])


def status_totals(page) -> set[int]:
    """The totals the previews' status line has named since log_status."""
    texts = page.evaluate("window.statusLog.splice(0)")
    return {int(m.group(2) or m.group(1)) for m in map(re.compile(r"^(\d+)(?: of (\d+))? previews? ready").match, texts)
            if m}


def test_the_preview_count_names_the_cards_shown_when_the_chosen_look_waits_under_more_looks(ppage, photo):
    """With a preset outside the featured grid chosen (Mosaic), a new brush scale or strength waits for
    its hidden card to be shown; the status counts the one card shown, then all ten once More looks is open."""
    page = ppage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    log_status(page)
    page.get_by_role("radio", name="Mosaic").check()
    mosaic = page.locator('img[alt="Your photo in Any painting: Mosaic"]')  # hidden under More looks
    page.get_by_label("Brush scale").select_option("0.5")
    expect(mosaic).to_have_attribute("data-src", re.compile(r"preset=mosaic.*scale=0\.5"))
    page.locator("#previews").scroll_into_view_if_needed()  # the featured card is seen: it follows the controls
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    page.get_by_role("slider", name="Strength", exact=True).fill("50")
    expect(mosaic).to_have_attribute("data-src", re.compile(r"preset=mosaic&strength=0\.5"))
    page.locator("#previews").scroll_into_view_if_needed()
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    assert status_totals(page) == {1}

    page.locator("#more-previews-summary").click()
    expect(status).to_have_text("10 previews ready.", timeout=120_000)
    page.get_by_label("Brush scale").select_option("0.25")
    expect(status).to_have_text("10 previews ready.", timeout=120_000)
    assert status_totals(page) == {10}
    page.locator("#more-previews-summary").click()
    expect(status).to_have_text("1 preview ready.")


@pytest.fixture
def phone_ppage(browser, request, painting_gateway):
    yield from open_page(browser, request, painting_gateway, viewport={"width": 390, "height": 844},
                         device_scale_factor=2, is_mobile=True, has_touch=True)


def test_previews_waiting_to_be_scrolled_to_are_not_counted_as_work_going_on(phone_ppage, photo):
    """On a phone "More looks" opened shows a few cards; the others are made only once scrolled to, so
    the count said "3 of 10 previews ready…" for as long as the person did not scroll: work that was
    not going on. It says what they wait for: the scroll, or the person's restyle to end."""
    page = phone_ppage
    held = []
    page.route("**/api/jobs", lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    page.locator("#more-previews-summary").click()
    cards = page.locator("#more-previews .preview-card")
    expect(cards.first).not_to_have_class(re.compile("is-pending|is-loading"), timeout=60_000)
    expect(page.locator("#previews .preview-card.is-loading")).to_have_count(0, timeout=60_000)
    assert page.locator("#more-previews .preview-card.is-pending").count() > 0, "every card was on screen"
    expect(status).to_have_text(re.compile(r"^[1-9] of 10 previews ready; more as you scroll\.$"))
    expect(page.locator("#preview-grid")).to_have_attribute("aria-busy", "false")

    page.get_by_role("button", name="Restyle photo").click()  # held: the restyle runs until it is answered
    expect(page.get_by_role("button", name="Restyling…")).to_be_visible()
    page.wait_for_timeout(1000)  # the stage is brought into view
    cards.last.scroll_into_view_if_needed()
    expect(status).to_have_text(re.compile(r"^[1-9] of 10 previews ready; more once your restyle is done\.$"))
    held[0].fulfill(status=400, json={"error": "refused_by_test", "message": "Refused by the test.", "status": 400})
    for card in cards.all():  # the rest, as the person scrolls to them
        card.scroll_into_view_if_needed()
        expect(card).not_to_have_class(re.compile("is-pending"))
    expect(status).to_have_text("10 previews ready.", timeout=120_000)


def restyle(page, listed: int) -> None:
    """Clicks "Restyle photo" and waits until the visit lists `listed` results."""
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator(".result-item")).to_have_count(listed, timeout=120_000)


def test_each_result_names_and_shows_its_own_look_also_after_a_reload(ppage, photo, own_painting):
    """Mosaic, then your painting, then your painting mixed with Swirls at 60%: each result's row and
    caption name its look, and the painting beside a result is its own, not the one the controls hold
    now (also once the list is restored from storage after a reload)."""
    page = ppage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("radio", name="Mosaic").check()
    restyle(page, 1)
    inset, inset_img = page.locator("#painting-inset-caption"), page.locator("#painting-inset-img")
    expect(inset).to_have_text("Style: Mosaic")
    page.locator("#painting-input").set_input_files(own_painting)
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (my-mosaic.png)")
    expect(inset).to_have_text("Style: Mosaic")  # the Mosaic result is still on the stage
    stale = page.locator("#stale")  # and no longer what the controls would make
    expect(stale).to_contain_text("Out of date: this result was made with Mosaic, strength 100%")
    expect(stale).to_contain_text("Restyle to apply your painting (my-mosaic.png).")
    restyle(page, 2)
    expect(stale).to_be_hidden()
    page.get_by_label("Mix with").select_option(label="Swirls")
    page.get_by_role("slider", name="Share of the second style").fill("60")
    expect(stale).to_contain_text("Restyle to apply your painting (my-mosaic.png) mixed with Swirls at 60%.")
    restyle(page, 3)
    expect(stale).to_be_hidden()
    painting, mixed = "your painting (my-mosaic.png)", "your painting (my-mosaic.png) mixed with Swirls at 60%"
    expect(page.locator("#result-meta")).to_contain_text(f"Any painting: {mixed}, version ")
    expect(inset).to_have_text(f"Style: {mixed}")

    for reloaded in (False, True):
        rows = page.locator(".result-item__text")
        expect(rows).to_have_count(3)
        for row, look in zip(rows.all(), [mixed, painting, "Mosaic"], strict=True):
            expect(row).to_contain_text(f"Any painting: {look} · strength 100% · brush: Auto · ")
        if not reloaded:
            page.reload()
    page.get_by_role("button", name=f"Show Any painting: {painting} · ").click()
    expect(page.locator("#result-meta")).to_contain_text(f"Any painting: {painting}, version ")
    expect(inset).to_have_text(f"Style: {painting}")
    expect(inset_img).to_have_attribute("src", re.compile(r"^data:image/jpeg"))
    page.get_by_role("button", name="Show Any painting: Mosaic · ").click()
    expect(inset).to_have_text("Style: Mosaic")
    expect(inset_img).to_have_attribute("src", re.compile(r"mosaic"))
    assert page.console_problems == []


def test_the_chosen_look_under_closed_more_looks_is_made_only_once_it_is_opened(ppage, photo):
    """Mosaic is chosen but its card sits under the closed "More looks": a new brush scale asks for the
    featured card on screen, not for Mosaic's, until the person opens "More looks"."""
    page = ppage
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/previews/" in r.url else None)
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    page.get_by_role("radio", name="Mosaic").check()
    page.get_by_label("Brush scale").select_option("0.5")
    page.locator("#previews").scroll_into_view_if_needed()  # the featured card is seen, Mosaic's folded away
    ribbons = page.get_by_role("img", name="Your photo in Any painting: Ribbons")
    expect(ribbons).to_have_attribute("src", re.compile(r"preset=ribbons.*scale=0\.5"))
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    page.wait_for_timeout(500)
    assert not [url for url in asked if "preset=mosaic" in url], asked
    mosaic = page.locator('img[alt="Your photo in Any painting: Mosaic"]')
    expect(mosaic).not_to_have_attribute("src", re.compile(".+"))

    page.locator("#more-previews-summary").click()
    expect(mosaic).to_have_attribute("src", re.compile(r"preset=mosaic.*scale=0\.5"), timeout=60_000)
    assert [url for url in asked if "preset=mosaic" in url]


def test_a_card_whose_new_preview_is_not_asked_for_yet_is_not_counted_ready(ppage, photo):
    """A new brush scale: every card waits for its new preview, and the status says none is ready yet
    (it said "9 of 10": the cards not asked for yet still counted as ready)."""
    page = ppage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    status = page.locator("#previews-status")
    expect(status).to_have_text("1 preview ready.", timeout=60_000)
    page.locator("#more-previews-summary").click()
    expect(status).to_have_text("10 previews ready.", timeout=120_000)
    log_status(page)
    page.get_by_label("Brush scale").select_option("0.5")
    expect(status).to_have_text("10 previews ready.", timeout=120_000)
    said = page.evaluate("window.statusLog")
    assert said[0] == "0 of 10 previews ready…", said



def test_a_look_not_made_yet_says_so_in_plain_words(ppage, photo):
    """Its card said "Made when shown", which a user could not make sense of."""
    ppage.goto("/")
    ppage.locator("#file-input").set_input_files(photo)
    pending = ppage.locator("#more-preview-grid .preview-card.is-pending").first
    expect(pending).to_be_attached()
    said = pending.locator(".preview-card__image").evaluate("el => getComputedStyle(el, '::after').content")
    assert said == '"Not made yet"'
