"""hnswlib's HNSW graph: approximate candidates, re-ranked exactly by the search."""

from __future__ import annotations

import numpy as np

from ...utils._optional import _import_optional
from ._base import SearchBackend
from ._params import hnsw_params


class HnswlibBackend(SearchBackend):
    """hnswlib's HNSW graph: approximate."""

    estimate = "approximate"

    def __init__(self, params: dict | None = None, n_jobs: int = 1, random_state: int = 0):
        self.params = dict(params or {})
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> HnswlibBackend:
        hnswlib = _import_optional("hnswlib", "hnswlib")
        params = hnsw_params(self.params, "hnswlib")
        m_links, ef_construction = params["M"], params["ef_construction"]
        self.ef_search_ = params["ef_search"]
        index = hnswlib.Index(space="l2", dim=bank32.shape[1])
        index.init_index(
            max_elements=len(bank32), ef_construction=ef_construction, M=m_links,
            random_seed=self.random_state,
        )
        index.add_items(bank32, np.arange(len(bank32)), num_threads=self.n_jobs)
        index.set_ef(self.ef_search_)
        self.index_ = index
        return self

    def __getstate__(self):
        state = {key: value for key, value in self.__dict__.items() if key != "index_"}
        # hnswlib's own pickle state: a dict of numbers, strings and arrays.
        state["index_state_"] = self.index_.__getstate__()[0]
        return state

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if hasattr(self, "index_"):
            return
        hnswlib = _import_optional("hnswlib", "hnswlib")
        index = hnswlib.Index.__new__(hnswlib.Index)
        index.__setstate__((self.__dict__.pop("index_state_"),))
        index.set_ef(self.ef_search_)
        self.index_ = index

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        # hnswlib searches with max(ef, k) (hnswalg.h, searchKnn), so ef is
        # set once, at fit and load, and never here: concurrent queries share
        # the index read-only, without a lock that would serialise the joblib
        # slices.
        ids, dist = self.index_.knn_query(queries32, k=k, num_threads=self.n_jobs)
        return ids.astype(np.int64), dist.astype(np.float64)

