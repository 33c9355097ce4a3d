"""Ranking metrics as functions, and paired comparisons of two rankers.

The metrics (accuracy@1, recall@k, MRR@k, nDCG@k, MAP@k) take
``ranked_ids`` (one ranked candidate list per query) and ``true_ids`` (each
query's relevant id, or a row of them padded with ``-1`` for queries with
several) and return a float; :func:`per_query_scores` gives the per-query
values they average. The comparisons resample those per-query values over
queries, paired: a bootstrap interval of the gain
(:func:`paired_bootstrap_ci`), a sign-flip permutation p-value
(:func:`sign_flip_pvalue`), and both with wins and losses
(:func:`compare_rankings`, :func:`compare_scores`). A leaf layer beside
``utils``: imports nothing else from sknegsample.

Examples
--------
>>> import numpy as np
>>> from sknegsample.metrics import accuracy_at_1, mrr_at_k
>>> ranked = np.array([[3, 1, 2], [0, 2, 1]])
>>> accuracy_at_1(ranked, np.array([3, 1]))
0.5
>>> mrr_at_k(ranked, np.array([3, 1]))
0.6666666666666666
>>> mrr_at_k(ranked, np.array([[3, -1], [2, 1]]))  # query 1 has two relevant ids
0.75
"""

from ._bootstrap import compare_rankings, compare_scores, paired_bootstrap_ci, sign_flip_pvalue
from ._ranking import (
    accuracy_at_1,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_query_scores,
    recall_at_k,
    true_rank,
)

__all__ = [
    "accuracy_at_1",
    "compare_rankings",
    "compare_scores",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "paired_bootstrap_ci",
    "per_query_scores",
    "recall_at_k",
    "sign_flip_pvalue",
    "true_rank",
]
