"""The contract every search backend follows.

Backends used to be duck-typed and probed with ``hasattr``; this base class
writes the contract down and gives the optional capabilities a default.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class DistanceWindow:
    """Per-query squared-distance window a backend may apply before selecting.

    A candidate whose *estimate* is below ``lower`` or above ``upper`` is
    certainly outside the query's allowed window (the search widened the
    window by the estimate's error bound): a backend that honours windows
    (``masks_window``) drops it like an excluded id and counts the ones
    dropped below ``lower`` in ``n_below``. Units are the backend's own
    (the scaled float32 bank).
    """

    lower: np.ndarray
    upper: np.ndarray
    n_below: np.ndarray = field(default=None)


class SearchBackend:
    """Base of the search backends: what :class:`NeighborSearch` may call.

    Attributes
    ----------
    estimate : {"exact", "float32", "approximate"}
        What the squared-distance estimates returned by :meth:`candidates`
        are worth. ``"exact"``: float64 distances (trees). ``"float32"``:
        float32 distances within the error bound of
        :meth:`NeighborSearch._error_bound` (brute force, faiss flat), so
        completeness can be proved. ``"approximate"``: the backend may miss
        neighbours (HNSW); only ``k`` allowed candidates are required.
    shares_bank_rows : bool
        Whether :meth:`bank_row_candidates` is implemented (the symmetric
        anchor block of the torch brute force).
    masks_window : bool
        Whether :meth:`candidates` takes a ``window`` (:class:`DistanceWindow`)
        and drops the candidates certainly outside it before selecting.
    """

    estimate = "exact"
    shares_bank_rows = False
    masks_window = False

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> SearchBackend:
        """Index the float32 copy of the bank (``bank_exact`` is the original)."""
        raise NotImplementedError

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        """Rebuild what ``__getstate__`` dropped, after unpickling."""
        raise NotImplementedError

    def window(self, lower, upper, error, query_norms, max_norm):
        """The :class:`DistanceWindow` to pass for squared-distance bounds, and its error.

        ``lower``/``upper`` are the bounds the search enforces, ``error`` the
        bound on the plain estimates' error, per query. The window is widened
        by the error of the windowed estimates, returned with it (a backend
        whose windowed estimates carry more error says so here).
        """
        return DistanceWindow(lower - error, upper + error), error

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        """``(ids, estimate)`` of shape ``(n_queries, k)``: proposed neighbours.

        ``exclude_rows``/``exclude_cols`` are parallel arrays of (query row,
        bank id) pairs the backend may drop before selecting; ids of ``-1``
        mark missing candidates.
        """
        raise NotImplementedError

    def scratch(self, n_rows: int):
        """Reusable working memory for ``n_rows`` queries, or None."""
        return None

    def bank_row_candidates(self, start, stop, k, exclude_rows=None, exclude_cols=None,
                            scratch=None, *, block_rows):
        """Candidates for the bank rows ``start:stop`` queried against the bank."""
        raise NotImplementedError(f"{type(self).__name__} does not share bank rows")
