"""A look chosen for one style, then another style chosen: what the page sends fits the style it sends
to. "Any painting" takes paintings; the "26 painting styles" and "Blue Ink" listed here beside it (the
gateway's own answer, extended) take only their own presets, or no look at all. The jobs are answered
"refused" here (REFUSED): the forms the page sends are what is checked."""

from __future__ import annotations

import copy

import pytest
from playwright.sync_api import expect

from tessera.imageio import encode_image
from tests.browser.conftest import open_page
from tests.browser.test_keep_colours import RECORD_FORMS_JS
from trainer.style_presets import mosaic

pytestmark = pytest.mark.browser
# The answer every restyle gets here: a refusal that ends it at once (a busy gateway's 429 no longer does:
# the page waits for it and tries again).
REFUSED = {"error": "refused_by_test", "message": "Refused by the test.", "status": 400}


@pytest.fixture
def spage(browser, request, painting_gateway, tmp_path):
    painting = tmp_path / "painting2.png"
    painting.write_bytes(encode_image(mosaic(side=96), "png"))
    for page in open_page(browser, request, painting_gateway, viewport={"width": 1280, "height": 900}):
        page.add_init_script(RECORD_FORMS_JS)
        page.route("**/api/styles", with_other_styles)
        page.route("**/api/jobs", lambda route: route.fulfill(status=400, json=REFUSED)
                   if route.request.method == "POST" else route.continue_())
        page.painting = painting
        yield page


def with_other_styles(route) -> None:
    listed = route.fetch().json()
    painting = next(s for s in listed["styles"] if s["id"] == "any-painting")
    presets_only = copy.deepcopy(painting) | {
        "id": "teacher-26", "name": "26 painting styles", "description": "Presets only.", "accepts_style_images": False,
        "presets": [{"id": f"style-0{i}", "name": f"Style {i}", "credits": "", "license": "", "preview_url": None}
                    for i in range(3)]}
    fixed = copy.deepcopy(painting) | {"id": "blue-ink", "name": "Blue Ink", "description": "Fixed.", "kind": "fixed",
                                       "accepts_style_images": False, "presets": []}
    listed["styles"] += [presets_only, fixed]
    route.fulfill(json=listed)


def restyle_sends(page) -> dict[str, str]:
    """Presses Restyle and returns the look fields of the job's form."""
    before = page.evaluate("(window.sentForms || []).length")
    page.get_by_role("button", name="Restyle photo").click()
    wait_sent(page, before)
    expect(page.get_by_role("alert")).to_contain_text("Refused by the test.")
    fields = dict(page.evaluate("window.sentForms.at(-1)"))
    looks = ("style", "preset", "style_image", "mix_preset", "mix", "keep_colors")
    return {key: value for key, value in fields.items() if key in looks}


def wait_sent(page, before: int) -> None:
    """Until the page has sent more than `before` forms. An arrow function: Playwright polls a bare
    expression with eval, which the page's CSP forbids (it failed whenever the form was not sent yet)."""
    page.wait_for_function(f"() => window.sentForms.length > {before}")


def choose_style(page, name: str) -> None:
    page.get_by_role("radio", name=name).check()


def swirls_mixed_with_marbling(page, photo, percent: str) -> None:
    """Opens the page with `photo` and sets Any painting's look: Swirls mixed with `percent` % Marbling,
    keeping the photo's colours."""
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("radio", name="Swirls").check()
    page.get_by_label("Mix with").select_option(label="Marbling")
    page.get_by_role("slider", name="Share of the second style").fill(percent)
    page.get_by_role("switch", name="Keep my photo's colours").check()


def test_a_presets_only_style_gets_its_first_preset_and_the_painting_comes_back_with_its_style(spage, photo):
    page = spage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.locator("#painting-input").set_input_files(page.painting)
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")

    choose_style(page, "26 painting styles")
    expect(page.get_by_role("radio", name="Style 0")).to_be_checked()
    expect(page.locator("#painting-name")).to_be_hidden()
    expect(page.get_by_role("button", name="Use the preset instead")).to_be_hidden()
    assert restyle_sends(page) == {"style": "teacher-26", "preset": "style-00"}

    choose_style(page, "Any painting")
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    assert restyle_sends(page) == {"style": "any-painting", "style_image": "file:painting2.png"}
    page.get_by_role("button", name="Use the preset instead").click()
    assert restyle_sends(page) == {"style": "any-painting", "preset": "ribbons"}


def test_a_preset_and_its_mix_are_sent_only_to_the_style_that_has_them_and_each_style_keeps_its_own(spage, photo):
    page = spage
    swirls_mixed_with_marbling(page, photo, "40")

    choose_style(page, "26 painting styles")
    page.get_by_role("radio", name="Style 2").check()
    expect(page.get_by_label("Mix with")).to_have_value("")
    assert restyle_sends(page) == {"style": "teacher-26", "preset": "style-02", "keep_colors": "true"}

    choose_style(page, "Blue Ink")
    assert restyle_sends(page) == {"style": "blue-ink", "keep_colors": "true"}

    choose_style(page, "Any painting")
    expect(page.get_by_role("radio", name="Swirls")).to_be_checked()
    expect(page.get_by_label("Mix with")).to_have_value("marbling")
    assert restyle_sends(page) == {"style": "any-painting", "preset": "swirls", "mix_preset": "marbling",
                                   "mix": "0.4", "keep_colors": "true"}
    choose_style(page, "26 painting styles")
    expect(page.get_by_role("radio", name="Style 2")).to_be_checked()


def test_a_reload_keeps_a_preset_only_for_the_style_that_has_it(spage, photo):
    page = spage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.locator("#painting-input").set_input_files(page.painting)
    choose_style(page, "26 painting styles")
    page.get_by_role("radio", name="Style 1").check()
    page.reload()
    expect(page.get_by_role("radio", name="Style 1")).to_be_checked()
    assert restyle_sends(page) == {"style": "teacher-26", "preset": "style-01"}
    choose_style(page, "Any painting")
    expect(page.get_by_role("radio", name="Ribbons")).to_be_checked()
    assert restyle_sends(page) == {"style": "any-painting", "preset": "ribbons"}


def test_a_reload_keeps_the_mix_and_the_keep_colours_switch(spage, photo):
    page = spage
    swirls_mixed_with_marbling(page, photo, "60")
    for _ in range(2):  # a reload keeps them for the next one too
        page.reload()
        expect(page.get_by_role("radio", name="Swirls")).to_be_checked()
        expect(page.get_by_label("Mix with")).to_have_value("marbling")
        expect(page.get_by_role("slider", name="Share of the second style")).to_have_value("60")
        expect(page.get_by_role("switch", name="Keep my photo's colours")).to_be_checked()
    assert restyle_sends(page) == {"style": "any-painting", "preset": "swirls", "mix_preset": "marbling",
                                   "mix": "0.6", "keep_colors": "true"}

    page.get_by_label("Mix with").select_option("")
    page.get_by_role("switch", name="Keep my photo's colours").uncheck()
    page.reload()
    expect(page.get_by_label("Mix with")).to_have_value("")
    expect(page.get_by_role("switch", name="Keep my photo's colours")).not_to_be_checked()
    assert restyle_sends(page) == {"style": "any-painting", "preset": "swirls"}


def test_a_reload_keeps_the_strength_and_says_the_persons_painting_must_be_chosen_again(spage, photo):
    """A reload put the strength back to 100 % and replaced the person's painting by the first preset
    without a word, so the next Restyle painted something else than was chosen."""
    page = spage
    page.goto("/")
    # A person sees the painting zone only once the styles are there (a painting chosen earlier would go
    # to no style).
    expect(page.get_by_role("radio", name="Any painting")).to_be_checked()
    page.locator("#file-input").set_input_files(photo)
    page.locator("#painting-input").set_input_files(page.painting)
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    page.locator("#strength").fill("40")
    page.reload()
    expect(page.locator("#strength")).to_have_value("40")
    expect(page.locator("#strength-value")).to_have_text("40%")
    expect(page.locator("#painting-error")).to_have_text(
        "Your painting (painting2.png) is not kept across a reload: choose it again, or use a preset.")
    page.get_by_role("radio", name="Swirls").check()  # a preset answers the note too
    expect(page.locator("#painting-error")).to_be_hidden()
    page.locator("#painting-input").set_input_files(page.painting)  # chosen again
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    assert restyle_sends(page) == {"style": "any-painting", "style_image": "file:painting2.png"}
    assert dict(page.evaluate("window.sentForms.at(-1)"))["strength"] == "0.4"


def test_a_style_chosen_while_the_photo_uploads_does_not_change_what_the_restyle_sends(spage, photo):
    """Restyle with "26 painting styles" waits for the photo's upload; choosing "Any painting" meanwhile
    brought its kept painting into the look the restyle was still reading, and the painting went to the
    presets-only style (400). The restyle sends what was chosen when it was pressed."""
    page = spage
    held = []
    page.route("**/api/photos", lambda route: held.append(route) if route.request.method == "POST"
               else route.continue_())
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.locator("#painting-input").set_input_files(page.painting)
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    choose_style(page, "26 painting styles")
    page.get_by_role("button", name="Restyle photo").click()
    choose_style(page, "Any painting")
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    assert len(held) == 1  # the photo's upload, which the restyle waits for
    before = page.evaluate("(window.sentForms || []).length")
    page.unroute("**/api/photos")
    held[0].continue_()
    wait_sent(page, before)
    expect(page.get_by_role("alert")).to_contain_text("Refused by the test.")
    fields = dict(page.evaluate("window.sentForms.at(-1)"))
    assert {k: v for k, v in fields.items() if k in ("style", "preset", "style_image")} == \
        {"style": "teacher-26", "preset": "style-00"}


def test_a_preview_card_makes_what_it_shows_without_the_mix_its_style_kept(spage, photo):
    """A card shows a preset alone; with the style's look kept per style, a mix chosen earlier came along
    and the full-size result was the preset mixed with another."""
    page = spage
    page.goto("/")
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("radio", name="Swirls").check()
    page.get_by_label("Mix with").select_option(label="Marbling")
    before = page.evaluate("(window.sentForms || []).length")
    page.get_by_role("button", name="Make the full-size result in Any painting: Ribbons").click()
    wait_sent(page, before)
    expect(page.get_by_role("alert")).to_contain_text("Refused by the test.")
    fields = dict(page.evaluate("window.sentForms.at(-1)"))
    assert {k: v for k, v in fields.items() if k in ("style", "preset", "mix_preset", "mix")} == \
        {"style": "any-painting", "preset": "ribbons"}
    expect(page.get_by_label("Mix with")).to_have_value("")


def test_a_painting_checked_while_the_person_went_on_to_another_style_stays_with_its_own(spage, photo, tmp_path):
    """The check of a painting waits for the upload limits: a style chosen meanwhile must neither get the
    painting nor lose its own look, the painting comes back with the style it was chosen for, and a
    painting refused meanwhile is announced, not said under the other style's controls."""
    page = spage
    held = hold_limits(page)
    page.goto("/")
    expect(page.get_by_role("radio", name="Any painting")).to_be_checked()
    page.locator("#painting-input").set_input_files(page.painting)
    choose_style(page, "26 painting styles")
    let_limits_go(page, held)
    page.locator("#file-input").set_input_files(photo)
    expect(page.get_by_role("radio", name="Style 0")).to_be_checked()
    expect(page.locator("#painting-name")).to_be_hidden()
    assert restyle_sends(page) == {"style": "teacher-26", "preset": "style-00"}
    choose_style(page, "Any painting")
    expect(page.locator("#painting-name")).to_have_text("Style: your painting (painting2.png)")
    assert restyle_sends(page) == {"style": "any-painting", "style_image": "file:painting2.png"}


def test_a_painting_refused_while_the_person_went_on_to_another_style_is_announced(spage):
    page = spage
    broken = spage.painting.parent / "broken.png"
    broken.write_bytes(spage.painting.read_bytes()[:300])  # cut short: the browser cannot decode it
    held = hold_limits(page)
    page.goto("/")
    expect(page.get_by_role("radio", name="Any painting")).to_be_checked()
    page.locator("#painting-input").set_input_files(broken)
    choose_style(page, "26 painting styles")
    let_limits_go(page, held)
    expect(page.locator("#announcer")).to_contain_text("Your painting broken.png was not taken:")
    expect(page.get_by_role("radio", name="Style 0")).to_be_checked()
    choose_style(page, "Any painting")
    expect(page.locator("#painting-name")).to_be_hidden()


def hold_limits(page) -> list:
    """Holds back the page's one request for the upload limits (a painting's check waits for them)."""
    held = []
    page.route("**/api/limits", lambda route: held.append(route))
    return held


def let_limits_go(page, held: list) -> None:
    for _ in range(200):  # the page asks for its limits once, at load
        if held:
            break
        page.wait_for_timeout(50)
    page.unroute("**/api/limits")
    held.pop().continue_()
