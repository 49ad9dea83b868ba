"""What the style's critic sees, on the page in plain words ("How convincing is the style?"), in Chromium
on the real stack: hidden for styles without a critic, both maps over the result for a style with one, and
every control works from the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tessera.registry import write_version
from tests.bff.gallery import TONES, ToneGenerator
from tests.browser.conftest import STAGE_DOWNLOAD, TILE_SIZE, open_page, stack
from tests.support.critic_version import tiny_critic, write_critic_version
from tests.support.tiny_model import export_onnx, tiny_manifest

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def critic_gateway(tmp_path_factory):
    root, work = tmp_path_factory.mktemp("critic-gallery"), tmp_path_factory.mktemp("critic-export")
    export_onnx(ToneGenerator(TONES["moss"][2]), work / "moss.onnx")
    write_version(root, "moss", {"model.onnx": work / "moss.onnx"}, tiny_manifest(), {"display_name": "Moss"})
    write_critic_version(root, work, tiny_critic())
    with stack(root, default_tile_size=TILE_SIZE) as url:
        yield url


@pytest.fixture
def critic_page(browser, request, critic_gateway):
    yield from open_page(browser, request, critic_gateway, viewport={"width": 1280, "height": 860})


def restyle(page, photo, style):
    page.get_by_role("radio", name=style).check()
    page.locator("#file-input").set_input_files(photo)
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.get_by_role("link", name=STAGE_DOWNLOAD)).to_be_visible()


def test_the_critic_maps_overlay_the_result_from_the_keyboard_and_hide_without_a_critic(critic_page, photo):
    page = critic_page
    page.goto("/")
    restyle(page, photo, "Moss")
    expect(page.locator("#critic")).to_be_hidden()

    restyle(page, photo, "Tiny Critic")
    panel = page.get_by_role("group", name="How convincing is the style?")
    expect(panel).to_be_visible()
    overlay = page.locator("#critic-overlay")
    expect(overlay).to_be_hidden()
    toggle = page.get_by_role("switch", name="Show the map over the result")
    toggle.focus()
    page.keyboard.press("Space")
    expect(toggle).to_be_checked()
    expect(overlay).to_be_visible()
    expect(overlay).to_have_attribute("src", "/api/jobs/" + overlay.get_attribute("src").split("/")[3]
                                      + "/maps/realism")
    expect(overlay).to_have_js_property("naturalWidth", 512)
    expect(page.locator("#critic-legend")).to_contain_text("Red: this part looks like the real style")
    expect(overlay).to_have_accessible_name("Map of how convincing each part of the result looks")

    page.get_by_role("radio", name="Part by part").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="What convinces most")).to_be_checked()
    expect(overlay).to_have_attribute("src", overlay.get_attribute("src").rsplit("/", 1)[0] + "/gradcam")
    expect(overlay).to_have_js_property("naturalWidth", 512)
    expect(page.locator("#critic-legend")).to_contain_text("the parts that make the result look most like the real")
    expect(overlay).to_have_accessible_name("Map of the parts of the result that convince most")

    page.get_by_role("slider", name="Opacity").focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    assert page.locator("#compare").evaluate("el => el.style.getPropertyValue('--critic-opacity')") == "0.4"
    assert float(overlay.evaluate("el => getComputedStyle(el).opacity")) == pytest.approx(0.4)

    restyle(page, photo, "Moss")
    expect(page.locator("#critic")).to_be_hidden()
    expect(overlay).to_be_hidden()
    assert page.console_problems == []  # among others: no CSP violation


JARGON = re.compile(r"critic|grad-?cam|teacher|student|discriminator|realism", re.IGNORECASE)


def test_the_maps_are_offered_in_words_a_person_understands(critic_page, photo):
    """A user met "critic", "Grad-CAM" and "Realism map" on the page: none of them is said or read out."""
    page = critic_page
    page.goto("/")
    restyle(page, photo, "Tiny Critic")
    page.get_by_role("switch", name="Show the map over the result").check()
    panel = page.locator("#critic")
    said = [panel.inner_text(), page.locator("#critic-overlay").get_attribute("alt")]
    for radio in panel.get_by_role("radio").all():
        radio.check()
        said += [panel.inner_text(), page.locator("#critic-overlay").get_attribute("alt")]
    names = panel.locator("[aria-label], legend, label").evaluate_all(
        "els => els.map((el) => el.getAttribute('aria-label') || el.textContent)")
    found = [text for text in said + names if JARGON.search(text or "")]
    assert found == []
