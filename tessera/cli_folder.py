"""A folder given to `tessera stylize`: its photos, what is skipped and why, the output folder, and the
command that restyles a clip found there on its own."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from tessera import formats
from tessera.cli_parser import ANY_PAINTING, parsed

IMAGE_SUFFIXES = {f".{alias}" for fmt in formats.FORMATS.values() for alias in fmt.aliases}
# The names of the clips tessera.video_sniff tells (an animated WebP or PNG may be named .webp or .png too).
CLIP_SUFFIXES = {".mp4", ".mov", ".webm", ".gif", ".apng"}


def output_folder(output: Path) -> Path:
    """-o for a folder of photos; ValueError, before any work, for an existing file or a name ending in
    an image or clip extension (unless a folder of that name exists): a file name given by mistake."""
    if output.is_dir():
        return output
    if output.exists():
        raise ValueError(f"-o {output} is a file; for a folder of photos give a folder")
    if output.suffix.lower() in IMAGE_SUFFIXES | CLIP_SUFFIXES:
        raise ValueError(f"-o {output} looks like a file name; for a folder of photos give a folder")
    return output


def folder_photos(args: argparse.Namespace, style: str) -> tuple[list[Path], int]:
    """The folder's files named as photos, sorted, and how many other entries it holds; each of those
    is reported on stderr with why it is skipped."""
    photos, skipped = [], 0
    for entry in sorted(Path(args.input).iterdir()):
        reason = _skip_reason(args, style, entry)
        if reason is None:
            photos.append(entry)
            continue
        skipped += 1
        print(f"tessera: skipped {entry}{os.sep if entry.is_dir() else ''}: {reason}", file=sys.stderr)
    return photos, skipped


def _skip_reason(args: argparse.Namespace, style: str, entry: Path) -> str | None:
    """Why a folder's `entry` is not restyled, judged by its kind and name; None for a photo's name."""
    suffix = entry.suffix.lower()
    if entry.is_dir():
        return "a folder (folders are not searched)"
    if not entry.is_file():
        return "not a regular file"
    if suffix in CLIP_SUFFIXES:
        target = Path(args.output) / f"{entry.stem}-{style}.mp4"
        return f"a clip, by its name; restyle it on its own: {clip_command(args, entry, target)}"
    if suffix not in IMAGE_SUFFIXES:
        return "not a photo, by its name (.png, .jpg, .jpeg or .webp)"
    return None


def naming(path: Path, message: str) -> str:
    """`message` about the file at `path`, which it names once, as its path (most messages of a file's
    own checks begin with it; the server's do not)."""
    return message if message.startswith(f"{path}: ") else f"{path}: {message}"


def clip_command(args: argparse.Namespace, clip: Path, target: Path) -> str:
    """The command that restyles `clip` into `target` with every other option of this one (the server,
    the style, the look...): the words given, the folder and the output folder replaced, each
    replacement checked by parsing the result, quoted for a POSIX shell. Should the words not show
    where the folder went (an option argparse reads in a way not tried here), the command with the
    style alone."""
    # Joined as given, so a clip named "-x.webp" in "." stays "./-x.webp", not an option.
    clip_path, target_path = os.path.join(args.input, clip.name), os.path.join(args.output, target.name)
    words = _replaced(args.argv, "input", args.input, clip_path)
    words = words and _replaced(words, "output", args.output, target_path)
    if words is None:
        return shlex.join(["tessera", "stylize", clip_path, "-o", target_path, "--style", args.style or ANY_PAINTING])
    return shlex.join(["tessera", *words])


def _replaced(words: list[str], field: str, old: str, new: str) -> list[str] | None:
    """`words` with the one word that gives `field` its value `old` (alone, or ending an option such as
    `-oOLD`, `--output=OLD` or `--out=OLD`) giving it `new` instead: the candidate that parses to the
    same command but for `field`; None when no word does."""
    before = parsed(words)
    if before is None or before.pop(field) != old:
        return None
    for i, word in enumerate(words):
        if not word.endswith(old):
            continue
        candidate = [*words[:i], word[:len(word) - len(old)] + new, *words[i + 1:]]
        after = parsed(candidate)
        if after is not None and after.pop(field) == new and after == before:
            return candidate
    return None
