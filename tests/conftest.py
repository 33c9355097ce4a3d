"""Shared fixtures: small paired data sets, fast enough for every test."""

import numpy as np
import pytest
import torch


@pytest.fixture
def pairs():
    """Factory of clustered ``(point, counter)`` pairs: ``pairs(n, d, seed)``."""

    def make(n_pairs=40, n_features=6, random_state=0, noise=0.3):
        rng = np.random.RandomState(random_state)
        centers = rng.normal(scale=3.0, size=(4, n_features))
        point = centers[np.arange(n_pairs) % 4] + rng.normal(size=(n_pairs, n_features))
        counter = point + noise * rng.normal(size=(n_pairs, n_features))
        return point.astype(np.float32), counter.astype(np.float32)

    return make


@pytest.fixture
def single_torch_thread():
    """Run a test on one torch thread and restore the setting afterwards.

    Tiny models spend their time in thread synchronisation when the cores
    are shared with other jobs; one thread is both faster and steadier.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)

# Saved files and the script that wrote them: data, not test modules (the
# doctest collector would otherwise import the script and re-write them).
collect_ignore_glob = ["fixtures/*"]
