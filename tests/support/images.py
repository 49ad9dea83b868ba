"""Image comparisons for tests."""

import numpy as np


def assert_same_up_to_rounding(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal but for 8-bit rounding: batched and unbatched runs may pick different float kernels,
    which moves a value across a rounding boundary now and then, never by more than one level."""
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    assert diff.max() <= 1, f"{(diff > 1).sum()} pixels differ by more than one level (max {diff.max()})"
    assert (diff > 0).mean() < 0.001, f"{(diff > 0).mean():.2%} of values differ"
