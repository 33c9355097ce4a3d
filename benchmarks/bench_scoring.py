"""Pairs per second of the re-ranking stage: batched vs the prototype's loop.

Run from the repository root (not part of the test suite):

    .venv/bin/python benchmarks/bench_scoring.py            # 10k queries x topk=10, 384-d
    .venv/bin/python benchmarks/bench_scoring.py --quick    # 1k queries, fewer repeats
    .venv/bin/python benchmarks/bench_scoring.py --device cuda

For each head (the default MLP and the prototype's linear head) it times, in
one process, on the same untrained weights (speed does not depend on them):

* ``batched``: :func:`sknegsample.rerank._head.score_candidates`, what
  ``BallTreePairScorer.evaluate`` runs: numpy ids and distances in, margins
  out, the factorised first layer and the feature construction included;
* ``gathered``: the same chunks through ``forward`` (rows gathered, full
  feature matrix built per chunk): the path a user module without
  ``score_candidates`` takes;
* ``bare forward``: ``forward_features`` over a feature matrix built
  beforehand (construction not timed): the limit of an unfactorised head;
* ``per-pair loop``: the prototype's ``BallTreeEvaluater.cal_accuracy``
  scoring loop, re-implemented below: one feature row, one forward pass and
  one ``.item()`` (a host-device round trip on a GPU) per pair, timed on a
  subset of the queries.

Medians of ``--repeats`` runs; ratios are against the per-pair loop and the
bare forward.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import torch
from sklearn.neighbors import BallTree

from sknegsample.rerank._head import PairHead, pair_features, score_candidates


def prototype_cal_accuracy(module, point, counter, topk=10, device="cpu", n_queries=None):
    """The prototype's evaluator: ball tree over ``[counter; point]``, one pair at a time.

    Kept faithful, defects included: the query itself is in the bank (one of
    the ``topk`` slots is wasted on it), and each pair pays a forward pass and
    a ``.item()``. Returns ``(hits / n, scored_pairs, seconds_scoring)``.
    """
    n = len(point) if n_queries is None else n_queries
    bank = np.vstack([counter, point])
    tree = BallTree(bank, leaf_size=2)
    _, ind = tree.query(point[:n], k=topk)
    bank_t = torch.as_tensor(bank, dtype=torch.float32, device=device)
    point_t = torch.as_tensor(point, dtype=torch.float32, device=device)
    dist_t = torch.zeros(1, device=device)
    hits = 0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(n):
            best, best_score = -1, -1.0
            for j in ind[i]:
                features = pair_features(point_t[i:i + 1], bank_t[j:j + 1], dist_t)
                prob = torch.softmax(module.forward_features(features), dim=1)[0, 1].item()
                if prob > best_score:
                    best, best_score = j, prob
            hits += int(best == i)
    return hits / n, n * topk, time.perf_counter() - start


def _median_time(fn, repeats, device):
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def bench_head(name, head, query, bank, ids, distance, *, device, repeats, loop_queries):
    head = head.to(device).eval()
    n_pairs = ids.size
    rates = {}
    rates["batched"] = n_pairs / _median_time(
        lambda: score_candidates(head, query, bank, ids, distance, device=device),
        repeats, device)

    class Gathered(torch.nn.Module):  # hides score_candidates: the generic path
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, query, candidate, distance):
            return self.inner(query, candidate, distance)

    gathered = Gathered(head)
    rates["gathered"] = n_pairs / _median_time(
        lambda: score_candidates(gathered, query, bank, ids, distance, device=device),
        repeats, device)

    q = torch.as_tensor(query, dtype=torch.float32, device=device)
    b = torch.as_tensor(bank, dtype=torch.float32, device=device)
    flat = torch.as_tensor(ids.reshape(-1), device=device)
    features = pair_features(q.repeat_interleave(ids.shape[1], dim=0), b[flat],
                             torch.as_tensor(distance.reshape(-1), device=device))
    with torch.no_grad():
        rates["bare forward"] = n_pairs / _median_time(
            partial(head.forward_features, features), repeats, device)
    features = None  # free the prebuilt matrix before the loop

    point, counter = query[:loop_queries], bank[:loop_queries]
    _, loop_pairs, seconds = prototype_cal_accuracy(head, point, counter, ids.shape[1],
                                                    device=device)
    rates["per-pair loop"] = loop_pairs / seconds

    print(f"\n{name} (device={device}, {query.shape[1]} features, "
          f"{len(query)} queries x topk={ids.shape[1]} = {n_pairs} pairs)")
    for key, rate in rates.items():
        print(f"  {key:14s} {rate:>14,.0f} pairs/s")
    print(f"  batched / per-pair loop: {rates['batched'] / rates['per-pair loop']:8.1f}x")
    print(f"  batched / bare forward:  {rates['batched'] / rates['bare forward']:8.2f}x"
          "  (>= 0.67 is within 1.5x of the limit)")
    print(f"  gathered / bare forward: {rates['gathered'] / rates['bare forward']:8.2f}x")
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k queries, 3 repeats")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--topk", type=int, default=10)
    parser.add_argument("--features", type=int, default=384)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loop-queries", type=int, default=500,
                        help="queries timed in the per-pair loop")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.quick:
        args.queries, args.repeats, args.loop_queries = 1_000, 3, 100
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    rng = np.random.RandomState(0)
    n, k, d = args.queries, args.topk, args.features
    query = rng.normal(size=(n, d)).astype(np.float32)
    bank = rng.normal(size=(2 * n, d)).astype(np.float32)
    ids = np.stack([rng.choice(2 * n, size=k, replace=False) for _ in range(n)])
    distance = rng.uniform(0.5, 1.5, size=(n, k)).astype(np.float32)
    torch.manual_seed(0)
    for name, hidden in (("default head (MLP, 64 hidden)", 64), ("linear head", 0)):
        bench_head(name, PairHead(d, hidden_units=hidden), query, bank, ids, distance,
                   device=args.device, repeats=args.repeats, loop_queries=args.loop_queries)


if __name__ == "__main__":
    main()
