"""Tell a video clip from its first bytes, without importing PyAV (the CLI and the gateway ask this of
every upload; only clips need the video extra)."""

from __future__ import annotations

INPUT_LABELS = "MP4, MOV, WebM, animated GIF or animated WebP"


def sniff_clip(data: bytes) -> str | None:
    """'mp4', 'mov', 'webm', 'gif' or 'webp' (animated only) from the first bytes, or None."""
    if data[4:8] == b"ftyp":
        return "mov" if data[8:12] == b"qt  " else "mp4"
    if data[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8X" and len(data) > 20 and data[20] & 0x02:
        return "webp"  # VP8X with the animation flag; a still WebP is an image, not a clip
    return None
