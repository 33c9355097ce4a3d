"""Accuracy@1 of BallTreePairScorer over 5-fold CV on the shipped real pairs.

Writes the table in docs/scorer_quality.md. Run from the repository root:

    .venv/bin/python tools/scorer_quality.py            # prints the table
    .venv/bin/python tools/scorer_quality.py --write    # and updates the doc

Each row is one cross_validate run (KFold(5, shuffle=True, random_state=0),
random_state=0 everywhere); "retrieval alone" is the same folds without the
head (it does not depend on the head, so it is read from the first row).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import KFold, cross_validate

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import load_manpage_pairs
from sknegsample.rerank import BallTreePairScorer

DOC = Path(__file__).resolve().parents[1] / "docs" / "scorer_quality.md"
BEGIN, END = "<!-- table:begin -->", "<!-- table:end -->"


def _sampler(random_rate, prototype=False):
    if prototype:  # one nearest hard negative, as the prototype mined
        return HybridNegativeSampler(random_rate=random_rate)
    # The scorer's default sampler (topk=10), with random_rate varied.
    return HybridNegativeSampler(random_rate=random_rate, n_negatives=4, n_candidates=20,
                                 hard_selection="uniform")


CONFIGS = [
    ("head, random only (`random_rate=1`)", dict(sampler=_sampler(1.0))),
    ("head, hard only (`random_rate=0`)", dict(sampler=_sampler(0.0))),
    ("head, hybrid `random_rate=0.8` (default)", dict()),
    ("head, curriculum `max(0, 0.8 - 0.02 epoch)`", dict(curriculum=True)),
    ("1 nearest negative, `random_rate=0.8`", dict(sampler=_sampler(0.8, True))),
    ("1 nearest negative, `random_rate=0`", dict(sampler=_sampler(0.0, True))),
    ("prototype head (linear, no distance), 1 nearest, 0.8",
     dict(sampler=_sampler(0.8, True), hidden_units=0, include_distance=False)),
]


def _evaluate(estimator, X, y):
    return estimator.evaluate(X, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 avoids contention on shared machines)")
    parser.add_argument("--write", action="store_true", help="update docs/scorer_quality.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_manpage_pairs()
    cv = KFold(args.folds, shuffle=True, random_state=0)
    rows, ceiling = [], None
    for name, params in CONFIGS:
        scorer = BallTreePairScorer(max_epochs=args.max_epochs, random_state=0, **params)
        start = time.perf_counter()
        res = cross_validate(scorer, data.point, data.counter, cv=cv, scoring=_evaluate)
        elapsed = time.perf_counter() - start
        if ceiling is None:
            ceiling = res["test_recall@k"]
            rows.append(("retrieval alone (no head)", res["test_retrieval_accuracy@1"],
                         res["test_retrieval_mrr@k"], None))
            print(_row(*rows[-1]), flush=True)
        rows.append((name, res["test_accuracy@1"], res["test_mrr@k"], elapsed))
        print(_row(*rows[-1]), flush=True)
    table = "\n".join([
        "| configuration | accuracy@1 (mean ± std) | MRR@10 | fit + score time, 5 folds (s) |",
        "|---|---|---|---|",
        *(_row(*r) for r in rows),
        "",
        f"Recall@10 of the retrieval stage (the ceiling of any re-ranking): "
        f"{np.mean(ceiling):.3f} ± {np.std(ceiling):.3f}.",
    ])
    print(table)
    if args.write:
        text = DOC.read_text()
        text = re.sub(f"{BEGIN}.*{END}", f"{BEGIN}\n{table}\n{END}", text, flags=re.S)
        DOC.write_text(text)


def _row(name, acc, mrr, elapsed):
    seconds = "" if elapsed is None else f"{elapsed:.0f}"
    return f"| {name} | {np.mean(acc):.3f} ± {np.std(acc):.3f} | {np.mean(mrr):.3f} | {seconds} |"


if __name__ == "__main__":
    main()
