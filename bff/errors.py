"""Every failure leaves the gateway as JSON: an HTTP code, a machine-readable kind and a sentence."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable

import grpc
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A rejection the client can act on: `status` is the HTTP code, `message` says what to do, and
    `field`, when set, names the form file it is about ("style_image", "mix_image"), so a page can say
    it where that file was chosen without reading the sentence."""

    def __init__(self, status: int, error: str, message: str, retry_after: int | None = None,
                 field: str | None = None):
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.retry_after = retry_after
        self.field = field


# gRPC status -> (HTTP status, kind, what a person should read when the server said nothing useful).
_GRPC_TO_HTTP: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.NOT_FOUND: (404, "unknown_style", "That style does not exist."),
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request", "The inference server rejected the request."),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "busy", "The inference servers are busy; try again shortly."),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "timeout", "The inference servers did not finish in time; "
                                                        "try again, or with a smaller image."),
    grpc.StatusCode.UNAVAILABLE: (503, "unavailable",
                                  "The inference servers cannot be reached right now; try again shortly."),
}


def _is_transport_noise(code: grpc.StatusCode, details: str) -> bool:
    """True for details written by gRPC itself ("Deadline Exceeded", "failed to connect to all
    addresses ..."), which mean nothing to a person; the server's own messages are sentences."""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return True
    return code == grpc.StatusCode.UNAVAILABLE and ("connect" in details or "backends" in details)


def from_grpc(code: grpc.StatusCode, details: str) -> ApiError:
    """Maps a gRPC failure to the HTTP error a browser should see."""
    status, error, fallback = _GRPC_TO_HTTP.get(
        code, (502, "server_error", "The inference server failed; try again later."))
    message = fallback if not details or _is_transport_noise(code, details) else as_sentence(details)
    if status >= 500:
        log.warning("inference server error %s: %s", code.name, details)
    return ApiError(status, error, message, retry_after=5 if status in (429, 503) else None)


def as_sentence(text: str) -> str:
    """A server's message as the gateway's own are written: capitalised, and ended with a full stop
    ("unknown style 'x'; this server serves a" -> "Unknown style 'x'; this server serves a.")."""
    text = text.strip()
    if text[:1].islower():
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def internal_error() -> ApiError:
    """The 500 for a bug: the details go to the log, not to the client."""
    return ApiError(500, "internal_error", "Something went wrong in the gateway; it was logged.")


# Seconds a client is asked to wait when the gateway has as much work as it takes (429 busy).
BUSY_RETRY_S = 30


def busy(what: str) -> ApiError:
    """The 429 for a gateway with as much work as it takes: `what` says how much (a sentence without
    its full stop, e.g. "3 images are already waiting"); the wait it asks for is the Retry-After it sends."""
    return ApiError(429, "busy", f"{what}; try again in {BUSY_RETRY_S} seconds.", retry_after=BUSY_RETRY_S)


def too_large(max_bytes: int) -> ApiError:
    """The 413 for an upload over the byte limit."""
    return ApiError(413, "too_large", f"The upload is larger than the {max_bytes / 1e6:g} MB limit.")


# Characters of an id or a field name a typo's suggestion is looked for in: no id is longer, and a longer ask is
# no typo of one (matching it would cost time in its length).
LONGEST_TYPO = 64


def did_you_mean(asked: str, known: Iterable[str]) -> str:
    """" (did you mean 'strength'?)" when `asked` looks like a typo of one of `known`: the same but for case
    ("Umber-Oil" is "umber-oil"), else the closest by difflib's ratio (at least 0.6); "" when none is close.
    The inference server's unknown style and preset messages suggest alike (inference_server/unknown_ids.py)."""
    if len(asked) > LONGEST_TYPO:
        return ""
    by_lower = {name.lower(): name for name in known}
    near = difflib.get_close_matches(asked.lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[near[0]]!r}?)" if near else ""


def unknown_style(asked: str, known: list[str]) -> ApiError:
    """The 404 for a style id no server serves, naming the one it is probably a typo of and those there are."""
    return ApiError(404, "unknown_style", f"There is no style called {asked[:LONGEST_TYPO]!r}"
                                          f"{did_you_mean(asked, known)}. Known styles: {', '.join(known) or 'none'}.")


def error_response(err: ApiError):
    """The JSON body and headers for one ApiError."""
    body = {"error": err.error, "message": err.message, "status": err.status}
    if err.field is not None:
        body["field"] = err.field
    resp = jsonify(body)
    resp.status_code = err.status
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp


def init_app(app: Flask) -> None:
    """Registers handlers so that no route, and no unexpected bug, answers with HTML or a traceback."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if err.code == 413:
            return error_response(too_large(app.config["TESSERA"].max_upload_bytes))
        kind = err.name.lower().replace(" ", "_")
        return error_response(ApiError(err.code or 500, kind, err.description or err.name))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(internal_error())
