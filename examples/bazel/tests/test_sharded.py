"""Six tests, split over the target's 3 shards by dx-py."""

import pytest


@pytest.mark.parametrize("n", range(6))
def test_square(n):
    assert n * n == n**2
