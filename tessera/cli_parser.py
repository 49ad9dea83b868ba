"""The `tessera` command's words: its commands and flags (argparse), and the settings they fill."""

from __future__ import annotations

import argparse
import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

from tessera import cli_flag_types as flag_types
from tessera.brush_scale import DEFAULT_WORK_SIDE, MIN_AUTO_SHORT_SIDE
from tessera.clip_defaults import FRAMES_IN_FLIGHT, MAX_CLIP_SECONDS
from tessera.settings import FlagParser, add_flags, setting
from tessera.style_sources import MIX_SHARE
from tessera.temporal_blend import LONGEST as BLEND_LONGEST
from tessera.temporal_blend import WEIGHT as BLEND_WEIGHT

DEFAULT_SERVER = "127.0.0.1:50051"
# The most pixels an image given to `tessera stylize` may have (a clip's frame: at most video_io's own limit).
MAX_PIXELS = 200_000_000
DEFAULT_STRENGTH = 1.0  # fully styled
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
                         help=_said("restyle with version N of the style (`tessera styles` lists the versions "
                                    "loaded)", "the version it serves", flag_types.version))
    stylize.add_argument("--style-image", metavar="FILE", help="use this painting as the style (PNG, JPEG, WebP)")
    stylize.add_argument("--mix", action="append", type=flag_types.mix, metavar="FILE[:SHARE]",
                         help=f"mix in another style image: its share of the mix, 0 to 1 (default {MIX_SHARE}; "
                              "repeatable; codes are mixed, not pixels)")
    stylize.add_argument("--preset", action="append", type=flag_types.preset, metavar="ID[:WEIGHT]",
                         help="a preset of the style (repeatable; mixed with the images by weight)")
    stylize.add_argument("--keep-colors", action="store_true", help="keep the photo's colours (any style)")
    stylize.add_argument("--explain", action="store_true",
                         help="also write what the style's critic sees beside the result: <name>.realism.png and "
                              "<name>.gradcam.png (docs/explain.md; styles with a critic only; images only)")
    stylize.add_argument("--strength", type=flag_types.strength, default=DEFAULT_STRENGTH, metavar="X",
                         help=_said("1 is fully styled; 0 keeps the photo, or for the any-painting styles paints it "
                                    "in its own style", DEFAULT_STRENGTH, flag_types.strength))
    stylize.add_argument("--scale", type=flag_types.brush_scale, default=None, metavar="S|auto",
                         help=_said("brush scale: the model runs at S times the photo's size and the result is "
                                    f"enlarged guided by the photo; auto: long side {DEFAULT_WORK_SIDE} px for larger "
                                    f"photos (short side at least {MIN_AUTO_SHORT_SIDE} px), full size for smaller "
                                    "ones (images only)", "auto", flag_types.brush_scale))
    stylize.add_argument("--tile", type=flag_types.tile_edge, default=None, metavar="N",
                         help=_said("core tile edge in pixels; raised to the style's halo (images only)",
                                    "planned per image", flag_types.tile_edge))
    pixel_limit = flag_types.whole_from(1, "a pixel limit")
    stylize.add_argument("--max-pixels", type=pixel_limit, default=MAX_PIXELS, metavar="N",
                         help=_said("refuse larger inputs, in pixels (a clip's: per frame)", f"{MAX_PIXELS:,}",
                                    pixel_limit))
    stylize.add_argument("--statistics", choices=("shot", "frame"), default=None,
                         help="clips: share the model's image-wide statistics per shot (steady; the default) or "
                              "compute them per frame")
    stylize.add_argument("--temporal-blend", type=flag_types.blend_weight, default=None, metavar="W",
                         help=_said("clips: largest share of the previous output frame, warped along the optical "
                                    f"flow, in each output frame (steadier; 0 turns it off; still pixels may get up "
                                    f"to {BLEND_LONGEST}; docs/video.md)", BLEND_WEIGHT, flag_types.blend_weight))
    in_flight = flag_types.whole_from(1, "frames in flight")
    stylize.add_argument("--frames-in-flight", type=in_flight, default=None, metavar="N",
                         help=_said("clips: frames restyled at once", str(FRAMES_IN_FLIGHT), in_flight))
    stylize.add_argument("--max-seconds", type=flag_types.seconds, default=None, metavar="S",
                         help=_said("clips: refuse longer ones, in seconds", f"{MAX_CLIP_SECONDS:g}",
                                   flag_types.seconds))
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
        action.add_argument("style", help="the style's id (see `tessera admin status`)")
        if name == "pin":
            action.add_argument("version", type=flag_types.version,
                                help=_said("the version to serve", None, flag_types.version))
    admin.set_defaults(command="admin")
    return parser


def _said(text: str, default: object, flag_type: flag_types.FlagType) -> str:
    """A flag's help: `text` with its default (None: none) and its flag type's range in brackets, as
    help says a setting's (tessera.settings.add_flags)."""
    said = [f"default {default}"] if default is not None else []
    said += [flag_type.bounds] if flag_type.bounds else []
    return f"{text} [{'; '.join(said)}]" if said else text


def parsed(words: list[str]) -> dict | None:
    """What the CLI's parser makes of `words` (None when it refuses them), without printing."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return vars(parser().parse_args(words))
    except SystemExit:
        return None
