"""Where trees beat brute force: the measurements behind ``algorithm="auto"``.

Run from the repository root::

    python benchmarks/crossover.py                  # full grid, a few minutes
    python benchmarks/crossover.py --n-bank 10000   # one bank size

For each bank (``make_pairs`` clustered pairs, and Gaussian noise), half of the
bank queries it, as ``HybridNegativeSampler.fit_transform`` does, through
``NeighborSearch`` (fit included, each query excluding its own pair). The
table gives seconds per algorithm (median of ``--repeat``) and the
tree/brute ratio; ``sknegsample.neighbors.resolve_algorithm`` picks a kd-tree
only where it won on both kinds of data.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sknegsample.datasets import make_pairs
from sknegsample.neighbors import NeighborSearch

ALGORITHMS = ("brute", "kd_tree", "ball_tree")


def bank_for(kind, n_bank, n_features):
    if kind == "clustered":
        point, counter = make_pairs(n_bank // 2, n_features, random_state=0)
        bank = np.vstack([point, counter])
    else:
        bank = np.random.RandomState(0).normal(size=(n_bank, n_features)).astype(np.float32)
    labels = np.concatenate([np.arange(n_bank // 2)] * 2).astype(np.int64)
    return bank, labels


def seconds(algorithm, bank, labels, k, repeat):
    n_queries = len(bank) // 2
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        search = NeighborSearch(algorithm=algorithm).fit(bank, labels)
        search.kneighbors(bank[:n_queries], k, query_labels=labels[:n_queries])
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-bank", type=int, nargs="*", default=[2_000, 10_000, 50_000])
    parser.add_argument("--n-features", type=int, nargs="*", default=[2, 4, 8, 16, 32])
    parser.add_argument("--k", type=int, nargs="*", default=[1, 10])
    parser.add_argument("--data", nargs="*", default=["clustered", "random"])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'data':<10}{'n_bank':>8}{'d':>5}{'k':>4}"
          + "".join(f"{a:>11}" for a in ALGORITHMS) + f"{'kd/brute':>10}{'ball/brute':>11}")
    for kind in args.data:
        for n_bank in args.n_bank:
            for d in args.n_features:
                bank, labels = bank_for(kind, n_bank, d)
                for k in args.k:
                    t = {a: seconds(a, bank, labels, k, args.repeat) for a in ALGORITHMS}
                    print(f"{kind:<10}{n_bank:>8}{d:>5}{k:>4}"
                          + "".join(f"{t[a]:>11.3f}" for a in ALGORITHMS)
                          + f"{t['kd_tree'] / t['brute']:>10.2f}"
                          + f"{t['ball_tree'] / t['brute']:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
