"""What recognising fitted rows by content costs, next to the search it guards.

``transform(X)`` hashes each row (rounded to float32) and looks it up among
the fitted rows' keys, which ``fit`` computes once. This script times both
steps and the mining they precede, side by side in one process (medians),
and measures their peak memory with tracemalloc.

Run: ``python benchmarks/recognition.py`` (20k x 384 and 200k x 128; the
200k mining time is measured on ``--sample`` anchors and scaled linearly,
since brute force is linear in the number of queries).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.mining._anchors import index_anchors


def _median_time(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_mib(function):
    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def measure(n_pairs, n_features, sample, repeat):
    point, counter = make_pairs(n_pairs, n_features, random_state=0)
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0).fit(point, counter)
    index = sampler._anchors
    queries = point[:sample]
    fit_index = _median_time(lambda: index_anchors(point, counter, "paired"), repeat)
    recognise = _median_time(lambda: index.recognise(point), repeat)
    mine = _median_time(lambda: sampler.transform(queries, indices=np.arange(sample)), 1)
    mine_all = mine * n_pairs / sample
    fit = _median_time(lambda: HybridNegativeSampler(random_rate=0.0).fit(point, counter), 1)
    print(f"\n{n_pairs} pairs x {n_features} (float32 bank)")
    print(f"  fit, whole: {fit:.2f} s; of which indexing the keys: {fit_index:.3f} s "
          f"({fit_index / fit:.1%})")
    print(f"  mining all {n_pairs} anchors: {mine_all:.2f} s"
          + ("" if sample == n_pairs else f" (scaled from {sample})"))
    print(f"  recognising all {n_pairs} rows: {recognise:.3f} s "
          f"({recognise / mine_all:.2%} of the mining)")
    print(f"  peak memory: indexing {_peak_mib(lambda: index_anchors(point, counter, 'paired')):.1f}"
          f" MiB, recognising {_peak_mib(lambda: index.recognise(point)):.1f} MiB; "
          f"kept after fit {_kept_mib(index):.1f} MiB; bank {2 * point.nbytes / 2**20:.1f} MiB")


def _kept_mib(index):
    arrays = [index.keys, index.rows, index.labels, index.canonical, index.extra_ptr,
              index.extra_ids, index.pos_class, index.pos_ptr, index.pos_ids]
    return sum(a.nbytes for a in arrays if a is not None) / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--small", action="store_true", help="tiny sizes (CI smoke run)")
    args = parser.parse_args(argv)
    sizes = [(2000, 32, 2000)] if args.small else [(20000, 384, 20000),
                                                   (200000, 128, args.sample)]
    for n_pairs, n_features, sample in sizes:
        measure(n_pairs, n_features, sample, args.repeat)


if __name__ == "__main__":
    main()
