"""The upload form's own limits (how many fields, how long a name, how large a text field), its shape (every
part named, cut off nowhere, each field one the route reads, as a file or as text as the route's form says, and
sent once unless it is a list) and, when Werkzeug's parser refuses a form, a sentence that says which of them
was broken. Also the query string's shape: on an upload route and on every /api/photos route (previews
included), each query parameter one the route declares, sent once.

A route's fields are those of its form in the OpenAPI document (bff.openapi.form_fields), the one list of them,
and its query parameters those its operation there declares. Nothing else is read, so nothing else is taken:
a misspelt field (strenght=0.2) would otherwise be a full-strength answer with nothing said.

Werkzeug answers every form limit with the same bare 413 (MAX_FORM_PARTS, MAX_FORM_MEMORY_SIZE), which
the gateway used to report as "larger than the 25 MB limit" for a 1 MB body. Only then, on that rare
path, is the body read a second time to find the reason; the usual path costs nothing extra.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from flask import Flask, Request, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from bff.config import FORM_OVERHEAD_BYTES, GatewayConfig
from bff.errors import ApiError, did_you_mean, error_response, too_large
from bff.openapi import DOCUMENT, NAMED_FILE_FIELDS, form_fields

# Werkzeug's parser keeps at most this much of a text field or of a part's header block in memory; a
# backstop above our own limits (it must also exceed the parser's 64 kB read size).
PARSER_MEMORY_BYTES = 500_000
_CHUNK = 64 * 1024
# Bodies that are forms: a file needs multipart; a form naming a stored photo (photo_id) may be either.
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# The routes whose query is checked (check_query): those that take a form, whose options are its fields, and
# the photo routes (bff.openapi_photos), which declare every query parameter they read. Other routes are
# linked with query parameters the document does not declare (a style's preview.jpg?v=, a cache buster).
UPLOAD_ROUTES = tuple(path for path in DOCUMENT["paths"] if form_fields(path))
QUERY_CHECKED = frozenset(UPLOAD_ROUTES) | {path for path in DOCUMENT["paths"]
                                            if path == "/api/photos" or path.startswith("/api/photos/")}


class FileField(NamedTuple):
    """What a sentence calls a form file, and a file name for the curl example of how to send it."""

    label: str
    example: str


# People read these sentences, not the form's field names.
FILE_FIELDS = {
    "image": FileField("The photo", "photo.jpg"),
    "images": FileField("Each photo of a batch", "photo.jpg"),
    "archive": FileField("The zip of photos", "photos.zip"),
    "style_image": FileField("The style image", "painting.jpg"),
    "mix_image": FileField("The style image to mix in", "painting.jpg"),
}


class UploadRequest(Request):
    """Flask's Request, closing every file stream its form parser opened, also when parsing failed half
    way (Werkzeug then drops the temporary files of the parts it had read without closing them), and
    keeping why a form could not be read (`form_error`) where Werkzeug reads it as a form without fields."""

    @property
    def form_error(self) -> ApiError | None:
        """Why the form could not be read (once parsed): cut off, or a part it cannot read; None when it was."""
        return self.__dict__.get("_form_error")

    def make_form_data_parser(self):
        parser = super().make_form_data_parser()
        parser.silent = False  # _load_form_data keeps the reason instead of an empty form
        return parser

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except ValueError as err:  # a silent parser made this a form without fields: "'style' is required"
            self.__dict__.update(form=self.parameter_storage_class(), files=self.parameter_storage_class(),
                                 _form_error=_unreadable(err))

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

    @app.before_request
    def _declared_query_only():
        if _route(request) in QUERY_CHECKED:
            check_query(request)


def check_form(request: Request, config: GatewayConfig, fields: str) -> None:
    """Parses the form and raises ApiError 415 `not_a_form` for a body that is no form (JSON, a bare
    image), saying to send multipart/form-data with `fields` (what goes in which field, e.g. "the photo
    as a file in the 'image' field"); 400 for a form cut off or unreadable, a part without a name, a file
    field sent as text or a text field as a file, a field sent twice that the route reads once, or a field
    it does not read at all (`unknown_field`, suggesting the field it may be a typo of); or 400 or 413 naming
    the limit a field breaks. The query string is check_query's, before the route runs."""
    _check_is_form(request, fields)
    form, files = request.form, request.files
    unread = getattr(request, "form_error", None)
    if unread is not None:
        raise unread
    for name in [*form.keys(), *files.keys()]:
        if not name:
            raise _unnamed_part()
        if len(name) > config.max_field_name_chars:
            raise _name_too_long(len(name), config)
    known = form_fields(_route(request))
    for name in form.keys():
        if _is_file(known.get(name)):
            raise _not_a_file(name)
    for name in files.keys():
        if name in known and not _is_file(known[name]):
            raise _not_text(name)
    for name, schema in known.items():
        count = len(form.getlist(name)) + len(files.getlist(name))
        if count > 1 and schema.get("type") != "array":
            raise _repeated(name, count)
    for name, value in form.items(multi=True):
        # The parser decoded the part as UTF-8, each byte that is none as one U+FFFD of 3: count it as 1.
        size = len(value.encode()) - 2 * value.count("\ufffd")
        if size > config.max_text_field_bytes:
            raise _field_too_large(name, size, config)
    for name in [*form.keys(), *files.keys()]:
        if name not in known:
            raise _unknown_field(name, _route(request), known)


def check_query(request: Request) -> None:
    """ApiError 400 `unknown_field` for a query parameter the route's operation does not declare in the OpenAPI
    document (an upload route declares none: its options are form fields), suggesting the parameter it may be a
    typo of; 400 `repeated_field` for one sent more than once (never resolved to the first)."""
    path, method = _route(request), request.method.lower()
    operation = DOCUMENT["paths"].get(path, {}).get("get" if method == "head" else method)
    if operation is None:
        return
    declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
    for name in request.args.keys():
        if name not in declared:
            raise _unknown_parameter(name, f"{request.method} {path}", declared, form_fields(path))
    for name in declared:
        count = len(request.args.getlist(name))
        if count > 1:
            raise ApiError(400, "repeated_field", f"The query has {count} '{name}' parameters; send it once.")


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
        # A batch takes more parts than other forms (bff.batch_forms.limit_batch_request).
        parts = request.max_form_parts or config.max_form_fields
        return _scan(stream, options["boundary"].encode(), config, parts, form_fields(_route(request)))
    except (OSError, ValueError, AttributeError):  # not seekable, or not multipart after all
        return None


def _scan(stream, boundary: bytes, config: GatewayConfig, max_parts: int, known: dict[str, dict]) -> ApiError | None:
    decoder = MultipartDecoder(boundary)
    parts, field_name, field_size = 0, None, 0
    while True:
        chunk = stream.read(_CHUNK)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, (NeedData, Epilogue)):
            if isinstance(event, (Field, File)):
                parts += 1
                if parts > max_parts:
                    return _too_many_fields(max_parts, known)
                if not event.name:
                    return _unnamed_part()
                if len(event.name) > config.max_field_name_chars:
                    return _name_too_long(len(event.name), config)
                if isinstance(event, Field) and _is_file(known.get(event.name)):
                    return _not_a_file(event.name)  # a file without filename=: held in memory as text
                field_name, field_size = (event.name if isinstance(event, Field) else None), 0
            elif isinstance(event, Data) and field_name is not None:
                field_size += len(event.data)
                if field_size > config.max_text_field_bytes:
                    return _field_too_large(field_name, None, config)  # read no further
            event = decoder.next_event()
        if not chunk or isinstance(event, Epilogue):
            return None


def _route(request: Request) -> str:
    """The request's route as the OpenAPI document names it ("/api/stylize", "/api/photos/{photo_id}")."""
    if request.url_rule is None:
        return request.path
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", request.url_rule.rule)


def _is_file(schema: dict | None) -> bool:
    """Whether a field of this OpenAPI schema is a file (or a list of files); False for None (unknown)."""
    return schema is not None and ("contentMediaType" in schema or "contentMediaType" in schema.get("items", {}))


def _unreadable(err: ValueError) -> ApiError:
    """The 400 for a form Werkzeug's parser gave up on with `err`."""
    if isinstance(err, UnicodeDecodeError):
        return ApiError(400, "unreadable_form", "The form cannot be read: a field's name or a part's headers are "
                                                "not UTF-8 text.")
    if "Content-Disposition" in str(err):
        return ApiError(400, "unreadable_form", "A part of the form has no Content-Disposition header, which says "
                                                "what field it is (form-data; name=\"...\").")
    # The parser ran out of body before the form's closing boundary.
    return ApiError(400, "incomplete_form", "The form is incomplete: it was cut off before its end (the closing "
                                            "boundary), so none of its fields can be trusted; send it again, "
                                            "whole.")


def _unnamed_part() -> ApiError:
    return ApiError(400, "unnamed_field", "A part of the form has no name: its Content-Disposition says "
                                          "form-data without name=\"...\", so it is no field the gateway reads.")


def _not_a_file(name: str) -> ApiError:
    field = FILE_FIELDS.get(name, FileField(f"The '{name}' field", "file"))
    return ApiError(400, "not_a_file", f"{field.label} must be sent as a file (with curl: {name}=@{field.example}): "
                                       "its part of the form has no filename=, so it came as text.",
                    field=name if name in NAMED_FILE_FIELDS else None)


def _not_text(name: str) -> ApiError:
    return ApiError(400, "not_text", f"The '{name}' field must be sent as text, not as a file (with curl: "
                                     f"{name}=..., without @).")


def _repeated(name: str, count: int) -> ApiError:
    return ApiError(400, "repeated_field", f"The form has {count} '{name}' fields; send it once.",
                    field=name if name in NAMED_FILE_FIELDS else None)


def _unknown_field(name: str, route: str, known: dict[str, dict]) -> ApiError:
    """The 400 for a form field `route` does not read: the field it may be a typo of, or else the upload routes
    that do read it (explain=true sent to a batch), and the fields it reads."""
    hint = did_you_mean(name, known)
    elsewhere = [path for path in UPLOAD_ROUTES if path != route and name in form_fields(path)]
    if not hint and elsewhere:
        hint = f" (it is a field of {_listed([f'POST {path}' for path in elsewhere])})"
    return ApiError(400, "unknown_field", f"The form has a field {_shown(name)!r} that POST {route} does not "
                                          f"read{hint}; send only {_field_list(known)}.")


def _unknown_parameter(name: str, operation: str, declared: list[str], form: dict[str, dict]) -> ApiError:
    """The 400 for a query parameter `operation` ("GET /api/photos/{photo_id}/previews/{style_id}") does not
    declare; a route that takes a form is told the field to send instead."""
    if declared:
        return ApiError(400, "unknown_field", f"The query parameter {_shown(name)!r} is not one {operation} "
                                              f"takes{did_you_mean(name, declared)}; it takes {_listed(declared)}.")
    if name in form:
        return ApiError(400, "unknown_field", f"{operation} reads no query parameters: send {name!r} as a field "
                                              f"of the form (with curl: -F {name}=...).")
    if form:
        return ApiError(400, "unknown_field", f"{operation} reads no query parameters, and {_shown(name)!r} is no "
                                              f"field of its form either{did_you_mean(name, form)}.")
    return ApiError(400, "unknown_field", f"{operation} reads no query parameters; leave {_shown(name)!r} out.")


def _too_many_fields(max_parts: int, known: dict[str, dict]) -> ApiError:
    return ApiError(400, "too_many_fields", f"The form has more than {max_parts} fields; send only "
                                            f"{_field_list(known)}.")


def _field_list(known: dict[str, dict]) -> str:
    """'image, photo_id, style and ...', a list marked '(repeated)'; the document for a route without a form."""
    names = [f"{name} (repeated)" if schema.get("type") == "array" else name for name, schema in known.items()]
    return _listed(names) or "the fields of its form (GET /api/openapi.json)"


def _listed(names: list[str]) -> str:
    """'a, b and c'."""
    return f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else "".join(names)


def _shown(name: str) -> str:
    """A name as a sentence repeats it: at most 40 characters."""
    return name if len(name) <= 40 else name[:40] + "..."


def _name_too_long(length: int, config: GatewayConfig) -> ApiError:
    return ApiError(400, "field_name_too_long", f"A form field's name is {length:,} characters long; names may "
                                                f"have at most {config.max_field_name_chars}.")


def _field_too_large(name: str, size: int | None, config: GatewayConfig) -> ApiError:
    """The 413 for a text field of `size` bytes (None: more than the limit, not read to its end)."""
    shown = _shown(name)
    held = f"{size:,} bytes" if size is not None else f"more than {config.max_text_field_bytes:,} bytes"
    return ApiError(413, "field_too_large", f"The form field {shown!r} holds {held}; text fields may hold at most "
                                            f"{config.max_text_field_bytes:,}.")
