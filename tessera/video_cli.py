"""`tessera stylize clip.mp4 -o out.mp4 --style ...`: a clip through the server, frames several at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tessera.cli_output import write_whole
from tessera.client import TesseraClient
from tessera.style_sources import StyleSource
from tessera.video import ClipOptions, stylize_clip
from tessera.video_io import OUTPUTS, ClipFormatError, ClipLimits


def stylize_video_file(client: TesseraClient, args: argparse.Namespace, style: str, sources: list[StyleSource],
                       source: Path, target: Path) -> int:
    """Restyle the clip at `source` into `target` (.mp4 or .webm); prints one line on success."""
    output = target.suffix.lower().lstrip(".")
    if output not in OUTPUTS:
        raise ValueError(f"{target}: a clip is written as .mp4 or .webm")
    options = ClipOptions(strength=args.strength, version=args.version, style_sources=tuple(sources),
                          keep_colors=args.keep_colors,
                          **_given(args, "statistics", "temporal_blend", "frames_in_flight"))
    limits = ClipLimits(max_frame_pixels=min(args.max_pixels, ClipLimits.max_frame_pixels),
                        **_given(args, "max_seconds"))
    try:
        result = stylize_clip(client, source.read_bytes(), style, output, options, limits,
                              progress=_printer() if sys.stderr.isatty() else None)
    except ClipFormatError as error:
        raise ValueError(f"{source}: {error}") from None
    write_whole(target, result.data)  # all of it or, should Ctrl-C land in the write, nothing
    frames = f"{result.frames} frame{'' if result.frames == 1 else 's'}"
    shots = f"{result.shots} shot{'' if result.shots == 1 else 's'}"
    note = f"; {result.audio_note}" if result.audio_note else ""
    print(f"{target}: {frames}, {shots}, style {style} v{result.version}, "
          f"{result.seconds:.1f} s ({result.frames / max(result.seconds, 1e-9):.2f} frames/s){note}")
    return 0


def _given(args: argparse.Namespace, *names: str) -> dict[str, object]:
    """The clip flags among `names` that were given (the CLI leaves the others None): ClipOptions and
    ClipLimits hold the defaults."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _printer():
    def show(done: int, total: int) -> None:
        print(f"\r{done}/{total} frames", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show
