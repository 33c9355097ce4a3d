"""One ``transform`` call of the sampler: recognise the rows, then mine them chunk by chunk.

Everything per anchor that is not an output (the preprocessed and prepared
queries, their content keys, exclusions, positive distances and distance
windows) is computed a chunk at a time, so the scratch of a call is bounded
by ``working_memory``; only the outputs grow with the batch. Each chunk's
results are written into the call's output arrays as soon as they are
mined, so the outputs exist once: ``17 * n_negatives + 8 * window + 49``
bytes per anchor (ids, distances, flags, the hard-candidate window, the
counters, the positive distance and the anchor row; see
``docs/persistence.md``, Memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..neighbors._chunking import chunk_rows
from ._guards import distance_window
from ._hashing import row_keys
from ._picking import Exclusion, MinedChunk, cap_negative_uses, mine_chunk
from ._preprocess import apply_preprocessor

_FIELDS = tuple(MinedChunk.__dataclass_fields__)


@dataclass
class MinedBatch:
    """The negatives of one call and its diagnostics."""

    mined: MinedChunk
    positive: np.ndarray  # (n,) distance to the closest positive (nan: unknown)
    anchors: np.ndarray  # (n,) bank row each query was taken as (-1: a new query)
    n_capped: int


def mine_rows(sampler, X: np.ndarray, indices, seed: int) -> MinedBatch:
    """Mine ``sampler.n_negatives`` negatives for each row of validated ``X``."""
    n_rows = X.shape[0]
    if n_rows == 0:
        raise ValueError("X must contain at least one row; got 0.")
    search = sampler.search_
    window = sampler.n_candidates if sampler.n_candidates is not None else sampler.n_negatives
    # Per-row scratch: the float64 query and its prepared copies, the window
    # and the draws.
    rows = chunk_rows(8 * (3 * X.shape[1] + 4 * (sampler.skip_nearest + window
                                                 + sampler.n_negatives)), n_rows)
    mined = positives = anchors = None
    for start in range(0, n_rows, rows):
        sl = slice(start, min(start + rows, n_rows))
        anchor = _anchor_rows(sampler, X[sl], None if indices is None else indices[sl])
        queries = search.prepare_queries(apply_preprocessor(sampler.preprocessor_, X[sl]), "X")
        exclusion, keys, positive = _exclusion(sampler, queries, X[sl], anchor)
        part = mine_chunk(
            search, queries, keys, exclusion, n_negatives=sampler.n_negatives,
            random_rate=sampler.random_rate, window=window, skip=sampler.skip_nearest,
            hard_selection=sampler.hard_selection, seed=seed,
            bank_rows=_consecutive_bank_rows(anchor))
        del queries, exclusion, keys
        if mined is None:
            # The outputs, allocated once (no list of chunk results to
            # concatenate: that held every output twice).
            mined = MinedChunk(*(np.empty((n_rows, *getattr(part, f).shape[1:]),
                                          getattr(part, f).dtype) for f in _FIELDS))
            positives = np.empty(n_rows)
            anchors = np.empty(n_rows, dtype=np.int64)
        for f in _FIELDS:
            getattr(mined, f)[sl] = getattr(part, f)
        positives[sl] = positive
        anchors[sl] = anchor
        del part
    n_capped = 0
    if sampler.max_negative_uses is not None:
        # Anchors are served in the order of their bank row (new queries
        # last, in batch order), so a cap gives the same picks whether the
        # anchors came by indices or were recognised.
        order = np.argsort(np.where(anchors >= 0, anchors, search.n_bank_ + np.arange(n_rows)),
                           kind="stable")
        n_capped = _cap_in_chunks(sampler, X, anchors, order, mined, seed)
    return MinedBatch(mined, positives, anchors, n_capped)


def _anchor_rows(sampler, X, indices):
    """Bank row each query is taken as: ``indices`` when given, else by content."""
    if indices is not None:
        return indices.astype(np.int64)
    anchors = getattr(sampler, "_anchors", None)
    if anchors is None:
        # A sampler saved before rows were recognised: every row is new.
        return np.full(X.shape[0], -1, dtype=np.int64)
    return anchors.recognise(X)


def _exclusion(sampler, queries, raw, anchor):
    """Exclusions, hash keys and closest-positive distances of one chunk."""
    known = anchor >= 0
    safe = np.where(known, anchor, 0)
    labels = np.where(known, sampler.search_.groups_.labels[safe], -1)
    classes = np.where(known, anchor, -1)
    index = getattr(sampler, "_anchors", None)
    # Fitted anchors draw by their (canonical) row; new queries by content.
    keys = (index.canonical[safe] if index is not None else safe).astype(np.uint64)
    if not known.all():
        keys[~known] = row_keys(raw if not known.any() else raw[~known])
    positive = np.full(queries.shape[0], np.nan)
    if index is not None and index.pos_class is not None and known.any():
        positive[known] = _closest_positive(sampler.search_, queries[known], index,
                                            anchor[known])
    floor, ceiling = distance_window(
        positive, metric=sampler.metric, positive_margin=sampler.positive_margin,
        absolute_margin=sampler.absolute_margin, min_distance=sampler.min_distance,
        max_distance=sampler.max_distance)
    exclusion = Exclusion(labels, classes, floor, ceiling, sampler.guard_random_negatives)
    return exclusion, keys, positive


def _closest_positive(search, queries, index, anchor):
    """Distance from each query to the closest of its anchor's positives.

    Anchors with many positives (``anchor_groups``) are taken a few at a
    time, so that the (query, positive) pairs fit ``working_memory``.
    """
    cls = index.pos_class[anchor]
    lo, hi = index.pos_ptr[cls], index.pos_ptr[cls + 1]
    sizes = hi - lo
    # A pair's scratch: the gathered query and bank rows and their float64
    # difference, plus its ids and distance.
    budget = chunk_rows(8 * (3 * queries.shape[1] + 4), int(sizes.sum()))
    out = np.empty(len(anchor))
    ends = np.cumsum(sizes)
    first = 0
    while first < len(anchor):
        # Anchors first..last-1: at least one, and pairs within the budget.
        last = max(first + 1, int(np.searchsorted(ends, ends[first] - sizes[first] + budget,
                                                  side="right")))
        n = sizes[first:last]
        rows = np.repeat(np.arange(first, last), n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        ids = index.pos_ids[np.repeat(lo[first:last], n) + offsets]
        d = search.pair_distances(queries[rows], ids[:, None])[:, 0]
        out[first:last] = np.minimum.reduceat(d, np.concatenate([[0], np.cumsum(n)[:-1]]))
        first = last
    return out


def _consecutive_bank_rows(anchor) -> slice | None:
    """The bank rows of the chunk when they are one consecutive run, else None.

    Anchor ``i`` is bank row ``i`` in every mode (the points come first in
    paired mode); the search still checks that the rows are equal.
    """
    if anchor.size == 0 or anchor[0] < 0:
        return None
    start = int(anchor[0])
    if not np.array_equal(anchor, np.arange(start, start + anchor.size)):
        return None
    return slice(start, start + anchor.size)


def _cap_in_chunks(sampler, X, anchors, order, mined, seed):
    """:func:`cap_negative_uses` over the whole call (the cap spans the batch).

    The queries are prepared again for the rows that need a redraw only,
    which keeps the call's scratch bounded.
    """
    search = sampler.search_

    class _Lazy:
        """Prepared queries, exclusions and keys of single rows, on demand."""

        def __getitem__(self, rows):
            rows = np.atleast_1d(rows)
            prepared = search.prepare_queries(
                apply_preprocessor(sampler.preprocessor_, X[rows]), "X")
            return prepared, _exclusion(sampler, prepared, X[rows], anchors[rows])

    lazy = _Lazy()
    return cap_negative_uses(search, lazy, mined, order, sampler.max_negative_uses, seed)
