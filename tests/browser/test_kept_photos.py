"""The photos the page keeps on the gateway (POST /api/photos): it deletes the one a new photo replaces
when no result needs it, reuses the upload of a file chosen again, and when the gateway's per-address
cap is still reached says what the person can do on the page. Before, every choice was a new upload
and none was ever deleted: after `max_photos_per_client` choices the page told the person to "delete
one", which it offered no way to do."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import TILE_SIZE, open_page, photo_and_crops, stack

pytestmark = pytest.mark.browser
JOB_WAIT_MS = 60_000
CAP = 3


@pytest.fixture
def capped_url(gallery):
    """A gateway that keeps at most CAP photos per address, of its own: no other test's photos count."""
    with stack(gallery, gateway={"max_photos_per_client": CAP}, default_tile_size=TILE_SIZE) as url:
        yield url


@pytest.fixture
def capped_page(browser, request, capped_url):
    yield from open_page(browser, request, capped_url, viewport={"width": 1280, "height": 860})


def photo_calls(page) -> list[str]:
    """Records each POST and DELETE of /api/photos the page sends, as "POST" or "DELETE <id>"."""
    calls: list[str] = []

    def seen(req) -> None:
        if req.method == "POST" and req.url.endswith("/api/photos"):
            calls.append("POST")
        elif req.method == "DELETE" and "/api/photos/" in req.url:
            calls.append(f"DELETE {req.url.rsplit('/', 1)[-1]}")
    page.on("request", seen)
    return calls


def kept_count(page) -> int:
    """How many photos the gateway keeps for this address: uploads until it refuses, then deletes them."""
    ids = []
    while True:
        answer = page.request.post("/api/photos", multipart={"image": {
            "name": "probe.png", "mimeType": "image/png", "buffer": PROBE}})
        if answer.status == 429:
            break
        ids.append(answer.json()["id"])
    for photo_id in ids:
        page.request.delete(f"/api/photos/{photo_id}")
    return CAP - len(ids)


def png_bytes() -> bytes:
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


PROBE = png_bytes()


def test_choosing_photo_after_photo_never_fills_the_gateway(capped_page, photo, tmp_path):
    page = capped_page
    calls = photo_calls(page)
    page.goto("/")
    coffee = page.get_by_role("button", name="Coffee")
    coffee.click()
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^coffee\.jpg"))
    expect(page.locator(".preview-card").first).to_be_visible()
    coffee.click()  # the same photo again: its upload is reused
    expect(page.locator("#file-name")).to_have_text(re.compile(r"^coffee\.jpg"))
    page.wait_for_timeout(500)
    assert calls.count("POST") == 1, calls
    crops = photo_and_crops(photo, tmp_path, [(0, 0, 200, 200), (50, 50, 300, 300), (100, 0, 400, 300),
                                              (0, 100, 300, 400), (10, 10, 250, 250)], "crop")
    for path in crops:  # twice the cap of photos, one after another
        page.locator("#file-input").set_input_files(path)
        expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(path.name)}"))
        expect(page.locator(".preview-card").first).to_be_visible()
        expect(page.locator("#file-error")).to_be_hidden()
    page.get_by_role("button", name="Restyle photo").click()
    expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    expect(page.locator("#error")).to_be_hidden()
    assert calls.count("POST") == 1 + len(crops), calls
    assert len([c for c in calls if c.startswith("DELETE")]) >= len(crops), calls  # each replaced one let go
    assert kept_count(page) == 1  # only the photo on the page


def test_a_result_keeps_its_photo_until_the_room_is_needed(capped_page, photo, tmp_path):
    """A photo with a result is kept, so the result shows over it after a reload; once the cap is reached
    the page lets go of such photos itself (their results are then shown alone) rather than refuse."""
    page = capped_page
    page.goto("/")
    paths = photo_and_crops(photo, tmp_path, [(0, 0, 256, 192), (100, 100, 420, 340), (0, 0, 300, 300)], "part")
    listed = page.locator("#results-list > li")
    for count, path in enumerate(paths[:3], start=1):
        page.locator("#file-input").set_input_files(path)
        page.get_by_role("button", name="Restyle photo").click()
        expect(listed).to_have_count(count, timeout=JOB_WAIT_MS)
    page.reload()
    first = listed.filter(has_text=paths[0].name)
    first.get_by_role("button", name="Show").click()
    before = page.get_by_role("img", name="Your photo, before restyling")
    expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(paths[0].name)}"))
    expect(before).to_have_attribute("src", re.compile(r"/api/photos/[^/]+/image$"))

    page.locator("#file-input").set_input_files(paths[3])  # a 4th photo: the cap is 3
    expect(page.locator("#file-name")).to_have_text(re.compile(rf"^{re.escape(paths[3].name)}"))
    expect(page.locator(".preview-card").first).to_be_visible()
    expect(page.locator("#file-error")).to_be_hidden()
    page.get_by_role("button", name="Restyle photo").click()
    expect(listed).to_have_count(4, timeout=JOB_WAIT_MS)
    expect(page.locator("#error")).to_be_hidden()


def test_when_others_fill_the_cap_the_page_says_what_can_be_done(capped_page, photo):
    page = capped_page
    page.goto("/")
    held = [page.request.post("/api/photos", multipart={"image": {
        "name": "other.png", "mimeType": "image/png", "buffer": PROBE}}) for _ in range(CAP)]
    try:
        assert all(answer.status == 201 for answer in held)
        page.locator("#file-input").set_input_files(photo)
        error = page.locator("#file-error")
        expect(error).to_contain_text("Press \u201cRestyle photo\u201d to try again once one of them expires")
        expect(error).not_to_contain_text("delete one")
        page.request.delete(f"/api/photos/{held[0].json()['id']}")
        page.get_by_role("button", name="Restyle photo").click()
        expect(page.locator("#results-list > li")).to_have_count(1, timeout=JOB_WAIT_MS)
    finally:
        for answer in held:
            if answer.status == 201:
                page.request.delete(f"/api/photos/{answer.json()['id']}")


def test_a_duplicated_tab_never_deletes_the_photo_of_the_tab_it_was_copied_from(page, photo, tmp_path):
    """A duplicated tab (or one opened by window.open) starts with a copy of the visit's list of uploads,
    and deleted every listed photo it did not hold itself: the first tab's photo among them. A page now
    deletes only what this page load uploaded; the rest expires."""
    _, other = photo_and_crops(photo, tmp_path, [(0, 0, 256, 192)], "other")
    page.goto("/")
    page.get_by_role("radio", name="Harbour blue").check()
    with page.expect_response(re.compile(r"/api/photos$")) as uploaded:
        page.locator("#file-input").set_input_files(photo)
    first = uploaded.value.json()["id"]
    with page.context.expect_page() as opened:
        page.evaluate("window.open(location.href)")  # sessionStorage is copied, as into a duplicated tab
    copy = opened.value
    copy.wait_for_load_state()
    calls = photo_calls(copy)
    with copy.expect_response(re.compile(r"/api/photos$")):
        copy.locator("#file-input").set_input_files(other)
    copy.wait_for_timeout(1000)  # a delete would be on its way by now
    assert not [call for call in calls if call == f"DELETE {first}"]
    assert page.request.get(f"/api/photos/{first}").status == 200
    copy.close()


def test_without_a_content_digest_two_photos_of_one_name_and_size_are_both_uploaded(page, tmp_path):
    """Served over plain http from another machine, a page has no crypto.subtle, and a photo's key is
    its name and size: the second of two such photos was taken for the first, never sent, and the
    first restyled in its place."""
    from PIL import Image

    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir()
    second_dir.mkdir()
    Image.new("RGB", (64, 48), (200, 20, 20)).save(first_dir / "photo.png", "PNG")
    Image.new("RGB", (64, 48), (20, 20, 200)).save(second_dir / "photo.png", "PNG")
    first, second = first_dir / "photo.png", second_dir / "photo.png"
    assert first.stat().st_size == second.stat().st_size
    page.add_init_script("Object.defineProperty(crypto, 'subtle', { value: undefined })")
    calls = photo_calls(page)
    page.goto("/")
    for chosen in (first, second):
        with page.expect_response(re.compile(r"/api/photos$")):
            page.locator("#file-input").set_input_files(chosen)
    assert calls.count("POST") == 2
