"""The tiles a version must turn into finite output of the right shape before it may serve.

One random-noise tile is not enough: a model that normalises each tile without an epsilon is fine
on noise and gives NaN on a flat sky. So the probes cover flat tiles of several values (the
extremes -1 and +1 among them), a checkerboard of the extremes, noise, and a synthetic photo-like
tile (a power-law spectrum, like natural images, with flat shapes and hard edges in it), at the standard
probe size, at odd sizes, at the smallest input the server sends, and once as a batch of two.
Tiles are RGB8, prepared exactly like served tiles (`tessera.pixels`), so what passes here is what
runs later.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE_CORE = 32
FLAT_VALUES = (0, 64, 128, 191, 255)  # RGB8; 0 and 255 are the convention's -1 and +1
# The grey levels photos are squeezed into (low_contrast) when another form of a version is checked
# against it: bf16 (scripts/bf16_check.py) and the graphs in another form (scripts/graph_form_version.py).
FOG_LEVELS = (8, 4)


@dataclass(frozen=True)
class Probe:
    """One probe: a name for messages and its tiles (each HxWx3 uint8, halo included)."""

    name: str
    tiles: tuple[np.ndarray, ...]
    # Whether it looks like what people send (flat colours, photo-like pictures, a low-contrast one), so a
    # reduced-precision engine must agree with fp32 on it; synthetic extremes need only give finite output.
    natural: bool = True


def probe_set(halo: int, size_multiple: int) -> list[Probe]:
    """Every probe for a version with this halo and size multiple (about a dozen small runs)."""
    edge = PROBE_CORE + 2 * halo
    edge = -(-edge // size_multiple) * size_multiple
    rng = np.random.default_rng(0)
    probes = [Probe(f"flat {value}", (np.full((edge, edge, 3), value, np.uint8),)) for value in FLAT_VALUES]
    probes += [
        Probe("flat colour", (np.broadcast_to(np.array([250, 20, 120], np.uint8), (edge, edge, 3)).copy(),)),
        Probe("checkerboard 0/255", (_checkerboard(edge, edge),), natural=False),
        Probe("noise", (rng.integers(0, 256, (edge, edge, 3), dtype=np.uint8),), natural=False),
        Probe("photo-like", (photo_like(edge, edge, seed=1),)),
        Probe("low-contrast photo-like", (low_contrast(photo_like(edge, edge, seed=5)),)),
        Probe("very low-contrast photo-like", (low_contrast(photo_like(edge, edge, seed=6), levels=4),)),
        Probe("photo-like, odd size", (photo_like(edge + 13, edge + 7, seed=2),)),
        Probe("one pixel", (np.full((1, 1, 3), 90, np.uint8),)),
        Probe("thin strip", (photo_like(3, edge + 5, seed=3),)),
        Probe("batch of two", (photo_like(edge, edge, seed=4), np.full((edge, edge, 3), 255, np.uint8))),
    ]
    return probes


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic HxWx3 uint8 image with natural-image statistics: a power-law amplitude spectrum
    (smooth shading with detail at every scale), correlated colour channels, and a flat disk and a
    flat band with hard edges, as skies and walls give."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    frequency = np.hypot(fy, fx)
    frequency[0, 0] = 1.0
    spectrum = (rng.normal(size=(3, height, fx.shape[1])) + 1j * rng.normal(size=(3, height, fx.shape[1])))
    # Amplitude falling as 1/f^1.5: photos fall at about 1/f^1 to 1/f^2, and steeper looks less like noise.
    fields = np.fft.irfft2(spectrum / frequency**1.5, s=(height, width))
    luminance = fields[0]
    image = np.stack([luminance + 0.3 * fields[1], luminance, luminance + 0.3 * fields[2]], axis=-1)
    low, high = np.percentile(image, [1, 99])
    image = np.clip((image - low) / max(high - low, 1e-6), 0, 1) * 255
    yy, xx = np.mgrid[0:height, 0:width]
    disk = (yy - height * 0.6) ** 2 + (xx - width * 0.35) ** 2 < (min(height, width) * 0.2) ** 2
    image[disk] = (235, 220, 200)
    image[: max(1, height // 5)] = (120, 170, 230)  # a flat sky along the top
    return image.astype(np.uint8)


def low_contrast(image: np.ndarray, levels: int = 8) -> np.ndarray:
    """`image` (HxWx3 uint8) squeezed into `levels` grey levels around mid-grey, as fog or a plain wall:
    the case where a model's normalisation divides by a small spread and a reduced-precision engine
    shows its error (scripts/bf16_check.py makes its foggy photos with it too)."""
    return (128 - levels // 2 + image.astype(np.uint16) * levels // 256).astype(np.uint8)


def _checkerboard(height: int, width: int, square: int = 4) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    board = (((yy // square) + (xx // square)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=-1)
