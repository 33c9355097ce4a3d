"""Exact search on a Dask cluster: (query block x bank shard) tasks, merged exactly.

Under ``joblib.parallel_backend("dask")`` (scikit-learn's switch; the
backend holds the ``dask.distributed.Client``), an exact search does not run
in the calling process:

* the bank is cut into one contiguous shard per worker thread; each shard's
  rows are scattered once and a :class:`NeighborSearch` is fitted on them by
  a task on the worker that holds them; both stay there, as futures cached
  with the search, for every later call with the same client;
* the queries are cut into as few blocks as ``working_memory`` allows (and
  at shard boundaries when they are bank rows, so that a block inside its
  own shard shares the anchor block); each block, with its per-row
  arguments (labels, classes, distance bounds), is scattered once and
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

import inspect
import math
import time
import weakref

import numpy as np
from joblib.parallel import get_active_backend

from ._algorithms import EXACT_ALGORITHMS
from ._chunking import chunk_rows
from ._merge import (
    empty_result,
    extras_coo,
    fit_shard,
    merge_results,
    search_params,
    shard_kneighbors,
)

# Rounds of resubmission after lost data before giving up.
_ATTEMPTS = 4
# Seconds to wait for a worker when the scheduler lists none (a restart).
_WORKER_WAIT_S = 60

# search -> (client id, bank object, remote state): the shards on a cluster.
_RESIDENT = weakref.WeakKeyDictionary()


def active_client():
    """The Dask client of an active ``joblib.parallel_backend("dask")``, else None."""
    backend, _ = get_active_backend()
    if type(backend).__name__ != "DaskDistributedBackend":
        return None
    return getattr(backend, "client", None)


def kneighbors_on_cluster(search, call: dict):
    """:meth:`NeighborSearch.kneighbors` as cluster tasks, or None to run it here.

    ``call`` holds the call's arguments (its ``locals()``: every keyword
    argument the method has, today's and any added later, reaches the
    shards). None when no Dask backend is active or the algorithm is
    approximate (HNSW and IVF answer per index: HNSW's queries go through
    joblib slices, IVF runs in this process on its own threads).
    """
    client = active_client()
    if client is None or search.algorithm_ not in EXACT_ALGORITHMS:
        return None
    keywords = [p.name for p in inspect.signature(search.kneighbors).parameters.values()
                if p.kind == p.KEYWORD_ONLY]
    args = {name: call[name] for name in keywords}
    k = min(call["k"], search.n_pool_)
    if search.groups_ is None:
        args = {**args, "query_labels": None, "query_classes": None}
    params = {**search_params(search), "algorithm": search.algorithm_}
    labels = search.groups_.labels if search.groups_ is not None else None
    shards = _resident_shards(client, search, params, lambda lo, hi: search.bank_[lo:hi],
                              labels)
    return _search_blocks(shards, call["queries"], k, args)


def sharded_on_cluster(search, queries, k, args: dict):
    """:meth:`ShardedSearch.kneighbors` as cluster tasks, or None to run it here."""
    client = active_client()
    if client is None:
        return None
    if not search.bank_.on_disk:
        shards = _resident_shards(client, search, search._shard_params(), search.bank_.rows,
                                  search.labels_)
    else:
        shards = _StreamedShards(client, search, args.get("working_memory"))
    return _search_blocks(shards, queries, k, args)


class _Remote:
    """Futures the client can recreate: scattered data and tasks on them.

    ``scatter(name, value, slot)`` and ``compute(name, fn, *args)`` record
    how to make a future; ``get(name)`` returns it, making it again (and
    whatever it depends on) when a worker's death lost it. A *slot* is a
    worker thread: slot ``i`` is the ``i``-th thread of the workers in
    address order, so that shard ``i`` and its tasks go to thread ``i``
    (left to itself, the scheduler put two one-item scatters on one worker).
    """

    def __init__(self, client):
        self.client = client
        self._recipes = {}
        self._futures = {}

    def scatter(self, name, value, slot=None):
        self._recipes[name] = ("data", value, slot)
        self._futures.pop(name, None)
        return name

    def compute(self, name, fn, *args):
        self._recipes[name] = ("task", fn, args)
        self._futures.pop(name, None)
        return name

    def forget(self, name):
        self._recipes.pop(name, None)
        self._futures.pop(name, None)

    def worker(self, slot):
        """The address of worker thread ``slot`` (modulo the threads alive now)."""
        workers = self.client.scheduler_info()["workers"]
        if not workers:
            # Between a worker's death and its nanny's restart (or before a
            # new cluster's first worker registers) the list can be empty:
            # wait for one rather than divide by zero.
            self.client.wait_for_workers(1, timeout=_WORKER_WAIT_S)
            workers = self.client.scheduler_info()["workers"]
        threads = [address for address in sorted(workers)
                   for _ in range(workers[address].get("nthreads", 1))]
        return threads[slot % len(threads)]

    def get(self, name):
        future = self._futures.get(name)
        if future is None or future.status in ("lost", "cancelled", "error"):
            kind, value, extra = self._recipes[name]
            if kind == "data":
                future = self._scatter(value, extra)
            else:
                future = self.client.submit(value, *self.resolve(extra), pure=False)
            self._futures[name] = future
        return future

    def _scatter(self, value, slot):
        for attempt in range(_ATTEMPTS):
            try:
                workers = None if slot is None else [self.worker(slot)]
                # In a list: a tuple or list alone would be scattered item by item.
                return self.client.scatter([value], workers=workers, hash=False)[0]
            except OSError:
                # A worker that just died may still be on the scheduler's
                # list for a moment: try again once it is gone.
                if attempt == _ATTEMPTS - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))

    def resolve(self, args):
        return [self.get(a.name) if isinstance(a, _Ref) else a for a in args]

    def submit(self, fn, args, slot):
        """A task, preferably on worker thread ``slot`` (any worker if that one died)."""
        return self.client.submit(fn, *self.resolve(args), pure=False,
                                  workers=[self.worker(slot)], allow_other_workers=True)

    def run(self, tasks):
        """Results of ``[(fn, args, slot)]``, resubmitting tasks whose inputs were lost."""
        from distributed import wait

        results, todo = [None] * len(tasks), list(range(len(tasks)))
        for _ in range(_ATTEMPTS):
            futures = {i: self.submit(*tasks[i]) for i in todo}
            try:
                wait(list(futures.values()))
            except Exception:
                # wait() raises once every future is done if some were
                # cancelled; those are resubmitted below.
                if any(f.status == "pending" for f in futures.values()):
                    raise
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


def _split(client, search):
    """``[(lo, hi)]``: the pool cut into one range per worker thread."""
    start, stop = search.pool_range()
    n_ranges = min(_n_threads(client), stop - start)
    edges = np.linspace(start, stop, n_ranges + 1).astype(np.int64).tolist()
    return list(zip(edges[:-1], edges[1:], strict=True))


class _ResidentShards:
    """One fitted shard per worker thread, kept on the cluster across calls."""

    def __init__(self, client, search, params, rows_of, labels):
        self.remote = _Remote(client)
        self.bounds = _split(client, search)
        extras = extras_coo(search.groups_)
        for index, (lo, hi) in enumerate(self.bounds):
            # Scattered, not put in the task: a task's arguments live in the
            # scheduler's graph, and Dask warns about graphs over 10 MB.
            data = self.remote.scatter(("rows", index), (
                rows_of(lo, hi), None if labels is None else labels[lo:hi],
                _shard_extras(extras, lo, hi)), slot=index)
            self.remote.compute(("shard", index), _fit_scattered, params, _Ref(data), lo)

    def task(self, index, block, k, args):
        return (_block_on_shard, [_Ref(("shard", index)), _Ref(block), k, args], index)


class _StreamedShards:
    """One range of a bank on disk per worker thread, streamed by each task."""

    def __init__(self, client, search, working_memory):
        self.remote = _Remote(client)
        self.bounds = _split(client, search)
        self.params = search._shard_params()
        self.shard_rows = search._stream_rows(working_memory)
        self.remote.scatter("bank", search.bank_)
        self.remote.scatter("labels", search.labels_)
        self.remote.scatter("extras", extras_coo(search.groups_))

    def task(self, index, block, k, args):
        lo, hi = self.bounds[index]
        return (_block_on_stream, [_Ref("bank"), _Ref("labels"), _Ref("extras"), self.params,
                                   self.shard_rows, lo, hi, _Ref(block), k, args], index)


def _shard_extras(extras, lo, hi):
    """The extra exclusions a shard of rows ``lo:hi`` needs (its ids only)."""
    if extras is None:
        return None
    owner, ids, n_classes = extras
    keep = (ids >= lo) & (ids < hi)
    return owner[keep], ids[keep], n_classes


def _resident_shards(client, search, params, rows_of, labels) -> _ResidentShards:
    """The search's shards on this client's cluster, placed there on first use."""
    cached = _RESIDENT.get(search)
    if cached is not None and cached[0] == client.id and cached[1] is search.bank_:
        return cached[2]
    shards = _ResidentShards(client, search, params, rows_of, labels)
    _RESIDENT[search] = (client.id, search.bank_, shards)
    return shards


def _fit_scattered(params, data, offset):
    rows, labels, extras = data
    return fit_shard(params, rows, labels, offset, extras)


def _block_on_shard(shard, block, k, args):
    queries, per_row = block
    return shard_kneighbors(shard, queries, k, **{**args, **per_row})


def _block_on_stream(bank, labels, extras, params, shard_rows, lo, hi, block, k, args):
    from ._sharded import stream_kneighbors

    queries, per_row = block
    return stream_kneighbors(bank, labels, extras, params, shard_rows, lo, hi, queries, k,
                             {**args, **per_row})


def _search_blocks(shards, queries, k, args):
    """Scatter the query blocks, run every (block, shard) task, merge per block.

    Per-row arguments (labels, classes, distance bounds) travel with their
    block; ``bank_rows`` is cut to the block; the rest goes to every task.
    """
    bank_rows = args.get("bank_rows")
    blocks = _query_blocks(queries, bank_rows, shards.bounds, args.get("working_memory"))
    shared = {name: value for name, value in args.items()
              if name != "bank_rows" and (value is None or np.ndim(value) == 0)}
    tasks, names = [], []
    for first, last in blocks:
        name = ("block", id(queries), first)
        names.append(name)
        per_row = {name_: value[first:last] for name_, value in args.items()
                   if name_ not in shared and name_ != "bank_rows"}
        per_row["bank_rows"] = None if bank_rows is None else \
            slice(bank_rows.start + first, bank_rows.start + last)
        shards.remote.scatter(name, (np.asarray(queries[first:last]), per_row))
        tasks += [shards.task(index, name, k, shared) for index in range(len(shards.bounds))]
    try:
        results = shards.remote.run(tasks)
    finally:
        for name in names:
            shards.remote.forget(name)
    n_shards = len(shards.bounds)
    merged = [merge_results(results[b * n_shards:(b + 1) * n_shards], k)
              for b in range(len(blocks))]
    if not merged:
        return empty_result(0, k)
    return type(merged[0])(*(np.concatenate([getattr(m, f) for m in merged])
                             for f in ("distances", "ids", "n_copies", "n_below")))


def _query_blocks(queries, bank_rows, bounds, working_memory):
    """``(first, last)`` query positions per block: cut at shard edges, then by memory.

    As few blocks as ``working_memory`` allows (the query values of one
    block): each worker thread already has a shard to search, each block
    costs every shard a task (``n_blocks x n_shards`` tasks, a millisecond
    of scheduling each), and a shard on disk is read once per block. When
    the queries are bank rows, blocks never straddle a shard edge, so the
    rows inside a shard share its anchor block.
    """
    n_queries = len(queries)
    cuts = {0, n_queries}
    if bank_rows is not None:
        for lo, _ in bounds:
            cuts.add(min(max(lo - bank_rows.start, 0), n_queries))
    width = queries.shape[1] * np.dtype(getattr(queries, "dtype", np.float64)).itemsize
    target = chunk_rows(width, n_queries, working_memory)
    edges = sorted(cuts)
    blocks = []
    for first, last in zip(edges[:-1], edges[1:], strict=True):
        n_pieces = max(1, math.ceil((last - first) / target))
        steps = np.linspace(first, last, n_pieces + 1).astype(np.int64).tolist()
        blocks += [(a, b) for a, b in zip(steps[:-1], steps[1:], strict=True) if b > a]
    return blocks
