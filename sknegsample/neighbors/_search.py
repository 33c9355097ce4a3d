"""Exact k-nearest-neighbour search with per-query exclusions and distance guards.

This is the one search layer both estimators use. Given a bank, queries and,
per query, the bank ids it may not receive (its label group: itself, its
positives, rows sharing its label; plus a few listed extras such as copies of
it elsewhere in the bank) and a distance window (strictly farther than a
floor: copies at distance 0, the positive-aware guards; at most a ceiling),
it returns the ``k`` nearest allowed bank ids with their distances, ordered
by distance and then by id. Only the bank rows of the *pool* (a contiguous
range, e.g. the counters) are candidates.

How exactness is kept while the arithmetic is float32:

1. a backend proposes ``k + overfetch`` candidates with a squared-distance
   estimate (brute force: a float32 GEMM with the exclusions, and the
   candidates certainly outside the distance window, dropped before
   ``topk``; trees: exact float64 distances; faiss / hnswlib: their own);
2. the candidates are re-ranked on float64 distances computed directly from
   the stored bank (a copy of the query is exactly 0 there);
3. a row is complete when it has ``k`` allowed candidates and no unfetched
   candidate can beat or tie the ``k``-th (the fetched boundary, less the
   estimate's worst-case error bound, is above it); other rows are asked
   again with twice the ``k``. Approximate backends only need ``k``
   allowed candidates.
"""

from __future__ import annotations

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.utils import gen_even_slices

from ._algorithms import EXACT_ALGORITHMS, resolve_algorithm
from ._chunking import _effective_threads, search_chunk_rows
from ._distances import (
    _row_norms,
    bank_scale,
    check_float32_range,
    from_scaled_squared,
    matmul_epsilon,
    normalize_rows,
    to_scaled_squared,
)
from ._exact import error_bound, estimate_error_factor, exact_sq, needs_exact
from ._labels import LabelGroups
from ._result import SearchResult
from ._shared import shared_block_rows, shared_rows
from .backends import make_backend

# Extra candidates fetched beyond k so that copies, guard skips and float32
# near-ties rarely force a second query.
_OVERFETCH = 8

# Brute force excludes before selecting, so only copies and float32
# near-ties call for more: k + 4 needed a second query for ~0.1% of rows
# (20k x 384 make_pairs) and spares almost half of the float64 re-rank.
_BRUTE_OVERFETCH = 4
# A floor (a guard) makes the candidates just above it uncertain: with k + 4,
# 11-15% of rows came back for a second query under positive_margin=0.95
# (12k docstrings x 384, k = 1), with k + 12 2% (the GEMM 8% shorter).
_FLOOR_OVERFETCH = 12

# Backends that spread one query call over all cores themselves (torch,
# faiss' OpenMP): more threads on top would only oversubscribe.
_SELF_THREADED = ("brute", "faiss_flat", "faiss_ivf")


class NeighborSearch:
    """Index a bank and answer exclusion-aware k-nearest-neighbour queries.

    Parameters
    ----------
    metric : {"euclidean", "cosine"}, default="euclidean"
        Cosine distance is ``1 - cos``; rows are normalised once at fit.
    algorithm : str, default="auto"
        One of :data:`ALGORITHMS`.
    leaf_size : int, default=40
        Leaf size of the ball/kd tree.
    device : str, default="cpu"
        Torch device of the brute-force backend ("cuda" for a GPU).
    search_params : dict or None, default=None
        Backend options: ``M``, ``ef_construction``, ``ef_search`` for HNSW.
    n_jobs : int or None, default=None
        Threads for tree and HNSW queries (joblib's convention: -1 = all).
    random_state : int, default=0
        Seed of the HNSW graph construction.
    """

    # Defaults for searches saved before pools and scaling existed.
    pool_ = None
    _scale = 1.0

    def __init__(self, *, metric="euclidean", algorithm="auto", leaf_size=40,
                 device="cpu", search_params=None, n_jobs=None, random_state=0):
        self.metric = metric
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.device = device
        self.search_params = search_params
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, bank: np.ndarray, labels: np.ndarray | None = None,
            input_name: str = "X", *, pool=None, extra_ptr=None,
            extra_ids=None) -> NeighborSearch:
        """Index ``bank`` (validated float32/float64, finite, 2-D).

        ``labels`` are non-negative int codes: a query never receives a bank
        id whose label equals its own. ``extra_ptr``/``extra_ids`` list
        further excluded ids per query class (see
        :class:`~sknegsample.neighbors.LabelGroups`). ``pool`` is a
        ``(start, stop)`` range of bank rows: only those are candidates
        (all rows when None); ids stay bank ids.
        """
        if self.metric == "cosine":
            bank = normalize_rows(bank, input_name)
        n_bank, n_features = bank.shape
        start, stop = (0, n_bank) if pool is None else (int(pool[0]), int(pool[1]))
        if not 0 <= start < stop <= n_bank:
            raise ValueError(f"pool must be a non-empty range of the {n_bank} bank rows; "
                             f"got ({start}, {stop}).")
        scale = bank_scale(bank[start:stop])
        check_float32_range(bank, input_name, scale)
        self.bank_ = bank
        self.pool_ = (start, stop)
        self._scale = scale
        self.bank32_ = self._to32(bank)
        self.algorithm_ = resolve_algorithm(self.algorithm, stop - start, n_features,
                                            self.device)
        if self.device != "cpu" and self.algorithm_ != "brute":
            raise ValueError(
                f"device={self.device!r} runs the brute-force backend only; got "
                f"algorithm={self.algorithm_!r}. Use algorithm='brute' or 'auto'."
            )
        self.groups_ = LabelGroups(labels, extra_ptr, extra_ids) if labels is not None \
            else None
        backend = self._make_backend()
        self.backend_ = backend.fit(self.bank32_[start:stop],
                                    self._exact_rows(self.bank_[start:stop], backend))
        self._max_norm = float(_row_norms(self.bank32_[start:stop]).max())
        return self

    def _to32(self, array: np.ndarray) -> np.ndarray:
        """float32 copy, scaled by the bank's power of two (exact)."""
        if self._scale == 1.0:
            return np.ascontiguousarray(array, dtype=np.float32)
        return np.ascontiguousarray(np.multiply(array, self._scale, dtype=np.float64),
                                    dtype=np.float32)

    def _exact_rows(self, array: np.ndarray, backend=None) -> np.ndarray:
        """Rows for an exact backend (the trees): scaled like ``bank32_`` (a float64 copy)."""
        backend = self.backend_ if backend is None else backend
        if self._scale == 1.0 or backend.estimate != "exact":
            return array
        return np.multiply(array, self._scale, dtype=np.float64)

    def _make_backend(self):
        return make_backend(self.algorithm_, leaf_size=self.leaf_size,
                            params=self.search_params, device=self.device,
                            n_jobs=_effective_threads(self.n_jobs),
                            random_state=self.random_state)

    def __getstate__(self):
        # bank32_ is a float32 copy of bank_: recomputed at load, not saved.
        return {key: value for key, value in self.__dict__.items() if key != "bank32_"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "bank_" in state:
            self.bank32_ = self._to32(self.bank_)
            start, stop = self.pool_range()
            self.backend_.restore(self.bank32_[start:stop],
                                  self._exact_rows(self.bank_[start:stop]))
            # A CUDA model loaded on a CPU-only machine: the backend fell back
            # to the CPU (with a warning); later searches built from this one
            # must follow it.
            self.device = getattr(self.backend_, "device", self.device)

    def pool_range(self) -> tuple[int, int]:
        """``(start, stop)`` of the candidate bank rows."""
        return self.pool_ if self.pool_ is not None else (0, self.bank_.shape[0])

    @property
    def n_bank_(self) -> int:
        return self.bank_.shape[0]

    @property
    def is_exact(self) -> bool:  # whether the fitted algorithm is exact
        return self.algorithm_ in EXACT_ALGORITHMS

    @property
    def n_pool_(self) -> int:
        """Number of candidate rows (the pool)."""
        start, stop = self.pool_range()
        return stop - start

    def prepare_queries(self, queries: np.ndarray, input_name: str = "X") -> np.ndarray:
        """Queries in the bank's space (normalised for cosine)."""
        if self.metric == "cosine":
            return normalize_rows(queries, input_name)
        check_float32_range(queries, input_name, self._scale)
        return queries

    def pair_distances(self, queries: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact metric distance from each prepared query row to its ``ids`` (any bank row)."""
        return from_scaled_squared(exact_sq(self.bank_, queries, ids, scale=self._scale),
                                   self.metric, self._scale)

    def kneighbors(self, queries: np.ndarray, k: int, *, query_labels=None,
                   query_classes=None, min_distance=None, max_distance=None,
                   working_memory=None, bank_rows=None, exact_distances=True) -> SearchResult:
        """Find the ``k`` nearest allowed bank ids of each prepared query.

        Parameters
        ----------
        queries : ndarray of shape (n_queries, n_features)
            Output of :meth:`prepare_queries`.
        k : int
            Neighbours per query.
        query_labels : ndarray of int64 of shape (n_queries,) or None
            Label code per query (-1: none); bank ids with the same label are
            excluded.
        query_classes : ndarray of int64 of shape (n_queries,) or None
            Class of each query for the extra exclusions (-1: none).
        min_distance : ndarray of shape (n_queries,) or None
            A candidate is allowed only when strictly farther than this
            (default 0, which drops copies of the query; a negative value
            admits copies too).
        max_distance : ndarray of shape (n_queries,) or None
            A candidate is allowed only when at most this far (inf: no limit).
        working_memory : int or None
            MiB of scratch per chunk (sklearn's ``working_memory`` setting
            when None).
        bank_rows : slice or None
            Where the queries sit in the bank, when they are bank rows with
            their own labels (mining the training anchors). Brute force then
            scores each pair of those rows once
            (:meth:`~sknegsample.neighbors.backends.TorchBruteBackend.bank_row_candidates`);
            the answer is the same. Checked, and ignored when the rows,
            labels or classes differ, or a distance guard is set.
        exact_distances : bool, default=True
            False: the same ids, but a distance is a float32 estimate where
            the exact one cannot change which ``k`` are returned, with
            ``distance_error`` bounding its error per row (order within the
            bound is the estimate's), for callers that re-rank what they use.
        """
        from ._distributed import kneighbors_on_cluster  # joblib's Dask backend: shard tasks
        # Shards are merged on their distances: exact ones.
        if (on_cluster := kneighbors_on_cluster(
                self, {**locals(), "exact_distances": True})) is not None:
            return on_cluster
        # Queries searched in the bank's scaled float32 units must fit them
        # (prepare_queries checks too; a shard of a sharded bank has its own scale).
        check_float32_range(queries, "queries", self._scale)
        n_queries = queries.shape[0]
        k = min(k, self.n_pool_)
        if query_labels is None or self.groups_ is None:
            query_labels = np.full(n_queries, -1, dtype=np.int64)
        if query_classes is None or self.groups_ is None:
            query_classes = np.full(n_queries, -1, dtype=np.int64)
        # Squared distances below are in the search's scaled units.
        lower_sq = np.zeros(n_queries)
        guarded = min_distance is not None and np.any(np.asarray(min_distance) > 0)
        if min_distance is not None:
            min_distance = np.asarray(min_distance, dtype=np.float64)
            # A negative bound admits everything, copies included.
            lower_sq = np.where(min_distance < 0, -1.0, to_scaled_squared(
                np.maximum(min_distance, 0), self.metric, self._scale))
        upper_sq = np.full(n_queries, np.inf)
        if max_distance is not None:
            upper_sq = to_scaled_squared(np.asarray(max_distance, dtype=np.float64),
                                         self.metric, self._scale) * np.ones(n_queries)
            guarded = guarded or bool(np.isfinite(upper_sq).any())
        chunk = self._chunk_rows(n_queries, k, working_memory)
        n_slices = -(-n_queries // chunk)
        n_threads = 1 if self.algorithm_ in _SELF_THREADED else _effective_threads(self.n_jobs)
        # Torch spreads the brute-force GEMM and topk over its own threads;
        # the other backends get one slice per thread. Slices are even and
        # concatenated in order, so results never depend on n_jobs or chunking.
        n_slices = min(max(n_slices, n_threads), max(n_queries, 1))
        slices = list(gen_even_slices(n_queries, n_slices))

        # Brute force runs its slices one after the other: they share one
        # score block, allocated once (see TorchBruteBackend.scratch).
        scratch = self.backend_.scratch(chunk) if n_threads == 1 else None
        first = None
        # A guard masks each row's block by its own distance window, which
        # the shared block (used by two rows at once) cannot do: guarded
        # searches take the plain path.
        shared = None if scratch is None or guarded else \
            shared_rows(self, queries, query_labels, query_classes, bank_rows)
        if shared is not None:
            rows, cols = self._backend_exclusions(query_labels, query_classes)
            start = self.pool_range()[0]
            first = self.backend_.bank_row_candidates(
                shared[0] - start, shared[1] - start, self._first_fetch(k), rows, cols,
                scratch, block_rows=shared_block_rows(chunk, n_queries))

        def run(sl):
            return self._search_chunk(
                queries[sl], query_labels[sl], query_classes[sl], lower_sq[sl], upper_sq[sl],
                k, scratch, None if first is None else (first[0][sl], first[1][sl]),
                exact_distances)

        if n_threads == 1 or len(slices) == 1:
            parts = [run(sl) for sl in slices]
        else:
            parts = Parallel(n_jobs=n_threads, prefer="threads")(
                delayed(run)(sl) for sl in slices
            )
        return SearchResult(*(np.concatenate([p[i] for p in parts]) for i in range(5)))

    def _chunk_rows(self, n_queries: int, k: int, working_memory) -> int:
        return search_chunk_rows(self.algorithm_, self.device, self.n_pool_,
                                 self.bank_.shape[1], n_queries, k + _OVERFETCH,
                                 working_memory)

    def _backend_exclusions(self, query_labels, query_classes):
        """(row, pool-local id) pairs the backend drops before selecting."""
        if self.groups_ is None:
            return None, None
        rows, ids = self.groups_.members(query_labels, query_classes)
        start, stop = self.pool_range()
        inside = (ids >= start) & (ids < stop)
        return rows[inside], ids[inside] - start

    def _first_fetch(self, k: int, floor: bool = False) -> int:
        """Candidates asked of the backend in the first round."""
        excludes_before_selection = self.algorithm_ == "brute"
        overfetch = _BRUTE_OVERFETCH if excludes_before_selection else _OVERFETCH
        if floor and self.backend_.masks_window:
            overfetch = _FLOOR_OVERFETCH
        if self.groups_ is not None and not excludes_before_selection:
            overfetch += self.groups_.max_excluded()
        return min(self.n_pool_, k + overfetch)

    def _search_chunk(self, queries, query_labels, query_classes, lower_sq, upper_sq, k,
                      scratch=None, first=None, exact_distances=True):
        n_rows = queries.shape[0]
        distances = np.full((n_rows, k), np.inf)
        ids_out = np.full((n_rows, k), -1, dtype=np.int64)
        n_copies = np.zeros(n_rows, dtype=np.int64)
        n_below = np.zeros(n_rows, dtype=np.int64)
        error_out = np.zeros(n_rows)
        if k == 0 or n_rows == 0:
            return distances, ids_out, n_copies, n_below, error_out
        queries32 = self._to32(queries)
        brute = self.algorithm_ == "brute"
        fetch = self._first_fetch(k, floor=bool((lower_sq > 0).any()))
        error = self._error_bound(queries32)
        # Every backend's estimates are in the scaled units of bank32_ (the
        # trees are built on the scaled rows too), as are the exact distances,
        # the window and the error bound: nothing under- or overflows.
        queries_exact = self._exact_rows(queries)
        pool_start = self.pool_range()[0]
        todo = np.arange(n_rows)
        while todo.size:
            labels, classes = query_labels[todo], query_classes[todo]
            masked_below = 0
            err = error[todo]
            if first is not None:
                # The first round was computed for every row at once.
                (ids, estimate), first = first, None
            else:
                rows = cols = None
                extra = {} if scratch is None else {"scratch": scratch}
                if brute:
                    rows, cols = self._backend_exclusions(labels, classes)
                window = None
                if self.backend_.masks_window and (
                        (lower_sq[todo] > 0).any() or np.isfinite(upper_sq[todo]).any()):
                    # A backend's windowed estimates may carry more error.
                    window, err = self.backend_.window(
                        lower_sq[todo], upper_sq[todo], err, _row_norms(queries32[todo]),
                        self._max_norm)
                    extra["window"] = window
                ids, estimate = self.backend_.candidates(
                    queries32[todo], queries_exact[todo], fetch, rows, cols, **extra
                )
                if window is not None:
                    masked_below = window.n_below
            ids = np.where(ids >= 0, ids + pool_start, -1)
            fetched = ids >= 0
            candidate = fetched
            if self.groups_ is not None:
                candidate = fetched & ~self.groups_.excluded(labels, classes, ids)
            computed = needs_exact(candidate, estimate, err, lower_sq[todo], k,
                                   upper_sq[todo], band_only=not exact_distances)
            exact = exact_sq(self.bank_, queries[todo], ids, computed, scale=self._scale)
            if not exact_distances:  # the estimate where the rank is certain
                # (at least 0, as the distance it estimates: nearer, and no NaN
                # from the square root of a float32 copy's -1e-7).
                exact = np.where(candidate & ~computed, np.maximum(estimate, 0.0), exact)
                error_out[todo] = from_scaled_squared(err, self.metric, self._scale)
            # A negative min_distance (lower_sq = -1) admits copies, as
            # documented; tests/neighbors/test_search.py compares with brute force.
            is_copy = candidate & (exact == 0) & (lower_sq[todo, None] >= 0)
            is_below = candidate & ~is_copy & (exact <= lower_sq[todo, None])
            allowed = candidate & ~is_copy & ~is_below & ~(exact > upper_sq[todo, None])
            key = np.where(allowed, exact, np.inf)
            order = np.lexsort((np.where(allowed, ids, np.iinfo(np.int64).max), key), axis=1)
            sorted_key = np.take_along_axis(key, order, axis=1)[:, :k]
            sorted_ids = np.take_along_axis(ids, order, axis=1)[:, :k]
            n_allowed = allowed.sum(axis=1)
            kth = sorted_key[:, -1] if sorted_key.shape[1] == k else np.full(len(todo), np.inf)
            exhausted = (fetch >= self.n_pool_) | (~fetched).any(axis=1)
            boundary = np.where(fetched, estimate, -np.inf).max(axis=1)
            if self.backend_.estimate == "approximate":
                complete = exhausted | (n_allowed >= k) | (boundary > upper_sq[todo])
            else:
                # Strict: an unfetched id tied with the k-th may have a lower
                # id (ties break by id; tests/neighbors/test_search.py). Past
                # the ceiling no unfetched id is allowed at all.
                margin = boundary - err
                complete = exhausted | ((n_allowed >= k) & (margin > kth)) | \
                    (margin > upper_sq[todo])
            done = todo[complete]
            sorted_ids = np.where(np.isfinite(sorted_key), sorted_ids, -1)
            distances[done, : sorted_key.shape[1]] = from_scaled_squared(
                sorted_key[complete], self.metric, self._scale)
            ids_out[done, : sorted_key.shape[1]] = sorted_ids[complete]
            ahead = exact < kth[:, None]
            n_copies[done] = (is_copy & ahead).sum(axis=1)[complete]
            # Candidates the backend dropped as certainly below the floor
            # are below the k-th too (it lies above the floor).
            n_below[done] = ((is_below & ahead).sum(axis=1) + masked_below)[complete]
            todo = todo[~complete]
            fetch = min(self.n_pool_, 2 * fetch)
        return distances, ids_out, n_copies, n_below, error_out

    def _error_bound(self, queries32: np.ndarray) -> np.ndarray:
        """Worst-case bound on a backend's squared-distance error, per row, scaled.

        ``queries32`` as the backend sees them (scaled like ``bank32_``); the
        bound is in the same units.
        """
        precision = matmul_epsilon(torch.get_float32_matmul_precision()) \
            if self.algorithm_ == "brute" else matmul_epsilon("highest")
        factor = estimate_error_factor(queries32.shape[1], self.backend_.estimate, precision)
        return error_bound(queries32, self._max_norm, factor)
