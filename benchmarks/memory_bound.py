"""Extra peak memory of mining under a ``working_memory`` cap.

Run: ``.venv/bin/python benchmarks/memory_bound.py`` (200k pairs x 128 dims,
``working_memory=64`` MiB; ``--help`` for the knobs). Not a timed test: it
prints what ``transform`` allocated beyond the fitted state, measured two ways,
against the bound documented in ``docs/persistence.md``:

* ``tracemalloc`` peak: every numpy allocation (numpy reports to tracemalloc);
* sampled RSS peak: the process' resident memory read from ``/proc`` every
  millisecond by a thread, less the resident memory before the call. This
  also sees torch's allocations (its selection scratch), which tracemalloc
  does not; it misses short peaks and memory reused from the allocator;
* with ``--torch-rows N``: torch's own peak, from its profiler's memory
  events, in a second call on the first N queries (torch allocates per score
  block, not per query; the profiler is too slow for a whole large call).
  ``numpy + torch`` is then compared with the bound.

``--queries`` picks the batch: ``indices`` (the fitted points with their
``indices``, the default), ``points`` (the same rows recognised by content)
or ``new`` (as many new rows). Issue 12's table (``docs/persistence.md``):
``--n-pairs 20000 --n-features 64 --random-rate 0 --working-memory W
--queries Q --torch-rows 5000 --torch-threads 1``.

The bound: ``3 * working_memory + n_queries * (17 * n_negatives + 8 * window + 49)``
bytes, where ``window = n_candidates or n_negatives``. The first term is the
call's scratch: one mining chunk (sized by ``working_memory``: the queries'
float64 copies, keys, exclusions, positive distances, candidate windows),
its brute-force score block (at most half of ``working_memory``) with
torch's selection scratch, and the float64 re-rank (at most 1 MiB). The
second is the outputs, allocated once (ids and distances, 16 bytes per
negative; the random flag, 1; the hard-candidate window, 8 per slot; four
counters and a flag, 33; the positive distance and the anchor row, 16).
The fitted state (the bank, the anchor index) exists before the call and is
not counted. An ``n_queries x n_bank`` distance matrix, 200k x 400k float32 =
298 GiB here, is never formed: the script would not fit in memory if it were.
``tests/mining/test_memory_bound.py`` checks the bound at 1, 4 and 16 MiB
(torch's share measured with its profiler).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import tracemalloc

import numpy as np
import sklearn
import torch
from torch.profiler import ProfilerActivity, profile

from sknegsample import HybridNegativeSampler

MiB = 2**20


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssPeak:
    """Highest resident set size seen while the block runs (sampled every 1 ms)."""

    def __enter__(self):
        self.start = rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.001)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def torch_peak_bytes(prof) -> int:
    """Highest sum of torch's live CPU allocations in a profiled block.

    An op's (net) allocation counts from its start, a free when it happens:
    an upper bound of the true peak.
    """
    events = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()
                    if e.name == "[memory]" or e.self_cpu_memory_usage > 0)
    live = peak = 0
    for _, size in events:
        live += size
        peak = max(peak, live)
    return peak


def bound_bytes(n_queries, n_negatives, window, working_memory_mib):
    return 3 * working_memory_mib * MiB + n_queries * (17 * n_negatives + 8 * window + 49)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=200_000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--working-memory", type=int, default=64, help="MiB")
    parser.add_argument("--n-negatives", type=int, default=1)
    parser.add_argument("--random-rate", type=float, default=0.8)
    parser.add_argument("--algorithm", default="brute")
    parser.add_argument("--queries", choices=["indices", "points", "new"], default="indices")
    parser.add_argument("--torch-rows", type=int, default=0,
                        help="profile torch's allocations on this many queries (0: no)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads (1 is much faster on busy shared cores)")
    args = parser.parse_args(argv)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)

    rng = np.random.RandomState(0)
    point = rng.normal(size=(args.n_pairs, args.n_features)).astype(np.float32)
    counter = point + np.float32(0.1) * rng.normal(size=point.shape).astype(np.float32)
    sampler = HybridNegativeSampler(n_negatives=args.n_negatives,
                                    random_rate=args.random_rate,
                                    algorithm=args.algorithm, random_state=0)
    X, indices = point, np.arange(args.n_pairs)
    if args.queries != "indices":
        indices = None
    if args.queries == "new":
        X = rng.normal(size=point.shape).astype(np.float32)
    torch_peak = 0
    with sklearn.config_context(working_memory=args.working_memory):
        sampler.fit(point, counter)
        # A small call first: lazy imports, torch's thread pool and the
        # allocator's arenas are set up once per process, not per call.
        sampler.transform(X[:16], indices=None if indices is None else indices[:16])
        tracemalloc.start()
        start = time.perf_counter()
        with RssPeak() as rss:
            negatives = sampler.transform(X, indices=indices)
        seconds = time.perf_counter() - start
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if args.torch_rows:
            part = slice(0, args.torch_rows)
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                sampler.transform(X[part], indices=None if indices is None else indices[part])
            torch_peak = torch_peak_bytes(prof)
    window = args.n_negatives
    bound = bound_bytes(len(X), args.n_negatives, window, args.working_memory)
    result = {
        "n_pairs": args.n_pairs, "n_features": args.n_features,
        "n_bank": 2 * args.n_pairs, "working_memory_mib": args.working_memory,
        "n_negatives": args.n_negatives, "random_rate": args.random_rate,
        "algorithm": args.algorithm, "seconds": round(seconds, 1),
        "tracemalloc_peak_mib": round(traced_peak / MiB, 1),
        "rss_extra_peak_mib": round((rss.peak - rss.start) / MiB, 1),
        "torch_peak_mib": round(torch_peak / MiB, 2) if args.torch_rows else None,
        "bound_mib": round(bound / MiB, 1),
        "n_by_n_float32_matrix_mib": round(args.n_pairs * 2 * args.n_pairs * 4 / MiB),
        "output_shape": list(negatives.shape),
    }
    result["within_bound"] = max(traced_peak + torch_peak, rss.peak - rss.start) <= bound
    print(json.dumps(result, indent=2))
    return 0 if result["within_bound"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
