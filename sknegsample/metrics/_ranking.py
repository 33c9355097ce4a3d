"""Ranking metrics for retrieve-then-rerank evaluation, with binary relevance.

A ranked list is a row of ids, best first, padded with ``-1`` where the
search ran out of candidates; it never repeats an id. The relevant ids of the
queries come in one of two forms:

* 1-D, shape ``(n_queries,)``: one relevant id per query (a point's own
  counter);
* 2-D, shape ``(n_queries, max_relevant)``: each row lists a query's relevant
  ids, padded with ``-1`` (a query with several positives).

A relevant id missing from the list counts as not found: the list is all the
re-ranker ever sees. The definitions are the binary-relevance ones of ranx
(and trec_eval): nDCG's ideal list holds ``min(n_relevant, k)`` relevant ids,
average precision is divided by ``n_relevant``.
"""

from __future__ import annotations

import numbers

import numpy as np

# Elements of the (queries x ranked x relevant) comparison block held at once.
_BLOCK_ELEMENTS = 2**22

METRICS = ("accuracy@1", "recall", "mrr", "ndcg", "map")


def true_rank(ranked_ids, true_ids) -> np.ndarray:
    """1-based position of each query's first relevant id in its ranked list.

    Parameters
    ----------
    ranked_ids : array-like of int of shape (n_queries, n_ranked)
        Candidate ids per query, best first (``-1`` pads short rows).
    true_ids : array-like of int of shape (n_queries,) or (n_queries, max_relevant)
        The relevant id of each query, or a row of them padded with ``-1``.

    Returns
    -------
    rank : ndarray of int64 of shape (n_queries,)
        Position of the first relevant id, from 1; 0 when none is in the list.

    Examples
    --------
    >>> from sknegsample.metrics import true_rank
    >>> true_rank([[3, 1, 2], [0, 2, -1]], [1, 5]).tolist()
    [2, 0]
    >>> true_rank([[3, 1, 2], [0, 2, -1]], [[2, 1], [5, -1]]).tolist()
    [2, 0]
    """
    hit, _ = relevance_hits(ranked_ids, true_ids)
    return _first_rank(hit)


def accuracy_at_1(ranked_ids, true_ids) -> float:
    """Fraction of queries whose best-ranked id is relevant.

    Examples
    --------
    >>> from sknegsample.metrics import accuracy_at_1
    >>> accuracy_at_1([[1, 0], [0, 1]], [1, 1])
    0.5
    """
    return _mean(ranked_ids, true_ids, "accuracy@1", None)


def recall_at_k(ranked_ids, true_ids, k=None) -> float:
    """Fraction of queries with a relevant id among the first ``k`` ids.

    A query counts once it has any relevant id in the first ``k`` (ranx's
    ``hit_rate``; with one relevant id per query it is also ranx's
    ``recall``). ``k=None`` uses the whole list: the recall of the retrieval
    stage, which bounds the accuracy any re-ranking of the list can reach.

    Examples
    --------
    >>> from sknegsample.metrics import recall_at_k
    >>> recall_at_k([[1, 0], [0, 2]], [0, 1])
    0.5
    >>> recall_at_k([[1, 0], [0, 2]], [[0, -1], [1, 2]])
    1.0
    """
    return _mean(ranked_ids, true_ids, "recall", k)


def mrr_at_k(ranked_ids, true_ids, k=None) -> float:
    """Mean reciprocal rank of the first relevant id, 0 when none is in the first ``k``.

    Examples
    --------
    >>> from sknegsample.metrics import mrr_at_k
    >>> mrr_at_k([[1, 0], [2, 1]], [1, 1])
    0.75
    """
    return _mean(ranked_ids, true_ids, "mrr", k)


def ndcg_at_k(ranked_ids, true_ids, k=10) -> float:
    """Normalised discounted cumulative gain at ``k``, binary relevance.

    ``DCG = sum(1 / log2(rank + 1))`` over the relevant ids ranked at most
    ``k``, divided by the DCG of the ideal list, which ranks
    ``min(n_relevant, k)`` relevant ids first. With one relevant id it is
    ``1 / log2(rank + 1)``. A list shorter than ``k`` is scored as it is: ids
    it does not hold were never retrieved. ``k=None`` uses the whole list.

    Examples
    --------
    >>> from sknegsample.metrics import ndcg_at_k
    >>> ndcg_at_k([[1, 0], [0, 1]], [1, 1])
    0.8154648767857288
    >>> ndcg_at_k([[1, 0, 2]], [[0, 1]])
    1.0
    """
    return _mean(ranked_ids, true_ids, "ndcg", k)


def map_at_k(ranked_ids, true_ids, k=None) -> float:
    """Mean average precision at ``k``, binary relevance.

    A query's average precision sums the precision at the rank of each
    relevant id within the first ``k`` and divides by its number of relevant
    ids (ranx's and trec_eval's ``map@k``). With one relevant id it is
    ``1 / rank``, the reciprocal rank.

    Examples
    --------
    >>> from sknegsample.metrics import map_at_k
    >>> map_at_k([[1, 0], [2, 1]], [1, 1])
    0.75
    >>> map_at_k([[1, 5, 0]], [[0, 1]])  # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    return _mean(ranked_ids, true_ids, "map", k)


def per_query_scores(ranked_ids, true_ids, metric="accuracy@1", k=None) -> np.ndarray:
    """One metric's value for each query, the numbers the mean metrics average.

    Parameters
    ----------
    ranked_ids : array-like of int of shape (n_queries, n_ranked)
        Candidate ids per query, best first.
    true_ids : array-like of int of shape (n_queries,) or (n_queries, max_relevant)
        Relevant ids, as in :func:`true_rank`.
    metric : {"accuracy@1", "recall", "mrr", "ndcg", "map"}, default="accuracy@1"
        The metric of :func:`accuracy_at_1`, :func:`recall_at_k`,
        :func:`mrr_at_k`, :func:`ndcg_at_k` or :func:`map_at_k`.
    k : int or None, default=None
        Cut-off (ignored by ``"accuracy@1"``); None is the whole list.

    Returns
    -------
    scores : ndarray of float64 of shape (n_queries,)

    Examples
    --------
    >>> from sknegsample.metrics import per_query_scores
    >>> per_query_scores([[1, 0], [2, 1]], [1, 1], "mrr").tolist()
    [1.0, 0.5]
    """
    check_metric(metric)
    k = _check_k(k)
    hit, n_relevant = relevance_hits(ranked_ids, true_ids)
    return _per_query(hit, n_relevant, metric, k)


def check_metric(metric):
    """Raise a ValueError naming ``metric`` unless it is one of :data:`METRICS`."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(map(repr, METRICS))}; "
                         f"got {metric!r}.")


def relevance_hits(ranked_ids, true_ids):
    """Which ranked ids are relevant, and how many relevant ids each query has.

    Returns
    -------
    hit : ndarray of bool of shape (n_queries, n_ranked)
    n_relevant : ndarray of int64 of shape (n_queries,)
        Distinct relevant ids per query (at least 1).
    """
    ranked, truth = _check_ranking(ranked_ids, true_ids)
    hit = np.zeros(ranked.shape, dtype=bool)
    step = max(1, _BLOCK_ELEMENTS // max(1, ranked.shape[1] * truth.shape[1]))
    for start in range(0, ranked.shape[0], step):
        sl = slice(start, start + step)
        hit[sl] = (ranked[sl, :, None] == truth[sl, None, :]).any(axis=2)
    # Padding (-1) on both sides must never match.
    hit &= ranked >= 0
    ordered = np.sort(truth, axis=1)
    new = np.ones(ordered.shape, dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    return hit, np.sum(new & (ordered >= 0), axis=1)


def _per_query(hit, n_relevant, metric, k):
    n_ranked = hit.shape[1]
    if metric == "accuracy@1":
        return hit[:, 0].astype(np.float64) if n_ranked else np.zeros(hit.shape[0])
    top = hit[:, :min(k, n_ranked)]
    if metric == "recall":
        return top.any(axis=1).astype(np.float64)
    if metric == "mrr":
        rank = _first_rank(top)
        return np.where(rank > 0, 1.0 / np.maximum(rank, 1), 0.0)
    positions = np.arange(1, top.shape[1] + 1)
    if metric == "ndcg":
        dcg = top @ (1.0 / np.log2(positions + 1.0))
        n_ideal = np.minimum(n_relevant, min(k, int(n_relevant.max())))
        ideal = np.cumsum(1.0 / np.log2(np.arange(1, n_ideal.max() + 1) + 1.0))
        return dcg / ideal[n_ideal - 1]
    precision = np.cumsum(top, axis=1) / positions
    return np.sum(precision * top, axis=1) / n_relevant


def _first_rank(hit):
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0).astype(np.int64)


def _mean(ranked_ids, true_ids, metric, k):
    return float(np.mean(per_query_scores(ranked_ids, true_ids, metric, k)))


def _check_ranking(ranked_ids, true_ids):
    ranked = np.asarray(ranked_ids)
    truth = np.asarray(true_ids)
    if ranked.ndim != 2:
        raise ValueError(f"ranked_ids must be 2-D; got shape {ranked.shape}.")
    if truth.ndim not in (1, 2):
        raise ValueError("true_ids must be 1-D (one relevant id per query) or 2-D (rows of "
                         f"relevant ids padded with -1); got shape {truth.shape}.")
    for name, arr in (("ranked_ids", ranked), ("true_ids", truth)):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer ids; got dtype {arr.dtype}.")
    if ranked.shape[0] != truth.shape[0]:
        raise ValueError(
            "ranked_ids and true_ids must have one row per query: got "
            f"{ranked.shape[0]} ranked lists and {truth.shape[0]} true ids."
        )
    if truth.shape[0] == 0:
        raise ValueError("ranked_ids must hold at least one query; got 0.")
    truth = truth.reshape(truth.shape[0], -1)
    if truth.shape[1] == 0 or np.any(truth.max(axis=1) < 0) or np.any(truth < -1):
        bad = int(np.flatnonzero((truth.max(axis=1, initial=-1) < 0)
                                 | np.any(truth < -1, axis=1))[0])
        raise ValueError(
            "true_ids must give every query at least one relevant id >= 0 (2-D rows are "
            f"padded with -1, and -1 only); got {truth[bad].tolist()} for query {bad}."
        )
    return ranked, truth


def _check_k(k):
    if k is None:
        return np.iinfo(np.int64).max
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an int >= 1 or None; got {k!r}.")
    return int(k)
