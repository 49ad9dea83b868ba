"""The look a `tessera stylize` command asks for, from its flags: --style-image, --preset and --mix as
StyleSources, each checked as the server would check it, before any painting."""

from __future__ import annotations

import argparse
from pathlib import Path

from tessera.imageio import ImageFormatError, open_image
from tessera.style_sources import MAX_STYLE_IMAGE_PIXELS, StyleSource, mix_in, parse_mix, parse_preset


def style_sources(args: argparse.Namespace) -> list[StyleSource]:
    """The look as StyleSources: --style-image FILE and --preset ID[:WEIGHT] (repeatable; relative
    weights, default 1), then each --mix FILE[:SHARE] with its share of the whole mix (0 to 1, default
    0.5, as REST's ``mix`` and the page's slider), the styles before it sharing the rest by weight.
    ValueError before any painting for a mix without a first style or shares over 1."""
    base = [StyleSource(image=_style_image(args.style_image))] if args.style_image else []
    base += [parse_preset(text) for text in args.preset or []]
    mixes = [(StyleSource(image=_style_image(path)), share) for path, share in map(parse_mix, args.mix or [])]
    if mixes and not base:
        raise ValueError("--mix mixes a style image into a first style: give --style-image or --preset too")
    return mix_in(base, mixes, "--mix")


def style_image_files(args: argparse.Namespace) -> list[tuple[Path, str]]:
    """The paintings the command reads, each (path, what it is): --style-image, 'the style image', and
    every --mix FILE, 'the --mix painting'; a result must never overwrite one of them (tessera.cli_output)."""
    files = [(Path(args.style_image), "the style image")] if args.style_image else []
    return files + [(path, "the --mix painting") for path, _ in map(parse_mix, args.mix or [])]


def _style_image(path) -> bytes:
    """The style image's bytes; ValueError naming the file for one that cannot be read, is empty, or
    that the server would refuse from its header (not a PNG, JPEG or WebP still, damaged, too large)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        hint = " (a share after ':' must be a number from 0 to 1)" if ":" in Path(path).name else ""
        raise ValueError(f"cannot read the style image {path}: {error.strerror}{hint}") from None
    if not data:
        raise ValueError(f"the style image {path} is empty")
    try:
        open_image(data, MAX_STYLE_IMAGE_PIXELS).close()  # the server's own check, from the header
    except ImageFormatError as error:
        raise ValueError(f"the style image {path}: {error}") from None
    return data
