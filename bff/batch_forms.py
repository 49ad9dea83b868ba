"""Reads a batch upload (several `images` files, or one zip `archive`) into restyle tasks.

Every bound is checked before any photo is decoded: the request size (Werkzeug, from Content-Length),
the number of form parts, the number of photos, their total bytes, and for a zip the sizes its
directory declares and their compression ratios (a zip bomb declares a huge size or a huge ratio;
one that lies about its sizes is caught while reading, which never reads more than it declared).
Each photo's header is then checked (format, pixel count) without decoding it; a photo damaged
beyond its header fails its own job later with a 422.

A zip is a folder someone packed, so what is no photo in it is skipped and said, not a reason to refuse
the batch: an entry whose path leaves the zip (`../x.jpg`, `/etc/x.jpg`; never read), a hidden file
(`__MACOSX/`, `.DS_Store`) and a file that is empty or no PNG, JPEG or WebP image (`notes.txt`) each come
back in the reply's `skipped` list with the reason. Only a zip's photos count toward the batch's limits:
each entry's first bytes are read to tell (never more of it before the limits hold). Files sent as
`images` were each chosen, so one that is no photo still refuses the batch, naming it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath
from typing import TypeVar

from flask import request

from bff import images
from bff.backend import Backend
from bff.config import FORM_OVERHEAD_BYTES
from bff.errors import ApiError
from bff.form_limits import check_form
from bff.forms import Order, check_shape, download_name, read_options, read_scale, unique_name, work_pixels
from bff.look_form import check_look_fits, read_look
from bff.tasks import RestyleTask
from tessera import formats
from tessera.video_sniff import GIF_SIGNATURES, SNIFF_BYTES

# A photo compresses by a few percent in a zip; text-like ratios mean padding built to explode.
MAX_ZIP_RATIO = 50
MIN_RATIO_CHECK_BYTES = 1_000_000  # below this, even a high ratio cannot hurt
# Hidden files, paths out of the zip and files that are no photos are listed in the reply and the batch's
# record, not counted as photos; past this many the zip is refused, so a directory of tiny entries cannot
# make either huge (nor the first bytes of more files than this and a batch's photos be read).
MAX_PASSED_ENTRIES = 1000
BATCH_FIELDS = "the photos as files in repeated 'images' fields (or one zip in 'archive') and the style's id in 'style'"

T = TypeVar("T")


@dataclass(frozen=True)
class Photo:
    name: str  # file name as uploaded, without folders
    data: bytes


@dataclass(frozen=True)
class Skipped:
    """A zip entry that is not restyled: its path in the zip (as stored) and why, in a sentence."""

    name: str
    reason: str

    def describe(self) -> dict:
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class Batch:
    """What read_batch makes of a request: (name, task) per photo in upload order, the skipped entries, and
    the style's version serving when it was read, which every task names (one batch, one model)."""

    tasks: list[tuple[str, RestyleTask]]
    skipped: list[Skipped]
    version: int


def limit_batch_request(backend: Backend) -> None:
    """Lets this request be as large as a batch (Werkzeug still refuses more with 413 before reading)."""
    request.max_content_length = backend.config.max_batch_bytes + FORM_OVERHEAD_BYTES
    request.max_form_parts = backend.config.max_batch_photos + backend.config.max_form_fields


def read_batch(backend: Backend) -> Batch:
    """The batch's photos as (name, task), in upload order, and the zip's skipped entries; raises ApiError
    400, 404, 413, 415, 422, 503."""
    config = backend.config
    check_form(request, config, BATCH_FIELDS)
    style, strength, wanted_format = read_options()
    look = read_look(config.max_upload_bytes)
    scale = read_scale(request.form.get("scale"))
    archive = request.files.get("archive")  # sent once: two are check_form's 400 repeated_field
    if archive is not None and "images" in request.files:
        raise ApiError(400, "invalid_batch", "Send the photos either as files in 'images' or as one zip in "
                                             "'archive', not both: the batch would leave one of them out.")
    skipped: list[Skipped] = []
    if archive is not None:
        photos = _from_zip(archive.read(), config, skipped, wanted_format)
    else:
        photos = _from_files(config)
    if not photos:
        if skipped:
            raise ApiError(400, "missing_field", "The zip holds no photo to restyle: "
                                                 + "; ".join(f"{s.name}: {s.reason}" for s in skipped[:5])
                                                 + ("; ..." if len(skipped) > 5 else "."))
        raise ApiError(400, "missing_field", "Attach photos in the 'images' field, or one zip in 'archive'.")
    serving = backend.serving_style(style)
    check_look_fits(look, serving)
    # Named by number, as a clip's frames name their first's: a version swapped in (or pinned) while the
    # photos wait, or the style's folder removed (its versions drain), leaves the rest on this one.
    version = serving.serving_version
    tasks = []
    names: set[str] = set()  # each job's download name is its name in the batch's zip too
    for photo in photos:
        fmt, (width, height) = _check_header(photo, config, wanted_format)
        work = _named(photo, partial(work_pixels, width, height, scale))  # a scale too small for it: 400
        out_format = wanted_format or fmt
        filename = unique_name(download_name(_name(photo.name), style, formats.get(out_format).extension), names)
        tasks.append((photo.name, RestyleTask(style=style, strength=strength, format=out_format, filename=filename,
                                              image=photo.data, sources=look.sources,
                                              keep_colors=look.keep_colors, scale=scale,
                                              work_pixels=work, version=version)))
    return Batch(tasks, skipped, version)


def task_from_order(order: Order) -> RestyleTask:
    """A validated single-image order as a task that can cross processes."""
    return RestyleTask(style=order.style, strength=order.strength, format=order.format, filename=order.filename,
                       image=order.image, sources=order.look.sources, keep_colors=order.look.keep_colors,
                       scale=order.scale, work_pixels=order.work_pixels, explain=order.explain)


def _from_files(config) -> list[Photo]:
    uploads = request.files.getlist("images")
    _check_count(len(uploads), config)
    photos, total = [], 0
    for upload in uploads:
        data = upload.read()
        total += len(data)
        _check_total(total, config)
        if len(data) > config.max_upload_bytes:
            raise ApiError(413, "too_large", f"{_name(upload.filename)}: the photo is larger than the "
                                             f"{config.max_upload_bytes / 1e6:g} MB limit.")
        photos.append(Photo(_name(upload.filename), data))
    return photos


def _from_zip(data: bytes, config, skipped: list[Skipped], output_format: str | None) -> list[Photo]:
    """The zip's photos in its order; entries that are no photo are appended to `skipped` instead (folder
    entries alone are passed over without a word: their photos are the zip's). ApiError 400 for a zip without
    files (an empty file, a zip of nothing or of folders only), 413 or 422 for one that breaks a bound or
    cannot be read."""
    if not data:
        raise _empty_zip("its file has 0 bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise ApiError(422, "bad_archive", "The archive is not a readable zip file.") from None
    if all(entry.is_dir() for entry in archive.infolist()):
        raise _empty_zip("it holds only folders, no files" if archive.infolist() else "it holds nothing")
    entries, passed = [], {}  # passed: zip order -> why
    for order, entry in enumerate(archive.infolist()):
        if entry.is_dir():
            continue
        if _escapes(entry.filename):
            passed[order] = "its path leads out of the zip's folder, so it was not read"
        elif _hidden(entry.filename):
            passed[order] = "a hidden file (such as macOS's __MACOSX/ and .DS_Store), not a photo"
        else:
            entries.append((order, entry))
    _check_passed(len(passed))
    if len(entries) > config.max_batch_photos + MAX_PASSED_ENTRIES:
        raise ApiError(413, "too_many_batch_photos", f"The zip holds {len(entries):,} files; a batch holds at most "
                                               f"{config.max_batch_photos} photos: zip only the photos.")
    for _, entry in entries:
        if entry.flag_bits & 0x1:
            raise ApiError(422, "bad_archive", f"{_name(entry.filename)} is encrypted; send a plain zip.")
    candidates = []
    for order, entry in entries:
        reason = _no_photo_by_head(_read_head(archive, entry), config, output_format)
        if reason is None:
            candidates.append((order, entry))
        else:
            passed[order] = reason
    _check_passed(len(passed))
    entries = candidates
    _check_count(len(entries), config, in_zip=True)
    _check_total(sum(e.file_size for _, e in entries), config)
    for _, entry in entries:
        if entry.file_size > config.max_upload_bytes:
            raise ApiError(413, "too_large", f"{_name(entry.filename)}: the photo is larger than the "
                                             f"{config.max_upload_bytes / 1e6:g} MB limit.")
        ratio = entry.file_size / max(1, entry.compress_size)
        if ratio > MAX_ZIP_RATIO and entry.file_size > MIN_RATIO_CHECK_BYTES:
            raise ApiError(413, "zip_bomb", f"{_name(entry.filename)} expands {ratio:.0f} times; photos do not "
                                            "compress like that, so the zip is refused.")
    photos = []
    for order, entry in entries:
        photo = Photo(_shown(entry.filename), _read_entry(archive, entry))  # its path: two small.jpg told apart
        reason = _not_a_photo(photo, config, output_format)
        if reason is None:
            photos.append(photo)
        else:
            passed[order] = reason
    infos = archive.infolist()
    skipped.extend(Skipped(_shown(infos[order].filename), passed[order]) for order in sorted(passed))
    return photos


def _empty_zip(held: str) -> ApiError:
    """The 400 for a zip without a file in it (`held` says what it is instead, e.g. "it holds nothing"): not
    "attach photos", since one was attached."""
    return ApiError(400, "missing_field", f"The zip is empty: {held}. Zip the photos themselves, or send them as "
                                          "files in 'images'.")


def _not_a_photo(photo: Photo, config, output_format: str | None) -> str | None:
    """Why a zip entry is no photo to restyle (no PNG, JPEG or WebP by its first bytes, a one-frame GIF, a
    clip), or None for a photo; a photo's own faults (damaged, too large) are left to _check_header."""
    if not photo.data:
        return None
    try:
        images.open_upload(photo.data, config.max_pixels, output_format).close()
    except ApiError as err:
        return _lowered(err.message) if err.status == 415 else None
    return None


def _no_photo_by_head(head: bytes, config, output_format: str | None) -> str | None:
    """Why a zip entry whose first bytes are `head` is no photo (empty; no PNG, JPEG or WebP signature,
    so text, a PDF, a clip, a GIF), or None when it may be one: a PNG or WebP may still be an animated clip
    and a photo may be damaged, which only its whole file tells (_not_a_photo, _check_header)."""
    if not head:
        return "the file is empty"
    if formats.sniff(head) is not None:
        return None
    if head.startswith(GIF_SIGNATURES):
        return ("a GIF, which is not read as a photo: a clip is restyled as a job, and a still image "
                "saved as PNG or JPEG")
    return _not_a_photo(Photo("", head), config, output_format)


def _read_head(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    """The entry's first SNIFF_BYTES (a zip bomb's entry is decompressed only that far)."""
    return _read(archive, entry, SNIFF_BYTES)


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    data = _read(archive, entry, entry.file_size + 1)  # never more than declared, plus one to catch a lie
    if len(data) != entry.file_size:
        raise ApiError(422, "bad_archive", f"{_name(entry.filename)} is not the size the zip declares.")
    return data


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, most: int) -> bytes:
    try:
        with archive.open(entry) as stream:
            return stream.read(most)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError):
        raise ApiError(422, "bad_archive", f"{_name(entry.filename)} cannot be read from the zip.") from None


def _check_passed(count: int) -> None:
    """413 for a zip with more entries to skip than its record may list."""
    if count > MAX_PASSED_ENTRIES:
        raise ApiError(413, "too_many_batch_photos", f"The zip holds {count:,} files that are no photos (hidden files, "
                                               f"paths out of its folder, other files; at most "
                                               f"{MAX_PASSED_ENTRIES:,}): zip only the photos.")


def _check_count(count: int, config, in_zip: bool = False) -> None:
    """413 for more photos than a batch holds; in a zip, the files whose first bytes are a PNG, JPEG or WebP
    signature count (_no_photo_by_head), before any is read whole."""
    if count > config.max_batch_photos:
        held = f"the zip holds {count} photos" if in_zip else f"not {count}"
        raise ApiError(413, "too_many_batch_photos", f"A batch holds at most {config.max_batch_photos} photos, {held}.")


def _check_total(total: int, config) -> None:
    if total > config.max_batch_bytes:
        raise ApiError(413, "too_large", f"The batch is larger than the {config.max_batch_bytes / 1e6:g} MB "
                                         "limit.")


def _check_header(photo: Photo, config, output_format: str | None) -> tuple[str, tuple[int, int]]:
    """The photo's format and (width, height), from its header only, after checking its pixel count
    and shape and that `output_format` (default: the photo's) can hold it; ApiError names the photo."""
    if not photo.data:
        raise ApiError(400, "missing_field", f"{photo.name}: the file is empty.")

    def opened_size():
        opened = images.open_upload(photo.data, config.max_pixels, output_format)
        opened.close()
        check_shape(*opened.size, config.max_aspect_ratio)
        return opened.format, opened.size

    return _named(photo, opened_size)


def _named(photo: Photo, check: Callable[[], T]) -> T:
    """`check()`'s answer; its ApiError again, its sentence prefixed with the photo's name."""
    try:
        return check()
    except ApiError as err:
        raise ApiError(err.status, err.error, f"{photo.name}: {err.message}", field=err.field) from None


def _name(filename: str | None) -> str:
    return PurePosixPath((filename or "").replace("\\", "/")).name[:120] or "photo"


def _escapes(filename: str) -> bool:
    """Whether a zip entry's path leaves the folder the zip would be unpacked in: absolute, a drive
    letter, or a `..` step (backslashes read as the separators some Windows zips use)."""
    path = filename.replace("\\", "/")
    drive = len(path) > 1 and path[0].isalpha() and path[1] == ":"
    return path.startswith("/") or drive or ".." in path.split("/")


def _hidden(filename: str) -> bool:
    parts = PurePosixPath(filename.replace("\\", "/")).parts
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def _shown(filename: str) -> str:
    """A zip entry's path as the reply shows it: as stored, bounded, without control characters."""
    cleaned = "".join(c if c.isprintable() else "?" for c in filename)
    return cleaned if len(cleaned) <= 200 else cleaned[:200] + "..."


def _lowered(message: str) -> str:
    """'That file is ...' -> 'that file is ...' (a reason follows the entry's name), without the full stop."""
    return (message[:1].lower() + message[1:]).rstrip(".")
