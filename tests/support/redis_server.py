"""A real redis-server for tests: a free loopback port, its append-only file in a temp folder, and
kill -9 / restart on the same files for the fault tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tessera.child_process import spawn


class RedisServer:
    """One redis-server process; `url` stays the same across kill() and start()."""

    def __init__(self, directory: Path, port: int | None = None):
        self.directory = directory
        self.port = port or _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make install` installs it")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--appendonly", "yes", "--save", "", "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.directory / "redis.log")]
        self.process = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    pass
                except redis.BusyLoadingError:
                    pass
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.directory / "redis.log").read_text() if (self.directory / "redis.log").exists() else ""
                    raise RuntimeError(f"redis-server did not start:\n{log}")
                time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        """kill -9: no chance to flush anything beyond what is already written to the append-only file."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_redis(directory: Path) -> Iterator[RedisServer]:
    """A started RedisServer whose files live in `directory`; stopped when the block ends."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
