"""Choosing the job store and the servers from flags: the gateway and the worker agree, and refuse
what cannot work with one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bff.config import parse_args

ROOT = Path(__file__).resolve().parents[2]


def test_the_default_is_the_in_memory_store():
    config = parse_args([])
    assert config.job_store == "memory" and config.job_workers >= 1


def test_redis_and_dns_targets_are_accepted():
    config = parse_args(["--job-store", "redis://cache:6379/2", "--job-workers", "0",
                         "--server", "dns:///inference.tessera.svc:50051"])
    assert config.job_store == "redis://cache:6379/2" and config.job_workers == 0
    assert config.servers == ("dns:///inference.tessera.svc:50051",)


@pytest.mark.parametrize("command, flags, words", [
    ("bff", ["--job-store", "postgres://x"], "neither 'memory' nor a redis:// URL"),
    ("bff", ["--job-workers", "0"], "at least 1 with the memory job store"),
    ("bff.worker", [], "--job-store must be a redis:// URL"),
    ("bff.worker", ["--job-store", "redis://127.0.0.1:1/0", "--server", "nope"], "is not HOST:PORT"),
])
def test_impossible_settings_are_one_clear_line_and_exit_code_2(command, flags, words):
    done = subprocess.run([sys.executable, "-m", command, *flags], cwd=ROOT, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_the_worker_console_script_documents_its_flags():
    out = subprocess.run([str(Path(sys.executable).with_name("tessera-worker")), "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=30).stdout
    for flag in ("--job-store", "--server", "--job-workers", "--claim-idle", "TESSERA_JOB_STORE"):
        assert flag in out
