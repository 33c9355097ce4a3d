"""Exact and approximate k-nearest-neighbour search with exclusions.

Run (from benchmarks/)::

    asv run --python=same --bench search

``ExactSearch`` times every exact algorithm on the same clustered banks (the
crossovers behind ``algorithm="auto"``; ``benchmarks/crossover.py`` prints
them as a table). ``ApproximateSearch`` tracks recall@10 against exact
search at default settings, next to its time. ``DiskSearch`` searches a
bank held in ``.npy`` files (a :class:`ShardedSearch` streaming it in
shards) against the same bank in memory: time and peak memory.
"""

import os
import tempfile

import numpy as np
import sklearn

from sknegsample.neighbors import NeighborSearch, fit_search

from .common import banks_for

N_QUERIES = 2000
K = 10


class ExactSearch:
    param_names = ["algorithm", "n_features", "n_bank"]
    params = [["brute", "kd_tree", "ball_tree", "faiss_flat"], [8, 32, 128, 384],
              [10_000, 50_000]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        return banks_for(self)

    def setup(self, banks, algorithm, n_features, n_bank):
        self.bank, self.labels = banks[(n_bank, n_features)]
        self.search = NeighborSearch(algorithm=algorithm).fit(self.bank, self.labels)

    def time_fit(self, banks, algorithm, n_features, n_bank):
        NeighborSearch(algorithm=algorithm).fit(self.bank, self.labels)

    def time_kneighbors(self, banks, algorithm, n_features, n_bank):
        self.search.kneighbors(self.bank[:N_QUERIES], K, query_labels=self.labels[:N_QUERIES])

    def peakmem_kneighbors(self, banks, algorithm, n_features, n_bank):
        self.search.kneighbors(self.bank[:N_QUERIES], K, query_labels=self.labels[:N_QUERIES])


class ApproximateSearch:
    param_names = ["algorithm", "n_features", "n_bank"]
    params = [["faiss_hnsw", "faiss_ivf", "hnswlib"], [32, 128], [10_000, 50_000]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        banks = banks_for(self)
        exact = {shape: NeighborSearch(algorithm="brute").fit(bank).kneighbors(
            bank[:N_QUERIES], K).ids for shape, (bank, _) in banks.items()}
        return banks, exact

    def setup(self, cache, algorithm, n_features, n_bank):
        banks, exact = cache
        self.bank, _ = banks[(n_bank, n_features)]
        self.exact = exact[(n_bank, n_features)]
        self.search = NeighborSearch(algorithm=algorithm).fit(self.bank)

    def time_fit(self, cache, algorithm, n_features, n_bank):
        NeighborSearch(algorithm=algorithm).fit(self.bank)

    def time_kneighbors(self, cache, algorithm, n_features, n_bank):
        self.search.kneighbors(self.bank[:N_QUERIES], K)

    def track_recall(self, cache, algorithm, n_features, n_bank):
        ids = self.search.kneighbors(self.bank[:N_QUERIES], K).ids
        hits = sum(len(np.intersect1d(a, e)) for a, e in zip(ids, self.exact, strict=True))
        return hits / self.exact.size

    track_recall.unit = "recall@10"


class DiskSearch:
    param_names = ["where", "n_features", "n_bank"]
    params = [["memory", "disk"], [128], [50_000, 200_000]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        folder = tempfile.mkdtemp(prefix="sknegsample_asv_")
        paths = {}
        for shape, (bank, labels) in banks_for(self).items():
            path = os.path.join(folder, f"bank_{shape[0]}_{shape[1]}.npy")
            np.save(path, bank.astype(np.float16))
            paths[shape] = path, labels
        return paths

    def setup(self, paths, where, n_features, n_bank):
        path, self.labels = paths[(n_bank, n_features)]
        bank = np.load(path, mmap_mode="r" if where == "disk" else None)
        self.queries = np.asarray(bank[:N_QUERIES], dtype=np.float64)
        with sklearn.config_context(working_memory=32):
            self.search = fit_search(NeighborSearch(algorithm="brute"), [bank], self.labels)

    def time_kneighbors(self, paths, where, n_features, n_bank):
        with sklearn.config_context(working_memory=32):
            self.search.kneighbors(self.queries, K, query_labels=self.labels[:N_QUERIES])

    def peakmem_kneighbors(self, paths, where, n_features, n_bank):
        with sklearn.config_context(working_memory=32):
            self.search.kneighbors(self.queries, K, query_labels=self.labels[:N_QUERIES])
