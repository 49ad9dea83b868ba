"""torchrun with two CPU processes: DistributedDataParallel over gloo, only rank 0 writes."""

import os
import socket
import subprocess
import sys

import pytest
import torch

from trainer import runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _why(stderr: str) -> str:
    """The workers' own error lines first (torchrun's summary at the end hides them), then the tail."""
    own = [line for line in stderr.splitlines() if "terminate" in line or "what()" in line or "Error" in line]
    return "\n".join(own[:20]) + "\n...\n" + stderr[-1500:]


@pytest.mark.slow  # two interpreters importing torch: about 20 s on the shared machine
def test_two_processes_train_together_and_rank_zero_writes_the_run(tmp_path, paired_dirs, tiny):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--nnodes", "1",
               "--master-addr", "127.0.0.1", "--master-port", str(free_port()),
               "-m", "trainer", "train", "--data-a", str(paired_dirs[0]), "--data-b", str(paired_dirs[1]),
               "--steps", "3", "--run-dir", str(run_dir), "--norm", "batch", *tiny()]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env)
    # Exit code 0 also means the processes ended with identical weights (the loop checks it).
    assert done.returncode == 0, _why(done.stderr)
    assert done.stdout.count("run directory:") == 1  # only rank 0 reports
    assert [r["step"] for r in runs.read_losses(run_dir)] == [0, 1, 2]
    state = runs.load_checkpoint(run_dir)
    assert state["step"] == 3
    generator, _ = runs.load_generator(run_dir)
    assert torch.isfinite(generator(torch.zeros(1, 3, 32, 32))).all()
