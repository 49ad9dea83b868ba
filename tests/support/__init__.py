"""Helpers shared by the test suite: tiny real models, real server processes."""

TINY_STYLE = "tiny-sepia"
