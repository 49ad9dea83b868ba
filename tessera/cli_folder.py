"""A folder given to `tessera stylize`: its photos, what is skipped and why, the names of the results,
and the command that restyles a clip found there on its own."""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import sys
from pathlib import Path

from tessera import formats
from tessera.cli_parser import ANY_PAINTING, parsed
from tessera.critic_maps import heat_map_paths
from tessera.number_checks import MAX_SECONDS

IMAGE_SUFFIXES = {f".{alias}" for fmt in formats.FORMATS.values() for alias in fmt.aliases}
# The names of the clips tessera.video_sniff tells (an animated WebP or PNG may be named .webp or .png too).
CLIP_SUFFIXES = {".mp4", ".mov", ".webm", ".gif", ".apng"}


class Folder:
    """The folder given to `tessera stylize`, read once before any work: `photos`, its files named as
    PNG, JPEG or WebP that are no clip, sorted; `skipped`, how many other entries it holds, each
    reported on stderr with why as it is read (a clip, by its name or by its content, with the command
    that restyles it; `clips_told` counts them); and the names of the results, each distinct and none
    of them one of the folder's photos or the `paintings` the look is read from
    (cli_style_sources.style_image_files)."""

    def __init__(self, args: argparse.Namespace, style: str, paintings: list[tuple[Path, str]]) -> None:
        self._args, self._style, self._output = args, style, Path(args.output)
        entries = sorted(Path(args.input).iterdir())
        named = [entry for entry in entries if entry.is_file() and entry.suffix.lower() in IMAGE_SUFFIXES]
        self._clips = {entry: kind for entry in named if (kind := _clip_kind(entry))}
        stills = [entry for entry in named if entry not in self._clips]
        # A file named as another photo's result in this style is taken for an earlier run's (x-umber-oil.jpg
        # beside x.jpg): it is not restyled again (x-umber-oil-umber-oil.jpg), and still never replaced.
        results = {self._result_name(photo).lower(): photo for photo in stills}
        self._earlier = {entry: results[entry.name.lower()] for entry in stills
                         if results.get(entry.name.lower(), entry) != entry}
        self.photos = [entry for entry in stills if entry not in self._earlier]
        # The files no result may overwrite, with what each is.
        self._inputs = {_identity(path): f"{what} itself" for path, what in paintings}
        self._inputs.update({_identity(photo): "another photo of this folder" for photo in self.photos})
        self._inputs.update({_identity(result): f"an earlier run's result of it, by its name (delete that to restyle "
                                                f"{photo.name} again)" for result, photo in self._earlier.items()})
        self._inputs.pop(None, None)
        # Names a clip's suggested result must not take (case-insensitively, as on a Mac or Windows disk).
        self._taken = {self._result_name(photo).lower() for photo in self.photos}
        output = _identity(self._output)
        if output is not None:
            self._taken |= {path.name.lower() for path, _ in paintings if _identity(path.parent) == output}
        if _identity(Path(args.input)) == _identity(self._output):
            self._taken |= {entry.name.lower() for entry in entries}
        self.clips_told = 0  # how many commands for clips were told, each writing into the output folder
        self._audio_notes: dict[Path, str] = {}  # a told clip's audio encoded anew (video_io.audio_note)
        chosen = set(self.photos)
        others = [entry for entry in entries if entry not in chosen]
        for entry in others:
            print(f"tessera: skipped {entry}{os.sep if entry.is_dir() else ''}: {self._skip_reason(entry)}",
                  file=sys.stderr)
        self.skipped = len(others)

    def photo_target(self, photo: Path) -> Path:
        """Where `photo`'s result goes: <stem>-<style>.<its extension as written> in the output folder;
        ValueError when that file, or with --explain a heat map beside it, is another of the folder's
        photos (the output folder being the input folder) or a painting the look is read from: it is
        kept, and `photo` is not restyled; ValueError too when one of them is a file this process may
        not overwrite."""
        target = self._output / self._result_name(photo)
        maps = heat_map_paths(target) if self._args.explain else {}
        outputs = (("its result", target), *((f"its {name} map", p) for name, p in maps.items()))
        for what, path in outputs:
            kept = self._inputs.get(_identity(path))
            if kept:
                raise ValueError(f"{photo}: {what} would overwrite {path}, {kept}; give -o another folder")
        for what, path in outputs:
            if read_only(path):
                raise ValueError(f"{photo}: {what} {path} is read-only: no permission to overwrite it")
        return target

    def clip_target(self, clip: Path) -> Path:
        """Where the command suggested for `clip` writes: <stem>-<style>.<mp4 or webm, as clip_container
        chooses> in the output folder, or <stem>-<style>-2.<...>, -3... when an earlier clip's, a photo's
        result, a painting of the look or (in the input folder itself) one of its entries has that name."""
        suffix, self._audio_notes[clip] = clip_output(clip)
        base = f"{clip.stem}-{self._style}"
        names = (f"{base}-{number}.{suffix}" if number > 1 else f"{base}.{suffix}" for number in itertools.count(1))
        name = next(name for name in names if name.lower() not in self._taken)
        self._taken.add(name.lower())
        self.clips_told += 1
        return self._output / name

    def _result_name(self, photo: Path) -> str:
        return f"{photo.stem}-{self._style}{photo.suffix}"

    def _skip_reason(self, entry: Path) -> str:
        """Why a folder's `entry` is not restyled as a photo: its kind, its name, or its content (a file
        named as a photo that is a clip, or named as a clip that is a still image)."""
        from tessera.video_sniff import CLIP_NAMES  # no PyAV: only the names

        if entry.is_dir():
            return "a folder (folders are not searched)"
        if not entry.is_file():
            return "not a regular file"
        if entry in self._earlier:
            return f"the result of {self._earlier[entry].name} in {self._style} from an earlier run, by its name"
        if entry in self._clips:
            return self._told(entry, f"{CLIP_NAMES[self._clips[entry]]} clip, by its content")
        if entry.suffix.lower() not in CLIP_SUFFIXES:
            return "not a photo, by its name (.png, .jpg, .jpeg or .webp)"
        return _still_reason(entry) or self._told(entry, "a clip, by its name")

    def _told(self, clip: Path, what: str) -> str:
        """`what` the clip is, with the command that restyles it last on the line (to paste), and before
        it whether that command encodes the clip's audio anew."""
        command = clip_command(self._args, clip, self.clip_target(clip))
        note = self._audio_notes.get(clip)
        return f"{what}{f' ({note})' if note else ''}; restyle it on its own: {command}"


def read_only(path: Path) -> bool:
    """Whether `path` is an existing file (not a folder) this process may not overwrite. For root, no
    file is: writing then tells (cli_output.write_whole)."""
    return path.exists() and not path.is_dir() and not os.access(path, os.W_OK)


# A clip in a folder larger than this is not read to choose the container its suggested command writes
# (open_clip takes the whole file): its name decides, and the command, pasted, tells if that cannot hold it.
CLIP_READ_MAX_BYTES = 256 * 1024 * 1024


def clip_container(clip: Path) -> str:
    """'mp4' or 'webm': the container `tessera stylize CLIP` can write this clip in (clip_output)."""
    return clip_output(clip)[0]


def clip_output(clip: Path) -> tuple[str, str]:
    """The container `tessera stylize CLIP` can write this clip in, 'mp4' or 'webm', chosen as
    tessera.video does when no output is named (ClipInfo.default_output: WebM for a WebM and for odd
    sides, which H.264 in MP4 cannot hold, else MP4, or the other one when that cannot hold the clip),
    and the clause saying that its audio is encoded anew there (video_io.audio_note; '' when copied or
    absent). By its name (.webm, else 'mp4') and '' when the header cannot be read, the clip is over
    CLIP_READ_MAX_BYTES or PyAV (the video extra) is missing: the command suggested then tells why if
    that cannot hold it."""
    try:
        from tessera.video_io import ClipLimits, audio_note, open_clip
    except ImportError:
        return "mp4", ""
    fallback = "webm" if clip.suffix.lower() == ".webm" else "mp4", ""
    try:
        if clip.stat().st_size > CLIP_READ_MAX_BYTES:  # not read whole just to suggest a command
            return fallback
        # No limits: the header alone is wanted here; the command suggested checks them itself.
        opened = open_clip(clip.read_bytes(), ClipLimits(MAX_SECONDS, 2**62, 2**62))
    except (OSError, ValueError):
        return fallback
    info = opened.info
    opened.close()
    container = info.default_output()
    return container, audio_note(info, container)


def _clip_kind(path: Path) -> str | None:
    """tessera.video_sniff's kind of clip for a file named as a photo ('webp' for an animated WebP,
    'apng', even 'mp4'), judged by its content; None for a still image, or a file that cannot be read
    (restyled as a photo, it is told why)."""
    from tessera.video_sniff import read_for_sniff, sniff_clip

    try:
        with open(path, "rb") as file:
            return sniff_clip(read_for_sniff(file))
    except OSError:
        return None


def _still_reason(path: Path) -> str | None:
    """Why a file named as a clip is a still image, judged by its first bytes: a GIF of one frame, or a
    PNG or WebP of one (an APNG without its animation); None for a clip, or a file that cannot be read
    (the command suggested for it tells why)."""
    from tessera.video_sniff import STILL_GIF, is_still_gif, read_for_sniff, sniff_clip  # for a clip's name only

    try:
        with open(path, "rb") as file:
            head = read_for_sniff(file)
    except OSError:
        return None
    if sniff_clip(head) is not None:
        return None
    if is_still_gif(head):
        return STILL_GIF
    still = formats.sniff(head)
    if still is None:
        return None
    return (f"a still {still.label} image of one frame, named as a clip: rename it .{still.extension} to "
            "restyle it as a photo")


def _identity(path: Path) -> tuple[int, int] | None:
    """The file or folder `path` names, as (device, inode), whatever its spelling or the symlinks on
    the way; None when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


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
