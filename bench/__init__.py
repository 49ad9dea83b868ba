"""`make bench`: throughput measured in one run and printed as ratios (the machines are noisy)."""
