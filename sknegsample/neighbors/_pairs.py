"""Distances of aligned pairs: row ``r`` of one matrix against row ``r`` of another."""

from __future__ import annotations

import numpy as np

from ._distances import normalize_rows, to_metric_distance


def aligned_distances(a: np.ndarray, b: np.ndarray, metric: str,
                      input_names: tuple[str, str] = ("X", "candidates")) -> np.ndarray:
    """Metric distance between ``a[r]`` and ``b[r]`` for every row ``r``.

    What :meth:`NeighborSearch.pair_distances` computes for one id per
    query, without indexing ``b`` first: float64 differences (exact for
    float32 inputs, no cancellation), rows unit-normalised for cosine.

    Parameters
    ----------
    a, b : ndarray of shape (n_pairs, n_features)
        Validated, finite; same shape.
    metric : {"euclidean", "cosine"}
    input_names : tuple of str, default=("X", "candidates")
        Names of ``a`` and ``b`` in errors (a zero row under cosine).

    Returns
    -------
    distance : ndarray of float64 of shape (n_pairs,)

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample.neighbors._pairs import aligned_distances
    >>> a = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> b = np.array([[3.0, 4.0], [0.0, 2.0]])
    >>> aligned_distances(a, b, "euclidean").tolist()
    [5.0, 2.23606797749979]
    >>> aligned_distances(a[1:], b[1:], "cosine").tolist()  # 1 - cos(90 degrees) = 1
    [1.0]
    """
    if metric == "cosine":
        a = normalize_rows(a, input_names[0])
        b = normalize_rows(b, input_names[1])
    diff = np.subtract(a, b, dtype=np.float64)
    return to_metric_distance(np.einsum("ij,ij->i", diff, diff), metric)
