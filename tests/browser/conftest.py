"""The real stack for browser tests: an inference server process on a gallery registry, the gateway
under waitress, and Debian's Chromium driven by Playwright. A failing test leaves a screenshot in
test-artifacts/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect
from skimage import data as skdata

from bff import close_app
from scripts.chromium import CHROMIUM, CHROMIUM_ARGS
from scripts.local_stack import running_server
from scripts.make_clips import make_clip
from tessera.imageio import encode_image
from tests.bff.gallery import write_gallery
from tests.bff.live import closed_port_address, make_app, serving
from trainer.style_presets import mosaic

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Small tiles, so that even the test photo takes dozens of tiles and the progress bar has work to show.
TILE_SIZE = 64
# Frames of the test clip (the `clip` fixture).
CLIP_FRAMES = 10
# The accessible name of the stage's download ("Download JPG"), told apart from each listed result's
# ("Download the file of Moss · … until 09:53") and a batch's zip's.
STAGE_DOWNLOAD = re.compile(r"^Download (JPG|PNG|WEBP)$")


@pytest.fixture(scope="session")
def gallery(tmp_path_factory) -> Path:
    """A registry with the gallery styles (tests.bff.gallery)."""
    return write_gallery(tmp_path_factory.mktemp("gallery"), tmp_path_factory.mktemp("gallery-export"))


@contextmanager
def stack(registry: Path, gateway: dict | None = None, **server_flags) -> Iterator[str]:
    """A real inference server on `registry` and a gateway in front of it; yields the gateway's URL.

    Every browser test uploads from the one address 127.0.0.1 and keeps its photos for an hour, so the
    gateway's per-client photo cap (20, tested in tests/bff/test_photos_api.py) is raised here: a suite
    of more than 20 uploads must not find its later tests refused. `gateway`: GatewayConfig fields to
    set otherwise (a test of the cap lowers it on a stack of its own)."""
    with running_server(registry, **server_flags) as address:
        app = make_app(servers=(address,), **{"max_photos_per_client": 1000, **(gateway or {})})
        try:
            with serving(app) as url:
                yield url
        finally:
            close_app(app)


@pytest.fixture(scope="session")
def gateway_url(gallery):
    """Base URL of the gateway in front of a real inference server with the gallery styles."""
    with stack(gallery, default_tile_size=TILE_SIZE) as url:
        yield url


@pytest.fixture(scope="module")
def painting_gateway(tmp_path_factory):
    """Base URL of the gateway in front of a real inference server with the shipped "Any painting"."""
    registry = tmp_path_factory.mktemp("painting-registry")
    (registry / "any-painting").symlink_to(Path(__file__).resolve().parents[2] / "model_registry" / "any-painting")
    with stack(registry, default_tile_size=128) as url:
        yield url


@pytest.fixture
def ppage(browser, request, painting_gateway):
    """A page of the gateway whose style takes paintings (painting_gateway)."""
    yield from open_page(browser, request, painting_gateway, viewport={"width": 1280, "height": 900})


@pytest.fixture(scope="module")
def own_painting(tmp_path_factory) -> Path:
    """A person's own painting: a mosaic, 160 px."""
    path = tmp_path_factory.mktemp("paintings") / "my-mosaic.png"
    path.write_bytes(encode_image(mosaic(side=160), "png"))
    return path


@pytest.fixture
def down_gateway_url():
    """Base URL of a gateway whose inference server is down (nothing listens at its address)."""
    app = make_app(servers=(closed_port_address(),))
    with serving(app) as url:
        yield url
    close_app(app)


@pytest.fixture(scope="session")
def photo(tmp_path_factory) -> Path:
    """The astronaut photo from scikit-image (public domain, NASA) as a 512×512 JPEG."""
    path = tmp_path_factory.mktemp("photos") / "astronaut.jpg"
    Image.fromarray(skdata.astronaut()).save(path, "JPEG", quality=90)
    return path


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """A 160 × 96 MP4 clip of CLIP_FRAMES moving frames at 10 fps, with a tone track."""
    path = tmp_path_factory.mktemp("clips") / "harbour-walk.mp4"
    path.write_bytes(make_clip("moving", "mp4", 160, 96, CLIP_FRAMES, 10))
    return path


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (make install, or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request, gateway_url):
    """A fresh browser tab at desktop size; tests that need a phone use `phone_page`."""
    yield from open_page(browser, request, gateway_url, viewport={"width": 1280, "height": 860})


@pytest.fixture
def phone_page(browser, request, gateway_url):
    """A tab the size of a small phone (375 × 740, touch, device pixel ratio 2)."""
    yield from open_page(browser, request, gateway_url, viewport={"width": 375, "height": 740},
                          device_scale_factor=2, is_mobile=True, has_touch=True)


def open_page(browser, request, gateway_url, **context_options):
    """Yields a tab of a new browser context at `gateway_url`; screenshots it if the test failed."""
    context = browser.new_context(accept_downloads=True, base_url=gateway_url, **context_options)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.console_problems = problems
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def big_photo(tmp_path_factory) -> Path:
    """A 12 MP JPEG (4000x3000, scikit-image's astronaut enlarged), as a designer's camera makes."""
    path = tmp_path_factory.mktemp("big") / "astronaut-12mp.jpg"
    Image.fromarray(skdata.astronaut()).resize((4000, 3000), Image.Resampling.BICUBIC).save(path, quality=90)
    return path


def astronaut_and_cat(photo: Path, folder: Path, cat_name: str = "photo.jpg") -> tuple[Path, Path]:
    """The astronaut as FOLDER/a/photo.jpg and scikit-image's cat as FOLDER/b/`cat_name`: two photos
    whose names clash (from two folders)."""
    astronaut, cat = folder / "a" / "photo.jpg", folder / "b" / cat_name
    for path in (astronaut, cat):
        path.parent.mkdir()
    astronaut.write_bytes(photo.read_bytes())
    Image.fromarray(skdata.chelsea()).save(cat, "JPEG", quality=90)
    return astronaut, cat


def photo_and_crops(photo: Path, folder: Path, boxes: list[tuple[int, int, int, int]], prefix: str) -> list[Path]:
    """`photo` and its crops to each (left, top, right, bottom) box, saved as FOLDER/<prefix><i>.png: a
    batch of distinct photos from one picture."""
    paths = [photo]
    with Image.open(photo) as image:
        for index, box in enumerate(boxes):
            path = folder / f"{prefix}{index}.png"
            image.crop(box).save(path)
            paths.append(path)
    return paths


def restyle_first(page, photo: Path, style: str = "Harbour blue"):
    """Open the page, choose `style` and `photo`, restyle, and wait for the result to be listed; returns
    (the Restyle button, the results list's items)."""
    page.goto("/")
    page.get_by_role("radio", name=style).check()
    page.locator("#file-input").set_input_files(photo)
    restyle = page.get_by_role("button", name="Restyle photo")
    restyle.click()
    listed = page.locator("#results-list > li")
    expect(listed).to_have_count(1, timeout=60_000)
    return restyle, listed
