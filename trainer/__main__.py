"""``python -m trainer`` and the ``tessera-train`` console script."""

import os
import sys

# Before torch loads OpenMP: idle OpenMP threads sleep instead of spinning. On a machine shared with
# other processes, spinning threads fight them for the cores, and a 2-thread training step measured
# 0.7 s with this setting against 3-5 s without it. Set OMP_WAIT_POLICY=ACTIVE to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from trainer.cli import main  # noqa: E402  (after the environment is set)

if __name__ == "__main__":
    sys.exit(main())
