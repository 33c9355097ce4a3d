"""Exact mining of every anchor: the sampler against the other ways to do it.

Run from the repository root::

    python benchmarks/compare_search.py                      # 20k pairs x 384
    python benchmarks/compare_search.py --dataset manpage    # real embeddings
    python benchmarks/compare_search.py --dataset docstrings # 12k real pairs
    python benchmarks/compare_search.py --point p.npy --counter c.npy  # yours
    python benchmarks/compare_search.py --n-pairs 50000 --n-features 128
    python benchmarks/compare_search.py --plot-only          # docs/_static/leaf_size.png
    python benchmarks/compare_search.py --dataset docstrings --option all  # option costs

``--option`` (see ``option_costs.py``) times the sampler's options against
plain mining instead of the contenders below.

Every contender does the same work on the same data, in this one process,
interleaved, and the table reports medians of ``--repeat`` runs and ratios to
the sampler. The work: for each anchor ``i`` of ``point``, its nearest row of
the bank ``vstack([point, counter])`` that is neither ``point[i]`` nor its
positive ``counter[i]`` (``HybridNegativeSampler(random_rate=0)``). The
contenders:

* ``sampler``: ``HybridNegativeSampler(random_rate=0).fit_transform`` with
  its default (auto -> brute) search, fit included;
* ``prototype``: the prototype's two ``BallTree(leaf_size=2)`` and per-anchor
  loop (``benchmarks/prototype.py``); its tree queries are timed on
  ``--prototype-anchors`` anchors and extrapolated linearly per anchor (the
  tree builds are timed in full) unless ``--full``;
* ``sklearn_brute``: ``NearestNeighbors(algorithm="brute")``, k=3, then the
  exclusions;
* ``faiss_flat``: faiss ``IndexFlatL2``, k=3, then the exclusions;
* ``floor``: a bare chunked numpy GEMM with the two excluded columns set to
  ``inf`` and ``argpartition``: the least work an exact answer needs.

The last column says how often each contender's answer equals the sampler's
(ties aside it should be 1.0; the prototype breaks ties its own way).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from option_costs import compare_options, guard_skips_by_metric
from prototype import BallTreeSearcher, prototype_pairs_to_bank_ids

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import load_manpage_pairs, make_pairs

OPTION_NAMES = ["positive_margin", "absolute_margin", "min_distance", "max_distance", "window",
                "skip_nearest", "max_negative_uses", "negative_pool", "recipe", "guarded_random"]


def pick_excluding_pair(ids: np.ndarray, n_pairs: int) -> np.ndarray:
    """First of each row's ids that is neither the anchor nor its positive."""
    anchor = np.arange(len(ids))[:, None]
    allowed = (ids != anchor) & (ids != anchor + n_pairs) & (ids >= 0)
    return ids[np.arange(len(ids)), allowed.argmax(axis=1)]


def run_sampler(point, counter):
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    return sampler.fit_transform(point, counter)[:, 0]


def run_prototype(point, counter, n_anchors, seed=0):
    """Return (extrapolated seconds, bank ids of the anchors timed, those anchors)."""
    start = time.perf_counter()
    searcher = BallTreeSearcher(point, counter)
    build = time.perf_counter() - start
    n_pairs = len(point)
    anchors = np.arange(n_pairs) if n_anchors >= n_pairs else np.sort(
        np.random.RandomState(seed).choice(n_pairs, n_anchors, replace=False))
    start = time.perf_counter()
    negatives = searcher.search((anchors, point[anchors]), random_rate=0.0)
    query = time.perf_counter() - start
    seconds = build + query * n_pairs / len(anchors)
    return seconds, prototype_pairs_to_bank_ids(negatives, n_pairs), anchors


def run_sklearn_brute(point, counter):
    from sklearn.neighbors import NearestNeighbors

    bank = np.vstack([point, counter])
    _, ids = NearestNeighbors(n_neighbors=3, algorithm="brute").fit(bank).kneighbors(point)
    return pick_excluding_pair(ids, len(point))


def run_faiss_flat(point, counter):
    import faiss

    bank = np.ascontiguousarray(np.vstack([point, counter]), dtype=np.float32)
    index = faiss.IndexFlatL2(bank.shape[1])
    index.add(bank)
    _, ids = index.search(np.ascontiguousarray(point, dtype=np.float32), 3)
    return pick_excluding_pair(ids, len(point))


def run_floor(point, counter, chunk=2048):
    bank = np.ascontiguousarray(np.vstack([point, counter]), dtype=np.float32)
    point = np.ascontiguousarray(point, dtype=np.float32)
    n_pairs = len(point)
    sq_norms = np.einsum("ij,ij->i", bank, bank)
    out = np.empty(n_pairs, dtype=np.int64)
    scores = np.empty((chunk, len(bank)), dtype=np.float32)
    for start in range(0, n_pairs, chunk):
        stop = min(start + chunk, n_pairs)
        block = scores[: stop - start]
        np.matmul(point[start:stop], bank.T, out=block)
        block *= -2.0
        block += sq_norms
        rows = np.arange(stop - start)
        block[rows, start + rows] = np.inf
        block[rows, n_pairs + start + rows] = np.inf
        out[start:stop] = np.argpartition(block, 0, axis=1)[:, 0]
    return out


def load(args):
    if args.point or args.counter:
        if not (args.point and args.counter):
            raise SystemExit("--point and --counter go together")
        point, counter = np.load(args.point), np.load(args.counter)
        return point, counter, f"{args.point} / {args.counter} ({len(point)} x {point.shape[1]})"
    if args.dataset == "manpage":
        point, counter = load_manpage_pairs(return_X_y=True)
        return point, counter, f"manpage pairs ({len(point)} x {point.shape[1]}, real)"
    if args.dataset == "docstrings":
        from docstring_pairs import load_docstring_pairs

        point, counter = load_docstring_pairs()
        return point, counter, f"docstring pairs ({len(point)} x {point.shape[1]}, real)"
    point, counter = make_pairs(args.n_pairs, args.n_features, random_state=0)
    return point, counter, f"make_pairs({args.n_pairs}, {args.n_features}) (clustered)"


def compare(args):
    point, counter, label = load(args)
    n_pairs = len(point)
    contenders = {
        "sampler": lambda: run_sampler(point, counter),
        "sklearn_brute": lambda: run_sklearn_brute(point, counter),
        "faiss_flat": lambda: run_faiss_flat(point, counter),
        "floor": lambda: run_floor(point, counter),
    }
    for name in args.skip:
        contenders.pop(name, None)
    times = {name: [] for name in contenders}
    answers = {}
    proto_times = []
    n_proto = n_pairs if args.full else min(args.prototype_anchors, n_pairs)
    for _ in range(args.repeat):
        for name, run in contenders.items():
            gc.collect()
            start = time.perf_counter()
            answers[name] = run()
            times[name].append(time.perf_counter() - start)
    if "prototype" not in args.skip:
        for _ in range(args.prototype_repeat):
            seconds, proto_ids, proto_anchors = run_prototype(point, counter, n_proto)
            proto_times.append(seconds)
    print(f"data: {label}; bank {2 * n_pairs} rows; k=1 exact hard negative per anchor; "
          f"medians of {args.repeat} runs, one process")
    reference = np.median(times["sampler"])
    print(f"{'contender':<15}{'seconds':>10}{'x sampler':>11}{'same answer':>13}")
    for name, values in times.items():
        same = np.mean(answers[name] == answers["sampler"])
        median = np.median(values)
        print(f"{name:<15}{median:>10.3g}{median / reference:>11.2f}{same:>13.4f}")
    if proto_times:
        median = np.median(proto_times)
        same = np.mean(proto_ids == answers["sampler"][proto_anchors])
        note = "" if n_proto == n_pairs else \
            f"  (queries timed on {n_proto} anchors, extrapolated per anchor)"
        print(f"{'prototype':<15}{median:>10.3g}{median / reference:>11.2f}{same:>13.4f}{note}")


def leaf_size_figure(path, n_bank=10_000, n_queries=200, dims=(8, 32, 128, 384),
                     leaf_sizes=(2, 5, 10, 20, 40, 100)):
    """Ball-tree query cost against leaf_size, one line per dimension."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.neighbors import BallTree

    fig, (ax_time, ax_calls) = plt.subplots(1, 2, figsize=(10, 4))
    for d in dims:
        point, counter = make_pairs(n_bank // 2, d, random_state=0)
        bank = np.vstack([point, counter])
        queries = point[:n_queries]
        ms, calls = [], []
        for leaf_size in leaf_sizes:
            tree = BallTree(bank, leaf_size=leaf_size)
            tree.reset_n_calls()
            start = time.perf_counter()
            tree.query(queries, k=3)
            ms.append(1e3 * (time.perf_counter() - start) / n_queries)
            calls.append(tree.get_n_calls() / n_queries)
        rest = bank[n_queries:][: n_bank - n_queries]
        run_floor(queries, rest, chunk=n_queries)  # warm the BLAS threads up
        start = time.perf_counter()
        run_floor(queries, rest, chunk=n_queries)
        brute_ms = 1e3 * (time.perf_counter() - start) / n_queries
        (line,) = ax_time.plot(leaf_sizes, ms, marker="o", label=f"{d} features")
        ax_time.axhline(brute_ms, color=line.get_color(), linestyle=":")
        ax_calls.plot(leaf_sizes, calls, marker="o", label=f"{d} features")
        print(f"leaf_size figure: d={d}: ms/query {np.round(ms, 3).tolist()}, "
              f"brute {brute_ms:.3f}; distance evaluations/query {np.round(calls).tolist()}")
    for ax in (ax_time, ax_calls):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("leaf_size")
        ax.set_xticks(leaf_sizes, [str(s) for s in leaf_sizes])
        ax.grid(True, which="both", alpha=0.3)
    ax_time.set_ylabel("ms per query (dotted: brute force)")
    ax_calls.set_ylabel("BallTree.get_n_calls() per query")
    ax_time.legend()
    fig.suptitle(f"BallTree k=3 query on make_pairs data, {n_bank} bank rows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["make_pairs", "manpage", "docstrings"],
                        default="make_pairs")
    parser.add_argument("--point", help=".npy file of anchor embeddings (with --counter)")
    parser.add_argument("--counter", help=".npy file of their positives, row for row")
    parser.add_argument("--n-pairs", type=int, default=20_000)
    parser.add_argument("--n-features", type=int, default=384)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--prototype-anchors", type=int, default=1000)
    parser.add_argument("--prototype-repeat", type=int, default=1)
    parser.add_argument("--full", action="store_true", help="time the prototype on all anchors")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["prototype", "sklearn_brute", "faiss_flat", "floor"])
    parser.add_argument("--plot", default=os.path.join("docs", "_static", "leaf_size.png"))
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot-only", action="store_true")
    parser.add_argument("--option", nargs="+", choices=["all", *OPTION_NAMES],
                        help="time these sampler options against plain mining")
    parser.add_argument("--metric", default="cosine", choices=["cosine", "euclidean"],
                        help="with --option: the sampler's metric")
    parser.add_argument("--sample", type=int,
                        help="with --option: mine only the first SAMPLE anchors")
    parser.add_argument("--with-st", action="store_true",
                        help="with --option: sentence-transformers' miner on the same data")
    parser.add_argument("--guard-skips", action="store_true",
                        help="with --option: positive_margin's skips under both metrics")
    args = parser.parse_args(argv)
    if args.option:
        point, counter, label = load(args)
        compare_options(point, counter, label, names=args.option, metric=args.metric,
                        repeat=args.repeat, sample=args.sample, with_st=args.with_st)
        if args.guard_skips:
            guard_skips_by_metric(point, counter, sample=args.sample)
        return
    if not args.plot_only:
        compare(args)
    if args.plot_only or not args.no_plot:
        os.makedirs(os.path.dirname(args.plot) or ".", exist_ok=True)
        leaf_size_figure(args.plot)


if __name__ == "__main__":
    main()
