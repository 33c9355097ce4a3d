"""Ranking metrics as functions: accuracy@1, recall@k, MRR@k, nDCG@k.

Each takes ``ranked_ids`` (one ranked candidate list per query) and
``true_ids`` (each query's relevant id) and returns a float. A leaf layer
beside ``utils``: imports nothing else from sknegsample.

Examples
--------
>>> import numpy as np
>>> from sknegsample.metrics import accuracy_at_1, mrr_at_k
>>> ranked = np.array([[3, 1, 2], [0, 2, 1]])
>>> accuracy_at_1(ranked, np.array([3, 1]))
0.5
>>> mrr_at_k(ranked, np.array([3, 1]))
0.6666666666666666
"""

from ._ranking import accuracy_at_1, mrr_at_k, ndcg_at_k, recall_at_k, true_rank

__all__ = ["accuracy_at_1", "mrr_at_k", "ndcg_at_k", "recall_at_k", "true_rank"]
