"""Synthetic paired embeddings with controllable hard and false negatives."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import DTypeLike
from sklearn.utils import check_random_state

from ..utils._validation import check_positive_int

# Same default box as sklearn.datasets.make_blobs: with cluster_std=1 the
# clusters are well apart, so the hard negatives of a pair are the other
# pairs of its cluster.
_CENTER_BOX = (-10.0, 10.0)


def _check_real(value, name: str, *, high: float = np.inf) -> float:
    """Check that ``value`` is a real number in ``[0, high)``."""
    expected = f"a real number in [0, {high})"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}; got {value!r}.")
    # Written so that NaN fails too.
    if not 0 <= value < high:
        raise ValueError(f"{name} must be {expected}; got {value}.")
    return float(value)


def _check_float_dtype(dtype: DTypeLike) -> None:
    """Check that ``dtype`` is a floating-point dtype."""
    if not np.issubdtype(dtype, np.floating):
        raise ValueError(f"dtype must be a floating-point dtype; got {np.dtype(dtype)}.")


def make_pairs(
    n_pairs: int = 1000,
    n_features: int = 32,
    *,
    n_clusters: int = 10,
    cluster_std: float = 1.0,
    noise: float = 0.1,
    duplicate_rate: float = 0.0,
    duplicate_noise: float = 1e-3,
    return_groups: bool = False,
    dtype: DTypeLike = np.float32,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[np.ndarray, ...]:
    """Generate clustered ``(point, counter)`` embedding pairs.

    Each point is drawn around one of ``n_clusters`` centres, like
    :func:`sklearn.datasets.make_blobs`, and its counter (the positive) is
    the point plus a small Gaussian ``noise``. The other pairs of the same
    cluster are the hard negatives. Optionally, a fraction of the pairs are
    near-copies of another pair: these "near-duplicate families" are the
    false negatives a miner should not return as negatives.

    Parameters
    ----------
    n_pairs : int, default=1000
        Number of pairs (rows), at least 2.
    n_features : int, default=32
        Dimension of the embeddings.
    n_clusters : int, default=10
        Number of cluster centres, at most ``n_pairs``. Pairs are spread
        evenly over the clusters.
    cluster_std : float, default=1.0
        Standard deviation of the points around their centre. Centres are
        drawn uniformly in ``[-10, 10]`` per feature.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to a point to make
        its counter; the expected point-to-counter distance is about
        ``noise * sqrt(n_features)``.
    duplicate_rate : float, default=0.0
        Fraction of the pairs, in ``[0, 1)``, that are replaced by a
        near-copy of another (original) pair: ``floor(duplicate_rate *
        n_pairs)`` pairs. Several copies may share one original, forming a
        family.
    duplicate_noise : float, default=1e-3
        Standard deviation of the Gaussian noise added to the point and to
        the counter of an original to make a copy.
    return_groups : bool, default=False
        If True, also return the cluster of each pair; a copy belongs to the
        cluster of its original.
    dtype : dtype, default=np.float32
        Floating-point dtype of the returned embeddings.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator. Pass an int for reproducible output.

    Returns
    -------
    point : ndarray of shape (n_pairs, n_features)
        The point (query) embeddings.
    counter : ndarray of shape (n_pairs, n_features)
        The counter embeddings; row ``i`` is the positive of ``point[i]``.
    groups : ndarray of int64 of shape (n_pairs,)
        The cluster of each pair, e.g. for
        :class:`sklearn.model_selection.GroupKFold`. Only returned if
        ``return_groups`` is True.

    See Also
    --------
    sknegsample.datasets.load_manpage_pairs : Real text pairs embedded by a
        sentence-embedding model.

    Examples
    --------
    >>> from sknegsample.datasets import make_pairs
    >>> point, counter = make_pairs(n_pairs=100, n_features=8, random_state=0)
    >>> point.shape, counter.shape, point.dtype
    ((100, 8), (100, 8), dtype('float32'))
    >>> point, counter, groups = make_pairs(
    ...     n_pairs=6, n_clusters=2, return_groups=True, random_state=0
    ... )
    >>> groups
    array([0, 0, 1, 0, 1, 1])
    """
    n_pairs = check_positive_int(n_pairs, "n_pairs", minimum=2)
    n_features = check_positive_int(n_features, "n_features")
    n_clusters = check_positive_int(n_clusters, "n_clusters")
    if n_clusters > n_pairs:
        raise ValueError(f"n_clusters must be <= n_pairs ({n_pairs}); got {n_clusters}.")
    cluster_std = _check_real(cluster_std, "cluster_std")
    noise = _check_real(noise, "noise")
    duplicate_rate = _check_real(duplicate_rate, "duplicate_rate", high=1.0)
    duplicate_noise = _check_real(duplicate_noise, "duplicate_noise")
    _check_float_dtype(dtype)
    rng = check_random_state(random_state)

    centers = rng.uniform(*_CENTER_BOX, size=(n_clusters, n_features))
    groups = rng.permutation(np.arange(n_pairs) % n_clusters)
    point = centers[groups] + cluster_std * rng.standard_normal((n_pairs, n_features))
    counter = point + noise * rng.standard_normal((n_pairs, n_features))

    # floor() with duplicate_rate < 1 always leaves at least one original.
    n_copies = int(duplicate_rate * n_pairs)
    if n_copies:
        copies = rng.choice(n_pairs, size=n_copies, replace=False)
        originals = np.setdiff1d(np.arange(n_pairs), copies)
        # Drawn with replacement: one original may have several copies.
        sources = rng.choice(originals, size=n_copies)
        shape = (n_copies, n_features)
        point[copies] = point[sources] + duplicate_noise * rng.standard_normal(shape)
        counter[copies] = counter[sources] + duplicate_noise * rng.standard_normal(shape)
        groups[copies] = groups[sources]

    point, counter = point.astype(dtype), counter.astype(dtype)
    if return_groups:
        return point, counter, groups.astype(np.int64)
    return point, counter
