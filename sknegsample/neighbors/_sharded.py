"""A bank searched shard by shard: on disk, on several devices, on a Dask cluster.

:class:`ShardedSearch` answers exactly what :class:`NeighborSearch` answers
over the same bank, for every shard size (``tests/neighbors/test_sharded.py``
compares them bit for bit): each contiguous shard of the bank is an exact
:class:`NeighborSearch` and the answers are merged by (distance, id)
(:mod:`._merge`). The shards are

* resident, one per device, when ``device`` lists several
  (``"cuda:0,cuda:1"``), each searched by its own thread;
* streamed, when the bank is on disk: each search reads the bank in shards
  of about half ``working_memory``, fits a shard, queries it and drops it,
  so the resident set stays near ``2 * working_memory`` whatever the
  bank's size;
* on the workers of a Dask cluster under ``joblib.parallel_backend("dask")``
  (:mod:`._distributed`).

:func:`fit_search` is what the sampler calls: it stacks in-memory parts as
before and hands banks with a part on disk to a :class:`ShardedSearch`.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn import get_config

from ..utils._mmap import is_file_backed
from ._algorithms import EXACT_ALGORITHMS, resolve_algorithm
from ._distances import from_scaled_squared, largest_abs, power_of_two_scale
from ._exact import exact_sq
from ._labels import LabelGroups
from ._merge import (
    SEARCH_PARAMS,
    empty_result,
    extras_coo,
    fit_shard,
    merge_results,
    search_params,
    shard_kneighbors,
)
from ._parts import BankParts, prepare_rows
from ._search import NeighborSearch, SearchResult


def fit_search(search: NeighborSearch, parts, labels=None, input_name: str = "X", *,
               pool=None, extra_ptr=None, extra_ids=None):
    """Fit ``search`` on the rows of ``parts`` stacked, without copying a bank on disk.

    Parameters
    ----------
    search : NeighborSearch
        Unfitted; its parameters are kept.
    parts : list of ndarray, memmap or FileRows
        The bank's row blocks (the sampler's points, then counters).
    labels : ndarray of int or None
        One label code per bank row.
    input_name : str
        Named in validation messages.
    pool, extra_ptr, extra_ids
        As in :meth:`NeighborSearch.fit`.

    Returns
    -------
    search : NeighborSearch or ShardedSearch
        ``search`` fitted on ``np.vstack(parts)`` when every part is in
        memory, or the algorithm is approximate (its index is in memory
        anyway), and ``search.device`` names one device; otherwise a fitted
        :class:`ShardedSearch` with its parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample.neighbors import NeighborSearch, fit_search
    >>> point = np.array([[0.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    >>> fit_search(NeighborSearch(), [point, point + 1]).n_bank_
    4
    >>> type(fit_search(NeighborSearch(device="cpu,cpu"), [point, point + 1])).__name__
    'ShardedSearch'
    """
    kwargs = dict(pool=pool, extra_ptr=extra_ptr, extra_ids=extra_ids)
    several_devices = "," in str(search.device)
    approximate = search.algorithm not in ("auto", *EXACT_ALGORITHMS)
    if approximate and not several_devices:
        # An approximate index holds its own copy of the bank in memory: a
        # bank on disk is read in whole, as before memory-mapped banks shard.
        parts = [np.asarray(p) for p in parts]
    if several_devices or any(is_file_backed(p) for p in parts):
        sharded = ShardedSearch(**search_params(search))
        return sharded.fit(BankParts(parts, search.metric, input_name), labels, input_name,
                           **kwargs)
    bank = parts[0] if len(parts) == 1 else np.vstack(parts)
    return search.fit(bank, labels, input_name=input_name, **kwargs)


class ShardedSearch:
    """Exact k-nearest-neighbour search over a bank cut into contiguous shards.

    The parameters are :class:`NeighborSearch`'s, plus ``shard_rows``.
    Only exact algorithms (``brute``, ``ball_tree``, ``kd_tree``,
    ``faiss_flat``, or ``auto``) shard: an approximate index per shard would
    answer differently from one index over the bank.

    Parameters
    ----------
    metric, algorithm, leaf_size, search_params, n_jobs, random_state
        As in :class:`NeighborSearch`.
    device : str, default="cpu"
        A torch device, or several separated by commas (one resident shard
        per device, searched in parallel threads).
    shard_rows : int or None, default=None
        Rows per shard. None: one shard per device for a bank in memory;
        half of ``working_memory`` per shard for a bank on disk.
    """

    # Default for searches saved before exact distances were scaled.
    _scale = 1.0

    def __init__(self, *, metric="euclidean", algorithm="auto", leaf_size=40, device="cpu",
                 search_params=None, n_jobs=None, random_state=0, shard_rows=None):
        self.metric = metric
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.device = device
        self.search_params = search_params
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.shard_rows = shard_rows

    @property
    def devices(self) -> list[str]:
        return [d.strip() for d in str(self.device).split(",")]

    def fit(self, bank, labels=None, input_name: str = "X", *, pool=None, extra_ptr=None,
            extra_ids=None) -> ShardedSearch:
        """Index ``bank`` (an array, a memmap or :class:`BankParts`) in shards.

        ``labels``, ``pool``, ``extra_ptr`` and ``extra_ids`` as in
        :meth:`NeighborSearch.fit`.
        """
        parts = bank if isinstance(bank, BankParts) else BankParts([bank], self.metric,
                                                                   input_name)
        n_bank, n_features = parts.shape
        start, stop = (0, n_bank) if pool is None else (int(pool[0]), int(pool[1]))
        if not 0 <= start < stop <= n_bank:
            raise ValueError(f"pool must be a non-empty range of the {n_bank} bank rows; "
                             f"got ({start}, {stop}).")
        self.algorithm_ = resolve_algorithm(self.algorithm, stop - start, n_features,
                                            self.devices[0])
        if self.algorithm_ not in EXACT_ALGORITHMS:
            raise ValueError(
                f"A sharded search (a bank on disk, several devices) is exact: algorithm "
                f"must be 'auto' or one of {list(EXACT_ALGORITHMS)}; got {self.algorithm!r}."
            )
        self.bank_ = parts
        self.pool_ = (start, stop)
        self.labels_ = None if labels is None else np.asarray(labels, dtype=np.int64)
        self.groups_ = None if labels is None else LabelGroups(self.labels_, extra_ptr,
                                                               extra_ids)
        # Read once now (a bad row fails at fit, not mid-search), for the
        # power of two the exact distances are computed at (see NeighborSearch).
        largest = 0.0
        for lo, hi in parts.blocks(self._stream_rows(None), start, stop):
            largest = max(largest, largest_abs(parts.rows(lo, hi)))
        if parts.on_disk:
            for lo, hi in (*parts.blocks(self._stream_rows(None), 0, start),
                           *parts.blocks(self._stream_rows(None), stop, n_bank)):
                parts.rows(lo, hi)
        self._scale = power_of_two_scale(largest * float(np.sqrt(n_features)))
        self._fit_resident()
        return self

    def _fit_resident(self):
        """Fit the resident shards (bank in memory) or none (bank on disk)."""
        self.shards_ = None
        if self.bank_.on_disk:
            return
        start, stop = self.pool_
        devices = self.devices
        rows = self.shard_rows or -(-(stop - start) // len(devices))
        self.shards_ = [self._fit_one(lo, hi, devices[i % len(devices)])
                        for i, (lo, hi) in enumerate(self.bank_.blocks(rows, start, stop))]

    def _fit_one(self, lo: int, hi: int, device: str) -> NeighborSearch:
        return fit_shard({**self._shard_params(), "device": device}, self.bank_.rows(lo, hi),
                         None if self.labels_ is None else self.labels_[lo:hi], lo,
                         extras_coo(self.groups_))

    def _shard_params(self) -> dict:
        return {**search_params(self), "algorithm": self.algorithm_,
                "device": self.devices[0]}

    def _stream_rows(self, working_memory) -> int:
        """Rows of a streamed shard: its rows (and float32 copy) in half the budget."""
        if self.shard_rows:
            return self.shard_rows
        if working_memory is None:
            working_memory = get_config()["working_memory"]
        row_bytes = self.bank_.shape[1] * (self.bank_.dtype.itemsize + 4) + 40
        return max(1, int(working_memory * 2**20 // 2 // row_bytes))

    def pool_range(self) -> tuple[int, int]:
        """``(start, stop)`` of the candidate bank rows."""
        return self.pool_

    @property
    def n_bank_(self) -> int:
        return len(self.bank_)

    #: Shards only run exact algorithms, and merge exactly.
    is_exact = True

    @property
    def n_pool_(self) -> int:
        return self.pool_[1] - self.pool_[0]

    def __getstate__(self):
        # Resident shards are rebuilt from the parts at load (deterministic).
        return {key: value for key, value in self.__dict__.items() if key != "shards_"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "bank_" in state:
            self._fit_resident()

    def prepare_queries(self, queries: np.ndarray, input_name: str = "X") -> np.ndarray:
        """Queries in the bank's space (normalised for cosine)."""
        return prepare_rows(queries, self.metric, queries.dtype, input_name, self._scale)

    def pair_distances(self, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact metric distance from each prepared query row to its ``ids`` (any bank row)."""
        return from_scaled_squared(exact_sq(self.bank_, queries, np.asarray(ids),
                                            scale=self._scale), self.metric, self._scale)

    def kneighbors(self, queries: np.ndarray, k: int, *, query_labels=None,
                   query_classes=None, min_distance=None, max_distance=None,
                   working_memory=None, bank_rows=None) -> SearchResult:
        """The ``k`` nearest allowed pool ids, as :meth:`NeighborSearch.kneighbors`."""
        k = min(k, self.n_pool_)
        if self.groups_ is None:
            query_labels = query_classes = None
        args = dict(query_labels=query_labels, query_classes=query_classes,
                    min_distance=min_distance, max_distance=max_distance,
                    working_memory=working_memory, bank_rows=bank_rows)
        from ._distributed import sharded_on_cluster

        on_cluster = sharded_on_cluster(self, queries, k, args)
        if on_cluster is not None:
            return on_cluster
        if self.shards_ is None:
            return stream_kneighbors(self.bank_, self.labels_, extras_coo(self.groups_),
                                     self._shard_params(), self._stream_rows(working_memory),
                                     *self.pool_, queries, k, args)

        def run(shard):
            return shard_kneighbors(shard, queries, k, **args)

        if len(self.devices) > 1 and len(self.shards_) > 1:
            # One thread per device: each GPU computes while the others do.
            results = Parallel(n_jobs=len(self.devices), prefer="threads",
                               require="sharedmem")(delayed(run)(s) for s in self.shards_)
        else:
            results = [run(shard) for shard in self.shards_]
        return merge_results(results, k)


def stream_kneighbors(bank: BankParts, labels, extras, params: dict, shard_rows: int, lo: int,
                      hi: int, queries, k: int, args: dict) -> SearchResult:
    """Search bank rows ``lo:hi``, reading, fitting and dropping one shard at a time.

    The body of a streamed :class:`ShardedSearch` and of a Dask task over a
    bank on disk; the running answer is merged after each shard.
    """
    best = empty_result(len(queries), k)
    for start, stop in bank.blocks(shard_rows, lo, hi):
        shard = fit_shard(params, bank.rows(start, stop),
                          None if labels is None else labels[start:stop], start, extras)
        best = merge_results([best, shard_kneighbors(shard, queries, k, **args)], k)
        del shard
    return best


__all__ = ["SEARCH_PARAMS", "ShardedSearch", "fit_search", "stream_kneighbors"]
