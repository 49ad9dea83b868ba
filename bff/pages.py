"""The web page: frontend_static/ served as plain files, index.html at /."""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    return _static("index.html")


# The page is flat files only: a rule without slashes leaves every /api/... URL to the API's own
# routes (so a wrong method there is a 405, not a missing file), and nothing can climb out.
@bp.get("/<string:filename>")
def asset(filename: str):
    """A file of the static folder; send_from_directory also refuses names that leave it."""
    return _static(filename)


def _static(filename: str):
    resp = send_from_directory(current_app.config["STATIC_DIR"], filename, max_age=0)
    # Revalidate every time: files are small and change together (ES modules import each other).
    resp.headers["Cache-Control"] = "no-cache"
    return resp
