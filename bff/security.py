"""Security headers on every response, pages and API alike."""

from __future__ import annotations

from flask import Flask

# No inline script or style anywhere: the page is plain files from this origin. Images may also be
# blob: (the photo you picked, the result) and data: URLs; video clips blob: too.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",  # a chosen video clip and its result play from object URLs
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
])

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def init_app(app: Flask) -> None:
    """Adds HEADERS to every response unless a view already set one of them."""

    @app.after_request
    def _add_headers(resp):
        for name, value in HEADERS.items():
            resp.headers.setdefault(name, value)
        return resp
