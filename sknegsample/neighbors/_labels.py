"""Bank ids grouped by label, so a query's whole group is excluded at once."""

from __future__ import annotations

import numpy as np


class LabelGroups:
    """Bank ids grouped by label, to exclude a query's whole group at once."""

    def __init__(self, labels: np.ndarray):
        self.labels = labels
        self.order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels)
        self.start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.counts = counts
        self.max_size = int(counts.max()) if counts.size else 0

    def members(self, query_labels: np.ndarray):
        """(row, bank id) pairs of every bank id sharing each row's label."""
        known = query_labels >= 0
        sizes = np.where(known, self.counts[np.where(known, query_labels, 0)], 0)
        rows = np.repeat(np.arange(len(query_labels)), sizes)
        offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        starts = np.repeat(self.start[np.where(known, query_labels, 0)], sizes)
        return rows, self.order[starts + offsets]

