"""Exact mining on a Dask cluster against the same work in one process, side by side.

(Not named ``distributed.py``: run as a script, that file would shadow the
``distributed`` package, in this process and in the workers it spawns.)

Run from the repository root (a few minutes on 2 cores)::

    python benchmarks/dask_overhead.py                         # 50k pairs x 384
    python benchmarks/dask_overhead.py --n-pairs 20000 --repeat 5
    python benchmarks/dask_overhead.py --address tcp://scheduler:8786   # a real cluster

The work: ``HybridNegativeSampler(random_rate=0).fit_transform(point,
counter)``, one exact hard negative for every anchor of a ``2 * n_pairs``
bank (the shared anchor block included). Contenders, interleaved, medians of
``--repeat`` runs:

* *in process*: torch's threads on every core of this machine;
* *cluster, fit_transform*: the same call under
  ``joblib.parallel_backend("dask")`` on a ``LocalCluster(processes=True,
  n_workers=2, threads_per_worker=1)`` (the same 2 cores), started once
  before timing; each call scatters the bank's shards to the workers and
  fits them there, then runs the (query block x shard) tasks;
* *cluster, transform again*: ``transform(point, indices=...)`` on the
  fitted sampler, whose shards are already on the workers.

The ratio to the in-process time is the overhead of going through Dask
(scatter, serialisation, scheduling, merging, and shards that share the
anchor block only with themselves). Answers must be identical.
"""

from __future__ import annotations

import argparse
import time

import joblib
import numpy as np

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs


def timed(call):
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-pairs", type=int, default=50_000)
    parser.add_argument("--n-features", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--address", default=None, help="a running scheduler instead")
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    point, counter = make_pairs(args.n_pairs, args.n_features, n_clusters=100, random_state=0)
    print(f"{args.n_pairs} pairs x {args.n_features} (bank of {2 * args.n_pairs} rows)",
          flush=True)
    cluster = None
    if args.address is None:
        cluster = LocalCluster(n_workers=args.n_workers, threads_per_worker=1,
                               processes=True, dashboard_address=":0")
    client = Client(args.address or cluster)
    client.run(lambda: __import__("sknegsample"))  # the workers' imports, untimed
    indices = np.arange(args.n_pairs)

    def in_process():
        return HybridNegativeSampler(random_rate=0.0, random_state=0).fit_transform(
            point, counter)

    fitted = {}

    def on_cluster():
        sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
        with joblib.parallel_backend("dask"):
            out = sampler.fit_transform(point, counter)
        fitted["sampler"] = sampler
        return out

    def again():
        with joblib.parallel_backend("dask"):
            return fitted["sampler"].transform(point, indices=indices)

    times = {"in process": [], "cluster, fit_transform": [], "cluster, transform again": []}
    answers = {}
    for _ in range(args.repeat):
        for name, call in (("in process", in_process), ("cluster, fit_transform", on_cluster),
                           ("cluster, transform again", again)):
            seconds, answers[name] = timed(call)
            times[name].append(seconds)
            print(f"  {name}: {seconds:.2f} s", flush=True)
    base = np.median(times["in process"])
    for name, values in times.items():
        print(f"{name:>26}: {np.median(values):7.2f} s (median of {len(values)}), "
              f"{np.median(values) / base:.2f}x in process")
    same = all(np.array_equal(answers["in process"], a) for a in answers.values())
    print(f"identical answers: {same}")
    client.close()
    if cluster is not None:
        cluster.close()


if __name__ == "__main__":
    main()
