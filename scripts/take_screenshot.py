"""Makes the README's picture of the page: a photo restyled, the compare slider part way.

    make screenshot    (or: .venv/bin/python -m scripts.take_screenshot [--registry model_registry]
                        [--style ID] [--out docs/screenshot.png])

It starts the inference server and the gateway (scripts/local_stack.py) on the registry, restyles
the astronaut photo in Chromium and saves the page. The PNG is quantised to stay small (< 300 kB).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright
from skimage import data as skdata

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS
from scripts.local_stack import gateway_process, running_server


def shoot(url: str, photo: Path, style: str | None, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url)
        radios = page.locator("input[name=style]:not([disabled])")
        expect(radios.first).to_be_attached()
        (page.locator(f"input[value='{style}']") if style else radios.nth(min(1, radios.count() - 1))).check()
        page.locator("#file-input").set_input_files(photo)
        page.get_by_role("button", name="Restyle photo").click()
        expect(page.get_by_role("link", name="Download")).to_be_visible(timeout=300_000)
        page.get_by_role("slider", name="Compare").fill("40")
        page.evaluate("() => window.scrollTo(0, 0)")
        page.wait_for_timeout(500)  # let the smooth scroll and the card transitions settle
        raw = out.with_suffix(".raw.png")
        page.screenshot(path=str(raw))
        browser.close()
    with Image.open(raw) as shot:
        shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink()
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registry", type=Path, default=Path("model_registry"), help="registry to serve")
    parser.add_argument("--style", help="style id to pick (default: the second serving one)")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshot.png"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.jpg"
        Image.fromarray(skdata.astronaut()).save(photo, quality=90)
        # Small tiles, so the progress bar has work to show.
        with running_server(args.registry, default_tile_size=64) as address, \
                gateway_process([address]) as (_, url):
            shoot(url, photo, args.style, args.out)


if __name__ == "__main__":
    main()
