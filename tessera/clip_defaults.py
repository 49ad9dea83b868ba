"""The defaults of a clip's restyle that the client, the CLI's help and the gateway share, in a module
without PyAV: tessera.video and tessera.video_io import it, and the CLI's help (every command) and the
gateway's settings read it without loading PyAV, which only the video extra installs."""

from __future__ import annotations

MAX_CLIP_SECONDS = 60.0  # the longest clip restyled by default, in seconds (ClipLimits.max_seconds)
FRAMES_IN_FLIGHT = 3  # frames restyled at once: enough to keep a server's cores busy while the client decodes
