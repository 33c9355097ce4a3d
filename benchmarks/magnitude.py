"""Mining embeddings of any magnitude: time, peak memory and re-queries against scale 1.

Run: ``python benchmarks/magnitude.py`` (4000 x 32 pairs, ``random_rate=0``;
``--help`` for the knobs). For each scale (1, 1e-30 and 1e30 in float32; 1,
1e-300 and 1e300 in float64) it times ``fit`` + ``transform`` (median of
``--repeat`` runs, in this process, next to scale 1), measures the peak with
tracemalloc in one more run, and counts the rows the completeness check
asked again by wrapping the fitted backend's ``candidates`` (every round of a
plain search, every re-query of the shared anchor block) and
``bank_row_candidates`` (the shared block's first round). Issue 12, item 9:
1e-30 once re-queried every row against the whole bank (300 s and 1.1 GiB
instead of 1.4 s and 68 MiB here); ``docs/reliability.md`` has the table.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc

import numpy as np

from sknegsample import HybridNegativeSampler

MiB = 2**20
SCALES = [(1.0, np.float32), (1e-30, np.float32), (1e30, np.float32),
          (1.0, np.float64), (1e-300, np.float64), (1e300, np.float64)]


def mine(point, counter, queries, calls=None):
    """``fit(point, counter).transform(queries)``, recording backend calls ``(rows, k)``."""
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0).fit(point, counter)
    if calls is not None:
        backend = sampler.search_.backend_
        for name in ("candidates", "bank_row_candidates"):
            method = getattr(backend, name, None)
            if method is None:
                continue

            def counted(*args, _method=method, _name=name, **kwargs):
                rows = len(args[1]) if _name == "candidates" else args[1] - args[0]
                calls.append((rows, args[2]))
                return _method(*args, **kwargs)

            setattr(backend, name, counted)
        first_fetch = sampler.search_._first_fetch(sampler.n_negatives)
        calls.append((0, first_fetch))  # marker: the first round's k
    return sampler.transform(queries)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-pairs", type=int, default=4000)
    parser.add_argument("--n-features", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queries", choices=["points", "new"], default="points")
    args = parser.parse_args(argv)

    rng = np.random.RandomState(0)
    point = rng.normal(size=(args.n_pairs, args.n_features))
    counter = point + 0.1 * rng.normal(size=point.shape)
    new = rng.normal(size=point.shape)
    reference = {}
    # One untimed run first: torch's thread pool and lazy imports start once.
    mine(point.astype(np.float32), counter.astype(np.float32), point.astype(np.float32))
    for scale, dtype in SCALES:
        p, c = np.asarray(point * scale, dtype), np.asarray(counter * scale, dtype)
        q = p if args.queries == "points" else np.asarray(new * scale, dtype)
        row = {"scale": f"{scale:g}", "dtype": np.dtype(dtype).name}
        try:
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                mine(p, c, q)
                times.append(time.perf_counter() - start)
            calls = []
            negatives = mine(p, c, q, calls)
            gc.collect()
            tracemalloc.start()
            mine(p, c, q)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        except ValueError as exc:
            print(json.dumps({**row, "error": str(exc)[:160]}))
            continue
        first_fetch = calls.pop(0)[1]
        reference.setdefault(np.dtype(dtype).name, negatives)
        row.update(
            median_s=round(statistics.median(times), 2),
            tracemalloc_peak_mib=round(peak / MiB, 1),
            rows_requeried=sum(rows for rows, k in calls if k > first_fetch),
            largest_k=max((k for _, k in calls), default=0),
            same_negatives_as_scale_1=bool(np.array_equal(
                negatives, reference[np.dtype(dtype).name])),
        )
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
