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
its ``k``-th distance), so the shards' counts sum to the whole bank's.
"""

from __future__ import annotations

import numpy as np

from ._search import NeighborSearch, SearchResult

#: The search parameters a shard copies from its template.
SEARCH_PARAMS = ("metric", "algorithm", "leaf_size", "device", "search_params", "n_jobs",
                 "random_state")

#: Algorithms whose shards merge into the exact answer.
EXACT_ALGORITHMS = ("brute", "ball_tree", "kd_tree", "faiss_flat")

_NO_ID = np.iinfo(np.int64).max


def search_params(search) -> dict:
    """The constructor parameters of a search, to build its shards with."""
    return {name: getattr(search, name) for name in SEARCH_PARAMS}


def fit_shard(params: dict, rows: np.ndarray, labels) -> NeighborSearch:
    """A :class:`NeighborSearch` over ``rows`` already in the metric's space.

    Rows are prepared once, for the whole bank (normalised for cosine);
    normalising them again would move their last bits. The shard is fitted
    as a euclidean search on the prepared rows and then reports distances
    in the caller's metric, which is all the metric does after ``fit``.
    """
    shard = NeighborSearch(**{**params, "metric": "euclidean"}).fit(rows, labels)
    shard.metric = params["metric"]
    return shard


def shard_kneighbors(shard: NeighborSearch, offset: int, queries, k: int, query_labels=None,
                     min_distance=None, working_memory=None, bank_rows=None) -> SearchResult:
    """The shard's exact answer for ``queries``, with bank ids ``offset`` on.

    ``query_labels`` and ``bank_rows`` are in the whole bank's numbering: a
    label the shard does not hold excludes nothing there, and queries that
    are the shard's own rows share its anchor block.
    """
    n_queries, n_rows = len(queries), shard.n_bank_
    labels = query_labels
    if labels is not None and shard.groups_ is not None:
        labels = np.where(labels < len(shard.groups_.counts), labels, -1)
    inside = _rows_inside(bank_rows, n_queries, offset, offset + n_rows)

    def run(rows, local_rows=None):
        pick = (lambda a: None if a is None else a[rows])
        if len(range(n_queries)[rows] if isinstance(rows, slice) else rows) == 0:
            return empty_result(0, min(k, n_rows))
        return shard.kneighbors(queries[rows], k, query_labels=pick(labels),
                                min_distance=pick(min_distance),
                                working_memory=working_memory, bank_rows=local_rows)

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
    n_rows = distances.shape[0]
    merged = empty_result(n_rows, k)
    width = order.shape[1]
    merged.distances[:, :width] = np.take_along_axis(distances, order, axis=1)
    merged.ids[:, :width] = np.take_along_axis(ids, order, axis=1)
    merged.n_copies[:] = sum(r.n_copies for r in results)
    merged.n_below[:] = sum(r.n_below for r in results)
    return merged
