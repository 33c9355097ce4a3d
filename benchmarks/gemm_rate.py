"""Throughput of the brute-force score block here: the cost model's one measured constant.

Run from the repository root (a few seconds)::

    python benchmarks/gemm_rate.py
    python benchmarks/gemm_rate.py --n-features 128 768 --threads 1 2

Times what :class:`~sknegsample.neighbors.backends.TorchBruteBackend` does
per (query block x bank shard): ``addmm`` of a 2048-row query block against
a 40,000-row shard into a 64-byte aligned float32 block, then the two-stage
top-k. Prints GFLOP/s (2 * rows * shard * n_features per block) of the GEMM
alone and of GEMM + selection, per thread count, medians of ``--repeat``.
docs/scale.md extrapolates from these figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sknegsample.neighbors._select import smallest_per_row
from sknegsample.neighbors.backends._torch_brute import _aligned_empty


def rate(n_queries: int, n_shard: int, n_features: int, repeat: int, k: int = 9):
    rng = np.random.RandomState(0)
    queries = torch.from_numpy(rng.normal(size=(n_queries, n_features)).astype(np.float32))
    bank = torch.from_numpy(rng.normal(size=(n_shard, n_features)).astype(np.float32))
    norms = (bank * bank).sum(dim=1)
    block = torch.from_numpy(_aligned_empty(n_queries * n_shard)).view(n_queries, n_shard)
    gemm, total = [], []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        torch.addmm(norms, queries, bank.T, alpha=-2.0, out=block)
        middle = time.perf_counter()
        smallest_per_row(block, k)
        end = time.perf_counter()
        gemm.append(middle - start)
        total.append(end - start)
    flops = 2.0 * n_queries * n_shard * n_features
    # The first run pays the page faults of the block: dropped.
    return flops / np.median(gemm[1:]) / 1e9, flops / np.median(total[1:]) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-features", type=int, nargs="+", default=[128, 384, 768])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--shard", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    previous = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            for d in args.n_features:
                g, t = rate(args.rows, args.shard, d, args.repeat)
                print(f"{threads} thread(s), {args.rows} x {args.shard} x {d}: GEMM "
                      f"{g:6.1f} GFLOP/s, GEMM + top-k {t:6.1f} GFLOP/s "
                      f"({t / threads:.1f} per thread)", flush=True)
    finally:
        torch.set_num_threads(previous)


if __name__ == "__main__":
    main()
