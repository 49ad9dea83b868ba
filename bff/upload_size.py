"""The bytes of a request's photos (or clip) before any is read: what the budget for kept results
(bff.jobs.ResultBudget) counts a job at when it checks, before the costly decode, whether to refuse it.

Only the files a result is made of count. The request's Content-Length also counts a painting sent as
the style or to mix in (`style_image`, `mix_image`, bff.look_form), which no result keeps: a small
photo sent with a large painting was refused 429 results_full when its result would have fit.
"""

from __future__ import annotations

import io
from typing import IO

from flask import request

from bff.errors import ApiError
from bff.photo_stores import photo_store


def file_bytes(*fields: str) -> int:
    """The bytes of every file sent in these form fields (each file of a field sent several times); 0
    for none. Parses the form if it was not yet (a form that cannot be read has no files: check_form says
    why), and reads no file: each is left where it was."""
    return sum(_size(upload.stream) for field in fields for upload in request.files.getlist(field))


def upload_estimate() -> int:
    """About the bytes of the photo (or clip) a job's result is made of: the `image` file's, else the
    stored photo's that `photo_id` names; 0 when neither is there (read_order says what is missing, or
    that the photo is unknown). The job is then counted at its real size once its order is read."""
    photo_id = request.form.get("photo_id", "").strip()
    if photo_id and "image" not in request.files:
        try:
            return len(photo_store().get(photo_id).data)
        except ApiError:
            return 0  # read_order says why
    return file_bytes("image")


def _size(stream: IO[bytes]) -> int:
    position = stream.tell()
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(position)
    return size
