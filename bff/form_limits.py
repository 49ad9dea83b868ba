"""The upload form's own limits (how many fields, how long a name, how large a text field) and, when
Werkzeug's parser refuses a form, a sentence that says which of them was broken.

Werkzeug answers every form limit with the same bare 413 (MAX_FORM_PARTS, MAX_FORM_MEMORY_SIZE), which
the gateway used to report as "larger than the 25 MB limit" for a 1 MB body. Only then, on that rare
path, is the body read a second time to find the reason; the usual path costs nothing extra.
"""

from __future__ import annotations

from flask import Flask, Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from bff.config import FORM_OVERHEAD_BYTES, GatewayConfig
from bff.errors import ApiError, error_response, too_large

# Werkzeug's parser keeps at most this much of a text field or of a part's header block in memory; a
# backstop above our own limits (it must also exceed the parser's 64 kB read size).
PARSER_MEMORY_BYTES = 500_000
_CHUNK = 64 * 1024
# Bodies that are forms: a file needs multipart; a form naming a stored photo (photo_id) may be either.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class UploadRequest(Request):
    """Flask's Request, closing every file stream its form parser opened, also when parsing failed half
    way (Werkzeug then drops the temporary files of the parts it had read without closing them)."""

    def _get_file_stream(self, *args, **kwargs):
        stream = super()._get_file_stream(*args, **kwargs)
        self.__dict__.setdefault("_file_streams", []).append(stream)
        return stream

    def close(self) -> None:
        super().close()
        for stream in self.__dict__.pop("_file_streams", []):
            stream.close()


def init_app(app: Flask, config: GatewayConfig) -> None:
    """Sets Werkzeug's form limits from the config (the part count is the field limit itself) and
    explains its 413s: the whole body too large, or which limit of the form a smaller body broke."""
    app.config.update(MAX_FORM_PARTS=config.max_form_fields, MAX_FORM_MEMORY_SIZE=PARSER_MEMORY_BYTES)
    app.request_class = UploadRequest

    @app.errorhandler(RequestEntityTooLarge)
    def _refused_body(_err: RequestEntityTooLarge):
        length = request.content_length
        limit = request.max_content_length  # a batch request carries a larger limit of its own
        explained = None
        if length is not None and limit is not None and length <= limit:
            explained = explain_refused_form(request, config)
        return error_response(explained or too_large(limit - FORM_OVERHEAD_BYTES if limit else config.max_upload_bytes))


def check_form(request: Request, config: GatewayConfig, fields: str) -> None:
    """Parses the form and raises ApiError 415 `not_a_form` for a body that is no form (JSON, a bare
    image), saying to send multipart/form-data with `fields` (what goes in which field, e.g. "the photo
    as a file in the 'image' field"), or 400 or 413 naming the limit a field breaks."""
    _check_is_form(request, fields)
    for name in [*request.form.keys(), *request.files.keys()]:
        if len(name) > config.max_field_name_chars:
            raise _name_too_long(len(name), config)
    for name, value in request.form.items(multi=True):
        size = len(value.encode())
        if size > config.max_text_field_bytes:
            raise _field_too_large(name, size, config)


def _check_is_form(request: Request, fields: str) -> None:
    """ApiError 415 unless the body is a form; an empty body without a type is left to the field checks.
    A multipart body whose Content-Type names no boundary is no form either: Werkzeug reads it as one
    without fields, which was answered as a missing 'style' field."""
    sent = request.mimetype
    if sent == "multipart/form-data" and not request.mimetype_params.get("boundary"):
        raise ApiError(415, "not_a_form", "The form has no boundary: its Content-Type says multipart/form-data "
                                          "without the boundary=... that separates its fields, so none can be "
                                          "read. Let your HTTP client build the form (a file upload, as curl -F "
                                          f"sends it) rather than setting the Content-Type by hand: {fields}.")
    if sent in FORM_TYPES or not (sent or request.content_length):
        return
    raise ApiError(415, "not_a_form", f"Send the form as multipart/form-data (a file upload, as curl -F sends it), "
                                      f"not {sent or 'a body without a Content-Type'}: {fields}.")


def explain_refused_form(request: Request, config: GatewayConfig) -> ApiError | None:
    """Why Werkzeug refused this request's multipart form, by reading the body again; None when it
    cannot tell (not multipart, body no longer readable, or no limit of ours is broken)."""
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    stream = request.environ.get("wsgi.input")
    if mimetype != "multipart/form-data" or "boundary" not in options or stream is None:
        return None
    try:
        stream.seek(0)
        return _scan(stream, options["boundary"].encode(), config)
    except (OSError, ValueError, AttributeError):  # not seekable, or not multipart after all
        return None


def _scan(stream, boundary: bytes, config: GatewayConfig) -> ApiError | None:
    decoder = MultipartDecoder(boundary)
    parts, field_name, field_size = 0, None, 0
    while True:
        chunk = stream.read(_CHUNK)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, (NeedData, Epilogue)):
            if isinstance(event, (Field, File)):
                parts += 1
                if parts > config.max_form_fields:
                    return _too_many_fields(config)
                if len(event.name) > config.max_field_name_chars:
                    return _name_too_long(len(event.name), config)
                field_name, field_size = (event.name if isinstance(event, Field) else None), 0
            elif isinstance(event, Data) and field_name is not None:
                field_size += len(event.data)
                if field_size > config.max_text_field_bytes:
                    return _field_too_large(field_name, field_size, config)
            event = decoder.next_event()
        if not chunk or isinstance(event, Epilogue):
            return None


def _too_many_fields(config: GatewayConfig) -> ApiError:
    return ApiError(400, "too_many_fields", f"The form has more than {config.max_form_fields} fields; send only "
                                            "image, style, strength and format.")


def _name_too_long(length: int, config: GatewayConfig) -> ApiError:
    return ApiError(400, "field_name_too_long", f"A form field's name is {length:,} characters long; names may "
                                                f"have at most {config.max_field_name_chars}.")


def _field_too_large(name: str, size: int, config: GatewayConfig) -> ApiError:
    shown = name if len(name) <= 40 else name[:40] + "..."
    return ApiError(413, "field_too_large", f"The form field {shown!r} holds {size:,} bytes or more; text "
                                            f"fields may hold at most {config.max_text_field_bytes:,}.")
