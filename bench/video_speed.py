"""The throughput part of bench.video alone (a 720p clip against the same frames as still images, and
the client's work per frame by stage): `python -m bench --only video-speed`; JSON in
bench/results/video_speed.json."""

from __future__ import annotations

from bench import video


def run(tiny: bool = False, rounds: int = 0) -> dict[str, list[dict]]:
    return video.run(tiny=tiny, speed_only=True, rounds=rounds)
