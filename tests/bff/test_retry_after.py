"""bff.expiring_bytes.whole_seconds: a computed wait becomes the Retry-After header's whole seconds by
one rule, rounded up and at least 1."""

import pytest

from bff.expiring_bytes import whole_seconds


@pytest.mark.parametrize("seconds, header", [(0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60), (0.0, 1), (-3.0, 1)])
def test_a_wait_is_rounded_up_to_whole_seconds_and_never_below_one(seconds, header):
    assert whole_seconds(seconds) == header
