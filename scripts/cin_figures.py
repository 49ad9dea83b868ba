"""Figures of docs/styles.md for the style-conditioned teachers: seams, thumbnail statistics, banding.

    .venv/bin/python -m scripts.cin_figures [--network arbitrary|multistyle26] [--side 2048] [--out DIR]

On the benchmark photo (scikit-image's astronaut resized to side x 3/4 side, as bench/serving.py),
with one preset's code, it prints as PSNR in dB against the output with the true whole-image
statistics (the original network run on the whole image):
- tiled (512 px cores, halo 64) against whole, both with the same statistics (seam-free means >= 50);
- statistics from a thumbnail of 256, 512 and 1024 px;
- naive tiling: every tile normalised by its own statistics;
- the whole network at twice the side, downsized, against the run at the side (scale dependence);
and the distinct 8-bit levels per channel with and without the float tail (banding). With
``--out`` it also writes crops of the results as PNG to look at. ``--cyclegan`` measures an
imported-CycleGAN (ThumbInstanceNorm) resnet_9blocks with random weights the same way instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tessera.imageio import make_thumbnail
from tessera.pixels import chw_to_rgb8, rgb8_to_chw, rgb8_to_nchw, signed_to_rgb8
from trainer import cin_models
from trainer.metrics import psnr
from trainer.style_presets import PRESETS
from trainer.tiled_check import run_tiled, run_whole

TILE = 512
THUMBS = (256, 512, 1024)


def photo(side: int) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return (resize(data.astronaut(), (side * 3 // 4, side), anti_aliasing=True) * 255).astype(np.uint8)


def _code(runner: cin_models.CinRunner, network: cin_models.Network) -> np.ndarray:
    if network.encoder:
        return runner.encode(PRESETS[0].make())
    return np.eye(network.graph.code_size, dtype=np.float32)[3]


def _naive_tiled(runner: cin_models.CinRunner, rgb8: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Every tile (with its halo) normalised by its own statistics, as a plain tiler would do."""
    from tessera.tiling import crop_core, padded_rect, plan_tiles

    height, width = rgb8.shape[:2]
    out = np.empty((3, height, width), np.float32)
    for core in plan_tiles(width, height, TILE):
        padded = padded_rect(core, cin_models.HALO, width, height)
        region = rgb8[padded.slices()]
        result = run_whole(runner.runner(runner.context(region, code)), rgb8_to_chw(region),
                           cin_models.SIZE_MULTIPLE)
        out[:, core.y:core.y1, core.x:core.x1] = crop_core(result.transpose(1, 2, 0), core, padded).transpose(2, 0, 1)
    return out


def _levels(chw: np.ndarray) -> list[int]:
    rgb = signed_to_rgb8(chw)
    return [len(np.unique(rgb[c])) for c in range(3)]


def measure(network: cin_models.Network, side: int, out: Path | None) -> None:
    rgb8 = photo(side)
    chw = rgb8_to_chw(rgb8)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cin_models.build(network, folder)
        runner = cin_models.CinRunner(folder)
        code = _code(runner, network)
        started = time.perf_counter()
        true_context = runner.context(rgb8, code)
        reference = run_whole(runner.runner(true_context), chw, cin_models.SIZE_MULTIPLE)
        seconds = time.perf_counter() - started
        print(f"{network.id} on a {rgb8.shape[1]}x{rgb8.shape[0]} photo (whole run {seconds:.1f} s)")
        tiled = run_tiled(runner.runner(true_context), chw, TILE, cin_models.HALO, cin_models.SIZE_MULTIPLE)
        print(f"  tiled vs whole, same statistics: {psnr(tiled, reference):.1f} dB")
        results = {"true": reference}
        for size in THUMBS:
            context = runner.context(make_thumbnail(rgb8, size), code)
            results[f"thumb{size}"] = run_whole(runner.runner(context), chw, cin_models.SIZE_MULTIPLE)
            print(f"  thumbnail {size} px statistics: {psnr(results[f'thumb{size}'], reference):.1f} dB")
        results["naive"] = _naive_tiled(runner, rgb8, code)
        print(f"  naive per-tile statistics: {psnr(results['naive'], reference):.1f} dB")
        big = np.asarray(Image.fromarray(rgb8).resize((2 * rgb8.shape[1], 2 * rgb8.shape[0]), Image.LANCZOS))
        doubled = run_whole(runner.runner(runner.context(big, code)), rgb8_to_chw(big), cin_models.SIZE_MULTIPLE)
        down = rgb8_to_chw(np.asarray(Image.fromarray(chw_to_rgb8(doubled)).resize(rgb8.shape[1::-1], Image.LANCZOS)))
        print(f"  network at {2 * side} px, downsized, vs at {side} px: {psnr(down, reference):.1f} dB")
        print(f"  8-bit levels per channel with the float tail: {_levels(reference)}")
        plain = folder / "plain"
        plain.mkdir()
        cin_models.build(network, plain, float_tail=False)
        plain_runner = cin_models.CinRunner(plain)
        quantized = run_whole(plain_runner.runner(plain_runner.context(rgb8, code)), chw, cin_models.SIZE_MULTIPLE)
        print(f"  8-bit levels per channel as shipped (int8 tail): {_levels(quantized)}")
        if out is not None:
            _save_crops(out, network.id, {**results, "int8tail": quantized})


def _save_crops(out: Path, name: str, results: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for key, chw in results.items():
        _, h, w = chw.shape
        crop = chw[:, h // 4:h // 4 + 512, w // 3:w // 3 + 512]
        Image.fromarray(chw_to_rgb8(crop)).save(out / f"{name}-{key}.png")


def measure_cyclegan(side: int) -> None:
    """ThumbInstanceNorm on an imported resnet_9blocks (random weights) at several thumbnail sizes."""
    import torch

    from trainer import networks, thumb_norm

    torch.manual_seed(0)
    net = networks.define_G(**networks.generator_args("resnet_9blocks", 3, 3, 64, "instance", False)).eval()
    collector, generator = thumb_norm.StatsCollector(net).eval(), thumb_norm.ContextNormGenerator(net).eval()
    rgb8 = photo(side)
    x = torch.from_numpy(rgb8_to_nchw(rgb8))
    with torch.no_grad():
        reference = net(x).numpy()
        print(f"cyclegan resnet_9blocks (random weights) on a {rgb8.shape[1]}x{rgb8.shape[0]} photo")
        for size in THUMBS:
            thumb = torch.from_numpy(rgb8_to_nchw(make_thumbnail(rgb8, size)))
            out = generator(x, collector(thumb)).numpy()
            print(f"  thumbnail {size} px statistics: {psnr(out, reference):.1f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", choices=sorted(cin_models.NETWORKS), default="arbitrary")
    parser.add_argument("--side", type=int, default=2048, help="longer side of the benchmark photo")
    parser.add_argument("--out", type=Path, help="folder for PNG crops of the results")
    parser.add_argument("--cyclegan", action="store_true", help="measure ThumbInstanceNorm on CycleGAN instead")
    args = parser.parse_args()
    if args.cyclegan:
        measure_cyclegan(args.side)
    else:
        measure(cin_models.NETWORKS[args.network], args.side, args.out)


if __name__ == "__main__":
    main()
