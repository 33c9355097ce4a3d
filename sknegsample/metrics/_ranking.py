"""Ranking metrics for retrieve-then-rerank evaluation with one relevant item.

Every query has exactly one relevant bank id (its own counter). A ranked
list is a row of bank ids, best first, padded with ``-1`` where the search
ran out of candidates. A true id missing from the list counts as not found:
the list is all the re-ranker ever sees.
"""

from __future__ import annotations

import numbers

import numpy as np


def true_rank(ranked_ids, true_ids) -> np.ndarray:
    """1-based position of each query's true id in its ranked list.

    Parameters
    ----------
    ranked_ids : array-like of int of shape (n_queries, n_ranked)
        Candidate ids per query, best first (``-1`` pads short rows).
    true_ids : array-like of int of shape (n_queries,)
        The one relevant id of each query.

    Returns
    -------
    rank : ndarray of int64 of shape (n_queries,)
        Position of the true id, from 1; 0 when it is not in the list.

    Examples
    --------
    >>> from sknegsample.metrics import true_rank
    >>> true_rank([[3, 1, 2], [0, 2, -1]], [1, 5]).tolist()
    [2, 0]
    """
    ranked, truth = _check_ranking(ranked_ids, true_ids)
    hit = ranked == truth[:, None]
    # A list never repeats an id, so argmax finds the one hit.
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def accuracy_at_1(ranked_ids, true_ids) -> float:
    """Fraction of queries whose best-ranked id is the true one.

    Examples
    --------
    >>> from sknegsample.metrics import accuracy_at_1
    >>> accuracy_at_1([[1, 0], [0, 1]], [1, 1])
    0.5
    """
    return float(np.mean(true_rank(ranked_ids, true_ids) == 1))


def recall_at_k(ranked_ids, true_ids, k=None) -> float:
    """Fraction of queries whose true id is among the first ``k`` ids.

    ``k=None`` uses the whole list: the recall of the retrieval stage, which
    bounds the accuracy any re-ranking of the list can reach.

    Examples
    --------
    >>> from sknegsample.metrics import recall_at_k
    >>> recall_at_k([[1, 0], [0, 2]], [0, 1])
    0.5
    """
    _, found = _ranks_within(ranked_ids, true_ids, k)
    return float(np.mean(found))


def mrr_at_k(ranked_ids, true_ids, k=None) -> float:
    """Mean reciprocal rank of the true id, 0 when it is not in the first ``k``.

    Examples
    --------
    >>> from sknegsample.metrics import mrr_at_k
    >>> mrr_at_k([[1, 0], [2, 1]], [1, 1])
    0.75
    """
    rank, found = _ranks_within(ranked_ids, true_ids, k)
    return float(np.mean(np.where(found, 1.0 / np.maximum(rank, 1), 0.0)))


def ndcg_at_k(ranked_ids, true_ids, k=10) -> float:
    """Normalised discounted cumulative gain with one relevant id per query.

    The ideal list puts the true id first (gain 1), so nDCG reduces to
    ``1 / log2(rank + 1)`` when the rank is at most ``k``, else 0. A list
    shorter than ``k`` is scored as it is: ids it does not hold were never
    retrieved.

    Examples
    --------
    >>> from sknegsample.metrics import ndcg_at_k
    >>> ndcg_at_k([[1, 0], [0, 1]], [1, 1])
    0.8154648767857288
    """
    rank, found = _ranks_within(ranked_ids, true_ids, k)
    return float(np.mean(np.where(found, 1.0 / np.log2(np.maximum(rank, 1) + 1.0), 0.0)))


def _ranks_within(ranked_ids, true_ids, k):
    """1-based rank of each true id (0: absent) and whether it is within ``k``."""
    rank = true_rank(ranked_ids, true_ids)
    k = _check_k(k)
    return rank, (rank >= 1) & (rank <= k)


def _check_ranking(ranked_ids, true_ids):
    ranked = np.asarray(ranked_ids)
    truth = np.asarray(true_ids)
    for name, arr, ndim in (("ranked_ids", ranked, 2), ("true_ids", truth, 1)):
        if arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}.")
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer ids; got dtype {arr.dtype}.")
    if ranked.shape[0] != truth.shape[0]:
        raise ValueError(
            "ranked_ids and true_ids must have one row per query: got "
            f"{ranked.shape[0]} ranked lists and {truth.shape[0]} true ids."
        )
    if truth.shape[0] == 0:
        raise ValueError("ranked_ids must hold at least one query; got 0.")
    return ranked, truth


def _check_k(k):
    if k is None:
        return np.iinfo(np.int64).max
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an int >= 1 or None; got {k!r}.")
    return int(k)
