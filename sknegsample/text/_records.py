"""Mined bank ids as records in any of sentence-transformers' four output layouts."""

from __future__ import annotations

import numpy as np

from ..mining._bank import bank_ids_to_pairs
from ._export import export_triplets, write_jsonl
from ._mine_format import OUTPUT_FORMATS


def st_records(negatives, point_text, counter_text, *, output_format="triplet", point=None,
               counter=None, path=None) -> list[dict]:
    """Records in the layout ``mine_hard_negatives(output_format=...)`` produces.

    Parameters
    ----------
    negatives : array-like of int of shape (n_pairs, n_negatives)
        Bank ids from :class:`~sknegsample.HybridNegativeSampler` (paired mode).
    point_text, counter_text : sequence of str
        Text of each point and counter.
    output_format : {"triplet", "n-tuple", "labeled-pair", "labeled-list"}
        ST's layouts, with columns ``anchor`` and ``positive``.
    point, counter : array-like of shape (n_pairs, n_features) or None
        With both, add ST's score columns (``output_scores=True``): the cosine
        similarity of the anchor to the positive and to each negative.
    path : str or path-like or None
        Also write the records there as JSON Lines.

    Examples
    --------
    >>> from sknegsample.text._records import st_records
    >>> st_records([[3], [2]], ["p0", "p1"], ["c0", "c1"], output_format="labeled-pair")
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'anchor': 'p0', 'positive': 'c0', 'label': 1},
     {'anchor': 'p0', 'positive': 'c1', 'label': 0},
     {'anchor': 'p1', 'positive': 'c1', 'label': 1},
     {'anchor': 'p1', 'positive': 'c0', 'label': 0}]
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {OUTPUT_FORMATS}; got {output_format!r}.")
    ids = np.asarray(negatives)
    ids = ids[:, None] if ids.ndim == 1 else ids
    tuples = export_triplets(ids, point_text, counter_text, output_format="n-tuple")
    scores = None
    if (point is None) != (counter is None):
        raise ValueError("Pass both point and counter embeddings for scores, or neither.")
    if point is not None:
        point = _unit(np.asarray(point, dtype=np.float64))
        counter = _unit(np.asarray(counter, dtype=np.float64))
        if point.shape != counter.shape or point.shape[0] != len(tuples):
            raise ValueError(f"point and counter must both have shape ({len(tuples)}, "
                             f"n_features); got {point.shape} and {counter.shape}.")
        side, index = bank_ids_to_pairs(ids, len(tuples))
        bank = np.stack([point, counter])
        negative = bank[side, index]  # (n_pairs, n_negatives, n_features)
        scores = np.concatenate([(point * counter).sum(1)[:, None],
                                 np.einsum("nd,nkd->nk", point, negative)], axis=1)
    records = []
    for row, record in enumerate(tuples):
        base = {"anchor": record["anchor"], "positive": record["positive"]}
        texts = [record[f"negative_{j + 1}"] for j in range(ids.shape[1])]
        values = None if scores is None else scores[row].tolist()
        if output_format == "triplet":
            for j, text in enumerate(texts):
                item = {**base, "negative": text}
                if values is not None:
                    item["scores"] = [values[0], values[j + 1]]
                records.append(item)
        elif output_format == "n-tuple":
            item = dict(record)
            if values is not None:
                item["scores"] = values
            records.append(item)
        elif output_format == "labeled-pair":
            key = "label" if values is None else "score"
            for j, text in enumerate([base["positive"], *texts]):
                value = int(j == 0) if values is None else values[j]
                records.append({"anchor": base["anchor"], "positive": text, key: value})
        else:
            item = {"anchor": base["anchor"], "positive": [base["positive"], *texts]}
            if values is None:
                item["labels"] = [1] + [0] * len(texts)
            else:
                item["scores"] = values
            records.append(item)
    if path is not None:
        write_jsonl(records, path)
    return records


def _unit(rows):
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)
