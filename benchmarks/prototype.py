"""A faithful re-implementation of the prototype's negative sampler.

The baseline every search benchmark is measured against (the sampler issue
asks to keep it here). It follows the prototype's documentation
(``BallTreeSearcher`` in ``bert/negative_embedding_sampler.py``):

* ``__init__(point_emb, counter_emb)`` builds ``BallTree(point, leaf_size=2)``
  and ``BallTree(counter, leaf_size=2)``;
* ``search((indices, embeddings), random_rate=0.8)`` queries both trees with
  ``k=3``; for anchor ``i``, on each side, the candidate is neighbour 0, or
  neighbour 1 when neighbour 0 is ``i`` itself (the anchor on the point side,
  its positive on the counter side); a ``u ~ U(0, 1)`` from Python's
  ``random`` decides: if ``u > random_rate`` the negative is the closer of the
  two side candidates, as ``(side, index)`` with side 0 = point, 1 = counter;
  otherwise ``(randint(0, 1), randint(0, len(batch) - 1))``. One Python loop
  iteration per anchor.

The prototype's evaluator (``BallTreeEvaluater.cal_accuracy``) lives in
``benchmarks/bench_scoring.py``.
"""

from __future__ import annotations

import random

import numpy as np
from sklearn.neighbors import BallTree


class BallTreeSearcher:
    """Two ball trees (points, counters) with ``leaf_size=2``, as in the prototype."""

    def __init__(self, point_emb, counter_emb, leaf_size=2, k=3):
        self.k = k
        self.point_tree = BallTree(np.asarray(point_emb), leaf_size=leaf_size)
        self.counter_tree = BallTree(np.asarray(counter_emb), leaf_size=leaf_size)

    def search(self, point_emb, random_rate=0.8):
        """Return one ``(side, index)`` negative per ``(index, embedding)`` input."""
        indices, embeddings = point_emb
        indices = list(indices)
        embeddings = np.asarray(embeddings)
        point_dist, point_ind = self.point_tree.query(embeddings, k=self.k)
        counter_dist, counter_ind = self.counter_tree.query(embeddings, k=self.k)
        negative_index = []
        for row, index in enumerate(indices):
            # Skip the anchor itself on the point side, its positive on the
            # counter side (both share the anchor's index).
            p = 1 if point_ind[row][0] == index else 0
            c = 1 if counter_ind[row][0] == index else 0
            if random.random() > random_rate:
                if point_dist[row][p] <= counter_dist[row][c]:
                    negative_index.append((0, int(point_ind[row][p])))
                else:
                    negative_index.append((1, int(counter_ind[row][c])))
            else:
                negative_index.append(
                    (random.randint(0, 1), random.randint(0, len(indices) - 1))
                )
        return negative_index


def prototype_pairs_to_bank_ids(negatives, n_pairs: int) -> np.ndarray:
    """``(side, index)`` pairs as bank ids of ``vstack([point, counter])``."""
    sides, index = np.asarray(negatives, dtype=np.int64).reshape(-1, 2).T
    return sides * n_pairs + index
