"""The `tessera` command: list styles and stylize image files through an inference server."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tessera import cli_flag_types as flag_types
from tessera import formats
from tessera.brush_scale import DEFAULT_WORK_SIDE, default_scale
from tessera.channels import read_ca
from tessera.client import TesseraClient, TesseraError
from tessera.critic_maps import MAP_TITLES, heat_map_paths
from tessera.imageio import (
    ClipNotImageError,
    ImageFormatError,
    encode_image,
    format_from_path,
    open_image,
    to_rgb_array,
)
from tessera.settings import FlagParser, SettingsError, add_flags, build, env_values, fail, setting, specs
from tessera.style_sources import MAX_STYLE_IMAGE_PIXELS, StyleSource, mix_in, parse_mix
from tessera.temporal_blend import WEIGHT as BLEND_WEIGHT
from tessera.tiling import MIN_TILE_SIZE, shape_error

if TYPE_CHECKING:
    from tessera.admin_client import AdminClient

DEFAULT_SERVER = "127.0.0.1:50051"
_IMPORTED = time.perf_counter()
# The registry style that serves the arbitrary-style teacher (trainer import-arbitrary).
ANY_PAINTING = "any-painting"
IMAGE_SUFFIXES = {f".{alias}" for fmt in formats.FORMATS.values() for alias in fmt.aliases}
# The names of the clips tessera.video_sniff tells (an animated WebP or PNG may be named .webp or .png too).
CLIP_SUFFIXES = {".mp4", ".mov", ".webm", ".gif", ".apng"}
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    args.argv = argv  # the words given, for a command the CLI suggests in their place (_clip_command)
    connection = None
    try:
        connection = _settings(Connection, args)
        tls_ca = read_ca(connection.tls_ca)
        if args.command is _admin:
            from tessera.admin_client import AdminClient  # its messages cost every other command's start

            token = _settings(AdminAuth, args).token
            with AdminClient(connection.server, token, timeout=connection.timeout, tls_ca=tls_ca) as admin:
                return _admin(admin, args)
        with TesseraClient(connection.server, timeout=connection.timeout, tls_ca=tls_ca) as client:
            return args.command(client, args)
    except TesseraError as error:
        print(f"tessera: {_error_line(error, connection.server if connection else '')}", file=sys.stderr)
    except (OSError, ValueError) as error:
        print(f"tessera: {error}", file=sys.stderr)
    return 1


# gRPC's words when nothing answers at the address (refused, unreachable, or a name that does not resolve).
_NO_SERVER = ("failed to connect", "errors resolving", "dns resolution failed")


def _error_line(error: TesseraError, server: str) -> str:
    """The server's refusal as '<status>: <message>'; a server that cannot be reached at all says so
    in words first (gRPC's own text follows, for whoever debugs the network)."""
    if error.code.name == "UNAVAILABLE" and any(words in error.message.lower() for words in _NO_SERVER):
        return (f"no Tessera server answers at {server}: start one (`make run`) or name the right one "
                f"with --server ({error.message})")
    return f"{error.code.name.lower().replace('_', ' ')}: {error.message}"


def _settings(cls: type, args: argparse.Namespace):
    """Flags over TESSERA_* variables over defaults (tessera/settings.py); a bad variable exits with status 2."""
    try:
        values = env_values(cls)
    except SettingsError as exc:
        fail("tessera", str(exc))
    values.update({s.name: getattr(args, s.name) for s in specs(cls) if getattr(args, s.name, None) is not None})
    return build(cls, values)


def _styles(client: TesseraClient, args: argparse.Namespace) -> int:
    for style in client.list_styles():
        version = f"v{style.serving_version}" if style.serving_version else "-"
        note = f"  ({style.status_message})" if style.status_message else ""
        print(f"{style.id:<24} {version:<5} {style.status:<12} {style.display_name}{note}")
        older = [v for v in style.available_versions if v != style.serving_version]
        if older:
            print(f"{'':<25}--version: {', '.join(map(str, sorted(older)))} (loaded besides the serving one)")
        for line in _look_lines(style):
            print(f"{'':<25}{line}")
    return 0


def _look_lines(style) -> list[str]:
    """What a style-conditioned style takes: its preset ids for --preset, and whether --style-image works."""
    lines = []
    if style.presets:
        ids = ", ".join(preset.id for preset in style.presets)
        lines += textwrap.wrap(f"--preset: {ids}", width=96, subsequent_indent="  ", break_on_hyphens=False,
                               break_long_words=False)  # an id is never split: it is copied whole
    if style.accepts_style_images:
        lines.append("--style-image: any painting (PNG, JPEG or WebP), and --mix")
    return lines


def _stylize(client: TesseraClient, args: argparse.Namespace) -> int:
    sources = _style_sources(args)
    style = args.style or (ANY_PAINTING if sources else None)
    if style is None:
        raise ValueError("name a --style, or give --style-image / --preset for the any-painting style")
    if Path(args.input).is_dir():
        return _stylize_folder(client, args, style, sources)
    source = Path(args.input)
    kind = _input_kind(source)
    _warn_unused_flags(args, kind, source)
    if kind == "clip":
        from tessera.video_cli import stylize_video_file  # needs PyAV (the video extra), only for clips

        return stylize_video_file(client, args, style, sources, source, Path(args.output))
    _stylize_file(client, args, style, sources, source, Path(args.output))
    return 0


def _warn_unused_flags(args: argparse.Namespace, kind: str, source: Path) -> None:
    """One line on stderr naming the flags given that a `kind` ('photo' or 'clip') does not read."""
    unread, readers = (CLIP_FLAGS, "clips") if kind == "photo" else (PHOTO_FLAGS, "photos")
    given = [flag for dest, flag in unread.items() if _was_given(getattr(args, dest))]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        print(f"tessera: warning: {', '.join(given)} {verb} to {readers} only; ignored for {source}", file=sys.stderr)


def _was_given(value: object) -> bool:
    """Whether a flag holds a value given on the command line: not its None or store_true False. By
    identity, since 0.0 == False and `--temporal-blend 0` is given."""
    return value is not None and value is not False


def _input_kind(path: Path) -> str:
    """'clip' (MP4, MOV, WebM, animated GIF, WebP or PNG of two frames or more) or 'photo' (PNG, JPEG, WebP),
    from the file's bytes, before the output's name is looked at; ValueError naming the input when it
    is neither (a one-frame GIF with tessera.video_sniff's sentence)."""
    from tessera.video_sniff import INPUT_LABELS, STILL_GIF, is_still_gif, read_for_sniff, sniff_clip

    with open(path, "rb") as file:
        head = read_for_sniff(file)
    if not head:
        raise ValueError(f"{path}: the file is empty")
    if sniff_clip(head) is not None:
        return "clip"
    if is_still_gif(head):
        raise ValueError(f"{path}: {STILL_GIF}")
    if formats.sniff(head) is None:
        raise ValueError(f"{path}: neither a photo ({formats.LABELS}) nor a video clip ({INPUT_LABELS}), "
                         "judged by its first bytes")
    return "photo"


def _stylize_folder(client: TesseraClient, args: argparse.Namespace, style: str, sources: list[StyleSource]) -> int:
    """Every file of the folder named as a PNG, JPEG or WebP photo (not its subfolders) into the output
    folder, named <stem>-<style>.<its extension as written>; every other entry is reported as skipped, a
    file that fails is reported and the others go on. An animated WebP or PNG of several frames is a
    clip, not a photo: it is reported with the command that restyles it."""
    output = _output_folder(Path(args.output))
    inputs, skipped = _folder_photos(args, style)
    if not inputs:
        raise ValueError(f"{args.input}: no .png, .jpg or .webp files in this folder")
    output.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in inputs:
        try:
            _input_kind(path)  # an empty or unreadable file is told in the words it gets alone
            _stylize_file(client, args, style, sources, path, output / f"{path.stem}-{style}{path.suffix}",
                          alone=False)
        except (TesseraError, OSError, ValueError) as error:
            failed += 1
            print(f"tessera: {_naming(path, str(getattr(error, 'message', error)))}", file=sys.stderr)
    also = f"; {skipped} other {'entry' if skipped == 1 else 'entries'} skipped (listed above)" if skipped else ""
    print(f"{len(inputs) - failed} of {len(inputs)} images restyled into {output}{also}")
    return 1 if failed else 0


def _output_folder(output: Path) -> Path:
    """-o for a folder of photos; ValueError, before any work, for an existing file or a name ending in
    an image or clip extension (unless a folder of that name exists): a file name given by mistake."""
    if output.is_dir():
        return output
    if output.exists():
        raise ValueError(f"-o {output} is a file; for a folder of photos give a folder")
    if output.suffix.lower() in IMAGE_SUFFIXES | CLIP_SUFFIXES:
        raise ValueError(f"-o {output} looks like a file name; for a folder of photos give a folder")
    return output


def _folder_photos(args: argparse.Namespace, style: str) -> tuple[list[Path], int]:
    """The folder's files named as photos, sorted, and how many other entries it holds; each of those
    is reported on stderr with why it is skipped."""
    photos, skipped = [], 0
    for entry in sorted(Path(args.input).iterdir()):
        reason = _skip_reason(args, style, entry)
        if reason is None:
            photos.append(entry)
            continue
        skipped += 1
        print(f"tessera: skipped {entry}{os.sep if entry.is_dir() else ''}: {reason}", file=sys.stderr)
    return photos, skipped


def _skip_reason(args: argparse.Namespace, style: str, entry: Path) -> str | None:
    """Why a folder's `entry` is not restyled, judged by its kind and name; None for a photo's name."""
    suffix = entry.suffix.lower()
    if entry.is_dir():
        return "a folder (folders are not searched)"
    if not entry.is_file():
        return "not a regular file"
    if suffix in CLIP_SUFFIXES:
        target = Path(args.output) / f"{entry.stem}-{style}.mp4"
        return f"a clip, by its name; restyle it on its own: {_clip_command(args, entry, target)}"
    if suffix not in IMAGE_SUFFIXES:
        return "not a photo, by its name (.png, .jpg, .jpeg or .webp)"
    return None


def _naming(path: Path, message: str) -> str:
    """`message` about the file at `path`, which it names once, as its path (most messages of a file's
    own checks begin with it; the server's do not)."""
    return message if message.startswith(f"{path}: ") else f"{path}: {message}"


def _clip_command(args: argparse.Namespace, clip: Path, target: Path) -> str:
    """The command that restyles `clip` into `target` with every other option of this one (the server,
    the style, the look...): the words given, the folder and the output folder replaced, each
    replacement checked by parsing the result, quoted for a POSIX shell. Should the words not show
    where the folder went (an option argparse reads in a way not tried here), the command with the
    style alone."""
    # Joined as given, so a clip named "-x.webp" in "." stays "./-x.webp", not an option.
    clip_path, target_path = os.path.join(args.input, clip.name), os.path.join(args.output, target.name)
    words = _replaced(args.argv, "input", args.input, clip_path)
    words = words and _replaced(words, "output", args.output, target_path)
    if words is None:
        return shlex.join(["tessera", "stylize", clip_path, "-o", target_path, "--style", args.style or ANY_PAINTING])
    return shlex.join(["tessera", *words])


def _replaced(words: list[str], field: str, old: str, new: str) -> list[str] | None:
    """`words` with the one word that gives `field` its value `old` (alone, or ending an option such as
    `-oOLD`, `--output=OLD` or `--out=OLD`) giving it `new` instead: the candidate that parses to the
    same command but for `field`; None when no word does."""
    before = _parsed(words)
    if before is None or before.pop(field) != old:
        return None
    for i, word in enumerate(words):
        if not word.endswith(old):
            continue
        candidate = [*words[:i], word[:len(word) - len(old)] + new, *words[i + 1:]]
        after = _parsed(candidate)
        if after is not None and after.pop(field) == new and after == before:
            return candidate
    return None


def _parsed(words: list[str]) -> dict | None:
    """What the CLI's parser makes of `words` (None when it refuses them), without printing."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            return vars(_parser().parse_args(words))
    except SystemExit:
        return None


def _stylize_file(client: TesseraClient, args: argparse.Namespace, style: str, sources: list[StyleSource],
                  source: Path, target: Path, alone: bool = True) -> None:
    output_format = format_from_path(str(target))
    try:
        opened = open_image(source.read_bytes(), args.max_pixels, output_format)
        problem = shape_error(*opened.size)  # from the header: a strip would cost far more than its pixels
        if problem:
            opened.close()
            raise ValueError(f"{source}: {problem}")
        pixels = to_rgb_array(opened)
    except ClipNotImageError as error:  # only in a folder: a clip named alone goes to the clip path
        raise ValueError(f"{source}: {error}; a folder is restyled photo by photo, so restyle the clip on its "
                         f"own: {_clip_command(args, source, target.with_suffix('.mp4'))}") from None
    except ImageFormatError as error:
        raise ValueError(f"{source}: {error}") from None
    started = time.perf_counter()
    height, width = pixels.shape[:2]
    scale = default_scale(width, height) if args.scale is None else args.scale
    result = client.stylize(pixels, style, strength=args.strength, version=args.version, tile_size=args.tile,
                            progress=_progress_printer() if sys.stderr.isatty() else None,
                            style_sources=sources, keep_colors=args.keep_colors, scale=scale,
                            explain=args.explain)
    restyling = time.perf_counter() - started
    target.write_bytes(encode_image(result.image, output_format))
    if result.maps is not None:
        for name, path in heat_map_paths(target).items():
            path.write_bytes(encode_image(result.maps.heat_map(name, width, height), "png"))
            print(f"{path}: {MAP_TITLES[name]}")
    look = f"style {style} v{result.version}" + ("" if scale == 1.0 else f" at brush scale {scale:.3g}")
    if not alone:  # in a folder, the command's wall clock would count the files before this one
        print(f"{target}: {width}x{height}, {look}, restyled in {restyling:.1f} s")
        return
    wall = seconds_since_start()
    print(f"{target}: {width}x{height}, {look}, {wall:.1f} s wall clock "
          f"({width * height / 1e6 / wall:.2f} MP/s; restyling alone {restyling:.1f} s)")


def seconds_since_start() -> float:
    """Wall-clock seconds since this process started: interpreter start-up, imports, decoding and
    encoding included, as a person timing the command sees it. Read from Linux's /proc (10 ms
    resolution); elsewhere, since this module was imported."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.01, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def _style_sources(args: argparse.Namespace) -> list[StyleSource]:
    """The look as StyleSources: --style-image FILE and --preset ID[:WEIGHT] (repeatable; relative
    weights, default 1), then each --mix FILE[:SHARE] with its share of the whole mix (0 to 1, default
    0.5, as REST's ``mix`` and the page's slider), the styles before it sharing the rest by weight.
    ValueError before any painting for a mix without a first style or shares over 1."""
    base = [StyleSource(image=_style_image(args.style_image))] if args.style_image else []
    base += [_preset(text) for text in args.preset or []]
    mixes = [(StyleSource(image=_style_image(path)), share) for path, share in map(parse_mix, args.mix or [])]
    if mixes and not base:
        raise ValueError("--mix mixes a style image into a first style: give --style-image or --preset too")
    return mix_in(base, mixes, "--mix")


def _preset(text: str) -> StyleSource:
    preset, _, weight = text.partition(":")
    if not preset:
        raise ValueError(f"--preset {text!r} names no preset id")
    try:
        value = float(weight) if weight else 1.0
        return StyleSource(preset=preset, weight=value)
    except ValueError:
        raise ValueError(f"the weight in --preset {text!r} must be a number >= 0") from None


def _style_image(path) -> bytes:
    """The style image's bytes; ValueError naming the file for one that cannot be read, is empty, or
    that the server would refuse from its header (not a PNG, JPEG or WebP still, damaged, too large)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        hint = " (a share after ':' must be a number from 0 to 1)" if ":" in Path(path).name else ""
        raise ValueError(f"cannot read the style image {path}: {error.strerror}{hint}") from None
    if not data:
        raise ValueError(f"the style image {path} is empty")
    try:
        open_image(data, MAX_STYLE_IMAGE_PIXELS).close()  # the server's own check, from the header
    except ImageFormatError as error:
        raise ValueError(f"the style image {path}: {error}") from None
    return data


def _admin(admin: AdminClient, args: argparse.Namespace) -> int:
    if args.action == "status":
        styles, rejected = admin.status()
    elif args.action == "reload":
        styles, rejected = admin.reload(), []
    elif args.action == "pin":
        styles, rejected = [admin.pin(args.style, args.version)], []
    elif args.action == "unpin":
        styles, rejected = [admin.unpin(args.style)], []
    else:
        styles, rejected = [admin.rollback(args.style)], []
    for style in styles:
        pin = " (pinned)" if style.pinned else ""
        unloaded = f", not loaded {list(style.unloaded_versions)}" if style.unloaded_versions else ""
        print(f"{style.id:<24} serving v{style.serving_version}{pin}, loaded {list(style.available_versions)}"
              f"{unloaded}")
    for style_id, version, reason in rejected:
        print(f"{style_id:<24} v{version} rejected: {reason}")
    return 0


def _progress_printer():
    def show(done: int, total: int) -> None:
        print(f"\r{done}/{total} tiles", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    add_flags(common, Connection)
    parser = FlagParser(prog="tessera", description="Restyle images with a Tessera inference server.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    styles = commands.add_parser("styles", parents=[common], help="list the server's styles")
    styles.set_defaults(command=_styles)
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
    stylize.add_argument("--mix", action="append", metavar="FILE[:SHARE]",
                         help="mix in another style image: its share of the mix, 0 to 1 (default 0.5; "
                              "repeatable; codes are mixed, not pixels)")
    stylize.add_argument("--preset", action="append", metavar="ID[:WEIGHT]",
                         help="a preset of the style (repeatable; mixed with the images by weight)")
    stylize.add_argument("--keep-colors", action="store_true", help="keep the photo's colours (any style)")
    stylize.add_argument("--explain", action="store_true",
                         help="also write what the style's critic sees beside the result: <name>.realism.png and "
                              "<name>.gradcam.png (docs/explain.md; styles with a critic only; images only)")
    stylize.add_argument("--strength", type=flag_types.strength, default=1.0,
                         help="0 keeps the photo, 1 is fully styled")
    stylize.add_argument("--scale", type=flag_types.brush_scale, default=None, metavar="S|auto",
                         help="brush scale in (0, 1]: the model runs at S times the photo's size and the result "
                              f"is enlarged guided by the photo; default auto: long side {DEFAULT_WORK_SIDE} px "
                              "for larger photos, full size for smaller ones (images only)")
    stylize.add_argument("--tile", type=flag_types.whole_from(MIN_TILE_SIZE, "a tile edge"), default=None,
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
    stylize.set_defaults(command=_stylize)
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
    admin.set_defaults(command=_admin)
    return parser


if __name__ == "__main__":
    sys.exit(main())
