"""Candidate generators behind :class:`~sknegsample._search.NeighborSearch`.

Each backend indexes a float32 bank once and, for a chunk of queries, returns
``k`` candidate ids with a squared-euclidean estimate of their distance. The
search layer then re-ranks the candidates exactly in float64, filters them and
asks again with a larger ``k`` when a row ran short, so a backend only has to
be fast, not exact or exclusion-aware. The brute backend is the exception: it
applies exclusions before selection, which spares the re-query.

Persistence: a backend's ``__getstate__`` keeps only plain Python values and
numpy arrays (no torch tensor, tree or native index object), so that pickle,
joblib and skops files need to trust no type outside sknegsample, and a model
saved on a GPU loads on a CPU. Indexes that are cheap and deterministic to
rebuild from the bank (brute force, trees, faiss' flat index) are rebuilt by
``restore``; HNSW graphs, whose construction is multi-threaded and therefore
not reproducible, are kept as their serialised bytes.
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import torch

from ._select import merge_smallest, smallest_per_column, smallest_per_row

# Output widths that keep MKL's GEMM fast (see TorchBruteBackend._score_columns).
_ALIGN = 8
# Blocks inside a scratch buffer start on 64-byte boundaries (16 floats); the
# scratch has room for the rounding of a few blocks.
_ALIGN_FLOATS = 16
_SLACK = 4 * _ALIGN_FLOATS


class TorchBruteBackend:
    """Exact brute force: GEMM score blocks, then a two-stage top-k selection.

    Each block holds ``|b|^2 - 2 q.b`` for a chunk of queries against the
    bank (``|q|^2`` is the same along a row: it is added to the few values
    kept, for the estimate); excluded pairs are set to ``inf`` before the
    ``k`` smallest are chosen (:mod:`sknegsample._select`).

    On the CPU the GEMM is numpy's (OpenBLAS): measured here, 2 cores,
    float32, it ran at 160-200 GFLOP/s on 256 to 2048 query rows against
    40k/10k/3.6k bank rows of 128-768 dims, where ``torch.addmm`` (MKL)
    reached 72-137 (it also copies when writing into a strided block).
    torch does the selection, the scoring on a GPU, and the rest.
    """

    # Squared-distance estimates carry float32 rounding (see _search).
    estimate = "float32"

    def __init__(self, device: str = "cpu"):
        self.device = device

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> TorchBruteBackend:
        self._bank = _tensor(bank32, self.device)
        self._sq_norms = (self._bank * self._bank).sum(dim=1)
        return self

    def __getstate__(self):
        # The tensors are rebuilt from the bank by restore().
        return {"device": self.device}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.device = _loadable_device(self.device)

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        # Idempotent: a shallow copy of the search shares an intact backend.
        if not hasattr(self, "_bank"):
            self.fit(bank32, bank_exact)

    def scratch(self, n_rows: int):
        """Flat float32 buffer for the score blocks of one search call (rows x bank).

        A fresh 0.5 GB block per chunk costs its page faults every time;
        reusing one made the 20k x 40k x 384 search 7-10% faster here
        (benchmarks/compare_search.py). On the CPU it is numpy-owned, so
        ``tracemalloc`` accounts for it (tests/test_search.py checks the
        peak against ``working_memory``).
        """
        n_bank = self._bank.shape[0]
        if self.device == "cpu":
            return torch.from_numpy(_aligned_empty(n_rows * n_bank + _SLACK))
        return torch.empty(n_rows * n_bank + _SLACK, dtype=torch.float32, device=self.device)

    def _score(self, out: torch.Tensor, queries: torch.Tensor, first: int, last: int) -> None:
        """``out = |b|^2 - 2 q.b`` for bank rows ``first:last``; ``out`` contiguous.

        torch's GEMM only writes in place into a contiguous block: into a
        strided view it computes elsewhere and copies (2048 x 40k x 384: 135
        against 188 GFLOP/s). numpy's OpenBLAS GEMM is faster on small blocks
        here (160-180 against 130-140 GFLOP/s below 2048 x 4k) but its
        threads spin after each call and take the 2 cores from torch's
        selection: mixing the two ran 1.1-5x slower than torch alone.
        """
        torch.addmm(self._sq_norms[first:last], queries, self._bank[first:last].T,
                    alpha=-2.0, out=out)

    def _block(self, scratch, n_rows: int, width: int, offset: int = 0) -> torch.Tensor:
        """A contiguous ``(n_rows, width)`` score block at ``offset`` in ``scratch``.

        A new block when ``scratch`` is None or too small.
        """
        size = n_rows * width
        if scratch is not None and scratch.numel() >= offset + size:
            return scratch.view(-1)[offset:offset + size].view(n_rows, width)
        if self.device == "cpu":
            return torch.from_numpy(_aligned_empty(size)).view(n_rows, width)
        return torch.empty((n_rows, width), device=self.device)

    def _score_columns(self, queries, first, last, scratch, offset=0):
        """Score ``queries`` against bank rows ``first:last``: ``[(first id, block)]``.

        The blocks are a width that is a multiple of 8 and a tail of fewer
        than 8 columns: MKL's GEMM slows down when the rows of its output are
        not 32-byte aligned (512 x W x 384: 172 GFLOP/s at W=3646, 184-190
        at 3640, 3648 or 3656; 128 against 177 at 9999 and 10000).
        Returns the blocks and the scratch offset after them.
        """
        width = last - first
        aligned = width - width % _ALIGN
        blocks = []
        for lo, hi in ((first, first + aligned), (first + aligned, last)):
            if hi > lo:
                block = self._block(scratch, len(queries), hi - lo, offset)
                # The next block starts 64-byte aligned too (see _aligned_empty).
                offset += -(-block.numel() // _ALIGN_FLOATS) * _ALIGN_FLOATS
                self._score(block, queries, lo, hi)
                blocks.append((lo, block))
        return blocks, offset

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None,
                   scratch=None):
        q = _tensor(queries32, self.device)
        blocks, _ = self._score_columns(q, 0, self._bank.shape[0], scratch)
        values, ids = _smallest_in_blocks(blocks, k, exclude_rows, exclude_cols)
        q_sq = (q * q).sum(dim=1, keepdim=True)
        return _candidates_to_numpy(ids, values + q_sq)

    def bank_row_candidates(self, start, stop, k, exclude_rows=None, exclude_cols=None,
                            scratch=None, block_rows=None):
        """Candidates of bank rows ``start:stop`` as queries, as :meth:`candidates`.

        Mining every training anchor queries the bank with its own rows, and
        the distances among those rows form a symmetric block: each pair is
        computed once, for the earlier row's query, and the later row takes
        its candidates from that block's columns. The GEMM then does a
        quarter less work for paired data (anchors are half the bank) and
        half less when every bank row is an anchor. Exclusions must be
        symmetric (a query never receives a row of its own label group, and
        the row never receives it), which label groups are.

        ``exclude_rows`` (query positions, non-decreasing, as
        :meth:`~sknegsample._search.LabelGroups.members` returns them) and
        ``exclude_cols`` (bank ids) list the excluded pairs. ``block_rows``
        queries are scored at a time, in ``scratch`` when it is large enough.
        """
        n_bank, n_queries = self._bank.shape[0], stop - start
        block_rows = block_rows or n_queries
        best = torch.full((n_queries, k), math.inf, device=self.device)
        best_ids = torch.full((n_queries, k), -1, dtype=torch.int64, device=self.device)
        for first in range(start, stop, block_rows):
            last = min(first + block_rows, stop)
            rows = self._bank[first:last]
            # Columns from this block's first anchor on, and those before the
            # anchors: the pairs with earlier anchors were scored when those
            # anchors were the queries.
            blocks, used = self._score_columns(rows, first, n_bank, scratch)
            blocks += self._score_columns(rows, 0, start, scratch, used)[0]
            in_block = None
            if exclude_rows is not None:
                lo, hi = np.searchsorted(exclude_rows, [first - start, last - start])
                in_block = (exclude_rows[lo:hi] - (first - start), exclude_cols[lo:hi])
            values, ids = _smallest_in_blocks(blocks, k, *(in_block or (None, None)))
            row_norms = self._sq_norms[first:last, None]
            mine = slice(first - start, last - start)
            best[mine], best_ids[mine] = merge_smallest(best[mine], best_ids[mine],
                                                        values + row_norms, ids)
            for lo, block in blocks:
                # The later anchors' columns: add this block's row norms so
                # that they hold full squared distances, comparable down a
                # column, and give each later anchor its nearest rows here.
                col_lo, col_hi = max(lo, last), min(lo + block.shape[1], stop)
                if col_hi <= col_lo:
                    continue
                later = block[:, col_lo - lo:col_hi - lo]
                later += row_norms
                values, nearest = smallest_per_column(later, k)
                ids = torch.where(nearest >= 0, nearest + first, -1)
                theirs = slice(col_lo - start, col_hi - start)
                best[theirs], best_ids[theirs] = merge_smallest(
                    best[theirs], best_ids[theirs], values, ids)
        return _candidates_to_numpy(best_ids, best)


def _smallest_in_blocks(blocks, k, exclude_rows=None, exclude_cols=None):
    """The ``k`` smallest scores of each row across ``[(first id, block)]``, with ids.

    Excluded ``(row, bank id)`` pairs are set to ``inf`` first.
    """
    values = ids = None
    for lo, block in blocks:
        if exclude_rows is not None and len(exclude_rows):
            inside = (exclude_cols >= lo) & (exclude_cols < lo + block.shape[1])
            _exclude(block, exclude_rows[inside], exclude_cols[inside] - lo)
        block_values, cols = smallest_per_row(block, k)
        block_ids = torch.where(cols >= 0, cols + lo, -1)
        if values is None:
            values, ids = block_values, block_ids
        else:
            values, ids = merge_smallest(values, ids, block_values, block_ids)
    return values, ids


class TreeBackend:
    """scikit-learn's ``BallTree`` or ``KDTree``: exact, distances in float64."""

    estimate = "exact"

    def __init__(self, kind: str = "ball_tree", leaf_size: int = 40):
        self.kind = kind
        self.leaf_size = leaf_size

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> TreeBackend:
        from sklearn.neighbors import BallTree, KDTree

        tree_class = BallTree if self.kind == "ball_tree" else KDTree
        self.tree_ = tree_class(bank_exact, leaf_size=self.leaf_size)
        return self

    def __getstate__(self):
        # Building a tree is deterministic: restore() rebuilds the same tree,
        # and saved files never hold (or need to trust) sklearn's tree types.
        return {"kind": self.kind, "leaf_size": self.leaf_size}

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if not hasattr(self, "tree_"):
            self.fit(bank32, bank_exact)

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        dist, ids = self.tree_.query(queries_exact, k=k)
        return ids.astype(np.int64), dist * dist


class FaissBackend:
    """faiss ``IndexFlatL2`` (exact) or ``IndexHNSWFlat`` (approximate)."""

    def __init__(self, kind: str = "faiss_flat", params: dict | None = None):
        self.kind = kind
        self.params = dict(params or {})
        self.estimate = "float32" if kind == "faiss_flat" else "approximate"

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> FaissBackend:
        faiss = _import_optional("faiss", "faiss-cpu")
        d = bank32.shape[1]
        params = dict(self.params)
        if self.kind == "faiss_flat":
            index = faiss.IndexFlatL2(d)
        else:
            index = faiss.IndexHNSWFlat(d, int(params.pop("M", 32)))
            index.hnsw.efConstruction = int(params.pop("ef_construction", 200))
            self.ef_search_ = int(params.pop("ef_search", 128))
        if params:
            raise ValueError(
                f"search_params has unknown keys for algorithm={self.kind!r}: "
                f"{sorted(params)}; expected {_KNOWN_PARAMS[self.kind]}."
            )
        index.add(bank32)
        self.index_ = index
        return self

    def __getstate__(self):
        state = {key: value for key, value in self.__dict__.items() if key != "index_"}
        if self.kind == "faiss_hnsw":
            # The HNSW graph is built by several threads: keep it, as bytes.
            faiss = _import_optional("faiss", "faiss-cpu")
            state["index_bytes_"] = faiss.serialize_index(self.index_)
        return state

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if hasattr(self, "index_"):
            return
        if self.kind == "faiss_flat":
            self.fit(bank32, bank_exact)
            return
        faiss = _import_optional("faiss", "faiss-cpu")
        self.index_ = faiss.deserialize_index(self.__dict__.pop("index_bytes_"))

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        queries32 = np.ascontiguousarray(queries32)
        if self.kind == "faiss_hnsw":
            faiss = _import_optional("faiss", "faiss-cpu")
            # Per-call parameters rather than setting index_.hnsw.efSearch:
            # concurrent transform calls must not change each other's search.
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search_, k))
            dist, ids = self.index_.search(queries32, k, params=params)
        else:
            dist, ids = self.index_.search(queries32, k)
        return ids.astype(np.int64), dist.astype(np.float64)


class HnswlibBackend:
    """hnswlib's HNSW graph: approximate."""

    estimate = "approximate"

    def __init__(self, params: dict | None = None, n_jobs: int = 1, random_state: int = 0):
        self.params = dict(params or {})
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> HnswlibBackend:
        hnswlib = _import_optional("hnswlib", "hnswlib")
        params = dict(self.params)
        m_links = int(params.pop("M", 32))
        ef_construction = int(params.pop("ef_construction", 200))
        self.ef_search_ = int(params.pop("ef_search", 128))
        if params:
            raise ValueError(
                f"search_params has unknown keys for algorithm='hnswlib': "
                f"{sorted(params)}; expected {_KNOWN_PARAMS['hnswlib']}."
            )
        index = hnswlib.Index(space="l2", dim=bank32.shape[1])
        index.init_index(
            max_elements=len(bank32), ef_construction=ef_construction, M=m_links,
            random_seed=self.random_state,
        )
        index.add_items(bank32, np.arange(len(bank32)), num_threads=self.n_jobs)
        index.set_ef(self.ef_search_)
        self.index_ = index
        self._lock = threading.Lock()
        return self

    def __getstate__(self):
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("index_", "_lock")}
        # hnswlib's own pickle state: a dict of numbers, strings and arrays.
        state["index_state_"] = self.index_.__getstate__()[0]
        return state

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if hasattr(self, "index_"):
            return
        hnswlib = _import_optional("hnswlib", "hnswlib")
        index = hnswlib.Index.__new__(hnswlib.Index)
        index.__setstate__((self.__dict__.pop("index_state_"),))
        self.index_ = index
        self._lock = threading.Lock()

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        # ef is index-wide state in hnswlib: hold it for the whole query so
        # that concurrent transform calls do not change each other's search.
        # Put it back afterwards: a query leaves the fitted state as it was.
        with self._lock:
            self.index_.set_ef(max(self.ef_search_, k))
            try:
                ids, dist = self.index_.knn_query(queries32, k=k, num_threads=self.n_jobs)
            finally:
                self.index_.set_ef(self.ef_search_)
        return ids.astype(np.int64), dist.astype(np.float64)


_KNOWN_PARAMS = {
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
}


def _aligned_empty(size: int) -> np.ndarray:
    """An uninitialised float32 array of ``size`` whose data is 64-byte aligned.

    numpy aligns large arrays to 16 bytes only, and MKL's GEMM writes 30%
    slower into such a block: 1250 x 8744 x 384 ran at 130 GFLOP/s into
    ``np.empty`` (address 16 mod 64) against 178-181 into a 64-byte aligned
    block. numpy-owned all the same, so tracemalloc still sees it.
    """
    raw = np.empty(4 * size + 64, dtype=np.uint8)
    shift = -raw.ctypes.data % 64
    return raw[shift:shift + 4 * size].view(np.float32)


def _exclude(scores: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> None:
    """Set the excluded ``(row, col)`` pairs of a score block to ``inf``."""
    if len(rows):
        device = scores.device
        scores[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = math.inf


def _candidates_to_numpy(ids: torch.Tensor, estimate: torch.Tensor):
    """Host arrays of candidate ids (int64) and squared-distance estimates (float64)."""
    estimate = estimate.cpu().numpy().astype(np.float64)
    ids = ids.cpu().numpy().astype(np.int64)
    # Excluded columns only surface when a row has fewer than k allowed.
    ids[~np.isfinite(estimate)] = -1
    return ids, estimate


def _tensor(array: np.ndarray, device: str) -> torch.Tensor:
    """A tensor view of ``array`` on ``device``; copied when read-only.

    torch cannot hold a read-only buffer (a memory-mapped ``.npy`` opened with
    ``mmap_mode="r"``, say), and warns when asked to.
    """
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(device)


def _loadable_device(device: str) -> str:
    """``device``, or "cpu" when it names CUDA and this machine has none."""
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        warnings.warn(
            f"This model was saved with device={device!r} but CUDA is not available "
            "here; its brute-force index is loaded on 'cpu' instead.",
            UserWarning,
            stacklevel=2,
        )
        return "cpu"
    return device


def _import_optional(module: str, package: str):
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"algorithm needs the optional package {package!r}: "
            f"pip install 'sknegsample[ann]' (or pip install {package})."
        ) from exc
