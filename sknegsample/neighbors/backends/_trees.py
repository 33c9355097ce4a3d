"""scikit-learn's ball tree and kd tree: exact float64 candidates."""

from __future__ import annotations

import numpy as np

from ._base import SearchBackend


class TreeBackend(SearchBackend):
    """scikit-learn's ``BallTree`` or ``KDTree``: exact, distances in float64."""

    estimate = "exact"

    def __init__(self, kind: str = "ball_tree", leaf_size: int = 40):
        self.kind = kind
        self.leaf_size = leaf_size

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> TreeBackend:
        from sklearn.neighbors import BallTree, KDTree

        tree_class = BallTree if self.kind == "ball_tree" else KDTree
        self.tree_ = tree_class(bank_exact, leaf_size=self.leaf_size)
        return self

    def __getstate__(self):
        # Building a tree is deterministic: restore() rebuilds the same tree,
        # and saved files never hold (or need to trust) sklearn's tree types.
        return {"kind": self.kind, "leaf_size": self.leaf_size}

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if not hasattr(self, "tree_"):
            self.fit(bank32, bank_exact)

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        dist, ids = self.tree_.query(queries_exact, k=k)
        return ids.astype(np.int64), dist * dist

