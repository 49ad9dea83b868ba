"""What the server says about a style and its tiling, as plain dataclasses built from the proto."""

from __future__ import annotations

from dataclasses import dataclass

from tessera.tile_plan import TileLimits
from tessera.tiling import MAX_TILE_SIZE, min_tile_edge, round_up
from tessera.v1 import style_transfer_pb2 as pb

_MODES = {pb.TILING_MODE_CROP: "crop", pb.TILING_MODE_FEATHER: "feather"}


@dataclass(frozen=True)
class TilingFacts:
    halo: int
    size_multiple: int
    default_tile_size: int
    max_tile_size: int
    mode: str
    needs_thumbnail: bool
    thumbnail_size: int
    max_tile_edge: int
    max_tile_pixels: int

    @classmethod
    def from_proto(cls, info: pb.TilingInfo) -> TilingFacts:
        """Servers older than max_tile_edge and max_tile_pixels send 0 for them: square tiles up to
        max_tile_size then."""
        square = info.max_tile_size or MAX_TILE_SIZE
        return cls(
            halo=info.halo,
            size_multiple=max(1, info.size_multiple),
            default_tile_size=info.default_tile_size,
            max_tile_size=square,
            mode=_MODES.get(info.mode, "crop"),
            needs_thumbnail=info.needs_thumbnail,
            thumbnail_size=info.thumbnail_size,
            max_tile_edge=info.max_tile_edge or square,
            max_tile_pixels=info.max_tile_pixels or square * square,
        )

    def tile_limits(self) -> TileLimits:
        """The server's limits for planning tiles; its default tile size caps a tile's area (its square),
        but never under the smallest tile the server takes inside an image (tessera.tiling.min_tile_edge)."""
        area = self.max_tile_pixels
        if self.default_tile_size:
            smallest = min_tile_edge(self.halo, self.size_multiple)
            area = min(area, max(round_up(self.default_tile_size, self.size_multiple), smallest)**2)
        return TileLimits(halo=self.halo, size_multiple=self.size_multiple, max_edge=self.max_tile_edge,
                          max_pixels=area)


@dataclass(frozen=True)
class PresetFacts:
    """A named look of a style-conditioned style."""

    id: str
    name: str
    preview_jpeg: bytes
    credits: str
    license: str

    @classmethod
    def from_proto(cls, preset: pb.Preset) -> PresetFacts:
        return cls(preset.id, preset.name, preset.preview_jpeg, preset.credits, preset.license)


@dataclass(frozen=True)
class StyleSummary:
    id: str
    display_name: str
    description: str
    credits: str
    license: str
    serving_version: int
    available_versions: tuple[int, ...]
    status: str
    status_message: str
    preview_jpeg: bytes
    pinned: bool
    tiling: TilingFacts
    kind: str = "fixed"  # "fixed" or "conditioned"
    presets: tuple[PresetFacts, ...] = ()
    accepts_style_images: bool = False
    # What strength does: "pixel_mix" (a mix with the photo a client may do itself), "style_code" (the
    # model runs again per strength), or "" from servers older than the field.
    strength_mode: str = ""
    # The serving version ships a critic: stylize(..., explain=True) works (docs/explain.md).
    has_critic: bool = False
    # Versions in the registry the server's version policy leaves unloaded (an admin pin loads one).
    unloaded_versions: tuple[int, ...] = ()

    @classmethod
    def from_proto(cls, info: pb.StyleInfo) -> StyleSummary:
        return cls(
            id=info.id,
            display_name=info.display_name,
            description=info.description,
            credits=info.credits,
            license=info.license,
            serving_version=info.serving_version,
            available_versions=tuple(info.available_versions),
            status=pb.StyleStatus.Name(info.status).removeprefix("STYLE_STATUS_"),
            status_message=info.status_message,
            preview_jpeg=info.preview_jpeg,
            pinned=info.pinned,
            tiling=TilingFacts.from_proto(info.tiling),
            kind="conditioned" if info.kind == pb.STYLE_KIND_CONDITIONED else "fixed",
            presets=tuple(PresetFacts.from_proto(p) for p in info.presets),
            accepts_style_images=info.accepts_style_images,
            strength_mode=pb.StrengthMode.Name(info.strength_mode).removeprefix("STRENGTH_MODE_").lower()
            if info.strength_mode else "",
            has_critic=info.has_critic,
            unloaded_versions=tuple(info.unloaded_versions),
        )
