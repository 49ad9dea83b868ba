"""The `tessera` command's words: its commands and flags (argparse), and the settings they fill."""

from __future__ import annotations

import argparse
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from tessera import cli_flag_types as flag_types
from tessera.brush_scale import DEFAULT_WORK_SIDE, MIN_AUTO_SHORT_SIDE
from tessera.settings import FlagParser, add_flags, setting
from tessera.temporal_blend import WEIGHT as BLEND_WEIGHT
from tessera.tiling import MIN_TILE_SIZE

DEFAULT_SERVER = "127.0.0.1:50051"
# The registry style that serves the arbitrary-style teacher (trainer import-arbitrary).
ANY_PAINTING = "any-painting"
# Flags that one kind of input alone reads (dest: flag); given with the other kind they would change nothing.
PHOTO_FLAGS = {"scale": "--scale", "tile": "--tile", "explain": "--explain"}
CLIP_FLAGS = {"statistics": "--statistics", "temporal_blend": "--temporal-blend",
              "frames_in_flight": "--frames-in-flight", "max_seconds": "--max-seconds"}


@dataclass(frozen=True)
class Connection:
    """How the command reaches the server; flags, or TESSERA_* variables where named."""

    server: str = setting(DEFAULT_SERVER, "HOST:PORT, several separated by commas, or dns:///NAME:PORT; calls are "
                                          "spread by round-robin", env=False)
    timeout: float = setting(600.0, "deadline of each call in seconds", env=False, minimum=0.001)
    tls_ca: Path | None = setting(None, "speak TLS, trusting these PEM certificates (the server's --tls-cert or "
                                        "its CA); unset: plaintext", env="TLS_CA")


@dataclass(frozen=True)
class AdminAuth:
    token: str = setting("", "the server's admin token; the variable, unlike this flag, is not visible to other "
                             "users in ps", env="ADMIN_TOKEN", secret=True)


def parser() -> argparse.ArgumentParser:
    """The `tessera` command's parser; each command's namespace names it in `command` ('styles',
    'stylize', 'admin')."""
    common = argparse.ArgumentParser(add_help=False)
    add_flags(common, Connection)
    parser = FlagParser(prog="tessera", description="Restyle images with a Tessera inference server.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    styles = commands.add_parser("styles", parents=[common], help="list the server's styles")
    styles.set_defaults(command="styles")
    stylize = commands.add_parser("stylize", parents=[common],
                                  help="restyle an image file (PNG, JPEG or WebP), every one in a folder, or a "
                                       "video clip (MP4, MOV, WebM, animated GIF, WebP or PNG)")
    stylize.add_argument("input", help="image or clip to restyle, or a folder of images")
    stylize.add_argument("-o", "--output", required=True,
                         help="where to write the result (.png, .jpg, .webp; .mp4 or .webm for a clip), or a "
                              "folder for a folder")
    stylize.add_argument("--style", help=f"style id (see `tessera styles`); default {ANY_PAINTING} with a style image")
    stylize.add_argument("--version", type=flag_types.version, default=0, metavar="N",
                         help="restyle with version N of the style (`tessera styles` lists the versions loaded); "
                              "default the version it serves")
    stylize.add_argument("--style-image", metavar="FILE", help="use this painting as the style (PNG, JPEG, WebP)")
    stylize.add_argument("--mix", action="append", type=flag_types.mix, metavar="FILE[:SHARE]",
                         help="mix in another style image: its share of the mix, 0 to 1 (default 0.5; "
                              "repeatable; codes are mixed, not pixels)")
    stylize.add_argument("--preset", action="append", type=flag_types.preset, metavar="ID[:WEIGHT]",
                         help="a preset of the style (repeatable; mixed with the images by weight)")
    stylize.add_argument("--keep-colors", action="store_true", help="keep the photo's colours (any style)")
    stylize.add_argument("--explain", action="store_true",
                         help="also write what the style's critic sees beside the result: <name>.realism.png and "
                              "<name>.gradcam.png (docs/explain.md; styles with a critic only; images only)")
    stylize.add_argument("--strength", type=flag_types.strength, default=1.0,
                         help="1 is fully styled; 0 keeps the photo, or for the any-painting styles paints it in "
                              "its own style")
    stylize.add_argument("--scale", type=flag_types.brush_scale, default=None, metavar="S|auto",
                         help="brush scale in (0, 1]: the model runs at S times the photo's size and the result "
                              f"is enlarged guided by the photo; default auto: long side {DEFAULT_WORK_SIDE} px "
                              f"for larger photos (short side at least {MIN_AUTO_SHORT_SIDE} px), full size for "
                              "smaller ones (images only)")
    stylize.add_argument("--tile", type=flag_types.tile_edge, default=None,
                         help=f"core tile edge in pixels, from {MIN_TILE_SIZE}; raised to the style's halo "
                              "(default: planned per image; images only)")
    stylize.add_argument("--max-pixels", type=flag_types.whole_from(1, "a pixel limit"), default=200_000_000,
                         help="refuse larger inputs")
    stylize.add_argument("--statistics", choices=("shot", "frame"), default=None,
                         help="clips: share the model's image-wide statistics per shot (steady; the default) or "
                              "compute them per frame")
    stylize.add_argument("--temporal-blend", type=flag_types.blend_weight, default=None, metavar="W",
                         help="clips: largest share in [0, 1) of the previous output frame, warped along the "
                              f"optical flow, in each output frame (steadier; default {BLEND_WEIGHT}, 0 turns it "
                              "off; still pixels may get up to 0.97; docs/video.md)")
    stylize.add_argument("--frames-in-flight", type=flag_types.whole_from(1, "frames in flight"), default=None,
                         help="clips: frames restyled at once (default 3)")
    stylize.add_argument("--max-seconds", type=flag_types.seconds, default=None,
                         help="clips: refuse longer ones (default 60)")
    stylize.set_defaults(command="stylize")
    operator = argparse.ArgumentParser(add_help=False, parents=[common])
    add_flags(operator, AdminAuth)
    admin = commands.add_parser("admin", help="operator actions (need the admin token)")
    actions = admin.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("status", parents=[operator], help="every style and every rejected version")
    actions.add_parser("reload", parents=[operator], help="rescan the registry now")
    for name, text in (("pin", "serve VERSION of STYLE until unpinned"), ("unpin", "serve the newest valid version"),
                       ("rollback", "pin the newest valid version below the serving one")):
        action = actions.add_parser(name, parents=[operator], help=text)
        action.add_argument("style")
        if name == "pin":
            action.add_argument("version", type=flag_types.version)
    admin.set_defaults(command="admin")
    return parser


def parsed(words: list[str]) -> dict | None:
    """What the CLI's parser makes of `words` (None when it refuses them), without printing."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return vars(parser().parse_args(words))
    except SystemExit:
        return None
