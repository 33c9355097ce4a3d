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
