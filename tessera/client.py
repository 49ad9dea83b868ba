"""Python client for the Tessera inference server: styles, health, and tiled stylization.

It cuts images into tiles with the halo the model asks for, streams them over one or more
`StylizeTiles` calls, retries tiles whose stream failed on another stream, and reassembles the
result. It needs only grpc, numpy and Pillow, so gateways and other services can import it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import numpy as np

from tessera import formats
from tessera.brush_scale import check_scale, check_scale_for, scaled_stylize
from tessera.channels import open_channel
from tessera.critic_maps import CriticMaps
from tessera.number_checks import fraction, optional_seconds, positive_seconds, whole_number
from tessera.small_images import enlarge, enlargement, shrink_back
from tessera.style_facts import StyleSummary, TilingFacts
from tessera.style_sources import StyleSource, check_mix, style_source_list
from tessera.tile_streams import STALL_TIMEOUT_S, StreamPool
from tessera.tiling import MIN_TILE_SIZE
from tessera.unhealthy_trailer import unhealthy_version
from tessera.v1 import style_transfer_pb2 as pb
from tessera.v1 import style_transfer_pb2_grpc as pb_grpc

T = TypeVar("T")
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # sent and received; a tile's pixels stay under tiling.MAX_TILE_BYTES
# gRPC's default reconnect backoff grows 1 s x1.6 per failed attempt up to 120 s, so a channel that saw a
# server restart kept failing calls for up to 16 s after the server was back. Capped at 1 s, a channel
# retries at least once a second (plus 20% jitter): recovery within about 1.2 s.
RECONNECT_BACKOFF_MS = {"initial": 250, "max": 1000}
_INTERCEPTOR_KINDS = (grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                      grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor)


class TesseraError(Exception):
    """A call failed; `code` is the gRPC status and `message` says why, for a person."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> TesseraError:
        return cls(error.code(), error.details() or "no details")


@dataclass(frozen=True)
class StylizeResult:
    image: np.ndarray
    version: int
    # The critic's maps, when the call asked to explain (tessera.critic_maps).
    maps: CriticMaps | None = None


class TesseraClient:
    """A connection to one inference server, or to several with client-side round-robin: a list of
    HOST:PORT, or one dns:///NAME:PORT target whose name resolves to several addresses.

    Every call has a deadline: `timeout` seconds unless the call gives its own. An image call whose
    server sends nothing back for `stall_timeout` seconds (None: no such limit) fails then with
    UNAVAILABLE, "The model server stopped answering ...", however far its deadline is: a hung server
    is found within that time, and a large image that keeps sending tiles back is never cut short by it.
    `interceptors` are gRPC client interceptors for every call (tracing, metadata, recording what goes
    on the wire). Every argument a method takes is checked before anything is sent: a number
    (tessera.number_checks) that is a bool, NaN, an infinity or out of range, and an argument of the
    wrong type (a style id that is no text, a flag that is no bool, style sources that are no
    StyleSource, a progress that cannot be called) is a ValueError naming the argument.
    """

    def __init__(self, targets: str | list[str], timeout: float = 60.0, streams_per_target: int = 1,
                 tls_ca: bytes | None = None, interceptors: Sequence[object] = (),
                 stall_timeout: float | None = STALL_TIMEOUT_S) -> None:
        addresses = _addresses(targets)
        self._timeout = positive_seconds("timeout", timeout)
        self._stall_timeout = optional_seconds("stall_timeout", stall_timeout)
        streams_per_target = whole_number("streams_per_target", streams_per_target, 1)
        _check_tls_ca(tls_ca)
        interceptors = _interceptor_list(interceptors)
        self._tiling: dict[str, TilingFacts] = {}  # style id -> facts of the version last seen serving
        # (style id, version) -> that version's facts, as its streams reported them (versions are immutable)
        self._version_tiling: dict[tuple[str, int], TilingFacts] = {}
        self._strength_modes: dict[str, str] = {}  # style id -> its serving version's StyleSummary.strength_mode
        self._tiling_lock = threading.Lock()
        self._parallel_streams = max(1, len(addresses) * streams_per_target)
        self._channel = open_channel(_channel_target(addresses), tls_ca, _channel_options())
        self._open_stub = pb_grpc.StyleTransferStub(grpc.intercept_channel(self._channel, *interceptors))
        self._closed = False

    @property
    def _stub(self) -> pb_grpc.StyleTransferStub:
        """The stub of an open client; ValueError in words once closed (gRPC's own is "Cannot invoke RPC on
        closed channel!"), as for a closed file."""
        if self._closed:
            raise ValueError("this TesseraClient is closed: make a new one (a client used in a with-block is "
                             "closed when the block ends)")
        return self._open_stub

    def __enter__(self) -> TesseraClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._channel.close()

    def list_styles(self, timeout: float | None = None, include_previews: bool = True) -> list[StyleSummary]:
        """Every style the server knows, serving or not. Without previews, `preview_jpeg` is empty
        and the reply is a few hundred bytes per style instead of tens of kB."""
        optional_seconds("timeout", timeout)
        request = pb.ListStylesRequest(include_previews=_flag("include_previews", include_previews))
        try:
            reply = self._stub.ListStyles(request, timeout=timeout or self._timeout)
        except grpc.RpcError as error:
            raise TesseraError.from_rpc(error) from None
        styles = [StyleSummary.from_proto(s) for s in reply.styles]
        with self._tiling_lock:
            self._tiling.update((s.id, s.tiling) for s in styles if s.serving_version)
            self._strength_modes.update((s.id, s.strength_mode) for s in styles if s.serving_version)
        return styles

    def check_health(self, service: str = "", timeout: float | None = None) -> bool:
        """True when the server reports SERVING for `service` ("" is the whole server,
        "style/<id>" one style). Unreachable servers and unknown services give False."""
        optional_seconds("timeout", timeout)
        if not isinstance(service, str):
            raise ValueError(f"service must be a health service name (str; \"\" is the whole server), got {service!r}")
        return _reports_serving(self._channel, service, timeout or min(self._timeout, 5.0))

    def stylize(
        self,
        image: np.ndarray,
        style: str,
        *,
        strength: float = 1.0,
        version: int = 0,
        tile_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        timeout: float | None = None,
        style_sources: Sequence[StyleSource] = (),
        keep_colors: bool = False,
        context: np.ndarray | None = None,
        scale: float = 1.0,
        explain: bool = False,
        stall_timeout: float | None = None,
    ) -> StylizeResult:
        """Restyle an HxWx3 uint8 RGB image of any size and return an image of the same size.

        `style_sources` pick and mix the look of a style-conditioned style (presets, style images);
        `keep_colors` keeps the photo's colours (any style).
        `context` (HxWx3 uint8, any size) is the picture the model's image-wide statistics come from
        (the stream's thumbnail); by default the image itself. A video passes one picture per shot,
        so every frame of the shot gets the same statistics (tessera.video).
        `explain` also returns the critic's maps (StylizeResult.maps); the style's serving version
        must ship a critic (StyleSummary.has_critic).
        `tile_size` forces square cores of that edge (from MIN_TILE_SIZE px; above the server's largest it
        gets the largest, below the halo the halo rounded up to the stride: tessera.tiling.min_tile_edge);
        by default the client plans the tile shape from the image, the model's halo and the number of
        streams (tessera/tile_plan.py).
        `progress(done, total)` is called from this thread as tiles arrive. Raises TesseraError
        (UNAVAILABLE when the server stops answering for the client's `stall_timeout`, or for this
        call's `stall_timeout` in seconds when that is shorter: a small image's one tile needs far less).
        `scale` in (0, 1] is the brush scale (tessera/brush_scale.py): the stream carries the image
        shrunk by it, and the result is enlarged back guided by `image`; a pixel-mix strength and
        keep_colors are then applied at full size, so they give what they give at scale 1.
        An image under MIN_EDGE px on its short side is painted enlarged by a whole factor and brought
        back (tessera/small_images.py); the critic's maps then cover the enlarged image.
        """
        check_scale(scale)
        stall = self._call_stall_timeout(stall_timeout)
        self._check_call(strength, version, tile_size, timeout)
        style_sources = _check_look(style, style_sources, keep_colors)
        _flag("explain", explain)
        if progress is not None and not callable(progress):
            raise ValueError(f"progress must be a function progress(done, total) or None, got {progress!r}")
        pixels = _rgb8("image", image)
        if context is not None:
            _rgb8("context", context)
        check_scale_for(pixels.shape[1], pixels.shape[0], scale)
        if scale < 1.0:
            return self._stylize_scaled(pixels, style, scale, strength=strength, version=version, tile_size=tile_size,
                                        progress=progress, timeout=timeout, style_sources=style_sources,
                                        keep_colors=keep_colors, context=context, explain=explain,
                                        stall_timeout=stall_timeout)
        factor = enlargement(pixels.shape[1], pixels.shape[0])
        if factor > 1:  # too small to paint as a picture (tessera/small_images.py)
            result = self.stylize(enlarge(pixels, factor), style, strength=strength, version=version,
                                  tile_size=tile_size, progress=progress, timeout=timeout, style_sources=style_sources,
                                  keep_colors=keep_colors, context=context, explain=explain,
                                  stall_timeout=stall_timeout)
            return StylizeResult(image=shrink_back(result.image, factor), version=result.version, maps=result.maps)
        deadline = time.monotonic() + (timeout or self._timeout)
        progress = _never_backwards(progress)
        for attempt in range(2):
            # A repaint asks for the facts of the version serving now, not the unhealthy one's.
            pool = StreamPool(self._stub, pixels, style, strength, version, deadline, self._parallel_streams,
                              self._known_tiling(style, version, deadline, refresh=attempt > 0),
                              lambda: self._known_tiling(style, version, deadline, refresh=True),
                              style_sources=style_sources, keep_colors=keep_colors, context=context,
                              explain=explain, stall_timeout=stall)
            try:
                result, pinned, tiling = pool.run(tile_size, progress)
                break
            except grpc.RpcError as error:
                pool.cancel()
                # The serving version turned unhealthy on this image (NaN in a tile): the server now serves
                # another, so an image that did not name a version is painted again, whole, on that one.
                if attempt == 0 and not version and unhealthy_version(error) is not None:
                    continue
                raise TesseraError.from_rpc(error) from None
            except BaseException:
                pool.cancel()
                raise
        with self._tiling_lock:
            self._version_tiling[(style, pinned)] = tiling
            if not version:
                self._tiling[style] = tiling
        return StylizeResult(image=result, version=pinned, maps=pool.maps)

    def _call_stall_timeout(self, asked: float | None) -> float | None:
        """The stall limit of one call: the client's, or the call's own when that is shorter."""
        limits = [t for t in (self._stall_timeout, optional_seconds("stall_timeout", asked)) if t is not None]
        return min(limits) if limits else None

    @staticmethod
    def _check_call(strength: float, version: int, tile_size: int | None, timeout: float | None) -> None:
        """ValueError, before any call, for a strength outside [0, 1], a negative version, a tile edge
        under MIN_TILE_SIZE or a timeout that is not positive seconds (bools, NaN and infinities too)."""
        fraction("strength", strength)
        whole_number("version", version, 0)
        if tile_size is not None:
            whole_number("tile_size", tile_size, MIN_TILE_SIZE)
        optional_seconds("timeout", timeout)

    def _stylize_scaled(self, image: np.ndarray, style: str, scale: float, *, strength: float,
                        keep_colors: bool, timeout: float | None, **options) -> StylizeResult:
        """stylize() at brush scale < 1: the working-resolution image through the stream, then enlarged."""
        pixels = np.ascontiguousarray(image)
        deadline = time.monotonic() + (timeout or self._timeout)
        mixes_pixels = self._strength_mixes_pixels(style, deadline)
        results: list[StylizeResult] = []

        # The model's image-wide statistics come from the photo itself, as the server takes them for
        # unary Stylize and StreamHeader.scale, so the three agree.
        if options.get("context") is None:
            options["context"] = pixels

        def at_working_size(small: np.ndarray) -> np.ndarray:
            result = self.stylize(small, style, strength=1.0 if mixes_pixels else strength,
                                  timeout=max(0.001, deadline - time.monotonic()), **options)
            results.append(result)
            return result.image

        out = scaled_stylize(pixels, scale, at_working_size, strength=strength if mixes_pixels else 1.0,
                             keep_colors=keep_colors)
        # The critic judged the working-resolution result: its maps cover that image (CriticMaps.width).
        return StylizeResult(image=out, version=results[0].version, maps=results[0].maps)

    def _strength_mixes_pixels(self, style: str, deadline: float) -> bool:
        """Whether strength mixes pixels for the style's serving version (asks the server when unknown;
        True when it cannot tell, which mixes at the working resolution like older servers did)."""
        with self._tiling_lock:
            known = self._strength_modes.get(style)
        if known is None:
            try:
                self.list_styles(timeout=max(0.001, min(5.0, deadline - time.monotonic())), include_previews=False)
            except TesseraError:
                return True
            with self._tiling_lock:
                known = self._strength_modes.get(style, "")
        return known != "style_code"

    def _known_tiling(self, style: str, version: int, deadline: float,
                      refresh: bool = False) -> TilingFacts | None:
        """What the client knows of a style's tiling (whether it needs a thumbnail, and how large),
        asking the server (without previews) when it knows nothing or `refresh` is set; None if that
        fails, so the stream carries a thumbnail to be safe."""
        if version:  # a pinned version: known once one of its streams reported its facts (a clip's frames)
            with self._tiling_lock:
                return self._version_tiling.get((style, version))
        with self._tiling_lock:
            if style in self._tiling and not refresh:
                return self._tiling[style]
        try:
            self.list_styles(timeout=max(0.001, min(5.0, deadline - time.monotonic())), include_previews=False)
        except TesseraError:
            return None
        with self._tiling_lock:
            return self._tiling.get(style)
    def stylize_encoded(self, data: bytes, style: str, *, strength: float = 1.0, output_format: str = "",
                        timeout: float | None = None, style_sources: Sequence[StyleSource] = (),
                        keep_colors: bool = False, scale: float = 1.0) -> tuple[bytes, str]:
        """The unary `Stylize` call for small encoded images: returns (bytes, mime type). `scale` is the
        brush scale, applied by the server (StylizeRequest.scale). ValueError, before the call, for a
        strength outside [0, 1], a scale outside (0, 1], a timeout that is not positive seconds, or an
        argument of the wrong type."""
        self._check_call(strength, 0, None, timeout)
        check_scale(scale)
        style_sources = _check_look(style, style_sources, keep_colors)
        if not isinstance(data, bytes):
            raise ValueError(f"data must be the bytes of an encoded image, got {type(data).__name__}")
        if not isinstance(output_format, str) or (output_format and output_format not in formats.FORMATS):
            raise ValueError(f"output_format must be one of {', '.join(formats.NAMES)}, or '' for the image's "
                             f"own, got {output_format!r}")
        request = pb.StylizeRequest(style=style, image=data, strength=strength, output_format=output_format,
                                    style_sources=[s.to_proto() for s in style_sources], keep_colors=keep_colors,
                                    max_reply_bytes=MAX_MESSAGE_BYTES)
        if scale != 1.0:
            request.scale = scale
        deadline = time.monotonic() + (timeout or self._timeout)
        reply = _again_if_unhealthy(
            lambda: self._stub.Stylize(request, timeout=max(0.001, deadline - time.monotonic())))
        return reply.image, reply.mime_type


def _never_backwards(progress: Callable[[int, int], None] | None) -> Callable[[int, int], None] | None:
    """`progress` told only counts that do not go back: an image painted again on another version (an
    unhealthy one's repaint) starts its count anew, and a job's done and ETA must not jump from 9 of 12
    back to 1 of 12. A count of other tiles (another total) is told as the share done, never less. Every
    report still calls `progress` (with the furthest count told so far when this one is behind): a
    caller's progress is also where a job's cancel is noticed (bff.jobs), once per tile."""
    if progress is None:
        return None
    told = [0.0, 0, 0]  # the furthest share told, and its (done, total)

    def forward(done: int, total: int) -> None:
        share = done / total if total else 1.0
        if share >= told[0]:
            told[:] = [share, done, total]
        progress(told[1], told[2])
    return forward


def _again_if_unhealthy(call: Callable[[], T]) -> T:
    """`call()`, and once more when it failed because the serving version turned unhealthy on it (the
    server serves another now, tessera.unhealthy_trailer); TesseraError for any other failure."""
    try:
        return call()
    except grpc.RpcError as error:
        if unhealthy_version(error) is None:
            raise TesseraError.from_rpc(error) from None
    try:
        return call()
    except grpc.RpcError as error:
        raise TesseraError.from_rpc(error) from None


def _check_look(style: object, style_sources: object, keep_colors: object) -> tuple[StyleSource, ...]:
    """The style sources as a tuple, once `style` is a style id, `style_sources` StyleSources and
    `keep_colors` a bool; ValueError naming the argument otherwise."""
    if not (isinstance(style, str) and style.strip()):
        raise ValueError(f"style must be a style id such as 'umber-oil' (a non-empty str), got {style!r}")
    _flag("keep_colors", keep_colors)
    sources = style_source_list("style_sources", style_sources)
    check_mix("style_sources", sources)
    return sources


def _flag(name: str, value: object) -> bool:
    """`value` when it is True or False (a numpy bool too); ValueError naming `name` otherwise, where
    Python would take the text 'no' for true."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _addresses(targets: object) -> list[str]:
    """The HOST:PORT addresses of `targets` (text, commas between several, or a list of such text)."""
    if isinstance(targets, str):
        targets = targets.split(",")
    if not (isinstance(targets, Iterable) and not isinstance(targets, bytes)):
        raise ValueError(f"targets must be HOST:PORT text or a list of them, got {targets!r}")
    addresses = list(targets)
    if not all(isinstance(a, str) for a in addresses):
        raise ValueError(f"targets must be HOST:PORT text or a list of them, got {addresses!r}")
    addresses = [a.strip() for a in addresses if a.strip()]
    if not addresses:
        raise ValueError("at least one server address (HOST:PORT) is needed")
    return addresses


def _check_tls_ca(tls_ca: object) -> None:
    if tls_ca is not None and not isinstance(tls_ca, bytes):
        raise ValueError(f"tls_ca must be the PEM bytes of the certificates to trust, or None; "
                         f"tessera.channels.read_ca reads them from a file, got {type(tls_ca).__name__}")


def _interceptor_list(interceptors: object) -> list[object]:
    kept = list(interceptors) if isinstance(interceptors, Iterable) else None
    if kept is None or not all(isinstance(i, _INTERCEPTOR_KINDS) for i in kept):
        raise ValueError(f"interceptors must be a list of gRPC client interceptors (grpc.*ClientInterceptor), "
                         f"got {interceptors!r}")
    return kept


def _rgb8(name: str, array: np.ndarray) -> np.ndarray:
    """`array` as a C-contiguous HxWx3 uint8 array of at least 1x1; ValueError naming `name` otherwise."""
    pixels = np.ascontiguousarray(array)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or min(pixels.shape[:2]) < 1:
        raise ValueError(f"{name} must be HxWx3 uint8 of at least 1x1 pixels, got {pixels.dtype} {pixels.shape}")
    return pixels


def _channel_target(addresses: list[str]) -> str:
    if len(addresses) == 1:
        # One HOST:PORT, or dns:///NAME:PORT: gRPC's resolver then follows every address the name
        # has (a Kubernetes headless Service lists one per ready pod) and round_robin spreads calls.
        return addresses[0]
    if any(a.startswith("dns:") for a in addresses):
        raise ValueError("a dns:/// target must be the only server address")
    # Several replicas: a static list of IP addresses, balanced per call by round_robin.
    return "ipv4:" + ",".join(_resolve(a) for a in addresses)


def _resolve(address: str) -> str:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"server address {address!r} must look like HOST:PORT")
    info = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
    return f"{info[0][4][0]}:{port}"


def _channel_options() -> list[tuple[str, object]]:
    service_config = {"loadBalancingConfig": [{"round_robin": {}}]}
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.service_config", json.dumps(service_config)),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", RECONNECT_BACKOFF_MS["initial"]),
        ("grpc.max_reconnect_backoff_ms", RECONNECT_BACKOFF_MS["max"]),
    ]


def server_is_serving(address: str, timeout: float = 2.0, tls_ca: bytes | None = None) -> bool:
    """Whether the one server at HOST:PORT answers SERVING to a health check (its own channel, so the
    answer is about that server, not whichever replica a balanced channel picks)."""
    if not isinstance(address, str):
        raise ValueError(f"address must be HOST:PORT text, got {address!r}")
    positive_seconds("timeout", timeout)
    _check_tls_ca(tls_ca)
    with open_channel(address, tls_ca) as channel:
        return _reports_serving(channel, "", timeout)


def _reports_serving(channel: grpc.Channel, service: str, timeout: float) -> bool:
    # Imported here: the health service's messages cost the CLI's every start about 12 ms, and only
    # health checks need them.
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                          timeout=timeout)
    except grpc.RpcError:
        return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING
