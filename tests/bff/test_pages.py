"""The page and the small routes: static files, security headers, OpenAPI, health and styles."""

from __future__ import annotations

import re
import socket
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bff import close_app
from bff.config import DEFAULT_STATIC_DIR
from bff.security import HEADERS
from tests.bff.live import make_app
from tests.support import TINY_STYLE

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'")


@pytest.mark.parametrize("path", ["/", "/app.js", "/api/styles", "/api/openapi.json", "/api/nope", "/healthz"])
def test_every_response_carries_the_security_headers(client, path):
    with client.get(path) as resp:
        headers = resp.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert all(headers[name] == value for name, value in HEADERS.items())


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style attributes, on* handlers."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "script":
            self.scripts.append(names.get("src") or "")
            if not names.get("src"):
                self.found.append("inline <script>")
        if tag == "style":
            self.found.append("inline <style>")
        self.found += [f"{tag}[{name}]" for name in names if name == "style" or name.startswith("on")]


def test_the_page_has_no_inline_code_and_loads_one_module(client):
    with client.get("/") as resp:
        assert resp.status_code == 200 and resp.mimetype == "text/html"
        parser = InlineCode()
        parser.feed(resp.get_data(as_text=True))
    assert parser.found == [] and parser.scripts == ["./app.js"]


@pytest.mark.parametrize("module", sorted(p.name for p in DEFAULT_STATIC_DIR.glob("*.js")))
def test_modules_are_served_as_javascript_and_import_full_relative_paths(client, module):
    with client.get(f"/{module}") as resp:
        assert resp.status_code == 200 and resp.mimetype == "text/javascript"
        source = resp.get_data(as_text=True)
    for specifier in re.findall(r'from\s+"([^"]+)"', source):
        assert re.fullmatch(r"\./[a-z][a-z_]*\.js", specifier), specifier
        assert (DEFAULT_STATIC_DIR / Path(specifier).name).exists()


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/%2e%2e/pyproject.toml", "/..%2fbff/config.py"])
def test_files_outside_the_static_folder_are_not_served(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("method, path, status", [("GET", "/api/stylize", 405), ("GET", "/api/nothing", 404)])
def test_routing_errors_are_json_too(client, method, path, status):
    resp = client.open(path, method=method)
    assert resp.status_code == status and resp.is_json and resp.json["message"]


def test_the_openapi_document_is_valid_and_covers_every_route(app, client):
    validator = pytest.importorskip("openapi_spec_validator", reason="openapi-spec-validator is not installed")
    document = client.get("/api/openapi.json").json
    validator.validate(document)
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/api/", "/healthz"))}
    assert routes == set(document["paths"])


def test_health_is_ok_when_the_server_answers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["status"] == "ok"
    assert [s["serving"] for s in resp.json["servers"]] == [True]


@pytest.mark.serial  # serial pass of `make test`: answered within 3 s
def test_health_is_503_quickly_when_no_server_answers(down_client):
    started = time.monotonic()
    resp = down_client.get("/healthz")
    assert resp.status_code == 503 and "no inference server" in resp.json["message"]
    assert time.monotonic() - started < 3


def test_styles_list_what_the_server_serves(client):
    (style,) = client.get("/api/styles").json["styles"]
    assert style["id"] == TINY_STYLE and style["status"] == "SERVING" and style["version"] == 1
    assert style["preview_url"] is None  # the tiny style ships no preview; the browser tests cover previews


@pytest.mark.parametrize("style_id, words", [(TINY_STYLE, "no preview"), ("ghost", "no style called")])
def test_a_missing_preview_is_404(client, style_id, words):
    resp = client.get(f"/api/styles/{style_id}/preview.jpg")
    assert resp.status_code == 404 and words in resp.json["message"]


def test_styles_are_503_when_no_server_answers(down_client):
    resp = down_client.get("/api/styles")
    assert resp.status_code == 503 and resp.json["error"] == "unavailable"


def test_styles_are_503_that_say_why_when_the_server_does_not_answer_in_time():
    """A server that takes the connection but says nothing (starting, or stuck) runs into the deadline:
    that is no reason to try a smaller image, as the image calls' 504 says, but to try again, which
    the page does for a 503 (tests/browser/test_page.py)."""
    with socket.socket() as mute:
        mute.bind(("127.0.0.1", 0))
        mute.listen()
        app = make_app(servers=(f"127.0.0.1:{mute.getsockname()[1]}",), rpc_timeout_s=1.0)
        try:
            resp = app.test_client().get("/api/styles")
        finally:
            close_app(app)
    assert resp.status_code == 503 and resp.json["error"] == "unavailable"
    assert "may still be starting" in resp.json["message"] and "smaller image" not in resp.json["message"]
    assert resp.headers["Retry-After"] == "5"


def test_api_requests_are_logged_with_status_and_time(client, caplog):
    with caplog.at_level("INFO", logger="bff.access"):
        client.post("/api/stylize", data={})
        client.get("/healthz")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "bff.access" and r.levelname == "INFO"]
    assert re.fullmatch(r"POST /api/stylize 400 \d+\.\d ms", line)
