"""`make bench`: throughput measured in one run and printed as ratios (the machines are noisy)."""

import os

# Spinning OpenMP threads fight every other process for the two cores and slow training several
# times over. The package runs before any section imports torch, so this is early enough.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
