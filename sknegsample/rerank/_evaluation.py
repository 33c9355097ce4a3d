"""Evaluation of a fitted scorer: queries and their relevant counters, the ranked
lists, and the metrics drawn from them (with the head's gain and its interval)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..metrics import _bootstrap
from ..metrics import _ranking as _metrics


@dataclass
class QueryGroups:
    """Evaluation pairs gathered into queries.

    Pairs whose point rows are exact copies are one query (nothing can tell
    them apart), and so are pairs sharing an ``anchor_groups`` label; every
    counter of a query is relevant to it.

    Attributes
    ----------
    groups : ndarray of int64 of shape (n_pairs,)
        Query of each pair, numbered by first appearance.
    rows : ndarray of int64 of shape (n_queries,)
        First pair row of each query: its point is the query's embedding.
    relevant : ndarray of int64 of shape (n_queries, max_relevant)
        Counter rows of each query, ascending, padded with ``-1``.
    """

    groups: np.ndarray
    rows: np.ndarray
    relevant: np.ndarray

    @classmethod
    def from_pairs(cls, X, anchor_groups=None) -> QueryGroups:
        """Queries of the validated evaluation points ``X``."""
        n = X.shape[0]
        if n < 2:
            raise ValueError(
                "Evaluation needs at least 2 pairs (a query must have a candidate "
                f"besides its own counter); got X and y with {n} row(s)."
            )
        # np.unique keeps the first row of every set of copies.
        _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
        targets = [first[inverse.ravel()]]
        if anchor_groups is not None:
            labels = _check_anchor_groups(anchor_groups, n)
            _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
            targets.append(first[inverse.ravel()])
        # Copies and shared labels both join pairs: the queries are the
        # connected components of the two relations together.
        source = np.tile(np.arange(n), len(targets))
        graph = coo_matrix((np.ones(source.size), (source, np.concatenate(targets))),
                           shape=(n, n))
        _, component = connected_components(graph, directed=False)
        _, rows, groups = np.unique(component, return_index=True, return_inverse=True)
        # Number the queries by their first row, so that without copies query
        # q is pair q.
        order = np.argsort(rows, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        groups = rank[groups.ravel()].astype(np.int64)
        rows = rows[order].astype(np.int64)
        sizes = np.bincount(groups)
        relevant = np.full((rows.size, int(sizes.max())), -1, dtype=np.int64)
        by_group = np.argsort(groups, kind="stable")
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        slot = np.arange(n) - np.repeat(starts, sizes)
        relevant[groups[by_group], slot] = by_group
        return cls(groups, rows, relevant)


def _check_anchor_groups(anchor_groups, n_pairs):
    labels = np.asarray(anchor_groups)
    if labels.shape != (n_pairs,):
        raise ValueError(
            "anchor_groups must hold one label per evaluation pair, shape "
            f"({n_pairs},); got shape {labels.shape}."
        )
    if labels.dtype == object or not (np.issubdtype(labels.dtype, np.integer)
                                      or labels.dtype.kind in "UaSb"):
        raise TypeError("anchor_groups must hold integer or string labels; got dtype "
                        f"{labels.dtype}.")
    return labels


@dataclass
class EvaluationBank:
    """The candidates of the evaluation queries, in retrieval and head space.

    Bank ids ``0 .. n_pairs - 1`` are the counters; with
    ``candidates="all"``, ids ``n_pairs + i`` are the points, labelled by
    their query so that a query never retrieves itself or a copy of itself.
    ``query_retrieval`` and ``query_head`` are the queries' own rows.
    """

    retrieval: np.ndarray
    head: np.ndarray
    labels: np.ndarray | None
    query_labels: np.ndarray | None
    query_retrieval: np.ndarray
    query_head: np.ndarray

    @classmethod
    def build(cls, queries: QueryGroups, x_views, y_views, candidates) -> EvaluationBank:
        """The bank of ``candidates`` from the (retrieval, head) views of points and counters."""
        (x_ret, x_head), (y_ret, y_head) = x_views, y_views
        rows = queries.rows
        if candidates == "counters":
            return cls(y_ret, y_head, None, None, x_ret[rows], x_head[rows])
        n = len(queries.groups)
        # The prototype's bank, counters first. Counters get their own labels
        # (never excluded) and points n + their query: a query excludes only
        # its own point rows, never its counters.
        labels = np.concatenate([np.arange(n), n + queries.groups])
        return cls(np.vstack([y_ret, x_ret]), np.vstack([y_head, x_head]), labels,
                   n + np.arange(len(rows)), x_ret[rows], x_head[rows])


@dataclass
class Ranking:
    """Retrieved and re-ranked candidates of evaluation queries.

    Attributes
    ----------
    ids : ndarray of int64 of shape (n_queries, k)
        Retrieved bank ids in retrieval order (``-1`` pads short rows).
    distances : ndarray of shape (n_queries, k)
        Their retrieval distances.
    scores : ndarray of shape (n_queries, k)
        Head margins ``logit[1] - logit[0]`` (``-inf`` on padding).
    reranked : ndarray of int64 of shape (n_queries, k)
        ``ids`` reordered by decreasing score (ties keep retrieval order).
    true_ids : ndarray of int64 of shape (n_queries, max_relevant)
        Bank ids of each query's counters, padded with ``-1``.
    queries : QueryGroups
        Which pairs each query stands for.
    """

    ids: np.ndarray
    distances: np.ndarray
    scores: np.ndarray
    reranked: np.ndarray
    true_ids: np.ndarray
    queries: QueryGroups

    @classmethod
    def from_scores(cls, ids, distances, scores, queries: QueryGroups) -> Ranking:
        order = np.argsort(-scores, axis=1, kind="stable")
        reranked = np.take_along_axis(ids, order, axis=1)
        # Counter row i is bank id i in both banks.
        return cls(ids, distances, scores, reranked, queries.relevant, queries)

    @property
    def reranked_scores(self) -> np.ndarray:
        """``scores`` in the order of ``reranked`` (non-increasing)."""
        return -np.sort(-self.scores, axis=1, kind="stable")


def ranking_metrics(r: Ranking, topk: int, *, confidence=0.95, n_bootstrap=1000,
                    random_state=None) -> dict:
    """The metrics of :meth:`BallTreePairScorer.evaluate` for one ranking.

    Besides the point estimates: ``"gain@1"`` (re-ranked minus retrieval
    accuracy@1) with ``"gain@1_ci"``, a paired bootstrap ``(low, high)``
    interval over queries; ``"wins"`` / ``"losses"`` (queries the head moved
    to / away from a relevant top-1); ``"retrieval_n_correct"``; the gain and
    its interval for MRR (``"gain_mrr@k"``, ``"gain_mrr@k_ci"``). Both
    intervals come from the same resampled queries; ``n_bootstrap=0`` leaves
    them out, so that every value is a number.
    """
    confidence, n_bootstrap = _bootstrap._check_boot(confidence, n_bootstrap, minimum=0)
    hit, n_rel = _metrics.relevance_hits(r.reranked, r.true_ids)
    ret_hit, _ = _metrics.relevance_hits(r.ids, r.true_ids)
    k = _metrics._check_k(None)

    def per_query(hits, metric, cutoff=k):
        return _metrics._per_query(hits, n_rel, metric, cutoff)

    top1, ret_top1 = per_query(hit, "accuracy@1"), per_query(ret_hit, "accuracy@1")
    rr, ret_rr = per_query(hit, "mrr"), per_query(ret_hit, "mrr")
    metrics = {
        "accuracy@1": float(top1.mean()),
        "n_correct": int(top1.sum()),
        "n_queries": int(len(top1)),
        "topk": int(topk),
        "recall@k": float(per_query(ret_hit, "recall").mean()),
        "mrr@k": float(rr.mean()),
        "map@k": float(per_query(hit, "map").mean()),
        "ndcg@10": float(per_query(hit, "ndcg", 10).mean()),
        "retrieval_accuracy@1": float(ret_top1.mean()),
        "retrieval_n_correct": int(ret_top1.sum()),
        "retrieval_mrr@k": float(ret_rr.mean()),
        "retrieval_map@k": float(per_query(ret_hit, "map").mean()),
        "retrieval_ndcg@10": float(per_query(ret_hit, "ndcg", 10).mean()),
        "gain@1": float(top1.mean() - ret_top1.mean()),
        "wins": int(np.sum(top1 > ret_top1)),
        "losses": int(np.sum(top1 < ret_top1)),
        "gain_mrr@k": float(rr.mean() - ret_rr.mean()),
    }
    if n_bootstrap:
        gains = np.column_stack([top1 - ret_top1, rr - ret_rr])
        replicates = _bootstrap.bootstrap_means(
            gains, n_bootstrap, _bootstrap.bootstrap_generator(random_state))
        metrics["gain@1_ci"] = _bootstrap.percentile_interval(replicates[:, 0], confidence)
        metrics["gain_mrr@k_ci"] = _bootstrap.percentile_interval(replicates[:, 1], confidence)
    return metrics
