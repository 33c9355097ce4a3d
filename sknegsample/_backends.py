"""Candidate generators behind :class:`~sknegsample._search.NeighborSearch`.

Each backend indexes a float32 bank once and, for a chunk of queries, returns
``k`` candidate ids with a squared-euclidean estimate of their distance. The
search layer then re-ranks the candidates exactly in float64, filters them and
asks again with a larger ``k`` when a row ran short, so a backend only has to
be fast, not exact or exclusion-aware. The brute backend is the exception: it
applies exclusions before selection, which spares the re-query.
"""

from __future__ import annotations

import math

import numpy as np
import torch


class TorchBruteBackend:
    """Exact brute force: one GEMM per chunk, then ``torch.topk``.

    Measured here (2 cores, 20k queries x 40k bank x 384 dims, k=8): numpy's
    GEMM + ``argpartition`` 13.8-15.2 s, ``torch.addmm`` + ``torch.topk`` 5.0 s,
    faiss ``IndexFlatL2`` 4.3 s; ``topk`` on a 2048 x 40k block took 0.15 s
    against 2.4 s for ``np.argpartition`` (single-threaded). The same code runs
    on CUDA when ``device="cuda"``.
    """

    # Squared-distance estimates carry float32 rounding (see _search).
    estimate = "float32"

    def __init__(self, device: str = "cpu"):
        self.device = device

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> TorchBruteBackend:
        self._bank = torch.from_numpy(bank32).to(self.device)
        self._sq_norms = (self._bank * self._bank).sum(dim=1)
        return self

    def scratch(self, n_rows: int):
        """Score block reused by every chunk of one search call.

        A fresh 0.5 GB block per chunk costs its page faults every time;
        reusing one made the 20k x 40k x 384 search 7-10% faster here
        (benchmarks/compare_search.py). On the CPU it is numpy-owned, so
        ``tracemalloc`` accounts for it (tests/test_search.py checks the
        peak against ``working_memory``).
        """
        n_bank = self._bank.shape[0]
        if self.device == "cpu":
            return torch.from_numpy(np.empty((n_rows, n_bank), dtype=np.float32))
        return torch.empty((n_rows, n_bank), dtype=torch.float32, device=self.device)

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None,
                   scratch=None):
        q = torch.from_numpy(queries32).to(self.device)
        out = scratch[: len(q)] if scratch is not None and len(scratch) >= len(q) else None
        # |q|^2 is the same for every candidate of a row: leave it out of the
        # ranking and add it back for the estimate.
        scores = torch.addmm(self._sq_norms, q, self._bank.T, alpha=-2.0, out=out)
        if exclude_rows is not None and len(exclude_rows):
            scores[torch.from_numpy(exclude_rows).to(self.device),
                   torch.from_numpy(exclude_cols).to(self.device)] = math.inf
        values, ids = torch.topk(scores, k, dim=1, largest=False, sorted=False)
        q_sq = (q * q).sum(dim=1, keepdim=True)
        estimate = (values + q_sq).cpu().numpy().astype(np.float64)
        ids = ids.cpu().numpy().astype(np.int64)
        # Excluded columns only surface when a row has fewer than k allowed.
        ids[~np.isfinite(estimate)] = -1
        return ids, estimate


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

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        if self.kind == "faiss_hnsw":
            self.index_.hnsw.efSearch = max(self.ef_search_, k)
        dist, ids = self.index_.search(np.ascontiguousarray(queries32), k)
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
        self.index_ = index
        return self

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        self.index_.set_ef(max(self.ef_search_, k))
        ids, dist = self.index_.knn_query(queries32, k=k, num_threads=self.n_jobs)
        return ids.astype(np.int64), dist.astype(np.float64)


_KNOWN_PARAMS = {
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
}


def _tensor(array: np.ndarray, device: str) -> torch.Tensor:
    """A tensor view of ``array`` on ``device``; copied when read-only.

    torch cannot hold a read-only buffer (a memory-mapped ``.npy`` opened with
    ``mmap_mode="r"``, say), and warns when asked to.
    """
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(device)


def _import_optional(module: str, package: str):
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"algorithm needs the optional package {package!r}: "
            f"pip install 'sknegsample[ann]' (or pip install {package})."
        ) from exc
