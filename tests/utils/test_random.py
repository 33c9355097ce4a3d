"""derive_seed: the one way a random_state becomes plain integer seeds."""

import numpy as np

from sknegsample.utils._random import derive_seed


def test_same_numbers_as_one_at_a_time_draws():
    rng = np.random.RandomState(7)
    expected = tuple(int(rng.randint(np.iinfo(np.int32).max)) for _ in range(3))
    assert derive_seed(7, size=3) == expected
    assert derive_seed(7) == expected[0]


def test_a_random_state_instance_is_advanced():
    rng = np.random.RandomState(0)
    first, second = derive_seed(rng), derive_seed(rng)
    assert first != second
    assert isinstance(first, int) and 0 <= first < 2**31 - 1
