"""Where `tessera stylize` writes: checks of -o made before any work (a folder where a file is meant,
a missing or unwritable folder, a read-only file, one of the inputs itself), and writing a result whole
or not at all, a failure told in words."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from tessera.cli_folder import CLIP_SUFFIXES, IMAGE_SUFFIXES, read_only
from tessera.critic_maps import heat_map_paths


def output_folder(output: Path) -> Path:
    """-o for a folder of photos; ValueError, before any work, for an existing file, a name ending in an
    image or clip extension (unless a folder of that name exists): a file name given by mistake, or a
    folder this process may not write into (or, when it does not exist yet, create)."""
    if output.is_dir():
        if not _writable_folder(output):
            raise ValueError(f"-o {output}: no permission to write into this folder")
        return output
    if output.exists():
        raise ValueError(f"-o {output} is a file; for a folder of photos give a folder")
    blocker = _file_on_the_way(output.parent)
    if blocker is not None:
        raise ValueError(f"-o {output}: {blocker} is a file, not a folder")
    if output.suffix.lower() in IMAGE_SUFFIXES | CLIP_SUFFIXES:
        raise ValueError(f"-o {output} looks like a file name; for a folder of photos give a folder")
    nearest = _nearest_existing(output.parent)
    if nearest is not None and not _writable_folder(nearest):
        raise ValueError(f"-o {output}: no permission to create it in the folder {nearest}")
    return output


def check_output_file(inputs: list[tuple[Path, str]], target: Path, kind: str, heat_maps: bool) -> None:
    """ValueError, before any work, for an -o that cannot take the result of one `kind` ('photo' or
    'clip'): a folder, a file in a folder that does not exist or may not be written into, a read-only
    file, or one of the `inputs` itself, each (path, what it is: 'the input', 'the style image'...),
    which the result, or with `heat_maps` one of the maps beside it, would overwrite."""
    if target.is_dir():
        names = "(.png, .jpg, .webp)" if kind == "photo" else "(.mp4, .webm)"
        raise ValueError(f"-o {target} is a folder; a single {kind} needs a file name {names}")
    problem = folder_problem(target.parent)
    if problem:
        raise ValueError(f"-o {target}: {problem}")
    if not _writable_folder(target.parent):
        raise ValueError(f"-o {target}: no permission to write into the folder {target.parent}")
    outputs = [target, *(heat_map_paths(target).values() if heat_maps else [])]
    for path in outputs:
        for source, what in inputs:
            if same_file(source, path):
                raise ValueError(f"-o {target} would overwrite {what} {source} itself; give another file name")
    for path in outputs:
        if read_only(path):
            raise ValueError(f"-o {target}: {path} is read-only: no permission to overwrite it")


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
    nearest = _nearest_existing(folder)
    return nearest if nearest is not None and not nearest.is_dir() else None


def _nearest_existing(folder: Path) -> Path | None:
    """The nearest of `folder` and the folders above it that exists; None when none does."""
    return next((path for path in (folder, *folder.parents) if path.exists()), None)


def _writable_folder(folder: Path) -> bool:
    """Whether this process may create files in `folder` (an existing folder). For root, every folder
    but one on a read-only disk is; writing then tells the rest (write_whole)."""
    return os.access(folder, os.W_OK | os.X_OK)


def same_file(source: Path, path: Path) -> bool:
    """Whether `path` names the file `source` (through another spelling, a link or a symlink too)."""
    try:
        return os.path.samefile(source, path)
    except OSError:  # `path` does not exist yet: it is no file, let alone the input
        return False


class WriteError(OSError):
    """A result that could not be written; its text is the sentence the CLI prints ('cannot write
    out.png: No space left on device'), not Python's '[Errno 28] ...'."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror or 'the system refused it'}"


def write_whole(path: Path, data: bytes) -> None:
    """`data` into the file at `path`; should the writing fail or be interrupted (Ctrl-C), no file is
    left there, rather than the first part of an image. A failure is a WriteError naming `path`."""
    try:
        file = open(path, "wb")  # noqa: SIM115 - closed below, before the half-written file is removed
    except OSError as error:
        raise WriteError(error.errno, error.strerror, str(path)) from None
    try:
        with file:
            file.write(data)
    except BaseException as error:
        with contextlib.suppress(OSError):  # the first failure is the one to tell
            if stat.S_ISREG(path.lstat().st_mode):  # never a device such as /dev/full
                path.unlink()
        if isinstance(error, OSError):
            raise WriteError(error.errno, error.strerror, str(path)) from None
        raise


def os_error_words(error: OSError) -> str:
    """An OSError as the CLI words it: '<file>: <the system's reason>' ('photo.png: Permission denied'),
    or the error's own sentence (a WriteError's), never Python's '[Errno 13] ...'."""
    if isinstance(error, WriteError) or not error.strerror:
        return str(error)
    return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
