"""Rows and columns of ``mine_hard_negatives``' output, in sentence-transformers' layouts.

Each function returns ``(columns, negative_scores, difference_scores,
maximum_possible_samples)``: the columns for ``datasets.Dataset.from_dict``,
then what ST's statistics table is computed from. Row order follows ST:
unique queries in order of first appearance, each query's positives in order
of first appearance, negatives best first.
"""

from __future__ import annotations

import numpy as np

OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")


def format_rows(output_format, *, queries, corpus, pos_ptr, pos_ids, positive_scores, ids,
                scores, output_scores, anchor_column, positive_column, n_rows):
    """Columns of the output dataset; see the module docstring."""
    corpus = np.asarray(corpus, dtype=object)
    queries = np.asarray(queries, dtype=object)
    n_pos = np.diff(pos_ptr)
    rep = np.repeat(np.arange(len(queries)), n_pos)  # expanded row -> query
    anchors = queries[rep]
    positives = corpus[pos_ids]
    finite = np.isfinite(scores)
    num_negatives = ids.shape[1]
    pos_cols = np.repeat(positive_scores[:, None], num_negatives, axis=1)
    if output_format == "triplet":
        keep = finite[rep]
        rows, slots = np.nonzero(keep)
        neg_ids = ids[rep][rows, slots]
        neg_scores = scores[rep][rows, slots]
        data = {anchor_column: anchors[rows].tolist(),
                positive_column: positives[rows].tolist(),
                "negative": corpus[neg_ids].tolist()}
        if output_scores:
            data["scores"] = np.stack([positive_scores[rows], neg_scores], axis=1).tolist()
        return data, neg_scores, pos_cols[keep] - neg_scores, keep.size
    if output_format == "labeled-pair":
        texts_a, texts_b, values = [], [], []
        for q in range(len(queries)):
            start, stop = pos_ptr[q], pos_ptr[q + 1]
            good = np.flatnonzero(finite[q])
            texts_a.extend([queries[q]] * (stop - start + good.size))
            texts_b.extend(positives[start:stop].tolist() + corpus[ids[q, good]].tolist())
            if output_scores:
                values.extend(positive_scores[start:stop].tolist() + scores[q, good].tolist())
            else:
                values.extend([1] * (stop - start) + [0] * good.size)
        data = {anchor_column: texts_a, positive_column: texts_b,
                ("score" if output_scores else "label"): values}
        keep = finite[rep]
        neg_scores = scores[rep][keep]
        return data, neg_scores, pos_cols[keep] - neg_scores, len(queries) * num_negatives + n_rows
    if output_format == "n-tuple":
        keep = finite[rep].all(axis=1)
        kept_ids = ids[rep][keep]
        kept_scores = scores[rep][keep]
        data = {anchor_column: anchors[keep].tolist(), positive_column: positives[keep].tolist()}
        for i in range(num_negatives):
            data[f"negative_{i + 1}"] = corpus[kept_ids[:, i]].tolist()
        if output_scores:
            data["scores"] = np.concatenate([positive_scores[keep][:, None], kept_scores],
                                            axis=1).tolist()
        neg_scores = kept_scores.ravel()
        return data, neg_scores, pos_cols[keep].ravel() - neg_scores, keep.size
    if output_format == "labeled-list":
        keep = finite[rep]
        any_row = np.flatnonzero(keep.any(axis=1))
        docs, values = [], []
        for r in any_row:
            good = keep[r]
            q = rep[r]
            docs.append([positives[r]] + corpus[ids[q][good]].tolist())
            if output_scores:
                values.append([float(positive_scores[r])] + scores[q][good].tolist())
            else:
                values.append([1] + [0] * int(good.sum()))
        data = {anchor_column: anchors[any_row].tolist(), positive_column: docs,
                ("scores" if output_scores else "labels"): values}
        neg_scores = scores[rep][keep]
        return data, neg_scores, pos_cols[keep] - neg_scores, keep.shape[0]
    raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}; got {output_format!r}.")


def print_statistics(positive_scores, negative_scores, difference_scores, stats, params,
                     n_output, maximum_possible_samples):
    """Print ST's statistics table and skip counts."""
    row = "{:<6} {:>14} {:>14} {:>14}"
    print(row.format("Metric", "Positive", "Negative", "Difference"))
    print(row.format("Count", f"{len(positive_scores):,}", f"{len(negative_scores):,}", ""))
    functions = [
        ("mean", np.mean), ("median", np.median), ("std", lambda v: np.std(v, ddof=1)),
        ("min", np.min), ("25%", lambda v: np.quantile(v, 0.25)),
        ("50%", lambda v: np.quantile(v, 0.5)), ("75%", lambda v: np.quantile(v, 0.75)),
        ("max", np.max),
    ]
    for name, function in functions:
        cells = [f"{function(v):.4f}" if len(v) > 1 else "nan"
                 for v in (positive_scores, negative_scores, difference_scores)]
        print(row.format(name.capitalize(), *cells))
    for name in ("absolute_margin", "relative_margin", "max_score", "min_score"):
        if stats.get(name):
            print(f"Skipped {stats[name]:,} potential negatives ({stats[name + '_ratio']:.2%}) "
                  f"due to the {name} of {params[name]}.")
    if stats.get("copies"):
        print(f"Skipped {stats['copies']:,} copies of the anchor.")
    if stats.get("max_negative_uses"):
        print(f"Replaced {stats['max_negative_uses']:,} picks over max_negative_uses="
              f"{params['max_negative_uses']}.")
    missing = maximum_possible_samples - n_output
    if missing > 0:
        solutions = ["range_max"]
        if params["range_min"] > 0:
            solutions.append("range_min")
        solutions += [name for name in ("absolute_margin", "relative_margin", "max_score")
                      if params[name] is not None]
        joined = solutions[0] if len(solutions) == 1 else \
            ", ".join(solutions[:-1]) + " and " + solutions[-1]
        print(f"Could not find enough negatives for {missing} samples "
              f"({missing / maximum_possible_samples:.2%}). Consider adjusting the {joined} "
              f"parameter{'s' if len(solutions) > 1 else ''} if you'd like to find more valid "
              "negatives.")
