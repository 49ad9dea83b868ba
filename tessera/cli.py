"""The `tessera` command: list styles and stylize image files through an inference server."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from tessera import formats
from tessera.brush_scale import default_scale
from tessera.channels import read_ca
from tessera.cli_folder import Folder, clip_command, clip_container, naming
from tessera.cli_output import check_output_file, os_error_words, output_folder, write_whole
from tessera.cli_parser import ANY_PAINTING, CLIP_FLAGS, PHOTO_FLAGS, AdminAuth, Connection, parser
from tessera.cli_style_sources import style_image_files, style_sources
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
from tessera.settings import SettingsError, build, env_values, fail, specs
from tessera.style_sources import StyleSource
from tessera.tiling import shape_error

if TYPE_CHECKING:
    from tessera.admin_client import AdminClient

_IMPORTED = time.perf_counter()


# The status when stdout's reader has gone (`tessera styles | head -1`): the shell's for a command that
# SIGPIPE ends, 128 + 13, as `cat` or `ls` give; Python ignores SIGPIPE, so it is said here.
READER_GONE = 141


def main(argv: list[str] | None = None) -> int:
    """Run the `tessera` command on `argv` (default sys.argv[1:]); its exit status: 0, 1 for a refusal
    or failure (one line on stderr), 2 for bad flags, 130 for Ctrl-C, READER_GONE when stdout was closed
    (nothing more is printed)."""
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader gone is found here, not in Python's flush at exit (a traceback)
    except BrokenPipeError:
        # Whatever is still buffered goes nowhere, so that the flush at exit does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return READER_GONE


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser().parse_args(argv)
    args.argv = argv  # the words given, for a command the CLI suggests in their place (cli_folder.clip_command)
    connection = None
    try:
        connection = _settings(Connection, args)
        tls_ca = read_ca(connection.tls_ca)
        if args.command == "admin":
            from tessera.admin_client import AdminClient  # its messages cost every other command's start

            token = _settings(AdminAuth, args).token
            with AdminClient(connection.server, token, timeout=connection.timeout, tls_ca=tls_ca) as admin:
                return _admin(admin, args)
        with TesseraClient(connection.server, timeout=connection.timeout, tls_ca=tls_ca) as client:
            return _styles(client, args) if args.command == "styles" else _stylize(client, args)
    except TesseraError as error:
        print(f"tessera: {_error_line(error, connection.server if connection else '', args.command)}",
              file=sys.stderr)
    except BrokenPipeError:  # stdout's reader has gone: main ends quietly
        raise
    except OSError as error:
        print(f"tessera: {os_error_words(error)}", file=sys.stderr)
    except ValueError as error:
        print(f"tessera: {error}", file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C: the shell's convention, 128 + SIGINT, and no traceback
        print("tessera: interrupted", file=sys.stderr)
        return 130
    return 1


# gRPC's words when nothing answers at the address (refused, unreachable, or a name that does not resolve).
_NO_SERVER = ("failed to connect", "errors resolving", "dns resolution failed")
# gRPC's words when what answers there does not speak HTTP/2 (an HTTP/1 server such as the gateway).
_NOT_GRPC = ("failed parsing http/2", "http1.x server")


def _error_line(error: TesseraError, server: str, command: str = "") -> str:
    """The server's refusal as '<status>: <message>'; a server that cannot be reached at all, an
    address where something else answers, and a server without the admin service say so in words
    first (gRPC's own text follows, for whoever debugs the network)."""
    message = error.message.lower()
    if error.code.name == "UNAVAILABLE" and any(words in message for words in _NO_SERVER):
        return (f"no Tessera server answers at {server}: start one (`make run`) or name the right one "
                f"with --server ({error.message})")
    if error.code.name == "UNAVAILABLE" and any(words in message for words in _NOT_GRPC):
        return (f"something answers at {server}, but it is not a Tessera gRPC server (perhaps the gateway's "
                f"HTTP port): name the inference server's gRPC port with --server ({error.message})")
    if error.code.name == "UNIMPLEMENTED" and command == "admin":
        return (f"the server at {server} does not offer the admin service: an operator turns it on by starting "
                f"the server with --admin-token-file FILE (or --admin-token, or TESSERA_ADMIN_TOKEN) "
                f"({error.message})")
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
        print(f"{_shown(style.id):<24} {version:<5} {style.status:<12} {_shown(style.display_name)}{_note(style)}")
        older = [v for v in style.available_versions if v != style.serving_version]
        if older:
            print(f"{'':<25}--version: {', '.join(map(str, sorted(older)))} (loaded besides the serving one)")
        for line in _look_lines(style):
            print(f"{'':<25}{line}")
    return 0


def _note(style) -> str:
    """The style's status sentence, as `tessera styles` and `tessera admin` print it after its line."""
    return f"  ({_shown(style.status_message)})" if style.status_message else ""


def _shown(text: str) -> str:
    """A server's text with its control characters and line breaks escaped ('\\n', '\\x1b'): a style's
    name or message must not break the table into lines or drive the terminal."""
    if text.isprintable():
        return text
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)


def _look_lines(style) -> list[str]:
    """What a style takes besides a photo: a style-conditioned one's preset ids for --preset and whether
    --style-image works, and --explain for one that ships a critic."""
    lines = []
    if style.presets:
        ids = ", ".join(_shown(preset.id) for preset in style.presets)
        lines += textwrap.wrap(f"--preset: {ids}", width=96, subsequent_indent="  ", break_on_hyphens=False,
                               break_long_words=False)  # an id is never split: it is copied whole
    if style.accepts_style_images:
        lines.append("--style-image: any painting (PNG, JPEG or WebP), and --mix")
    if style.has_critic:
        lines.append("--explain: what its critic sees (realism and Grad-CAM heat maps)")
    return lines


def _stylize(client: TesseraClient, args: argparse.Namespace) -> int:
    sources = style_sources(args)
    style = args.style or (ANY_PAINTING if sources else None)
    if style is None:
        raise ValueError("name a --style, or give --style-image / --preset for the any-painting style")
    if Path(args.input).is_dir():
        return _stylize_folder(client, args, style, sources)
    source, target = Path(args.input), Path(args.output)
    kind = _input_kind(source)
    check_output_file([(source, "the input"), *style_image_files(args)], target, kind,
                      args.explain and kind == "photo")
    _warn_unused_flags(args, kind, source)
    if kind == "clip":
        from tessera.video_cli import stylize_video_file  # needs PyAV (the video extra), only for clips

        return stylize_video_file(client, args, style, sources, source, target)
    _stylize_file(client, args, style, sources, source, target)
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
                         f"judged by its first bytes{formats.what_it_is(head)}")
    return "photo"


def _stylize_folder(client: TesseraClient, args: argparse.Namespace, style: str, sources: list[StyleSource]) -> int:
    """Every file of the folder named as a PNG, JPEG or WebP photo (not its subfolders) into the output
    folder, named <stem>-<style>.<its extension as written>; every other entry is reported as skipped, a
    file that fails is reported and the others go on. A clip, by its name or by its content (an
    animated WebP or PNG of several frames), is skipped and reported with the command that restyles it."""
    output = output_folder(Path(args.output))
    folder = Folder(args, style, style_image_files(args))
    inputs = folder.photos
    if inputs or folder.clips_told:  # the commands told for the clips write there too: ready to paste
        output.mkdir(parents=True, exist_ok=True)
    if not inputs:
        also = " (its other entries are listed above)" if folder.skipped else ""
        raise ValueError(f"{args.input}: no photos (.png, .jpg or .webp files, no clips) in this folder{also}")
    failed = 0
    # The first photo's version, named by number for the rest, as a clip's frames name their first's: a
    # version swapped in or pinned meanwhile does not split the folder between two models.
    version = args.version
    for path in inputs:
        try:
            _input_kind(path)  # an empty or unreadable file is told in the words it gets alone
            version = _stylize_file(client, args, style, sources, path, folder.photo_target(path), folder=folder,
                                    version=version)
        except BrokenPipeError:  # stdout's reader has gone: main ends quietly
            raise
        except (TesseraError, OSError, ValueError) as error:
            failed += 1
            said = os_error_words(error) if isinstance(error, OSError) else str(getattr(error, "message", error))
            if version and not args.version and isinstance(error, TesseraError) and error.code.name == "NOT_FOUND":
                said = _version_gone(style, version)
            print(f"tessera: {naming(path, said)}", file=sys.stderr)
    skipped = folder.skipped
    also = f"; {skipped} other {'entry' if skipped == 1 else 'entries'} skipped (listed above)" if skipped else ""
    model = f" with style {style} v{version}" if version and failed < len(inputs) else ""
    print(f"{len(inputs) - failed} of {len(inputs)} images restyled into {output}{model}{also}")
    return 1 if failed else 0


def _version_gone(style: str, version: int) -> str:
    """Why a folder's photo failed once the version its first photo was restyled with is gone for good: the
    server's words would be an unknown style's, with a typo's suggestion (a removed style's folder)."""
    return (f"version {version} of style {style}, which this folder's first photo was restyled with and the "
            "rest are held to, has been retired and is no longer served; run the command again for the "
            "photos left, on the version serving now")


def _stylize_file(client: TesseraClient, args: argparse.Namespace, style: str, sources: list[StyleSource],
                  source: Path, target: Path, folder: Folder | None = None, version: int = 0) -> int:
    """The photo at `source` restyled into `target`, named alone or as one of a `folder`'s photos, by model
    `version` (0: --version's, or the serving one); returns the version that restyled it."""
    output_format = format_from_path(str(target))
    try:
        opened = open_image(source.read_bytes(), args.max_pixels, output_format)
        problem = shape_error(*opened.size)  # from the header: a strip would cost far more than its pixels
        if problem:
            opened.close()
            raise ValueError(f"{source}: {problem}")
        pixels = to_rgb_array(opened)
    except ClipNotImageError as error:  # a folder's file that became a clip after the folder was read (its
        # clips are skipped as it is read); a clip named alone goes to the clip path
        clip_target = folder.clip_target(source) if folder else target.with_suffix(f".{clip_container(source)}")
        raise ValueError(f"{source}: {error}; a folder is restyled photo by photo, so restyle the clip on its "
                         f"own: {clip_command(args, source, clip_target)}") from None
    except ImageFormatError as error:
        raise ValueError(f"{source}: {error}") from None
    started = time.perf_counter()
    height, width = pixels.shape[:2]
    scale = default_scale(width, height) if args.scale is None else args.scale
    result = client.stylize(pixels, style, strength=args.strength, version=version or args.version, tile_size=args.tile,
                            progress=_progress_printer() if sys.stderr.isatty() else None,
                            style_sources=sources, keep_colors=args.keep_colors, scale=scale,
                            explain=args.explain)
    restyling = time.perf_counter() - started
    write_whole(target, encode_image(result.image, output_format))
    if result.maps is not None:
        for name, path in heat_map_paths(target).items():
            write_whole(path, encode_image(result.maps.heat_map(name, width, height), "png"))
            print(f"{path}: {MAP_TITLES[name]}")
    look = f"style {style} v{result.version}" + ("" if scale == 1.0 else f" at brush scale {scale:.3g}")
    if folder is not None:  # in a folder, the command's wall clock would count the files before this one
        print(f"{target}: {width}x{height}, {look}, restyled in {restyling:.1f} s")
        return result.version
    wall = seconds_since_start()
    print(f"{target}: {width}x{height}, {look}, {wall:.1f} s wall clock "
          f"({width * height / 1e6 / wall:.2f} MP/s; restyling alone {restyling:.1f} s)")
    return result.version


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
        # The status and its sentence as `tessera styles` prints them: a pin that cannot serve, an
        # unhealthy version, an invalid style.json, a style with no valid version.
        serving = f"serving v{style.serving_version}" if style.serving_version else "serving no version"
        pin = " (pinned)" if style.pinned else ""
        unloaded = f", not loaded {list(style.unloaded_versions)}" if style.unloaded_versions else ""
        print(f"{_shown(style.id):<24} {style.status:<12} {serving}{pin}, loaded {list(style.available_versions)}"
              f"{unloaded}{_note(style)}")
    for style_id, version, reason in rejected:
        print(f"{_shown(style_id):<24} v{version} rejected: {_shown(reason)}")
    return 0


def _progress_printer():
    def show(done: int, total: int) -> None:
        print(f"\r{done}/{total} tiles", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show



if __name__ == "__main__":
    sys.exit(main())
