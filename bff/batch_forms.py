"""Reads a batch upload (several `images` files, or one zip `archive`) into restyle tasks.

Every bound is checked before any photo is decoded: the request size (Werkzeug, from Content-Length),
the number of form parts, the number of photos, their total bytes, and for a zip the sizes its
directory declares and their compression ratios (a zip bomb declares a huge size or a huge ratio;
one that lies about its sizes is caught while reading, which never reads more than it declared).
Each photo's header is then checked (format, pixel count) without decoding it; a photo damaged
beyond its header fails its own job later with a 422.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

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

# A photo compresses by a few percent in a zip; text-like ratios mean padding built to explode.
MAX_ZIP_RATIO = 50
MIN_RATIO_CHECK_BYTES = 1_000_000  # below this, even a high ratio cannot hurt
BATCH_FIELDS = "the photos as files in repeated 'images' fields (or one zip in 'archive') and the style's id in 'style'"


@dataclass(frozen=True)
class Photo:
    name: str  # file name as uploaded, without folders
    data: bytes


def limit_batch_request(backend: Backend) -> None:
    """Lets this request be as large as a batch (Werkzeug still refuses more with 413 before reading)."""
    request.max_content_length = backend.config.max_batch_bytes + FORM_OVERHEAD_BYTES
    request.max_form_parts = backend.config.max_batch_photos + backend.config.max_form_fields


def read_batch(backend: Backend) -> list[tuple[str, RestyleTask]]:
    """The batch's photos as (name, task), in upload order; raises ApiError 400, 404, 413, 415, 422, 503."""
    config = backend.config
    check_form(request, config, BATCH_FIELDS)
    style, strength, wanted_format = read_options()
    look = read_look(config.max_upload_bytes)
    scale = read_scale(request.form.get("scale"))
    archive = request.files.get("archive")
    photos = _from_zip(archive.read(), config) if archive is not None else _from_files(config)
    if not photos:
        raise ApiError(400, "missing_field", "Attach photos in the 'images' field, or one zip in 'archive'.")
    check_look_fits(look, backend.serving_style(style))
    tasks = []
    names: set[str] = set()  # each job's download name is its name in the batch's zip too
    for photo in photos:
        fmt, (width, height) = _check_header(photo, config, wanted_format)
        out_format = wanted_format or fmt
        filename = unique_name(download_name(photo.name, style, formats.get(out_format).extension), names)
        tasks.append((photo.name, RestyleTask(style=style, strength=strength, format=out_format, filename=filename,
                                              image=photo.data, sources=look.sources,
                                              keep_colors=look.keep_colors, scale=scale,
                                              work_pixels=work_pixels(width, height, scale))))
    return tasks


def task_from_order(order: Order) -> RestyleTask:
    """A validated single-image order as a task that can cross processes."""
    return RestyleTask(style=order.style, strength=order.strength, format=order.format, filename=order.filename,
                       image=order.image, sources=order.look.sources, keep_colors=order.look.keep_colors,
                       scale=order.scale, work_pixels=order.work_pixels)


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


def _from_zip(data: bytes, config) -> list[Photo]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise ApiError(422, "bad_archive", "The archive is not a readable zip file.") from None
    entries = [e for e in archive.infolist() if not e.is_dir() and not _hidden(e.filename)]
    _check_count(len(entries), config)
    _check_total(sum(e.file_size for e in entries), config)
    for entry in entries:
        if entry.file_size > config.max_upload_bytes:
            raise ApiError(413, "too_large", f"{_name(entry.filename)}: the photo is larger than the "
                                             f"{config.max_upload_bytes / 1e6:g} MB limit.")
        ratio = entry.file_size / max(1, entry.compress_size)
        if ratio > MAX_ZIP_RATIO and entry.file_size > MIN_RATIO_CHECK_BYTES:
            raise ApiError(413, "zip_bomb", f"{_name(entry.filename)} expands {ratio:.0f} times; photos do not "
                                            "compress like that, so the zip is refused.")
        if entry.flag_bits & 0x1:
            raise ApiError(422, "bad_archive", f"{_name(entry.filename)} is encrypted; send a plain zip.")
    return [Photo(_name(e.filename), _read_entry(archive, e)) for e in entries]


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(entry) as stream:
            data = stream.read(entry.file_size + 1)  # never more than declared, plus one to catch a lie
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError, EOFError):
        raise ApiError(422, "bad_archive", f"{_name(entry.filename)} cannot be read from the zip.") from None
    if len(data) != entry.file_size:
        raise ApiError(422, "bad_archive", f"{_name(entry.filename)} is not the size the zip declares.")
    return data


def _check_count(count: int, config) -> None:
    if count > config.max_batch_photos:
        raise ApiError(413, "too_many_photos", f"A batch holds at most {config.max_batch_photos} photos, "
                                               f"not {count}.")


def _check_total(total: int, config) -> None:
    if total > config.max_batch_bytes:
        raise ApiError(413, "too_large", f"The batch is larger than the {config.max_batch_bytes / 1e6:g} MB "
                                         "limit.")


def _check_header(photo: Photo, config, output_format: str | None) -> tuple[str, tuple[int, int]]:
    """The photo's format and (width, height), from its header only, after checking its pixel count
    and shape and that `output_format` (default: the photo's) can hold it; ApiError names the photo."""
    if not photo.data:
        raise ApiError(400, "missing_field", f"{photo.name}: the file is empty.")
    try:
        opened = images.open_upload(photo.data, config.max_pixels, output_format)
        opened.close()
        check_shape(*opened.size, config.max_aspect_ratio)
    except ApiError as err:
        raise ApiError(err.status, err.error, f"{photo.name}: {err.message}") from None
    return opened.format, opened.size


def _name(filename: str | None) -> str:
    return PurePosixPath((filename or "").replace("\\", "/")).name[:120] or "photo"


def _hidden(filename: str) -> bool:
    parts = PurePosixPath(filename).parts
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)
