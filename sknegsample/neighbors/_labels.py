"""What each query may not receive: its label group, plus a sparse list of extra ids.

A label partitions the bank (an anchor group: its points and counters; a
label of label mode), so excluding a query's whole group is one lookup. A few
exclusions do not follow a partition: a copy of the query on the other side
of the bank, a duplicate of one of its positives in another pair. Those are
listed per *class* in CSR form; a query's class is the bank row it was
recognised as (-1: none), and most classes list nothing.

Exclusions must stay symmetric among rows that are queried against each
other in one shared block (see
:meth:`~sknegsample.neighbors.backends.TorchBruteBackend.bank_row_candidates`):
label groups are, and the sampler only lists extras that are.
"""

from __future__ import annotations

import numpy as np


class LabelGroups:
    """Bank ids grouped by label, with optional extra ids per query class.

    Parameters
    ----------
    labels : ndarray of int64 of shape (n_bank,)
        Non-negative label code of each bank row.
    extra_ptr, extra_ids : ndarray of int64 or None
        CSR lists of further excluded bank ids: class ``c`` excludes
        ``extra_ids[extra_ptr[c]:extra_ptr[c + 1]]`` (sorted, unique).
    """

    # Defaults for objects saved before extras existed (they unpickle
    # without calling __init__).
    extra_ptr = None
    extra_ids = None
    extra_max = 0

    def __init__(self, labels: np.ndarray, extra_ptr=None, extra_ids=None):
        self.labels = labels
        self.order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels)
        self.start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.counts = counts
        self.max_size = int(counts.max()) if counts.size else 0
        if extra_ptr is not None and extra_ptr[-1] > 0:
            self.extra_ptr = np.asarray(extra_ptr, dtype=np.int64)
            self.extra_ids = np.asarray(extra_ids, dtype=np.int64)
            self.extra_max = int(np.diff(self.extra_ptr).max())
            # Sorted (class * n_bank + id) keys for membership tests.
            n_bank = labels.shape[0]
            owner = np.repeat(np.arange(len(self.extra_ptr) - 1), np.diff(self.extra_ptr))
            self._extra_keys = np.sort(owner * n_bank + self.extra_ids)

    def members(self, query_labels: np.ndarray, query_classes=None):
        """(row, bank id) pairs of every id excluded for each row, rows ascending.

        The label group of each row, then its class's extra ids (which may
        repeat a group member: excluding twice is harmless).
        """
        known = query_labels >= 0
        sizes = np.where(known, self.counts[np.where(known, query_labels, 0)], 0)
        rows = np.repeat(np.arange(len(query_labels)), sizes)
        offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        starts = np.repeat(self.start[np.where(known, query_labels, 0)], sizes)
        ids = self.order[starts + offsets]
        if self.extra_ptr is None or query_classes is None:
            return rows, ids
        extra_rows, extra_ids = _expand(self.extra_ptr, self.extra_ids, query_classes)
        if not extra_rows.size:
            return rows, ids
        rows = np.concatenate([rows, extra_rows])
        order = np.argsort(rows, kind="stable")
        return rows[order], np.concatenate([ids, extra_ids])[order]

    def excluded(self, query_labels: np.ndarray, query_classes, ids: np.ndarray) -> np.ndarray:
        """Whether ``ids[r, j]`` (-1: none) is excluded for query row ``r``."""
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        out = valid & (query_labels[:, None] >= 0) & (self.labels[safe] == query_labels[:, None])
        if self.extra_ptr is None or query_classes is None:
            return out
        has = query_classes >= 0
        if not has.any():
            return out
        probe = np.where(has, query_classes, 0)[:, None] * self.labels.shape[0] + safe
        where = np.searchsorted(self._extra_keys, probe).clip(max=len(self._extra_keys) - 1)
        return out | (valid & has[:, None] & (self._extra_keys[where] == probe))

    def max_excluded(self) -> int:
        """Largest number of ids one query may have excluded."""
        return self.max_size + self.extra_max


def _expand(ptr, ids, classes):
    """(row, id) pairs of the CSR lists of ``classes`` (-1: empty)."""
    known = classes >= 0
    safe = np.where(known, classes, 0)
    sizes = np.where(known, ptr[safe + 1] - ptr[safe], 0)
    rows = np.repeat(np.arange(len(classes)), sizes)
    offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    return rows, ids[np.repeat(ptr[safe], sizes) + offsets]
