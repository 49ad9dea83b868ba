"""Concurrent clients against servers that differ only in their batching settings, in interleaved
windows: each window runs N client threads, each restyling the same small photo K times, on one
server, then the same on the next server, round after round."""

from __future__ import annotations

import threading
import time

import numpy as np

from bench.timing import percentile
from tessera.client import TesseraClient


def window(address: str, style: str, photo: np.ndarray, clients: int, requests_each: int) -> dict:
    """Latencies (s) of every request and the window's wall time, for `clients` threads at once."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def one_client() -> None:
        with TesseraClient(address, timeout=300) as client:
            client.list_styles(include_previews=False)  # connected and tiling facts known before timing
            start.wait()
            for _ in range(requests_each):
                began = time.perf_counter()
                try:
                    client.stylize(photo, style)
                except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                    with lock:
                        errors.append(error)
                    continue
                with lock:
                    latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return {"latencies": latencies, "wall": time.perf_counter() - began, "errors": len(errors)}


def compare(servers: dict[str, str], style: str, photo: np.ndarray, client_counts: tuple[int, ...],
            requests_each: int, rounds: int) -> list[dict]:
    """One row per (clients, server setting): MP/s over all windows, p50 and p99 latency, errors."""
    megapixels = photo.shape[0] * photo.shape[1] / 1e6
    rows = []
    for clients in client_counts:
        gathered = {name: {"latencies": [], "wall": 0.0, "errors": 0} for name in servers}
        for address in servers.values():  # warm both before timing
            window(address, style, photo, clients, 1)
        for _ in range(rounds):
            for name, address in servers.items():
                result = window(address, style, photo, clients, requests_each)
                gathered[name]["latencies"] += result["latencies"]
                gathered[name]["wall"] += result["wall"]
                gathered[name]["errors"] += result["errors"]
        for name, result in gathered.items():
            done = len(result["latencies"])
            rows.append({"clients": clients, "server": name, "requests": done, "errors": result["errors"],
                         "MP/s": done * megapixels / result["wall"],
                         "p50 s": percentile(result["latencies"], 50) if done else float("nan"),
                         "p99 s": percentile(result["latencies"], 99) if done else float("nan")})
    return rows
