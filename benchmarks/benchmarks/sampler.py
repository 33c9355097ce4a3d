"""HybridNegativeSampler.fit_transform, exact mining of every anchor.

Run (from benchmarks/)::

    asv run --python=same --bench sampler

The sampler issue's measurement (20k pairs x 384, ``random_rate=0``); the
ratio against the prototype, faiss and the GEMM floor is printed by
``benchmarks/compare_search.py``.
"""

import warnings

import numpy as np

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs

from .common import banks_for, plain_distances_of, sampler_options


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


class SamplerOptions:
    """Each option's cost next to plain exact mining (``random_rate=0``, cosine).

    ``compare_search.py --option all`` prints the same as ratios measured
    side by side; here asv tracks each over commits.
    """

    param_names = ["option"]
    params = [["plain", *sampler_options(np.zeros(1))]]
    number = 1
    repeat = 3
    warmup_time = 0
    timeout = 600

    def setup_cache(self):
        point, counter = make_pairs(6_000, 384, random_state=0)
        point /= np.linalg.norm(point, axis=1, keepdims=True)
        counter /= np.linalg.norm(counter, axis=1, keepdims=True)
        base = {"random_rate": 0.0, "random_state": 0, "metric": "cosine"}
        plain = HybridNegativeSampler(**base).fit(point, counter)
        options = sampler_options(plain_distances_of(plain, point))
        return point, counter, {"plain": base} | {
            name: {**base, **params} for name, params in options.items()}

    def setup(self, cache, option):
        point, counter, runs = cache
        self.point, self.counter = point, counter
        self.sampler = HybridNegativeSampler(**runs[option])

    def time_fit_transform(self, cache, option):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.sampler.fit(self.point, self.counter).transform(self.point)
