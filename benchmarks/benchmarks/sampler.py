"""HybridNegativeSampler.fit_transform, exact mining of every anchor.

Run (from benchmarks/)::

    asv run --python=same --bench sampler

The sampler issue's measurement (20k pairs x 384, ``random_rate=0``); the
ratio against the prototype, faiss and the GEMM floor is printed by
``benchmarks/compare_search.py``.
"""

from sknegsample import HybridNegativeSampler

from .common import banks_for


class SamplerFitTransform:
    param_names = ["n_pairs", "n_features", "algorithm"]
    params = [[2_000, 20_000], [32, 384], ["auto", "faiss_flat"]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        grid = dict(zip(self.param_names, self.params, strict=False))
        suite = type("Grid", (), {
            "param_names": ["n_bank", "n_features"],
            "params": [[2 * n for n in grid["n_pairs"]], grid["n_features"]],
        })
        return banks_for(suite)

    def setup(self, banks, n_pairs, n_features, algorithm):
        bank, _ = banks[(2 * n_pairs, n_features)]
        self.point, self.counter = bank[:n_pairs], bank[n_pairs:]
        self.sampler = HybridNegativeSampler(random_rate=0.0, algorithm=algorithm,
                                             random_state=0)

    def time_fit_transform(self, banks, n_pairs, n_features, algorithm):
        self.sampler.fit_transform(self.point, self.counter)

    def peakmem_fit_transform(self, banks, n_pairs, n_features, algorithm):
        self.sampler.fit_transform(self.point, self.counter)
