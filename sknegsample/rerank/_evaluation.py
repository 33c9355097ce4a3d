"""Evaluation of a fitted scorer: the ranked lists and the metrics drawn from them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import _ranking as _metrics


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
    true_ids : ndarray of int64 of shape (n_queries,)
        Bank id of each query's own counter.
    """

    ids: np.ndarray
    distances: np.ndarray
    scores: np.ndarray
    reranked: np.ndarray
    true_ids: np.ndarray


def ranking_metrics(r: Ranking, topk: int) -> dict:
    """The metrics of :meth:`BallTreePairScorer.evaluate` for one ranking."""
    rank = _metrics.true_rank(r.reranked, r.true_ids)
    return {
        "accuracy@1": _metrics.accuracy_at_1(r.reranked, r.true_ids),
        "n_correct": int(np.sum(rank == 1)),
        "n_queries": int(len(rank)),
        "topk": int(topk),
        "recall@k": _metrics.recall_at_k(r.ids, r.true_ids),
        "mrr@k": _metrics.mrr_at_k(r.reranked, r.true_ids),
        "ndcg@10": _metrics.ndcg_at_k(r.reranked, r.true_ids, 10),
        "retrieval_accuracy@1": _metrics.accuracy_at_1(r.ids, r.true_ids),
        "retrieval_mrr@k": _metrics.mrr_at_k(r.ids, r.true_ids),
        "retrieval_ndcg@10": _metrics.ndcg_at_k(r.ids, r.true_ids, 10),
    }
