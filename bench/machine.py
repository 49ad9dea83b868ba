"""What a benchmark's figures depend on besides the code: the CPU's model and the vector and matrix
instructions its kernels can use. The same graphs ran 1.3-2.6x the peer on a Xeon with AMX and
1.0-2.2x on an AVX2-only EPYC (docs/serving.md, "Measured here"), so every result records them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The instruction sets ONNX Runtime's and OpenVINO's CPU kernels choose between (the names of
# /proc/cpuinfo's "flags"): fp32 FMA widths, int8 dot products (VNNI), bf16 and AMX tiles.
WATCHED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16",
                 "amx_int8")


def cpu_facts(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, object]:
    """{"cpu": model name, "isa": [the WATCHED_FLAGS it has, in that order]}; off Linux the model is
    platform.processor() and the list is empty."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return {"cpu": platform.processor() or "unknown", "isa": []}
    fields = dict(_first_fields(text))
    flags = set(fields.get("flags", "").split())
    return {"cpu": fields.get("model name", platform.processor() or "unknown"),
            "isa": [flag for flag in WATCHED_FLAGS if flag in flags]}


def machine_facts() -> dict[str, object]:
    """Cores, CPU facts, Python, and the load average as the run ends (a busy machine's figures are noisy)."""
    return {"cpus": os.cpu_count(), **cpu_facts(), "python": platform.python_version(),
            "load_average": os.getloadavg()}


def _first_fields(text: str):
    """(key, value) of the first processor's block of /proc/cpuinfo."""
    for line in text.split("\n\n", 1)[0].splitlines():
        key, _, value = line.partition(":")
        yield key.strip(), value.strip()
