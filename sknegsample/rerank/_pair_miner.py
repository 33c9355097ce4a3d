"""The head's training pairs of one fit: each anchor's positive and mined negatives."""

from __future__ import annotations

import numpy as np

from ..mining._preprocess import apply_preprocessor


class _PairMiner:
    """Training pairs of one fit: each anchor's positive and its mined negatives.

    Called once in ``fit`` and, under a curriculum, again at every epoch with
    that epoch's ``random_rate`` and seed.
    """

    def __init__(self, sampler, X_retrieval, include_distance):
        self.sampler = sampler
        self.X = X_retrieval
        self.n = X_retrieval.shape[0]
        self.include_distance = include_distance
        search = sampler.search_
        self.queries = search.prepare_queries(
            apply_preprocessor(sampler.preprocessor_, X_retrieval), "X")
        # Sampler bank ids: points are 0..n-1, counters n..2n-1.
        self.positives = (self.n + np.arange(self.n))[:, None]
        positive = search.pair_distances(self.queries, self.positives)
        scale = float(positive.mean())
        self.distance_scale = scale if scale > 0 else 1.0

    def __call__(self, random_rate, seed):
        self.sampler.set_params(random_rate=random_rate, random_state=seed)
        negatives = self.sampler.transform(self.X, indices=np.arange(self.n))
        ids = np.hstack([self.positives, negatives])
        label = np.zeros(ids.shape, dtype=np.int64)
        label[:, 0] = 1
        anchor = np.repeat(np.arange(self.n), ids.shape[1])
        distance = None
        if self.include_distance:
            distance = (self.sampler.search_.pair_distances(self.queries, ids)
                        / self.distance_scale).ravel()
        return anchor, ids.ravel(), label.ravel(), distance

