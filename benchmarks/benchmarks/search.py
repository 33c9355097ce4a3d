"""Exact and approximate k-nearest-neighbour search with exclusions.

Run (from benchmarks/)::

    asv run --python=same --bench search

``ExactSearch`` times every exact algorithm on the same clustered banks (the
crossovers behind ``algorithm="auto"``; ``benchmarks/crossover.py`` prints
them as a table). ``ApproximateSearch`` tracks recall@10 against exact
search at default settings, next to its time.
"""

import numpy as np

from sknegsample.neighbors import NeighborSearch

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
    params = [["faiss_hnsw", "hnswlib"], [32, 128], [10_000, 50_000]]
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
