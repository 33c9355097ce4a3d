"""One shard's exact answer, and the exact merge of several.

A bank cut into contiguous shards is searched shard by shard: each shard is
a :class:`~sknegsample.neighbors.NeighborSearch` over its rows, whose answer
is already exact for those rows (float64 re-rank and completeness loop, run
per shard, so a row incomplete in a shard is asked again there). The ``k``
nearest allowed ids of the whole bank are then the ``k`` smallest of the
shards' answers by (distance, id): the same float64 distances, computed from
the same rows, and the same tie-break, so the merge equals the one-process
answer bit for bit. The skip counters add up: an exact search counts every
copy and every row under ``min_distance`` of its bank (all of them lie below
its ``k``-th distance, or the row ran out and fetched them all), so the
shards' counts sum to the whole bank's.

A shard is fitted on its own rows, numbered from 0: labels keep their codes
(a code the shard does not hold excludes nothing there), and the per-class
extra exclusions keep only the shard's ids, with the class numbers rotated
by the shard's first row so that the shard's own rows are classes 0, 1, ...
as the shared anchor block expects.
"""

from __future__ import annotations

import numpy as np

from ._search import NeighborSearch, SearchResult

#: The search parameters a shard copies from its template.
SEARCH_PARAMS = ("metric", "algorithm", "leaf_size", "device", "search_params", "n_jobs",
                 "random_state")


_NO_ID = np.iinfo(np.int64).max


def search_params(search) -> dict:
    """The constructor parameters of a search, to build its shards with."""
    return {name: getattr(search, name) for name in SEARCH_PARAMS}


def extras_coo(groups):
    """``(class, id)`` of a :class:`LabelGroups`' extra exclusions, and the class count."""
    if groups is None or groups.extra_ptr is None:
        return None
    ptr = groups.extra_ptr
    n_classes = len(ptr) - 1
    return np.repeat(np.arange(n_classes), np.diff(ptr)), groups.extra_ids, n_classes


def fit_shard(params: dict, rows: np.ndarray, labels, offset: int = 0,
              extras=None) -> NeighborSearch:
    """A :class:`NeighborSearch` over bank rows ``offset:offset + len(rows)``.

    ``rows`` are already in the metric's space (normalised once for the
    whole bank: normalising again would move their last bits), so the shard
    is fitted as a euclidean search on them and then reports distances in
    the caller's metric, which is all the metric does after ``fit``.
    ``extras`` is :func:`extras_coo` of the whole bank.
    """
    n_rows = len(rows)
    extra_ptr = extra_ids = None
    n_classes = 0
    if extras is not None:
        owner, ids, n_classes = extras
        keep = (ids >= offset) & (ids < offset + n_rows)
        owner = (owner[keep] - offset) % n_classes
        ids = ids[keep] - offset
        order = np.lexsort((ids, owner))
        extra_ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=n_classes))])
        extra_ids = ids[order]
    shard = NeighborSearch(**{**params, "metric": "euclidean"}).fit(
        rows, labels, extra_ptr=extra_ptr, extra_ids=extra_ids)
    shard.metric = params["metric"]
    shard.shard_offset_, shard.shard_classes_ = offset, n_classes
    return shard


def shard_kneighbors(shard: NeighborSearch, queries, k: int, *, query_labels=None,
                     query_classes=None, bank_rows=None, **guards) -> SearchResult:
    """The shard's exact answer for ``queries``, in the whole bank's ids.

    ``query_labels``, ``query_classes`` and ``bank_rows`` are in the whole
    bank's numbering; queries that are the shard's own rows share its
    anchor block. ``guards`` (``min_distance``, ``max_distance``,
    ``working_memory``) pass through.
    """
    offset, n_queries = shard.shard_offset_, len(queries)
    labels, classes = query_labels, query_classes
    if labels is not None and shard.groups_ is not None:
        labels = np.where(labels < len(shard.groups_.counts), labels, -1)
    if classes is not None and shard.shard_classes_:
        classes = np.where(classes >= 0, (classes - offset) % shard.shard_classes_, -1)
    inside = _rows_inside(bank_rows, n_queries, offset, offset + shard.n_bank_)

    def run(rows, local_rows=None):
        n_rows = len(range(n_queries)[rows]) if isinstance(rows, slice) else len(rows)
        if n_rows == 0:
            return empty_result(0, min(k, shard.n_bank_))
        pick = (lambda a: a if a is None or np.ndim(a) == 0 else a[rows])
        return shard.kneighbors(queries[rows], k, query_labels=pick(labels),
                                query_classes=pick(classes), bank_rows=local_rows,
                                **{name: pick(value) for name, value in guards.items()
                                   if name != "working_memory"},
                                working_memory=guards.get("working_memory"))

    if inside is None:
        result = run(slice(None))
    else:
        (first, last), local = inside
        rest = np.r_[0:first, last:n_queries]
        result = _join_rows([(np.arange(first, last), run(slice(first, last), local)),
                             (rest, run(rest))], n_queries)
    ids = np.where(result.ids >= 0, result.ids + offset, -1)
    return SearchResult(result.distances, ids, result.n_copies, result.n_below)


def _rows_inside(bank_rows, n_queries, lo, hi):
    """Query positions that are shard rows ``lo:hi`` and their shard-local slice, or None."""
    if bank_rows is None:
        return None
    start, stop, step = bank_rows.indices(2**62)
    if step != 1 or stop - start != n_queries:
        return None
    first, last = max(start, lo), min(stop, hi)
    if last <= first:
        return None
    return (first - start, last - start), slice(first - lo, last - lo)


def _join_rows(pieces, n_queries) -> SearchResult:
    """Put the results of row subsets back in query order."""
    width = max(r.ids.shape[1] for _, r in pieces)
    out = empty_result(n_queries, width)
    for rows, result in pieces:
        if len(rows):
            out.distances[rows, :result.ids.shape[1]] = result.distances
            out.ids[rows, :result.ids.shape[1]] = result.ids
            out.n_copies[rows] = result.n_copies
            out.n_below[rows] = result.n_below
    return out


def empty_result(n_queries: int, k: int) -> SearchResult:
    """No neighbours yet: ``inf`` distances, ids ``-1``, zero counts."""
    return SearchResult(np.full((n_queries, k), np.inf), np.full((n_queries, k), -1, np.int64),
                        np.zeros(n_queries, np.int64), np.zeros(n_queries, np.int64))


def merge_results(results, k: int) -> SearchResult:
    """The ``k`` smallest of several shards' answers per row, by (distance, id).

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample.neighbors._merge import merge_results
    >>> from sknegsample.neighbors import SearchResult
    >>> a = SearchResult(np.array([[1.0, 3.0]]), np.array([[4, 7]]), np.array([1]), np.array([0]))
    >>> b = SearchResult(np.array([[1.0, 2.0]]), np.array([[2, 9]]), np.array([0]), np.array([2]))
    >>> merged = merge_results([a, b], 3)
    >>> merged.ids.tolist(), merged.distances.tolist(), merged.n_copies.tolist()
    ([[2, 4, 9]], [[1.0, 1.0, 2.0]], [1])
    """
    results = list(results)
    distances = np.concatenate([r.distances for r in results], axis=1)
    ids = np.concatenate([r.ids for r in results], axis=1)
    order = np.lexsort((np.where(ids >= 0, ids, _NO_ID), distances), axis=1)[:, :k]
    merged = empty_result(distances.shape[0], k)
    width = order.shape[1]
    merged.distances[:, :width] = np.take_along_axis(distances, order, axis=1)
    merged.ids[:, :width] = np.take_along_axis(ids, order, axis=1)
    merged.n_copies[:] = sum(r.n_copies for r in results)
    merged.n_below[:] = sum(r.n_below for r in results)
    return merged
