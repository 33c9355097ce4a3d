"""Row agreement with sentence-transformers' ``mine_hard_negatives``, per family and format.

Prints the figures that ``tests/text/test_mine_differential.py`` asserts
(>= 99% each) as a table: the same 220 bundled man-page rows, the same
parameter families, output formats and comparison (texts equal, scores to
1e-5), plus the precomputed-embedding and stand-in cross-encoder cases::

    HF_HUB_OFFLINE=1 python benchmarks/st_agreement.py
"""

from __future__ import annotations

import os
import sys

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "text"))


def main():
    import test_mine_differential as diff  # the test's own families, formats and comparison
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text import mine_hard_negatives
    from sknegsample.text._embedder import _default_model_path

    data, table = diff.bundled_lookup()
    model = diff.patch_encoder(
        diff._quiet(SentenceTransformer, _default_model_path(), device="cpu"), table)
    anchors = list(data.point_text[:diff.N_ANCHORS]) + list(data.point_text[:diff.N_SECOND])
    positives = list(data.counter_text[:diff.N_ANCHORS]) + \
        list(data.counter_text[diff.N_ANCHORS:diff.N_ANCHORS + diff.N_SECOND])
    dataset = diff.datasets.Dataset.from_dict({"query": anchors, "answer": positives})
    extra_corpus = list(data.counter_text[300:400])

    formats = [f"{f}{' +scores' if s else ''}" for f, s in diff.FORMATS]
    print(f"Row agreement (%) with ST's mine_hard_negatives, {len(dataset)} rows "
          f"({diff.N_ANCHORS} anchors, {diff.N_SECOND} with a second positive); "
          "cells: agreement (ST's output rows)")
    print("| family | " + " | ".join(formats) + " |")
    print("| --- " * (len(formats) + 1) + "|")
    lowest = 1.0
    for family, params in diff.FAMILIES.items():
        cells = []
        for output_format, output_scores in diff.FORMATS:
            kwargs = dict(params, output_format=output_format, output_scores=output_scores,
                          verbose=False)
            if kwargs.get("corpus") == "extra":
                kwargs["corpus"] = extra_corpus
            theirs = diff._quiet(st_mine, dataset, model, **kwargs)
            ours = diff._quiet(mine_hard_negatives, dataset, model, **kwargs)
            agreement = diff._agreement(ours, theirs)
            lowest = min(lowest, agreement)
            cells.append(f"{100 * agreement:.1f} ({len(theirs)})")
        print(f"| {family} | " + " | ".join(cells) + " |")

    kwargs = dict(relative_margin=0.05, num_negatives=4, output_format="n-tuple",
                  output_scores=True, corpus=extra_corpus, verbose=False)
    theirs = diff._quiet(st_mine, dataset, model, **kwargs)
    ours = mine_hard_negatives(
        dataset, anchor_embeddings=np.stack([table[t] for t in dataset["query"]]),
        positive_embeddings=np.stack([table[t] for t in dataset["answer"]]),
        corpus_embeddings=np.stack([table[t] for t in extra_corpus]), **kwargs)
    extra = [("precomputed embeddings (relative_margin, corpus, n-tuple)",
              diff._agreement(ours, theirs), len(theirs))]
    for params in ({"absolute_margin": 0.0}, {"max_score": 0.8},
                   {"relative_margin": 0.1, "output_format": "n-tuple"}):
        theirs = diff._quiet(st_mine, dataset, model, cross_encoder=diff._HashScorer(),
                             verbose=False, output_scores=True, **params)
        ours = diff._quiet(mine_hard_negatives, dataset, model, cross_encoder=diff._HashScorer(),
                           verbose=False, output_scores=True, **params)
        extra.append((f"stand-in cross_encoder, {params}", diff._agreement(ours, theirs),
                      len(theirs)))
    print("\n| case | agreement % | ST rows |")
    print("| --- | --- | --- |")
    for name, agreement, n_rows in extra:
        lowest = min(lowest, agreement)
        print(f"| {name} | {100 * agreement:.1f} | {n_rows} |")
    print(f"\nlowest agreement: {100 * lowest:.1f}%")


if __name__ == "__main__":
    main()
