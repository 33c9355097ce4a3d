"""The answer of a k-nearest-neighbour search, whichever search gave it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SearchResult:
    """Output of :meth:`~sknegsample.neighbors.NeighborSearch.kneighbors` (and sharded searches).

    Attributes
    ----------
    distances : ndarray of shape (n_queries, k)
        Metric distances, ascending; ``inf`` where a row ran out of allowed ids.
    ids : ndarray of int64 of shape (n_queries, k)
        Bank ids; ``-1`` where a row ran out of allowed ids.
    n_copies : ndarray of int64 of shape (n_queries,)
        Candidates skipped because they are copies of the query (distance 0).
    n_below : ndarray of int64 of shape (n_queries,)
        Candidates skipped because they were not farther than ``min_distance``.
    distance_error : ndarray of shape (n_queries,) or None
        Bound on the error of each row's distances (metric units) when the
        search was asked for estimates (``exact_distances=False``); None or
        0 where they are exact.
    """

    distances: np.ndarray
    ids: np.ndarray
    n_copies: np.ndarray
    n_below: np.ndarray
    distance_error: np.ndarray | None = None
