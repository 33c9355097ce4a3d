"""Approximate mining of 1M pairs: time, and recall against exact search.

Run from the repository root (minutes on 2 cores, ~6 GB of memory)::

    python benchmarks/ann_1m.py --algorithm faiss_ivf                # defaults
    python benchmarks/ann_1m.py --algorithm faiss_ivf --nprobe 1 2 4
    python benchmarks/ann_1m.py --M 16 --ef-construction 80 --ef-search 48 96
    python benchmarks/ann_1m.py --algorithm faiss_hnsw --M 16 --ef-search 64
    python benchmarks/ann_1m.py --n-pairs 100000 --algorithm faiss_ivf hnswlib \
        --M 16 --ef-construction 80 --ef-search 48    # side by side, one process

Several ``--algorithm`` values run one after the other in the same process,
on the same data and against the same exact answers; each takes its own
options (``--nlist``/``--nprobe`` for ``faiss_ivf``, the HNSW ones for the
others).

``HybridNegativeSampler(random_rate=0, algorithm=...)`` mines one hard
negative for every anchor of ``--n-pairs`` pairs (a bank of twice as many
rows); the time covers ``fit_transform`` (index build included). Recall is
measured on ``--n-check`` random anchors against exact brute force on the
same bank, with the same exclusions (the anchor and its positive):

* ``recall@1``: how often the mined negative is the exact nearest allowed row;
* ``recall@k``: overlap of the index's ``k`` nearest allowed rows with the
  exact ones.

The data (``--data latent``, default) are embedding-like: a 16-dimensional
latent with 1000 clusters, mapped linearly to ``--n-features`` and noised,
so that the intrinsic dimension is low, as in real text embeddings.
``--data manpage`` and ``--data docstrings`` are the real MiniLM pairs (the
bundled 1823 man pages; the 12k docstring pairs of
``benchmarks/docstring_pairs.py``, built once): ``--n-pairs`` and
``--n-features`` do not apply.
``--data clustered`` uses ``make_pairs`` (isotropic clusters, full
intrinsic dimension, a much harder case for graph indexes).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import load_manpage_pairs, make_pairs
from sknegsample.neighbors import NeighborSearch


def latent_pairs(n_pairs, n_features, latent_dim=16, n_clusters=1000, seed=0):
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=4.0, size=(n_clusters, latent_dim))
    latent = centers[rng.randint(n_clusters, size=n_pairs)] + rng.normal(
        size=(n_pairs, latent_dim))
    mixing = rng.normal(size=(latent_dim, n_features)) / np.sqrt(latent_dim)
    point = latent @ mixing + 0.05 * rng.normal(size=(n_pairs, n_features))
    counter = point + 0.1 * rng.normal(size=(n_pairs, n_features))
    return point.astype(np.float32), counter.astype(np.float32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-pairs", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--data", choices=["latent", "clustered", "manpage", "docstrings"],
                        default="latent")
    parser.add_argument("--algorithm", choices=["hnswlib", "faiss_hnsw", "faiss_ivf"],
                        nargs="+", default=["hnswlib"])
    parser.add_argument("--M", type=int, default=None)
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument("--ef-search", type=int, nargs="*", default=[],
                        help="one or more values; the index is built once")
    parser.add_argument("--nlist", type=int, default=None, help="faiss_ivf's lists")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[],
                        help="faiss_ivf: one or more values (default: calibrated at fit)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n-check", type=int, default=2000)
    parser.add_argument("--n-jobs", type=int, default=-1, help="index build and query threads")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    if args.data == "latent":
        point, counter = latent_pairs(args.n_pairs, args.n_features)
    elif args.data == "clustered":
        point, counter = make_pairs(args.n_pairs, args.n_features, random_state=0)
    elif args.data == "manpage":
        point, counter = load_manpage_pairs(return_X_y=True)
    else:
        from docstring_pairs import load_docstring_pairs

        point, counter = load_docstring_pairs(12_000)
    args.n_pairs, args.n_features = point.shape
    print(f"data: {args.data}, {args.n_pairs} pairs x {args.n_features} "
          f"({time.perf_counter() - start:.1f} s to generate)", flush=True)
    rng = np.random.RandomState(1)
    anchors = np.sort(rng.choice(args.n_pairs, size=min(args.n_check, args.n_pairs),
                                 replace=False))
    labels = np.concatenate([np.arange(args.n_pairs)] * 2)
    start = time.perf_counter()
    exact = NeighborSearch(algorithm="brute").fit(np.vstack([point, counter]), labels)
    truth = exact.kneighbors(point[anchors], args.k, query_labels=anchors)
    del exact
    print(f"exact answers of {len(anchors)} anchors: {time.perf_counter() - start:.1f} s",
          flush=True)
    for algorithm in args.algorithm:
        run(algorithm, args, point, counter, anchors, truth)


def run(algorithm, args, point, counter, anchors, truth):
    """Build, mine every anchor, and measure recall, for each query-time setting."""
    if algorithm == "faiss_ivf":
        params = {"nlist": args.nlist} if args.nlist else {}
        settings = args.nprobe or [None]
        if args.nprobe:
            params["nprobe"] = args.nprobe[0]
        knob, attribute = "nprobe", "nprobe_"
    else:
        params = {key: value for key, value in (("M", args.M),
                  ("ef_construction", args.ef_construction)) if value is not None}
        settings = args.ef_search or [None]
        if args.ef_search:
            params["ef_search"] = args.ef_search[0]
        knob, attribute = "ef_search", "ef_search_"
    sampler = HybridNegativeSampler(random_rate=0.0, algorithm=algorithm,
                                    search_params=params or None, random_state=0,
                                    n_jobs=args.n_jobs)
    start = time.perf_counter()
    sampler.fit(point, counter)
    fit_s = time.perf_counter() - start
    backend = sampler.search_.backend_
    chosen = ""
    if algorithm == "faiss_ivf":
        chosen = f" (nlist={backend.nlist_}, nprobe={backend.nprobe_}"
        chosen += f", calibration recall@8 {backend.calibration_recall_:.3f})" \
            if hasattr(backend, "calibration_recall_") else ")"
    print(f"{algorithm} {params or '(defaults)'}{chosen}: index build {fit_s:.1f} s",
          flush=True)
    for value in settings:
        if value is not None:
            # The fitted index is reused: this is a query-time setting.
            setattr(backend, attribute, value)
        start = time.perf_counter()
        negatives = sampler.transform(point, indices=np.arange(args.n_pairs))[:, 0]
        mine_s = time.perf_counter() - start
        found = sampler.search_.kneighbors(point[anchors], args.k, query_labels=anchors)
        recall_1 = np.mean(negatives[anchors] == truth.ids[:, 0])
        recall_k = np.mean([len(np.intersect1d(f, t)) / args.k
                            for f, t in zip(found.ids, truth.ids, strict=True)])
        print(f"  {knob}={value or 'default'}: mining {mine_s:.1f} s (total with build "
              f"{fit_s + mine_s:.1f} s); recall@1 {recall_1:.4f}, recall@{args.k} "
              f"{recall_k:.4f} on {len(anchors)} anchors against exact brute force",
              flush=True)
    del sampler


if __name__ == "__main__":
    main()
