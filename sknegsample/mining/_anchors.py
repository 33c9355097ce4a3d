"""Who is who among the fitted rows: anchor groups, content keys, exclusions, positives.

The sampler's natural path is ``fit(point, counter).transform(batch)``: rows of
``batch`` that are fitted anchors must be recognised as such, or an anchor is
handed its own positive. Rows are recognised by *content*: a 64-bit hash of
the row rounded to float32 (after scaling by a power of two, exact, so that
tiny or huge embeddings do not lose their bits), so the dtype of the queries
does not matter: a float64 anchor queried in float32, or the reverse, is the
same anchor. The key is computed on the rows as given, before any
preprocessor.

In paired mode, pairs whose points are copies of each other, or that share an
``anchor_groups`` label, form one *anchor group*: one anchor with several
positives. A group's points and counters share a label, so none of them is
ever a negative of any row of the group. A few exclusions cross groups and
are listed per bank row (:class:`~sknegsample.neighbors.LabelGroups`'
extras): a copy of the row elsewhere in the bank (a counter equal to a
point), and, for a point, any counter equal to one of its group's positives;
for a counter, the points whose positive it equals.

Memory: about six int64 per bank row, plus the (usually empty) extra lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..neighbors._chunking import chunk_rows
from ._hashing import _GOLDEN, _mix


def key_scale(*arrays) -> float:
    """Power of two that brings the largest absolute value near 1 (exact scaling)."""
    # max and -min: no copy of the array, as np.abs would make.
    largest = max((max(float(a.max()), -float(a.min())) if a.size else 0.0) for a in arrays)
    if not np.isfinite(largest) or largest == 0:
        return 1.0
    # Kept finite for subnormal values (2**1074 would overflow).
    return float(np.ldexp(1.0, min(-int(np.frexp(largest)[1]), np.finfo(np.float64).maxexp - 1)))


# Rows hashed at a time: their words, transposed, stay in cache across the
# column passes (400k x 128: 3.2 s column by column over the whole array,
# 0.36 s in blocks of 4096 with one multiply-xorshift step per word).
_KEY_BLOCK = 4096
_KEY_MUL = np.uint64(0xBF58476D1CE4E5B9)
# The key of a row beyond float32's range at the fit's scale: no fitted row
# is (the scale brings the fit's rows into range), so it is never recognised.
NO_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)


def content_keys(rows: np.ndarray, scale: float, working_memory=None) -> np.ndarray:
    """64-bit content hash of each row rounded to float32.

    -0.0 is folded into 0.0 so that equal values give equal keys; a row
    that overflows float32 at ``scale`` gets :data:`NO_KEY`. Rows are
    hashed in blocks (at most ``working_memory``), two float32 words at a
    time: ``h = xorshift((h ^ word) * odd)``, then splitmix64's finaliser.
    """
    n_rows, n_features = rows.shape
    out = np.empty(n_rows, dtype=np.uint64)
    step = min(_KEY_BLOCK, chunk_rows(16 * max(n_features, 1), n_rows, working_memory))
    for start in range(0, n_rows, step):
        block = np.multiply(rows[start:start + step], scale, dtype=np.float64)
        with np.errstate(over="ignore"):
            block = block.astype(np.float32) + np.float32(0.0)
        beyond = ~np.isfinite(block).all(axis=1)
        if n_features % 2:
            block = np.concatenate([block, np.zeros((block.shape[0], 1), np.float32)], axis=1)
        words = np.ascontiguousarray(block).view(np.uint64).T.copy()
        shifted = np.empty(words.shape[1], dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = np.full(words.shape[1], np.uint64(n_features) * _GOLDEN, dtype=np.uint64)
            for word in words:
                np.bitwise_xor(h, word, out=h)
                np.multiply(h, _KEY_MUL, out=h)
                np.right_shift(h, np.uint64(29), out=shifted)
                np.bitwise_xor(h, shifted, out=h)
            out[start:start + step] = np.where(beyond, NO_KEY, _mix(h))
    return out


@dataclass
class AnchorIndex:
    """What the sampler keeps to recognise fitted rows and exclude their kin.

    Attributes
    ----------
    scale : float
        Power of two applied before rounding rows to float32 for their keys.
    keys : ndarray of uint64 of shape (n_bank,)
        Content key of each bank row, sorted; ``rows`` gives their bank rows
        (for equal keys the lowest row first: a point before a counter).
    rows : ndarray of int64 of shape (n_bank,)
    labels : ndarray of int64 of shape (n_bank,)
        Anchor group (paired mode) or label group of each bank row.
    canonical : ndarray of int64 of shape (n_bank,)
        Lowest bank row on the same side with the same content: the key of
        its random draws, so that copies receive the same negatives.
    extra_ptr, extra_ids : ndarray of int64
        Per bank row, the excluded ids outside its label group (CSR).
    pos_class, pos_ptr, pos_ids : ndarray of int64
        Bank row ``b``'s positives are ``pos_ids[pos_ptr[c]:pos_ptr[c + 1]]``
        with ``c = pos_class[b]``: a point's are its group's counters, a
        counter's the points whose positive it equals. None outside paired
        mode.
    """

    scale: float
    keys: np.ndarray
    rows: np.ndarray
    labels: np.ndarray
    canonical: np.ndarray
    extra_ptr: np.ndarray
    extra_ids: np.ndarray
    pos_class: np.ndarray | None
    pos_ptr: np.ndarray | None
    pos_ids: np.ndarray | None

    def recognise(self, queries: np.ndarray, working_memory=None) -> np.ndarray:
        """Bank row each query row equals (canonical), or -1 for new rows."""
        probe = content_keys(queries, self.scale, working_memory)
        where = np.searchsorted(self.keys, probe).clip(max=len(self.keys) - 1)
        found = (self.keys[where] == probe) & (probe != NO_KEY)
        return np.where(found, self.canonical[self.rows[where]], -1)


def index_anchors(X: np.ndarray, y, mode: str, anchor_groups=None) -> AnchorIndex:
    """Build the :class:`AnchorIndex` of a fit.

    Parameters
    ----------
    X : ndarray of shape (n_pairs, n_features)
        Points as given to fit (before any preprocessor).
    y : ndarray of shape (n_pairs, n_features), ndarray of shape (n_pairs,) or None
        Counters (paired mode), labels (label mode) or None.
    mode : {"paired", "labels", "rows"}
    anchor_groups : ndarray of shape (n_pairs,) or None
        Paired mode: pairs sharing a value are one anchor.
    """
    paired = mode == "paired"
    scale = key_scale(X, y) if paired else key_scale(X)
    keys = content_keys(X, scale)
    if paired:
        keys = np.concatenate([keys, content_keys(y, scale)])
    n_bank = keys.shape[0]
    order = np.argsort(keys, kind="stable")
    key_code = np.empty(n_bank, dtype=np.int64)
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    key_code[order] = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n_bank]))

    n = X.shape[0]
    if paired:
        group = _pair_groups(key_code[:n], anchor_groups)
        labels = np.concatenate([group, group])
    elif mode == "labels":
        labels = np.unique(y, return_inverse=True)[1].astype(np.int64)
    else:
        # Each row its own group, copies of it included.
        labels = _first_occurrence_codes(key_code)
    side = (np.arange(n_bank) >= n).astype(np.int64) if paired else np.zeros(n_bank, np.int64)
    canonical = _lowest_with_same(key_code * 2 + side)
    extra_rows, extra_ids = _cross_group_copies(key_code, labels)
    pos_class = pos_ptr = pos_ids = None
    if paired:
        rows_b, ids_b = _duplicate_positives(key_code[n:], labels[:n], n)
        extra_rows = np.concatenate([extra_rows, rows_b])
        extra_ids = np.concatenate([extra_ids, ids_b])
        pos_class, pos_ptr, pos_ids = _positives(labels[:n], key_code[n:], n)
    extra_ptr, extra_ids = _to_csr(extra_rows, extra_ids, n_bank, labels)
    return AnchorIndex(scale, sorted_keys, order.astype(np.int64), labels, canonical,
                       extra_ptr, extra_ids, pos_class, pos_ptr, pos_ids)


def _pair_groups(point_code: np.ndarray, anchor_groups) -> np.ndarray:
    """Anchor group of each pair: connected through equal points or equal labels."""
    n = point_code.shape[0]
    # Nodes: the pairs, then one per point content, then one per label.
    links = [n + point_code]
    n_nodes = n + int(point_code.max()) + 1
    if anchor_groups is not None:
        label_code = np.unique(anchor_groups, return_inverse=True)[1].astype(np.int64)
        links.append(n_nodes + label_code)
        n_nodes += int(label_code.max()) + 1
    rows = np.concatenate([np.arange(n)] * len(links))
    cols = np.concatenate(links)
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n_nodes, n_nodes))
    component = connected_components(graph, directed=False)[1][:n]
    return _first_occurrence_codes(component)


def _first_occurrence_codes(values: np.ndarray) -> np.ndarray:
    """Codes 0, 1, ... numbered by first occurrence, equal values equal codes."""
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse]


def _lowest_with_same(code: np.ndarray) -> np.ndarray:
    """For each position, the lowest position holding the same code."""
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    return first[inverse].astype(np.int64)


def _blocks(code: np.ndarray):
    """Positions grouped by code: ``(order, starts, sizes)`` of the sorted positions."""
    order = np.argsort(code, kind="stable")
    sorted_code = code[order]
    starts = np.flatnonzero(np.r_[True, sorted_code[1:] != sorted_code[:-1]])
    sizes = np.diff(np.r_[starts, code.size])
    return order, starts, sizes


def _all_pairs(order, starts, sizes, keep_sizes_over=1):
    """Every ordered (a, b) pair of positions within each block, a != b."""
    big = sizes > keep_sizes_over
    rows, ids = [], []
    for start, size in zip(starts[big].tolist(), sizes[big].tolist(), strict=True):
        members = order[start:start + size]
        a, b = np.meshgrid(members, members, indexing="ij")
        off = a != b
        rows.append(a[off])
        ids.append(b[off])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(ids)


def _cross_group_copies(key_code, labels):
    """Rows with the same content as a row but in another label group."""
    order, starts, sizes = _blocks(key_code)
    # Only blocks spanning several labels need listing (copies within one
    # group are excluded by the label already).
    lab = labels[order]
    spans = np.maximum.reduceat(lab, starts) != np.minimum.reduceat(lab, starts) \
        if starts.size else np.zeros(0, bool)
    rows, ids = _all_pairs(order, starts[spans], sizes[spans])
    keep = labels[rows] != labels[ids]
    return rows[keep], ids[keep]


def _duplicate_positives(counter_code, group, n):
    """Counters equal to a positive of another group, both ways.

    A point excludes every counter equal to one of its group's counters; a
    counter excludes the points whose positive it equals.
    """
    order, starts, sizes = _blocks(counter_code)
    g = group[order]
    spans = np.maximum.reduceat(g, starts) != np.minimum.reduceat(g, starts) \
        if starts.size else np.zeros(0, bool)
    pair_a, pair_b = _all_pairs(order, starts[spans], sizes[spans])
    cross = group[pair_a] != group[pair_b]
    pair_a, pair_b = pair_a[cross], pair_b[cross]
    if not pair_a.size:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Pair a's counter equals pair b's: the points of a's group exclude
    # counter b; counter b excludes the points of a's group.
    members = _group_members(group)
    rows, ids = [], []
    for a, b in zip(pair_a.tolist(), pair_b.tolist(), strict=True):
        points = members[group[a]]
        rows += [points, np.full(points.size, n + b)]
        ids += [np.full(points.size, n + b), points]
    return np.concatenate(rows), np.concatenate(ids)


def _group_members(group):
    order, starts, sizes = _blocks(group)
    return {int(group[order[s]]): order[s:s + z] for s, z in
            zip(starts.tolist(), sizes.tolist(), strict=True)}


def _positives(group, counter_code, n):
    """Positive lists: ``(class per bank row, ptr, ids)``.

    Lists ``0..G-1`` hold each anchor group's counters (a point's
    positives); lists ``G..`` hold, per counter content, the points whose
    positive it is (a counter's positives).
    """
    n_groups = int(group.max()) + 1
    g_ptr = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_groups))])
    g_ids = n + np.argsort(group, kind="stable")
    block = _first_occurrence_codes(counter_code)
    b_ptr = np.concatenate([[0], np.cumsum(np.bincount(block))])
    b_ids = np.argsort(block, kind="stable")
    ptr = np.concatenate([g_ptr, g_ptr[-1] + b_ptr[1:]]).astype(np.int64)
    ids = np.concatenate([g_ids, b_ids]).astype(np.int64)
    return np.concatenate([group, n_groups + block]).astype(np.int64), ptr, ids


def _to_csr(rows, ids, n_bank, labels):
    """Sorted, unique CSR lists per row, without ids of the row's own label group."""
    keep = labels[rows] != labels[ids]
    rows, ids = rows[keep], ids[keep]
    pair_key = np.unique(rows * n_bank + ids)
    rows, ids = pair_key // n_bank, pair_key % n_bank
    ptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_bank))])
    return ptr.astype(np.int64), ids.astype(np.int64)
