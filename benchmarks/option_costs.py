"""What each sampler option costs next to plain exact mining, side by side.

Run from the repository root (``compare_search.py --option`` calls this)::

    python benchmarks/compare_search.py --dataset docstrings --option all
    python benchmarks/compare_search.py --n-pairs 200000 --n-features 128 \\
        --option all --sample 4000
    python benchmarks/compare_search.py --dataset docstrings --option positive_margin \\
        --with-st

Every option runs on the same data in this one process, interleaved with the
plain run (``random_rate=0``, ``metric=--metric``), and the table gives the
median of ``--repeat`` runs and the ratio to plain. The timed call is the
natural path, ``fit(point, counter).transform(point[:sample])``: the whole
mining job when ``--sample`` is not given, otherwise the fit plus
``--sample`` anchors (the per-anchor cost of a big bank without hours of
runtime). ``--with-st`` adds sentence-transformers' ``mine_hard_negatives``
with and without ``relative_margin=0.05`` against our guarded miner on the
same embeddings, encoding excluded for both (ST's model encodes by dictionary
lookup, as a warm ``cache_folder`` would). A ``before`` column comes from
running the same command against an older checkout
(``PYTHONPATH=../old python ...``): options that checkout does not know are
skipped, not failed.
"""

from __future__ import annotations

import gc
import statistics
import time
import warnings

import numpy as np
from benchmarks.common import plain_distances_of, sampler_options

from sknegsample import HybridNegativeSampler
from sknegsample.exceptions import GuardScaleWarning


def _mine(point, counter, sample, params):
    sampler = HybridNegativeSampler(**params)
    with warnings.catch_warnings():
        # A ratio guard on unit rows with euclidean distance warns: measured anyway.
        warnings.simplefilter("ignore", GuardScaleWarning)
        sampler.fit(point, counter)
        queries = point if sample is None else point[:sample]
        try:
            negatives, info = sampler.transform(queries, return_info=True)
        except TypeError:  # an older sampler: no return_info
            return sampler.transform(queries), {}
    return negatives, dict(info.n_skipped)


def compare_options(point, counter, label, *, names, metric, repeat, sample=None,
                    with_st=False):
    """Print the option table; return ``{name: (median seconds, ratio)}``."""
    base = {"random_rate": 0.0, "random_state": 0, "metric": metric}
    plain = HybridNegativeSampler(**base).fit(point, counter)
    queries = point if sample is None else point[:sample]
    plain_distances = plain_distances_of(plain, queries)
    options = sampler_options(plain_distances)
    if names != ["all"]:
        options = {name: options[name] for name in names}
    runs = {"plain": base}
    for name, params in options.items():
        try:  # an older checkout may not know the option
            HybridNegativeSampler(**{**base, **params})._validate_params()
        except (TypeError, ValueError) as exc:
            print(f"  skipped {name}: this sampler does not take it ({exc})")
            continue
        runs[name] = {**base, **params}
    times = {name: [] for name in runs}
    skipped = {}
    for _ in range(repeat):
        for name, params in runs.items():
            gc.collect()
            start = time.perf_counter()
            _, skipped[name] = _mine(point, counter, sample, params)
            times[name].append(time.perf_counter() - start)
    what = "fit + transform(point)" if sample is None else \
        f"fit + transform(point[:{sample}])"
    print(f"\ndata: {label}; metric={metric}; {what}; medians of {repeat}, one process")
    print("| option | parameters | seconds | x plain | skipped |")
    print("| --- | --- | --- | --- | --- |")
    reference = statistics.median(times["plain"])
    table = {}
    for name, values in times.items():
        median = statistics.median(values)
        table[name] = (median, median / reference)
        extra = {k: v for k, v in runs[name].items() if base.get(k, object()) != v}
        counts = ", ".join(f"{k} {v}" for k, v in skipped[name].items() if v) or "-"
        print(f"| {name} | {extra or ''} | {median:.3g} | {median / reference:.2f} | "
              f"{counts} |")
    if with_st:
        table.update(compare_with_st(point, counter, repeat))
    return table


def guard_skips_by_metric(point, counter, margin=0.95, sample=None):
    """Candidates ``positive_margin`` struck out under each metric, on unit-norm rows."""
    unit_point = point / np.linalg.norm(point, axis=1, keepdims=True)
    unit_counter = counter / np.linalg.norm(counter, axis=1, keepdims=True)
    print(f"\npositive_margin={margin} on unit-norm rows: candidates struck out")
    for metric in ("cosine", "euclidean"):
        _, skipped = _mine(unit_point, unit_counter, sample,
                           {"random_rate": 0.0, "random_state": 0, "metric": metric,
                            "positive_margin": margin})
        print(f"  metric={metric}: {skipped.get('guards', 'n/a')}")


def compare_with_st(point, counter, repeat):
    """ST's miner with and without relative_margin against ours, encoding excluded."""
    import datasets
    from finetune import _bundled_model, _lookup_encoder, _quiet
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text import mine_hard_negatives

    n = len(point)
    queries, docs = [f"q{i}" for i in range(n)], [f"d{i}" for i in range(n)]
    unit = {name: rows / np.linalg.norm(rows, axis=1, keepdims=True)
            for name, rows in (("point", point), ("counter", counter))}
    table = dict(zip(queries, unit["point"], strict=True)) | dict(
        zip(docs, unit["counter"], strict=True))
    model = _lookup_encoder(_bundled_model(), table)
    ds = datasets.Dataset.from_dict({"query": queries, "answer": docs})
    common = {"num_negatives": 1, "output_format": "n-tuple", "verbose": False}
    runs = {
        "ST": lambda: _quiet(st_mine, ds, model, **common),
        "ST relative_margin=0.05": lambda: _quiet(st_mine, ds, model, relative_margin=0.05,
                                                  **common),
        "ours": lambda: mine_hard_negatives(ds, anchor_embeddings=unit["point"],
                                            positive_embeddings=unit["counter"], **common),
        "ours relative_margin=0.05": lambda: mine_hard_negatives(
            ds, anchor_embeddings=unit["point"], positive_embeddings=unit["counter"],
            relative_margin=0.05, **common),
        # The sampler's own guard on the same job: counters only, cosine,
        # fit(point, counter).transform(point) (ST's relative_margin=0.05 is
        # positive_margin=0.95 on unit rows).
        "sampler positive_margin=0.95": lambda: _mine(
            unit["point"], unit["counter"], None,
            {"random_rate": 0.0, "random_state": 0, "metric": "cosine",
             "negative_pool": "counters", "positive_margin": 0.95}),
    }
    times = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\nsentence-transformers' mine_hard_negatives on the same {n} pairs "
          f"(encoding excluded, medians of {repeat})")
    print("| miner | seconds | ST relative_margin / this |")
    print("| --- | --- | --- |")
    for name, median in medians.items():
        print(f"| {name} | {median:.3g} | {medians['ST relative_margin=0.05'] / median:.2f} |")
    return {f"st:{name}": (median, None) for name, median in medians.items()}
