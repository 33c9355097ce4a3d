"""faiss' IVF index, scanned list by list with a GEMM: approximate candidates.

faiss builds the index (k-means centroids on a seeded sample, then each
bank row stored in float32 in the inverted list of its nearest centroid);
a query is compared with the rows of the ``nprobe`` lists whose centroids
are nearest. faiss scans those lists query by query, one vector at a time:
at 1M pairs x 128 (2M rows, 1414 lists, 2 probed) that ran at 27M
distances/s on the 2 cores here, memory-bound, 22 s per 200k queries.
:meth:`IvfBackend.candidates` turns the scan around: the queries probing a
list are gathered and scored against it with one GEMM (the brute-force
kernel: ``addmm`` and the two-stage top-k), which reads each list once per
call instead of once per query: 1.6 s for the same 200k queries. The lists,
the probes and the candidate sets are faiss'; only the arithmetic moves.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn import get_config

from ...utils._optional import _import_optional
from .._chunking import chunk_rows
from .._select import smallest_per_row
from ._base import SearchBackend
from ._params import IVF_TARGET_RECALL, ivf_params
from ._torch_brute import TorchBruteBackend

# Training rows per IVF cell: within the 30-256 faiss recommends, and enough
# that the k-means centroids follow the data; training cost grows with it
# (niter x rows x nlist x d), so it is kept at the low end.
_TRAIN_PER_CELL = 64

# Bank rows whose nearest other rows calibrate the default nprobe, and how
# many nearest other rows each must find (see _calibrate_nprobe).
_CALIBRATION_ROWS = 512
_CALIBRATION_K = 8

# nprobe values tried by the calibration, in order.
_NPROBE_LADDER = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)


class IvfBackend(SearchBackend):
    """faiss ``IndexIVFFlat``: approximate candidates from the probed lists.

    ``nlist`` and ``nprobe`` follow :func:`~._params.ivf_params`; unless
    given, ``nprobe`` is calibrated at fit (:meth:`_calibrate_nprobe`), and
    ``nprobe_`` and ``calibration_recall_`` say what was chosen and measured.
    """

    estimate = "approximate"

    def __init__(self, params: dict | None = None, random_state: int = 0):
        self.params = dict(params or {})
        self.random_state = random_state

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> IvfBackend:
        faiss = _import_optional("faiss", "faiss-cpu")
        params = ivf_params(self.params, len(bank32))
        self.nlist_, self.nprobe_ = params["nlist"], params["nprobe"]
        n_train = min(len(bank32), _TRAIN_PER_CELL * self.nlist_)
        # Our own seeded sample (faiss would draw one with its fixed seed):
        # the centroids then depend on random_state only.
        rng = np.random.RandomState(self.random_state)
        sample = np.sort(rng.choice(len(bank32), size=n_train, replace=False))
        d = bank32.shape[1]
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, self.nlist_)
        index.cp.seed = int(self.random_state)
        # faiss prints a warning to stderr under 39 points per centroid; the
        # default nlist never goes there, a user's may.
        index.cp.min_points_per_centroid = 1
        index.train(np.ascontiguousarray(bank32[sample]))
        index.add(np.ascontiguousarray(bank32))
        self.index_ = index
        self._views()
        if self.nprobe_ is None:
            self.nprobe_, self.calibration_recall_ = self._calibrate_nprobe(bank32)
        return self

    def _views(self):
        """Each list's rows (float32, faiss' memory), ids and squared norms."""
        faiss = _import_optional("faiss", "faiss-cpu")
        lists, d = self.index_.invlists, self.index_.d
        self._lists = []
        for number in range(self.nlist_):
            size = lists.list_size(number)
            if size == 0:
                self._lists.append(None)
                continue
            codes = faiss.rev_swig_ptr(lists.get_codes(number), size * d * 4)
            rows = torch.from_numpy(np.frombuffer(codes, np.uint8).view(np.float32)
                                    .reshape(size, d))
            ids = torch.from_numpy(faiss.rev_swig_ptr(lists.get_ids(number), size)
                                   .astype(np.int64))
            self._lists.append((rows, ids, (rows * rows).sum(dim=1)))

    def __getstate__(self):
        # The centroids come from a multi-threaded k-means: kept, as bytes.
        faiss = _import_optional("faiss", "faiss-cpu")
        state = {key: value for key, value in self.__dict__.items()
                 if key not in ("index_", "_lists")}
        state["index_bytes_"] = faiss.serialize_index(self.index_)
        return state

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        if hasattr(self, "index_"):
            return
        faiss = _import_optional("faiss", "faiss-cpu")
        self.index_ = faiss.deserialize_index(self.__dict__.pop("index_bytes_"))
        self._views()

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None):
        """The ``k`` nearest rows of the probed lists; rows whose lists hold fewer probe more.

        A ``-1`` would tell the search that no allowed id is left, when only
        the probed lists ran out: such rows are searched again with twice
        the lists, up to all of them.
        """
        queries32 = np.ascontiguousarray(queries32)
        nprobe = self.nprobe_
        ids, dist = self._scan(queries32, k, nprobe)
        short = np.flatnonzero((ids < 0).any(axis=1))
        while short.size and nprobe < self.nlist_:
            nprobe = min(self.nlist_, 2 * nprobe)
            ids[short], dist[short] = self._scan(queries32[short], k, nprobe)
            short = short[(ids[short] < 0).any(axis=1)]
        return ids, dist

    def _scan(self, queries32: np.ndarray, k: int, nprobe: int):
        """Score each probed list against the queries that probe it, one GEMM per list.

        Each (query, probe) pair owns ``k`` columns of a candidate buffer;
        the ``k`` smallest of a query's ``nprobe * k`` are chosen at the end.
        """
        n_queries = len(queries32)
        _, probes = self.index_.quantizer.search(queries32, nprobe)
        queries = torch.from_numpy(queries32)
        values = torch.full((n_queries, nprobe * k), float("inf"))
        found = torch.full((n_queries, nprobe * k), -1, dtype=torch.int64)
        flat = probes.ravel()
        order = np.argsort(flat, kind="stable")
        starts = np.searchsorted(flat[order], np.arange(self.nlist_ + 1))
        budget = int(get_config()["working_memory"] * 2**20)
        for number in np.flatnonzero(np.diff(starts)):
            if self._lists[number] is None:
                continue
            rows, ids, sq_norms = self._lists[number]
            pairs = order[starts[number]:starts[number + 1]]
            width = min(k, len(ids))
            # Score blocks within working_memory, as brute force's.
            step = max(1, budget // (8 * len(ids)))
            for first in range(0, len(pairs), step):
                pair = pairs[first:first + step]
                who = torch.from_numpy(pair // nprobe)
                scores = torch.addmm(sq_norms, queries[who], rows.T, alpha=-2.0)
                best, cols = smallest_per_row(scores, width)
                where = torch.from_numpy((pair % nprobe * k)[:, None] + np.arange(width))
                values[who[:, None], where] = best
                found[who[:, None], where] = ids[cols]
        estimate = (values + (queries * queries).sum(dim=1, keepdim=True)).numpy()
        keep = np.argsort(estimate, axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(found.numpy(), keep, axis=1)
        estimate = np.take_along_axis(estimate, keep, axis=1).astype(np.float64)
        ids[~np.isfinite(estimate)] = -1
        return ids, estimate

    def _calibrate_nprobe(self, bank32: np.ndarray) -> tuple[int, float]:
        """The smallest ``nprobe`` of the ladder reaching the target recall, and its recall.

        Queries a seeded sample of 512 bank rows against the bank, each
        excluding itself, and measures recall@8: the share of each row's 8
        exact nearest other rows (float32 brute force) that the index finds,
        a found row counting when its distance is within float32 rounding of
        the 8th exact one, so ties and copies count. Recall@8 rather than
        @1: the nearest other row is often a near copy (a pair's other
        side), found at any ``nprobe``, while mining excludes it and needs
        the next ones (at 1000 embedding-like pairs recall@1 of the nearest
        other row was 0.98 at ``nprobe=1``, the mined negatives' 0.74).
        """
        n_bank = len(bank32)
        k = min(_CALIBRATION_K, n_bank - 1)
        if self.nlist_ == 1 or k < 1:
            return 1, 1.0
        rng = np.random.RandomState(self.random_state)
        rows = np.sort(rng.choice(n_bank, size=min(n_bank, _CALIBRATION_ROWS), replace=False))
        queries = np.ascontiguousarray(bank32[rows])
        ids, dist = exact_knn(queries, bank32, k + 1)
        exact = np.sort(np.where(ids != rows[:, None], dist, np.inf), axis=1)[:, k - 1]
        tolerance = 1e-5 * (exact + float(np.median(exact)))
        recall = 1.0
        for nprobe in [p for p in _NPROBE_LADDER if p < self.nlist_] + [self.nlist_]:
            ids, dist = self._scan(queries, k + 1, nprobe)
            found = (ids >= 0) & (ids != rows[:, None]) & (dist <= (exact + tolerance)[:, None])
            recall = float(np.mean(np.minimum(found.sum(axis=1), k) / k))
            if recall >= IVF_TARGET_RECALL:
                return nprobe, recall
        return self.nlist_, recall


def exact_knn(queries32: np.ndarray, bank32: np.ndarray, k: int):
    """``(ids, squared distances)`` of the ``k`` nearest bank rows, float32 brute force.

    In query blocks whose score block fits ``working_memory``.
    """
    brute = TorchBruteBackend().fit(bank32, bank32)
    step = chunk_rows(4 * len(bank32), len(queries32))
    parts = [brute.candidates(queries32[i:i + step], None, k)
             for i in range(0, len(queries32), step)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
