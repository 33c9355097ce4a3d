"""faiss indexes: the flat (exact float32) index, HNSW and IVF (approximate)."""

from __future__ import annotations

import numpy as np

from ...utils._optional import _import_optional
from .._chunking import chunk_rows
from ._base import SearchBackend
from ._params import IVF_TARGET_RECALL, hnsw_params, ivf_params
from ._torch_brute import TorchBruteBackend

# Training rows per IVF cell: within the 30-256 faiss recommends, and enough
# that the k-means centroids follow the data; training cost grows with it
# (niter x rows x nlist x d), so it is kept at the low end.
_IVF_TRAIN_PER_CELL = 64

# Bank rows whose nearest other rows calibrate the default nprobe, and how
# many nearest other rows each must find (see _calibrate_nprobe).
_IVF_CALIBRATION_ROWS = 512
_IVF_CALIBRATION_K = 8

# nprobe values tried by the calibration, in order (then doubling).
_IVF_NPROBE_LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


class FaissBackend(SearchBackend):
    """faiss ``IndexFlatL2`` (exact), ``IndexHNSWFlat`` or ``IndexIVFFlat`` (approximate).

    IVF: k-means on a seeded sample of ``64 * nlist`` bank rows places
    ``nlist`` centroids; each bank row is stored, in float32, in the inverted
    list of its nearest centroid, and a query scans the ``nprobe`` lists
    whose centroids are nearest (:func:`~._params.ivf_params` gives the
    defaults). The search then re-ranks the fetched candidates in float64.
    Unless given, ``nprobe`` is calibrated at fit (:meth:`_calibrate_nprobe`);
    ``nprobe_`` and ``calibration_recall_`` say what was chosen and measured.
    """

    def __init__(self, kind: str = "faiss_flat", params: dict | None = None,
                 random_state: int = 0):
        self.kind = kind
        self.params = dict(params or {})
        self.random_state = random_state
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
        elif self.kind == "faiss_ivf":
            index = self._train_ivf(faiss, bank32)
        else:
            params = hnsw_params(self.params, "faiss_hnsw")
            index = faiss.IndexHNSWFlat(d, params["M"])
            index.hnsw.efConstruction = params["ef_construction"]
            self.ef_search_ = params["ef_search"]
        index.add(bank32)
        self.index_ = index
        if self.kind == "faiss_ivf" and self.nprobe_ is None:
            self.nprobe_, self.calibration_recall_ = self._calibrate_nprobe(faiss, bank32)
        return self

    def _train_ivf(self, faiss, bank32: np.ndarray):
        params = ivf_params(self.params, len(bank32))
        self.nlist_, self.nprobe_ = params["nlist"], params["nprobe"]
        n_train = min(len(bank32), _IVF_TRAIN_PER_CELL * self.nlist_)
        # Our own seeded sample (faiss would draw one with its fixed seed):
        # the centroids then depend on random_state only.
        rng = np.random.RandomState(self.random_state)
        sample = np.sort(rng.choice(len(bank32), size=n_train, replace=False))
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(bank32.shape[1]), bank32.shape[1],
                                   self.nlist_)
        index.cp.seed = int(self.random_state)
        # faiss prints a warning to stderr under 39 points per centroid; the
        # default nlist never goes there, a user's may.
        index.cp.min_points_per_centroid = 1
        index.train(np.ascontiguousarray(bank32[sample]))
        return index

    def _calibrate_nprobe(self, faiss, bank32: np.ndarray) -> tuple[int, float]:
        """The smallest ``nprobe`` of the ladder reaching the target recall, and its recall.

        Queries a seeded sample of 512 bank rows against the bank, each
        excluding itself, and measures recall@8: the share of each row's 8
        exact nearest other rows (torch brute force, float32) that the index
        finds, a found row counting when its distance is within float32
        rounding of the 8th exact one, so ties and copies count. Recall@8
        rather than @1: the nearest other row is often a near copy (a pair's
        other side), found at any ``nprobe``, while mining excludes it and
        needs the next ones (at 1000 latent pairs recall@1 of the nearest
        other row was 0.98 at ``nprobe=1``, the mined negatives' 0.74).
        """
        n_bank = len(bank32)
        k = min(_IVF_CALIBRATION_K, n_bank - 1)
        if self.nlist_ == 1 or k < 1:
            return 1, 1.0
        rng = np.random.RandomState(self.random_state)
        rows = np.sort(rng.choice(n_bank, size=min(n_bank, _IVF_CALIBRATION_ROWS),
                                  replace=False))
        queries = np.ascontiguousarray(bank32[rows])
        exact = _kth_other(*_exact_knn(queries, bank32, k + 1), rows, k)
        tolerance = 1e-5 * (exact + float(np.median(exact)))
        ladder = [p for p in _IVF_NPROBE_LADDER if p < self.nlist_] + [self.nlist_]
        recall = 1.0
        for nprobe in ladder:
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            dist, ids = self.index_.search(queries, k + 1, params=params)
            found = (ids >= 0) & (ids != rows[:, None]) & \
                (dist <= (exact + tolerance)[:, None])
            recall = float(np.mean(np.minimum(found.sum(axis=1), k) / k))
            if recall >= IVF_TARGET_RECALL:
                return nprobe, recall
        return self.nlist_, recall

    def __getstate__(self):
        state = {key: value for key, value in self.__dict__.items() if key != "index_"}
        if self.kind != "faiss_flat":
            # HNSW graphs are built by several threads, IVF centroids by a
            # multi-threaded k-means: keep them, as bytes.
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
        faiss = _import_optional("faiss", "faiss-cpu")
        if self.kind == "faiss_hnsw":
            # Per-call parameters rather than setting index_.hnsw.efSearch:
            # concurrent transform calls must not change each other's search.
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search_, k))
            dist, ids = self.index_.search(queries32, k, params=params)
        elif self.kind == "faiss_ivf":
            dist, ids = self._search_ivf(faiss, queries32, k)
        else:
            dist, ids = self.index_.search(queries32, k)
        return ids.astype(np.int64), dist.astype(np.float64)

    def _search_ivf(self, faiss, queries32, k):
        """IVF search; rows whose probed lists held fewer than ``k`` rows probe more.

        A ``-1`` from faiss means the ``nprobe`` lists ran out, not the bank,
        but the search reads a ``-1`` as "no allowed id left": such rows are
        searched again with twice the lists, up to all of them.
        """
        nprobe = self.nprobe_
        dist, ids = self.index_.search(queries32, k,
                                       params=faiss.SearchParametersIVF(nprobe=nprobe))
        short = np.flatnonzero((ids < 0).any(axis=1))
        while short.size and nprobe < self.nlist_:
            nprobe = min(self.nlist_, 2 * nprobe)
            params = faiss.SearchParametersIVF(nprobe=nprobe)
            dist[short], ids[short] = self.index_.search(queries32[short], k, params=params)
            short = short[(ids[short] < 0).any(axis=1)]
        return dist, ids


def _exact_knn(queries32: np.ndarray, bank32: np.ndarray, k: int):
    """``(ids, squared distances)`` of the ``k`` nearest bank rows, float32 brute force.

    torch's GEMM, in query blocks whose score block fits ``working_memory``:
    ``faiss.knn`` ran at 2 GFLOP/s here on 512 queries (its BLAS blocks are
    sized for thousands), torch at 12-180 depending on the load.
    """
    brute = TorchBruteBackend().fit(bank32, bank32)
    step = chunk_rows(4 * len(bank32), len(queries32))
    parts = [brute.candidates(queries32[i:i + step], None, k)
             for i in range(0, len(queries32), step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _kth_other(ids: np.ndarray, dist: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Per row, the ``k``-th smallest distance to ids other than the row's own."""
    other = np.where((ids >= 0) & (ids != rows[:, None]), dist, np.inf)
    return np.sort(other, axis=1)[:, k - 1]
