"""Read a test server's Prometheus metrics page (started with metrics_port=0; its log says where)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path


def counter_total(log_path: Path, name: str, **labels: str) -> float:
    """The sum of counter or gauge ``name`` over the series whose labels include ``labels`` (0 if none)."""
    url = re.search(r"metrics on (\S+)", Path(log_path).read_text()).group(1)
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((f"{name}{{", f"{name} ")) and all(label in line for label in wanted))
