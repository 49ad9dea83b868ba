"""The command-line choice of one published version, shared by the scripts that measure or republish one
(scripts/bf16_check.py, scripts/graph_form_version.py)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from tessera.registry import version_dirs


def add_version_args(parser: argparse.ArgumentParser) -> None:
    """--style (required), --version (default the newest) and --registry (default model_registry)."""
    parser.add_argument("--style", required=True)
    parser.add_argument("--version", type=int, help="registry version (default the newest)")
    parser.add_argument("--registry", type=Path, default=Path("model_registry"))


def chosen_version(args: argparse.Namespace) -> tuple[dict[int, Path], int]:
    """(every version folder of the chosen style by number, the chosen number). Raises ValueError, in a
    sentence for the person who typed it, for a style without versions or a version it does not have."""
    style_dir = args.registry / args.style
    versions = version_dirs(style_dir) if style_dir.is_dir() else {}
    if not versions:
        raise ValueError(f"no style '{args.style}' with versions in {args.registry}")
    number = max(versions) if args.version is None else args.version
    if number not in versions:
        raise ValueError(f"{args.style} has no version {number} (it has {', '.join(map(str, sorted(versions)))})")
    return versions, number


def told_source(args: argparse.Namespace, source: Callable[[argparse.Namespace], Path]) -> Path | None:
    """`source(args)`, the version folder a script works on, or None once the ValueError it raised is
    printed as "error: ..." on stderr: told before anything is measured."""
    try:
        return source(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
