"""Generate the test clips: nothing recorded, nothing copyrighted, every frame made by this code.

- `still`: a sample photo shipped with scikit-image (Chelsea the cat) held still, with sensor-like
  noise drawn anew every frame (Poisson-Gaussian: sigma = sqrt(1 + level / 64) levels, about 1.7 at
  mid-grey),
- `pan`: a camera pan across scikit-image's astronaut photo (NASA, public domain), sub-pixel steps,
- `moving`: a textured ball crossing a smooth synthetic background on a curved path.

Each is written as MP4 (H.264 + AAC tone), MOV, WebM (VP9 + Opus tone), animated GIF or animated WebP.

    python -m scripts.make_clips --out clips/ --width 1280 --height 720 --seconds 10 --fps 30
"""

from __future__ import annotations

import argparse
import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

KINDS = ("still", "pan", "moving")
FORMATS = ("mp4", "mov", "webm", "gif", "webp")
_VIDEO = {"mp4": ("libx264", "yuv420p", {"crf": "16", "preset": "veryfast"}),
          "mov": ("libx264", "yuv420p", {"crf": "16", "preset": "veryfast"}),
          "webm": ("libvpx-vp9", "yuv420p", {"crf": "20", "b": "0", "deadline": "realtime", "cpu-used": "8"})}
_AUDIO = {"mp4": "aac", "mov": "aac", "webm": "libopus"}
AUDIO_RATE = 48_000


def _sample(name: str) -> np.ndarray:
    from skimage import data  # the trainer's dependency; only this script and the bench need it

    return np.asarray(getattr(data, name)(), dtype=np.uint8)[..., :3]


def _fit(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """The photo scaled to cover width x height and centre-cropped."""
    scale = max(width / photo.shape[1], height / photo.shape[0])
    size = (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale)))
    big = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS))
    top, left = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[top:top + height, left:left + width]


def frames(kind: str, width: int, height: int, count: int, seed: int = 0):
    """`count` HxWx3 uint8 frames of the named scene."""
    rng = np.random.default_rng(seed)
    if kind == "still":
        base = _fit(_sample("chelsea"), width, height).astype(np.float32)
        sigma = np.sqrt(1.0 + base / 64.0)
        for _ in range(count):
            yield np.clip(np.rint(base + rng.normal(0.0, 1.0, base.shape) * sigma), 0, 255).astype(np.uint8)
    elif kind == "pan":
        photo = Image.fromarray(_sample("astronaut"))
        scale = max(1.2 * height / photo.height, 1.5 * width / photo.width)
        wide = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
        travel = max(0.0, wide.width - width - 1.0)
        top = (wide.height - height) / 2
        for i in range(count):
            x = travel * i / max(1, count - 1)
            box = (x, top, x + width, top + height)
            yield np.asarray(wide.resize((width, height), Image.Resampling.BILINEAR, box=box), dtype=np.uint8)
    elif kind == "moving":
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        background = np.stack([90 + 80 * xx / width, 120 + 60 * np.sin(yy / height * 3.0),
                               160 - 70 * yy / height], axis=2)
        radius = max(4.0, height / 6)
        texture = rng.uniform(-40, 40, (height, width, 1)).astype(np.float32)
        for i in range(count):
            t = i / max(1, count - 1)
            cx, cy = radius + t * (width - 2 * radius), height / 2 + height / 4 * np.sin(2 * np.pi * t)
            inside = ((xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2)[..., None]
            shifted = np.roll(texture, (int(round(cy - height / 2)), int(round(cx))), axis=(0, 1))
            ball = np.array([220, 60, 40], np.float32) + shifted
            yield np.clip(np.where(inside, ball, background), 0, 255).astype(np.uint8)
    else:
        raise ValueError(f"unknown clip kind {kind!r}; one of {', '.join(KINDS)}")


def make_clip(kind: str, fmt: str = "mp4", width: int = 96, height: int = 64, count: int = 8, fps: int = 10,
              audio: bool = True, seed: int = 0) -> bytes:
    """The encoded clip: `count` frames at `fps`, with a 440 Hz tone track when the format has audio."""
    return encode_frames(frames(kind, width, height, count, seed), fmt, fps, audio, grain=kind == "still")


def encode_frames(rgb_frames, fmt: str = "mp4", fps: int = 10, audio: bool = True, grain: bool = False) -> bytes:
    """HxWx3 uint8 frames (an iterable) as an `fmt` clip at `fps`, with a tone track where the format has audio.

    `grain` keeps sensor noise through H.264 (x264's grain tuning at CRF 10: of 1.87 levels of noise
    between raw frames, 1.44 survive at 640x360, against 0.09 at the default CRF 16)."""
    if fmt in ("gif", "webp", "apng"):
        images = [Image.fromarray(f) for f in rgb_frames]
        buffer = io.BytesIO()
        images[0].save(buffer, "PNG" if fmt == "apng" else fmt.upper(), save_all=True, append_images=images[1:],
                       duration=round(1000 / fps), loop=0, **({"lossless": True} if fmt == "webp" else {}))
        return buffer.getvalue()
    codec, pix_fmt, options = _VIDEO[fmt]
    buffer = io.BytesIO()
    count = 0
    with av.open(buffer, "w", format=fmt) as out:
        if grain and codec == "libx264":
            options = {**options, "crf": "10", "tune": "grain"}
        video = out.add_stream(codec, rate=Fraction(fps), options=options)
        sound = out.add_stream(_AUDIO[fmt], rate=AUDIO_RATE) if audio else None
        for i, rgb in enumerate(rgb_frames):
            if i == 0:
                video.width, video.height, video.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
            count += 1
        out.mux(video.encode(None))
        if sound is not None:
            _tone(out, sound, count / fps)
    return buffer.getvalue()


def _tone(out, stream, seconds: float) -> None:
    samples = int(AUDIO_RATE * seconds)
    t = np.arange(samples) / AUDIO_RATE
    wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
    frame.sample_rate, frame.pts = AUDIO_RATE, 0
    out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("clips"))
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--formats", nargs="+", default=["mp4"], choices=FORMATS)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in args.kinds:
        for fmt in args.formats:
            path = args.out / f"{kind}.{fmt}"
            path.write_bytes(make_clip(kind, fmt, args.width, args.height, round(args.seconds * args.fps), args.fps))
            print(path)


if __name__ == "__main__":
    main()
