"""What moves fid_effnetlite0_to_paintings? Controls for the CycleGAN style's figure, for docs/styles.md.

Runs shipped Wesnoth Painting versions (their ONNX files, on whole hold-out photos, as the trainer's
evaluation runs its generator) and plain filters, and prints each variant's ratio to the untouched
photos on the same crops as ``python -m trainer evaluate`` with ``--crops 256``:

    python -m scripts.painting_figure_controls [--plain-version 3] [--filtered-version 4]

The variants separate colour from brightness structure (the plain version's colours on the photo's
luminance, and the reverse), and a fixed Kuwahara filter alone from a trained generator ending in one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainer import kuwahara as kuwahara_module

ROOT = Path(__file__).resolve().parent.parent
STYLE_DIR = ROOT / "model_registry" / "wesnoth-painting"
PHOTOS = ROOT / "data" / "photos" / "holdout"
PAINTINGS = ROOT / "data" / "paintings" / "wesnoth"
LUMA = torch.tensor(kuwahara_module.LUMA)[:, None, None]
KUWAHARA_RADIUS = 8

Images = list[torch.Tensor]  # CHW float tensors in [-1, 1]


def onnx_outputs(model_path: Path, images: Images) -> Images:
    """The ONNX generator on each whole image, padded to its stride 4 and cropped back."""
    from trainer.onnx_export import session
    from trainer.tiled_check import run_whole

    ort = session(model_path)
    name = ort.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return ort.run(None, {name: batch.astype(np.float32)})[0]

    return [torch.from_numpy(run_whole(run, image.numpy(), 4)) for image in images]


def luma(image: torch.Tensor) -> torch.Tensor:
    return (image * LUMA).sum(0, keepdim=True)


def colours_on_luminance(colour_source: torch.Tensor, luminance_source: torch.Tensor) -> torch.Tensor:
    """The colour (RGB minus luma) of one image on the luminance of the other."""
    return (colour_source - luma(colour_source) + luma(luminance_source)).clamp(-1, 1)


def kuwahara(images: Images) -> Images:
    kuwahara_filter = kuwahara_module.Kuwahara(KUWAHARA_RADIUS)
    with torch.no_grad():
        return [kuwahara_filter(image[None])[0] for image in images]


def variants(photos: Images, plain: Images, filtered: Images, plain_v: int, filtered_v: int) -> dict[str, Images]:
    return {
        "photos, untouched": photos,
        f"Kuwahara r{KUWAHARA_RADIUS} on the photos": kuwahara(photos),
        f"v{plain_v}": plain,
        f"v{plain_v}'s colours on the photo's luminance": [colours_on_luminance(o, p) for o, p in zip(plain, photos,
                                                                                                      strict=True)],
        f"the photo's colours on v{plain_v}'s luminance": [colours_on_luminance(p, o) for o, p in zip(plain, photos,
                                                                                                      strict=True)],
        f"Kuwahara r{KUWAHARA_RADIUS} after v{plain_v}": kuwahara(plain),
        f"v{filtered_v} (trained with the filter inside)": filtered,
    }


def print_ratios(candidates: dict[str, Images], figure: Callable) -> None:
    """One line per variant: its fid_effnetlite0_to_paintings and its ratio to the untouched photos'."""
    for name, outputs in candidates.items():
        values, _ = figure(outputs)
        fid, base = values["fid_effnetlite0_to_paintings"], values["fid_effnetlite0_input_to_paintings"]
        print(f"{name:50s} {fid:7.1f}  ratio {fid / base:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plain-version", type=int, default=3, help="a version without the Kuwahara filter")
    parser.add_argument("--filtered-version", type=int, default=4, help="a version ending in the filter")
    parser.add_argument("--crops", type=int, default=256)
    args = parser.parse_args(argv)
    if not PHOTOS.is_dir() or not PAINTINGS.is_dir():
        print("painting_figure_controls: run `make data` first (needs data/photos/holdout and "
              "data/paintings/wesnoth)", file=sys.stderr)
        return 2
    from trainer.data import list_images
    from trainer.evaluate import EvalOptions, load_rgb, to_chw, unpaired_figures

    torch.set_num_threads(2)
    opts = EvalOptions(holdout_a=PHOTOS, holdout_b=PAINTINGS, crops=args.crops)
    photos = [to_chw(load_rgb(p, opts.max_side)) for p in list_images(PHOTOS)]
    plain = onnx_outputs(STYLE_DIR / str(args.plain_version) / "model.onnx", photos)
    filtered = onnx_outputs(STYLE_DIR / str(args.filtered_version) / "model.onnx", photos)
    candidates = variants(photos, plain, filtered, args.plain_version, args.filtered_version)
    print_ratios(candidates, lambda outputs: unpaired_figures(PAINTINGS, opts, photos, outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
