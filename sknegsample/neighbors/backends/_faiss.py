"""faiss indexes: the flat (exact float32) index and HNSW (approximate)."""

from __future__ import annotations

import numpy as np

from ...utils._optional import _import_optional
from ._base import SearchBackend
from ._params import hnsw_params


class FaissBackend(SearchBackend):
    """faiss ``IndexFlatL2`` (exact) or ``IndexHNSWFlat`` (approximate)."""

    def __init__(self, kind: str = "faiss_flat", params: dict | None = None):
        self.kind = kind
        self.params = dict(params or {})
        self.estimate = "float32" if kind == "faiss_flat" else "approximate"

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> FaissBackend:
        faiss = _import_optional("faiss", "faiss-cpu")
        d = bank32.shape[1]
        if self.kind == "faiss_flat":
            if self.params:
                raise ValueError(
                    f"search_params has unknown keys for algorithm='faiss_flat': "
                    f"{sorted(self.params, key=str)}; it takes none."
                )
            index = faiss.IndexFlatL2(d)
        else:
            params = hnsw_params(self.params, "faiss_hnsw")
            index = faiss.IndexHNSWFlat(d, params["M"])
            index.hnsw.efConstruction = params["ef_construction"]
            self.ef_search_ = params["ef_search"]
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

