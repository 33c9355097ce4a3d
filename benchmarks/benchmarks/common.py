"""Data shared by the suites: clustered pairs, as real embeddings are."""

import numpy as np

from sknegsample.datasets import make_pairs


def clustered_bank(n_bank, n_features, seed=0):
    """``vstack([point, counter])`` of ``make_pairs`` and each row's pair label."""
    point, counter = make_pairs(n_bank // 2, n_features, random_state=seed)
    bank = np.vstack([point, counter])
    labels = np.concatenate([np.arange(n_bank // 2)] * 2).astype(np.int64)
    return bank, labels


def grid_values(params, param_names, name):
    """The values of one named parameter of a suite's grid."""
    return params[param_names.index(name)]


def banks_for(suite):
    """Every (n_bank, n_features) bank a suite's grid asks for, keyed by shape."""
    sizes = grid_values(suite.params, suite.param_names, "n_bank")
    dims = grid_values(suite.params, suite.param_names, "n_features")
    return {(n, d): clustered_bank(n, d) for n in sizes for d in dims}


def plain_distances_of(sampler, queries):
    """Distances of a fitted ``random_rate=0`` sampler's hard negatives."""
    _, info = sampler.transform(queries, return_info=True)
    return info.negative_distances[:, 0]


def sampler_options(plain_distances):
    """``{name: parameters}`` of each sampler option timed against plain mining.

    The distance window is set from plain mining's own distances (its 10th
    and 90th percentiles), so it means the same on any data.
    """
    low, high = (float(q) for q in np.quantile(plain_distances, [0.10, 0.90]))
    return {
        "positive_margin": {"positive_margin": 0.95},
        "absolute_margin": {"absolute_margin": 0.05},
        "min_distance": {"min_distance": round(low, 4)},
        "max_distance": {"max_distance": round(high, 4)},
        "window": {"n_candidates": 20, "hard_selection": "uniform", "n_negatives": 4},
        "skip_nearest": {"skip_nearest": 10},
        "max_negative_uses": {"max_negative_uses": 5},
        "negative_pool": {"negative_pool": "counters"},
        "recipe": {"negative_pool": "counters", "positive_margin": 0.95, "n_negatives": 4},
        "guarded_random": {"positive_margin": 0.95, "random_rate": 0.5,
                           "guard_random_negatives": True},
    }
