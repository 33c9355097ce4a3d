"""Seconds of the paired bootstrap and the sign-flip test: blocks vs one replicate at a time.

Run from the repository root (not part of the test suite):

    .venv/bin/python benchmarks/bench_bootstrap.py             # 10k queries, 1000 replicates
    .venv/bin/python benchmarks/bench_bootstrap.py --quick     # 2k queries, fewer repeats

Times, in one process, on per-query hit@1 and reciprocal-rank differences of
``--queries`` queries (what ``BallTreePairScorer.evaluate`` resamples):

* ``evaluate's bootstrap``: :func:`sknegsample.metrics._bootstrap.bootstrap_means`
  over both columns at once, the intervals ``"gain@1_ci"`` and
  ``"gain_mrr@k_ci"``;
* ``paired_bootstrap_ci``: one interval, the public function;
* ``sign_flip_pvalue``: as many sign flips as replicates;
* ``loop baseline``: one replicate at a time (a numpy draw and mean per
  replicate, both columns), the plain way to write it.

Medians of ``--repeats`` runs; the ratio is the loop's median over each one's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sknegsample.metrics import paired_bootstrap_ci, sign_flip_pvalue
from sknegsample.metrics._bootstrap import bootstrap_generator, bootstrap_means


def loop_bootstrap(d, n_bootstrap, rng):
    """One replicate at a time: the reference the blocks replace."""
    means = np.empty((n_bootstrap, d.shape[1]))
    for r in range(n_bootstrap):
        rows = rng.integers(0, d.shape[0], size=d.shape[0])
        means[r] = d[rows].mean(axis=0)
    return means


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2k queries, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.queries, args.repeats = 2000, 3
    rng = np.random.RandomState(0)
    n, b = args.queries, args.replicates
    # A head that wins on 30% of the queries retrieval missed, loses on 10%.
    retrieval = (rng.rand(n) < 0.5).astype(float)
    head = np.where(rng.rand(n) < 0.3, 1.0, np.where(rng.rand(n) < 0.1, 0.0, retrieval))
    rank = rng.randint(1, 11, size=(n, 2))
    d = np.column_stack([head - retrieval, 1.0 / rank[:, 0] - 1.0 / rank[:, 1]])

    cases = {
        "evaluate's bootstrap (2 columns)": lambda: bootstrap_means(d, b, bootstrap_generator(0)),
        "paired_bootstrap_ci (1 column)": lambda: paired_bootstrap_ci(
            head, retrieval, n_bootstrap=b, random_state=0),
        "sign_flip_pvalue": lambda: sign_flip_pvalue(head, retrieval, n_permutations=b,
                                                     random_state=0),
        "loop baseline (2 columns)": lambda: loop_bootstrap(d, b, bootstrap_generator(0)),
    }
    np.testing.assert_allclose(cases["evaluate's bootstrap (2 columns)"](),
                               cases["loop baseline (2 columns)"](), rtol=1e-12)
    seconds = {name: median_seconds(fn, args.repeats) for name, fn in cases.items()}
    baseline = seconds["loop baseline (2 columns)"]
    print(f"{b} replicates x {n} queries, median of {args.repeats} runs")
    width = max(map(len, seconds))
    for name, s in seconds.items():
        print(f"{name:<{width}}  {s * 1e3:8.1f} ms   loop / this = {baseline / s:5.1f}x")


if __name__ == "__main__":
    main()
