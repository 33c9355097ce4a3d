"""hnswlib's HNSW graph: approximate candidates, re-ranked exactly by the search."""

from __future__ import annotations

import threading

import numpy as np

from ...utils._optional import _import_optional
from ._base import SearchBackend
from ._params import _KNOWN_PARAMS


class HnswlibBackend(SearchBackend):
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

