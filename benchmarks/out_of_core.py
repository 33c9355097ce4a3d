"""Mining against a bank larger than memory: peak resident memory against the bank's size.

Run from the repository root (the default writes 2 x 256 MiB of float16 to
a temporary folder and takes a few minutes on 2 cores)::

    python benchmarks/out_of_core.py                        # 1M pairs x 128 float16
    python benchmarks/out_of_core.py --n-pairs 200000 --compare
    python benchmarks/out_of_core.py --dtype float32 --working-memory 32

The points and counters are written to ``.npy`` files (embedding-like data,
the generator of ``benchmarks/ann_1m.py``, written in blocks). A fresh
process then opens them with ``np.load(..., mmap_mode="r")``, fits
``HybridNegativeSampler(random_rate=0)`` on the two memmaps (the bank is
``2 * n_pairs`` rows) and mines one exact hard negative for ``--n-anchors``
random anchors (``transform(X[anchors], indices=anchors)``) under
``sklearn.config_context(working_memory=...)``. It reports:

* the process's peak resident set (``VmHWM``, file pages of mappings
  included) above what it held after its imports (torch and the rest:
  about 400 MB here), and the peak itself;
* ``tracemalloc``'s peak (numpy's allocations);
* the time of ``fit`` and of the mining.

``--compare`` runs the same work on the same files loaded into memory
(``np.load`` without ``mmap_mode``) in another fresh process. The parent
process checks the mined negatives of 200 anchors against an exact float64
search of its own (``--check``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ann_1m import latent_pairs

_CHILD = r"""
import json, sys, time, tracemalloc
import numpy as np, sklearn
from sknegsample import HybridNegativeSampler
from sknegsample.utils._mmap import FileRows

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0

args = json.loads(open(sys.argv[1]).read())
HybridNegativeSampler(random_rate=0.0).fit_transform(np.eye(4, 3, dtype=np.float32),
                                                     np.eye(4, 3, dtype=np.float32))
try:  # reset the high-water mark to the current resident set
    open("/proc/self/clear_refs", "w").write("5")
except OSError:
    pass
baseline = status("VmRSS")
mode = "r" if args["mmap"] else None
point = np.load(args["point"], mmap_mode=mode)
counter = np.load(args["counter"], mmap_mode=mode)
anchors = np.asarray(args["anchors"])
tracemalloc.start()
with sklearn.config_context(working_memory=args["working_memory"]):
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    start = time.perf_counter()
    sampler.fit(point, counter)
    fit_s = time.perf_counter() - start
    fit_peak, after_fit = status("VmHWM"), status("VmRSS")
    try:
        open("/proc/self/clear_refs", "w").write("5")
    except OSError:
        pass
    # The anchors' rows, read without mapping the file (FileRows) or from memory.
    queries = FileRows.from_memmap(point)[anchors] if args["mmap"] else point[anchors]
    start = time.perf_counter()
    negatives = sampler.transform(queries, indices=anchors)[:, 0]
    mine_s = time.perf_counter() - start
traced = tracemalloc.get_traced_memory()[1]
mine_peak = status("VmHWM")
print(json.dumps({"fit_s": fit_s, "mine_s": mine_s, "baseline": baseline,
                  "peak": max(fit_peak, mine_peak), "fit_peak": fit_peak,
                  "after_fit": after_fit, "mine_peak": mine_peak, "traced": traced,
                  "search": type(sampler.search_).__name__,
                  "negatives": negatives.tolist()}))
"""


def write_pairs(folder: Path, n_pairs: int, n_features: int, dtype, block: int = 200_000):
    """Write ``point.npy`` and ``counter.npy`` block by block (the same rows as one call)."""
    paths = folder / "point.npy", folder / "counter.npy"
    files = [np.lib.format.open_memmap(p, mode="w+", dtype=dtype, shape=(n_pairs, n_features))
             for p in paths]
    for start in range(0, n_pairs, block):
        stop = min(start + block, n_pairs)
        point, counter = latent_pairs(stop - start, n_features, seed=start)
        files[0][start:stop], files[1][start:stop] = point, counter
    for f in files:
        f.flush()
    del files
    return paths


def run_child(paths, anchors, working_memory, mmap: bool) -> dict:
    args = {"point": str(paths[0]), "counter": str(paths[1]), "anchors": anchors.tolist(),
            "working_memory": working_memory, "mmap": mmap}
    args_file = Path(paths[0]).with_name("child_args.json")
    args_file.write_text(json.dumps(args))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(args_file)], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def exact_negatives(paths, anchors) -> np.ndarray:
    """Float64 brute force: nearest bank row of each anchor but itself and its positive."""
    point, counter = (np.load(p, mmap_mode="r") for p in paths)
    n_pairs = len(point)
    queries = np.asarray(point[anchors], dtype=np.float64)
    best = np.full(len(anchors), np.inf)
    best_id = np.full(len(anchors), -1)
    for offset, side in ((0, point), (n_pairs, counter)):
        for start in range(0, n_pairs, 100_000):
            rows = np.asarray(side[start:start + 100_000], dtype=np.float64)
            d = ((queries[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2) if \
                len(anchors) * len(rows) <= 2e6 else _sq_distances(queries, rows)
            ids = offset + start + np.arange(len(rows))
            d[(ids[None, :] == anchors[:, None]) | (ids[None, :] == anchors[:, None] + n_pairs)
              ] = np.inf
            d[d == 0] = np.inf  # copies of the anchor are never negatives
            j = np.argmin(d, axis=1)
            better = d[np.arange(len(anchors)), j] < best
            best[better] = d[np.arange(len(anchors)), j][better]
            best_id[better] = ids[j][better]
    return best_id


def _sq_distances(queries, rows):
    diff_sq = np.empty((len(queries), len(rows)))
    for i, q in enumerate(queries):
        diff = rows - q
        diff_sq[i] = np.einsum("ij,ij->i", diff, diff)
    return diff_sq


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-pairs", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=128)
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16")
    parser.add_argument("--n-anchors", type=int, default=20_000)
    parser.add_argument("--working-memory", type=int, default=64, help="MiB")
    parser.add_argument("--dir", default=None, help="where to write the bank (a temp dir)")
    parser.add_argument("--compare", action="store_true",
                        help="also run the in-memory fit on the same files")
    parser.add_argument("--check", type=int, default=200, help="anchors checked exactly")
    args = parser.parse_args(argv)

    folder = Path(args.dir or tempfile.mkdtemp(prefix="sknegsample_ooc_"))
    start = time.perf_counter()
    paths = write_pairs(folder, args.n_pairs, args.n_features, np.dtype(args.dtype))
    bank_bytes = sum(os.path.getsize(p) for p in paths)
    print(f"bank: {2 * args.n_pairs} rows x {args.n_features} {args.dtype} on disk, "
          f"{bank_bytes / 2**20:.0f} MiB ({time.perf_counter() - start:.0f} s to write)",
          flush=True)
    rng = np.random.RandomState(0)
    anchors = np.sort(rng.choice(args.n_pairs, size=min(args.n_anchors, args.n_pairs),
                                 replace=False))
    runs = [("memmap", True)] + ([("in memory", False)] if args.compare else [])
    results = {}
    for name, mmap in runs:
        result = results[name] = run_child(paths, anchors, args.working_memory, mmap)
        growth = result["peak"] - result["baseline"]
        mib = {key: (result[key] - result["baseline"]) / 2**20
               for key in ("fit_peak", "after_fit", "mine_peak")}
        print(f"{name:>9} ({result['search']}): fit {result['fit_s']:.1f} s, mining "
              f"{len(anchors)} anchors {result['mine_s']:.1f} s; peak RSS "
              f"{result['peak'] / 2**20:.0f} MiB = {result['baseline'] / 2**20:.0f} after "
              f"imports + {growth / 2**20:.0f} MiB ({growth / bank_bytes:.2f}x the bank); "
              f"above the imports: fit peak {mib['fit_peak']:.0f}, kept after fit "
              f"{mib['after_fit']:.0f}, mining peak {mib['mine_peak']:.0f} MiB; "
              f"tracemalloc peak {result['traced'] / 2**20:.0f} MiB", flush=True)
    if args.check:
        picked = np.sort(rng.choice(len(anchors), size=min(args.check, len(anchors)),
                                    replace=False))
        expected = exact_negatives(paths, anchors[picked])
        got = np.asarray(results["memmap"]["negatives"])[picked]
        print(f"exact float64 check: {np.mean(got == expected):.4f} of {len(picked)} "
              "anchors agree", flush=True)
        if args.compare:
            same = np.array_equal(results["memmap"]["negatives"],
                                  results["in memory"]["negatives"])
            print(f"memmap and in-memory negatives identical: {same}")


if __name__ == "__main__":
    main()
