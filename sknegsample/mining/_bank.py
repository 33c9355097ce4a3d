"""Bank ids and the prototype's ``(side, index)`` pairs; the curriculum schedule."""

from __future__ import annotations

import numpy as np


def bank_ids_to_pairs(bank_ids, n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn bank ids into the prototype's ``(side, index)`` pairs.

    A bank id ``b`` indexes ``np.vstack([point, counter])``: ``b < n_pairs``
    is point ``b`` (side 0), ``b >= n_pairs`` is counter ``b - n_pairs``
    (side 1).

    Parameters
    ----------
    bank_ids : array-like of int
        Ids as returned by :meth:`HybridNegativeSampler.transform`, any shape.
    n_pairs : int
        Number of fitted pairs (``sampler.n_pairs_``).

    Returns
    -------
    side : ndarray of int64, same shape as ``bank_ids``
        0 for a point, 1 for a counter.
    index : ndarray of int64, same shape as ``bank_ids``
        Row within that side.

    Examples
    --------
    >>> from sknegsample import bank_ids_to_pairs
    >>> side, index = bank_ids_to_pairs([0, 4, 7], n_pairs=5)
    >>> side.tolist(), index.tolist()
    ([0, 0, 1], [0, 4, 2])
    """
    ids = np.asarray(bank_ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"bank_ids must hold integers; got dtype {ids.dtype}.")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be an int >= 1; got {n_pairs!r}.")
    ids = ids.astype(np.int64, copy=False)
    if ids.size and (ids.min() < 0 or ids.max() >= 2 * n_pairs):
        bad = ids[(ids < 0) | (ids >= 2 * n_pairs)].flat[0]
        raise ValueError(
            f"bank_ids must lie in [0, {2 * n_pairs}) for n_pairs={n_pairs}; got {int(bad)}."
        )
    side = (ids >= n_pairs).astype(np.int64)
    return side, ids - side * n_pairs

