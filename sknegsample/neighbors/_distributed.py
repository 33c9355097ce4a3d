"""Exact search on a Dask cluster: (query block x bank shard) tasks, merged exactly.

Under ``joblib.parallel_backend("dask")`` (scikit-learn's switch; the
backend holds the ``dask.distributed.Client``), an exact search does not run
in the calling process:

* the bank is cut into one contiguous shard per worker thread; each shard's
  rows are scattered once and a :class:`NeighborSearch` is fitted on them by
  a task on the worker that holds them; both stay there, as futures cached
  with the search, for every later call with the same client;
* the queries are cut into blocks (at shard boundaries when they are bank
  rows, so that a block inside its own shard shares the anchor block); each
  block, with its labels and ``min_distance``, is scattered once and
  searched by one task per shard, with the same kernels, float64 re-rank
  and completeness loop as in one process;
* the client merges each block's shard answers by (distance, id)
  (:mod:`._merge`), so the answer is identical to one process.

A bank on disk is not scattered: its :class:`~sknegsample.utils._mmap.FileRows`
(a path and an offset) go to the workers, which stream their range of it
shard by shard (:func:`~._sharded.stream_kneighbors`); the file must be
readable at the same path on every worker.

What moves per call: each query block to every worker (``n_queries x
n_features`` floats per worker, at most), and back, per task, the block's
``k`` ids and distances (16 bytes each) and two counters per query. The bank
moves once per client (a bank in memory) or never (on disk).

A worker that dies takes its data with it. Tasks whose inputs survive are
retried by Dask; for lost scattered data (shards, query blocks) the client,
which still holds them, scatters them again and resubmits the tasks that
failed (:class:`_Remote`).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
from joblib.parallel import get_active_backend

from ._chunking import chunk_rows
from ._merge import EXACT_ALGORITHMS, fit_shard, merge_results, search_params, shard_kneighbors

# Rounds of resubmission after lost data before giving up.
_ATTEMPTS = 4

# search -> (client id, bank object, remote state): the shards on a cluster.
_RESIDENT = weakref.WeakKeyDictionary()


def active_client():
    """The Dask client of an active ``joblib.parallel_backend("dask")``, else None."""
    backend, _ = get_active_backend()
    if type(backend).__name__ != "DaskDistributedBackend":
        return None
    return getattr(backend, "client", None)


def kneighbors_on_cluster(search, queries, k, query_labels=None, min_distance=None,
                          working_memory=None, bank_rows=None):
    """:meth:`NeighborSearch.kneighbors` as cluster tasks, or None to run it here.

    None when no Dask backend is active or the algorithm is approximate
    (HNSW and IVF answer per index; their queries go through joblib slices).
    """
    client = active_client()
    if client is None or search.algorithm_ not in EXACT_ALGORITHMS:
        return None
    k = min(k, search.n_bank_)
    if query_labels is None or search.groups_ is None:
        query_labels = None
    params = {**search_params(search), "algorithm": search.algorithm_}
    shards = _resident_shards(client, search, params, lambda lo, hi: search.bank_[lo:hi],
                              search.groups_.labels if search.groups_ is not None else None)
    return _search_blocks(shards, queries, k, query_labels, min_distance, working_memory,
                          bank_rows)


def sharded_on_cluster(search, queries, k, *, query_labels=None, min_distance=None,
                       working_memory=None, bank_rows=None):
    """:meth:`ShardedSearch.kneighbors` as cluster tasks, or None to run it here."""
    client = active_client()
    if client is None:
        return None
    if not search.bank_.on_disk:
        shards = _resident_shards(client, search, search._shard_params(), search.bank_.rows,
                                  search.labels_)
    else:
        shards = _StreamedShards(client, search, working_memory)
    return _search_blocks(shards, queries, k, query_labels, min_distance, working_memory,
                          bank_rows)


class _Remote:
    """Futures the client can recreate: scattered data and tasks on them.

    ``scatter(name, value)`` and ``compute(name, fn, *args)`` record how to
    make a future; ``get(name)`` returns it, making it again (and whatever
    it depends on) when a worker's death lost it.
    """

    def __init__(self, client):
        self.client = client
        self._recipes = {}
        self._futures = {}

    def scatter(self, name, value):
        self._recipes[name] = ("data", value, ())
        self._futures.pop(name, None)
        return name

    def compute(self, name, fn, *args):
        self._recipes[name] = ("task", fn, args)
        self._futures.pop(name, None)
        return name

    def forget(self, name):
        self._recipes.pop(name, None)
        self._futures.pop(name, None)

    def get(self, name):
        future = self._futures.get(name)
        if future is None or future.status in ("lost", "cancelled", "error"):
            kind, value, args = self._recipes[name]
            if kind == "data":
                # In a list: a tuple or list alone would be scattered item by item.
                future = self.client.scatter([value], hash=False)[0]
            else:
                future = self.client.submit(value, *self.resolve(args), pure=False)
            self._futures[name] = future
        return future

    def resolve(self, args):
        return [self.get(a.name) if isinstance(a, _Ref) else a for a in args]

    def run(self, tasks):
        """Results of ``[(fn, args)]``, resubmitting tasks whose inputs were lost."""
        from distributed import wait

        results, todo = [None] * len(tasks), list(range(len(tasks)))
        for _ in range(_ATTEMPTS):
            futures = {i: self.client.submit(tasks[i][0], *self.resolve(tasks[i][1]),
                                             pure=False) for i in todo}
            wait(list(futures.values()))
            todo = []
            for i, future in futures.items():
                if future.status == "finished":
                    results[i] = future.result()
                elif future.status == "error":
                    future.result()  # raises the task's own exception
                else:
                    todo.append(i)  # cancelled: a worker holding an input died
            if not todo:
                return results
        raise RuntimeError(f"{len(todo)} search task(s) lost their inputs {_ATTEMPTS} times "
                           "in a row: workers keep dying.")


class _Ref:
    """An argument that names a :class:`_Remote` future."""

    def __init__(self, name):
        self.name = name


def _n_threads(client) -> int:
    workers = client.scheduler_info()["workers"].values()
    return max(1, sum(w.get("nthreads", 1) for w in workers))


class _ResidentShards:
    """One fitted shard per worker thread, kept on the cluster across calls."""

    def __init__(self, client, search, params, rows_of, labels):
        self.remote = _Remote(client)
        n_bank = search.n_bank_
        n_shards = min(_n_threads(client), n_bank)
        edges = np.linspace(0, n_bank, n_shards + 1).astype(np.int64)
        self.bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        for index, (lo, hi) in enumerate(self.bounds):
            data = self.remote.scatter(("rows", index), rows_of(lo, hi))
            part = None if labels is None else labels[lo:hi]
            self.remote.compute(("shard", index), fit_shard, params, _Ref(data), part)

    def task(self, index, block, k, working_memory, bank_rows):
        return (_block_on_shard, [_Ref(("shard", index)), self.bounds[index][0], _Ref(block),
                                  k, working_memory, bank_rows])


class _StreamedShards:
    """One range of a bank on disk per worker thread, streamed by each task."""

    def __init__(self, client, search, working_memory):
        self.remote = _Remote(client)
        n_bank = search.n_bank_
        n_ranges = min(_n_threads(client), n_bank)
        edges = np.linspace(0, n_bank, n_ranges + 1).astype(np.int64)
        self.bounds = list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
        self.params = search._shard_params()
        self.shard_rows = search._stream_rows(working_memory)
        self.remote.scatter("bank", search.bank_)
        self.remote.scatter("labels", search.labels_)

    def task(self, index, block, k, working_memory, bank_rows):
        lo, hi = self.bounds[index]
        return (_block_on_stream, [_Ref("bank"), _Ref("labels"), self.params, self.shard_rows,
                                   lo, hi, _Ref(block), k, working_memory, bank_rows])


def _resident_shards(client, search, params, rows_of, labels) -> _ResidentShards:
    """The search's shards on this client's cluster, placed there on first use."""
    cached = _RESIDENT.get(search)
    if cached is not None and cached[0] == client.id and cached[1] is search.bank_:
        return cached[2]
    shards = _ResidentShards(client, search, params, rows_of, labels)
    _RESIDENT[search] = (client.id, search.bank_, shards)
    return shards


def _block_on_shard(shard, offset, block, k, working_memory, bank_rows):
    queries, labels, min_distance = block
    return shard_kneighbors(shard, offset, queries, k, labels, min_distance, working_memory,
                            bank_rows)


def _block_on_stream(bank, labels, params, shard_rows, lo, hi, block, k, working_memory,
                     bank_rows):
    from ._sharded import stream_kneighbors

    queries, query_labels, min_distance = block
    return stream_kneighbors(bank, labels, params, shard_rows, lo, hi, queries, k,
                             query_labels=query_labels, min_distance=min_distance,
                             working_memory=working_memory, bank_rows=bank_rows)


def _search_blocks(shards, queries, k, query_labels, min_distance, working_memory, bank_rows):
    """Scatter the query blocks, run every (block, shard) task, merge per block."""
    blocks = _query_blocks(queries, bank_rows, shards.bounds, _n_threads(shards.remote.client),
                           working_memory)
    tasks, names = [], []
    for first, last in blocks:
        name = ("block", id(queries), first)
        names.append(name)
        shards.remote.scatter(name, (np.asarray(queries[first:last]),
                                     _rows(query_labels, first, last),
                                     _rows(min_distance, first, last)))
        rows = None if bank_rows is None else \
            slice(bank_rows.start + first, bank_rows.start + last)
        tasks += [shards.task(index, name, k, working_memory, rows)
                  for index in range(len(shards.bounds))]
    try:
        results = shards.remote.run(tasks)
    finally:
        for name in names:
            shards.remote.forget(name)
    n_shards = len(shards.bounds)
    merged = [merge_results(results[b * n_shards:(b + 1) * n_shards], k)
              for b in range(len(blocks))]
    if not merged:
        from ._merge import empty_result

        return empty_result(0, k)
    return type(merged[0])(*(np.concatenate([getattr(m, f) for m in merged])
                             for f in ("distances", "ids", "n_copies", "n_below")))


def _rows(array, first, last):
    return None if array is None else array[first:last]


def _query_blocks(queries, bank_rows, bounds, n_threads, working_memory):
    """``(first, last)`` query positions per block: cut at shard edges, then evenly.

    Blocks carry about ``n_queries / n_threads`` rows (each worker thread
    has work for every shard), no more than ``working_memory`` of query
    values, and never straddle a shard edge when the queries are bank rows.
    """
    n_queries = len(queries)
    cuts = {0, n_queries}
    if bank_rows is not None:
        for lo, _ in bounds:
            cuts.add(min(max(lo - bank_rows.start, 0), n_queries))
    width = queries.shape[1] * np.dtype(getattr(queries, "dtype", np.float64)).itemsize
    target = min(math.ceil(n_queries / n_threads) or 1,
                 chunk_rows(width, n_queries, working_memory))
    edges = sorted(cuts)
    blocks = []
    for first, last in zip(edges[:-1], edges[1:], strict=True):
        n_pieces = max(1, math.ceil((last - first) / target))
        steps = np.linspace(first, last, n_pieces + 1).astype(np.int64).tolist()
        blocks += [(a, b) for a, b in zip(steps[:-1], steps[1:], strict=True) if b > a]
    return blocks
