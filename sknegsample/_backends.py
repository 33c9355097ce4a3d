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
        q = _tensor(queries32, self.device)
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
