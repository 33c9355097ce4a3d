"""Ball and kd trees: the cost of leaf_size across dimensions and bank sizes.

Run (from benchmarks/)::

    asv run --python=same --bench trees
    asv run --python=same --bench "trees.TreeSearch.track_distance_evaluations"

Clustered data (``make_pairs``): on unstructured high-dimensional data every
leaf_size costs the same, because the tree stops pruning; the curve only has a
shape where trees prune (low dimensions, clustered embeddings).
``track_distance_evaluations`` counts the tree's distance-function calls per
query (``BinaryTree.get_n_calls()``), which does not depend on the machine.
"""

from sknegsample.neighbors import NeighborSearch

from .common import banks_for

N_QUERIES = 500
K = 3


class TreeSearch:
    param_names = ["leaf_size", "n_features", "n_bank", "algorithm"]
    params = [[2, 5, 10, 20, 40, 100], [8, 32, 128, 384], [10_000, 50_000],
              ["ball_tree", "kd_tree"]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        return banks_for(self)

    def setup(self, banks, leaf_size, n_features, n_bank, algorithm):
        self.bank, self.labels = banks[(n_bank, n_features)]
        self.search = NeighborSearch(algorithm=algorithm, leaf_size=leaf_size).fit(
            self.bank, self.labels)
        self.queries = self.bank[:N_QUERIES]

    def _query(self):
        return self.search.kneighbors(self.queries, K, query_labels=self.labels[:N_QUERIES])

    def time_fit(self, banks, leaf_size, n_features, n_bank, algorithm):
        NeighborSearch(algorithm=algorithm, leaf_size=leaf_size).fit(self.bank, self.labels)

    def time_kneighbors(self, banks, leaf_size, n_features, n_bank, algorithm):
        self._query()

    def peakmem_fit(self, banks, leaf_size, n_features, n_bank, algorithm):
        NeighborSearch(algorithm=algorithm, leaf_size=leaf_size).fit(self.bank, self.labels)

    def track_distance_evaluations(self, banks, leaf_size, n_features, n_bank, algorithm):
        tree = self.search.backend_.tree_
        tree.reset_n_calls()
        self._query()
        return tree.get_n_calls() / N_QUERIES

    track_distance_evaluations.unit = "distance evaluations per query"
