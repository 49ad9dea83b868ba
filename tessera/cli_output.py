"""Where `tessera stylize` writes: checks of -o made before any work (a folder where a file is meant,
a missing folder, the input itself), and writing a result whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from tessera.cli_folder import CLIP_SUFFIXES, IMAGE_SUFFIXES
from tessera.critic_maps import heat_map_paths


def output_folder(output: Path) -> Path:
    """-o for a folder of photos; ValueError, before any work, for an existing file or a name ending in
    an image or clip extension (unless a folder of that name exists): a file name given by mistake."""
    if output.is_dir():
        return output
    if output.exists():
        raise ValueError(f"-o {output} is a file; for a folder of photos give a folder")
    blocker = _file_on_the_way(output.parent)
    if blocker is not None:
        raise ValueError(f"-o {output}: {blocker} is a file, not a folder")
    if output.suffix.lower() in IMAGE_SUFFIXES | CLIP_SUFFIXES:
        raise ValueError(f"-o {output} looks like a file name; for a folder of photos give a folder")
    return output


def check_output_file(source: Path, target: Path, kind: str, heat_maps: bool) -> None:
    """ValueError, before any work, for an -o that cannot take the result of one `kind` ('photo' or
    'clip'): a folder, a file in a folder that does not exist, or the input itself (the result, or with
    `heat_maps` one of the maps beside it, would overwrite it)."""
    if target.is_dir():
        names = "(.png, .jpg, .webp)" if kind == "photo" else "(.mp4, .webm)"
        raise ValueError(f"-o {target} is a folder; a single {kind} needs a file name {names}")
    problem = folder_problem(target.parent)
    if problem:
        raise ValueError(f"-o {target}: {problem}")
    for path in [target, *(heat_map_paths(target).values() if heat_maps else [])]:
        if same_file(source, path):
            raise ValueError(f"-o {target} would overwrite the input {source} itself; give another file name")


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into `folder`, in words: it, or a folder above it, is a file or does
    not exist; None when it is a folder."""
    if folder.is_dir():
        return None
    blocker = _file_on_the_way(folder)
    if blocker is not None:
        return f"{blocker} is a file, not a folder"
    return f"the folder {folder} does not exist"


def _file_on_the_way(folder: Path) -> Path | None:
    """The nearest of `folder` and the folders above it that exists, when it is a file; else None."""
    nearest = next((path for path in (folder, *folder.parents) if path.exists()), None)
    return nearest if nearest is not None and not nearest.is_dir() else None


def same_file(source: Path, path: Path) -> bool:
    """Whether `path` names the file `source` (through another spelling, a link or a symlink too)."""
    try:
        return os.path.samefile(source, path)
    except OSError:  # `path` does not exist yet: it is no file, let alone the input
        return False


def write_whole(path: Path, data: bytes) -> None:
    """`data` into the file at `path`; should the writing fail or be interrupted (Ctrl-C), no file is
    left there, rather than the first part of an image."""
    file = open(path, "wb")  # noqa: SIM115 - closed below, before the half-written file is removed
    try:
        with file:
            file.write(data)
    except BaseException:
        with contextlib.suppress(OSError):  # the first failure is the one to tell
            if stat.S_ISREG(path.lstat().st_mode):  # never a device such as /dev/full
                path.unlink()
        raise
