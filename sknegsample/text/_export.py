"""Mined negatives as training records: triplets or n-tuples of text, JSON Lines."""

from __future__ import annotations

import json

import numpy as np

from ..mining._bank import bank_ids_to_pairs
from ..utils._io import atomic_write
from ._embedder import check_texts


def export_triplets(negatives, point_text, counter_text, *, indices=None,
                    output_format="triplet", path=None) -> list[dict]:
    """Mined negatives as (anchor, positive, negative) training records.

    The records have the columns sentence-transformers' losses take in this
    order (``MultipleNegativesRankingLoss``, ``TripletLoss``...), named as
    ``sentence_transformers.util.mine_hard_negatives`` names them:
    ``datasets.Dataset.from_list(records)`` is a training set.

    Parameters
    ----------
    negatives : array-like of int of shape (n_anchors, n_negatives) or (n_anchors,)
        Bank ids from :meth:`HybridNegativeSampler.transform` or
        ``fit_transform`` in paired mode: ``id < n_pairs`` is point ``id``,
        otherwise counter ``id - n_pairs``.
    point_text : sequence of str of shape (n_pairs,)
        Text of each point (the anchors).
    counter_text : sequence of str of shape (n_pairs,)
        Text of each counter (the positives).
    indices : array-like of int of shape (n_anchors,) or None, default=None
        Pair of each row of ``negatives`` (as passed to ``transform``). None
        means row ``i`` is pair ``i``, which needs ``n_anchors == n_pairs``.
    output_format : {"triplet", "n-tuple"}, default="triplet"
        ``"triplet"``: one ``{"anchor", "positive", "negative"}`` record per
        negative. ``"n-tuple"``: one ``{"anchor", "positive", "negative_1",
        ..., "negative_n"}`` record per anchor.
    path : str, path-like or None, default=None
        Also write the records there as JSON Lines (UTF-8, one object per
        line, written atomically).

    Returns
    -------
    records : list of dict
        In anchor order, then negative order.

    See Also
    --------
    sknegsample.bank_ids_to_pairs : How a bank id maps to a point or counter.

    Examples
    --------
    >>> from sknegsample.text import export_triplets
    >>> point_text = ["ls - list files", "cp - copy files", "rm - remove files"]
    >>> counter_text = ["List information about the FILEs.", "Copy SOURCE to DEST.",
    ...                 "rm removes each specified file."]
    >>> export_triplets([[4], [2]], point_text, counter_text, indices=[0, 1])
    ... # doctest: +NORMALIZE_WHITESPACE
    [{'anchor': 'ls - list files', 'positive': 'List information about the FILEs.',
      'negative': 'Copy SOURCE to DEST.'},
     {'anchor': 'cp - copy files', 'positive': 'Copy SOURCE to DEST.',
      'negative': 'rm - remove files'}]
    """
    if output_format not in ("triplet", "n-tuple"):
        raise ValueError(f"output_format must be 'triplet' or 'n-tuple'; got {output_format!r}.")
    points = check_texts(point_text, input_name="point_text")
    counters = check_texts(counter_text, input_name="counter_text")
    n_pairs = len(points)
    if len(counters) != n_pairs:
        raise ValueError(
            "point_text and counter_text must have one text per pair: got "
            f"{n_pairs} point texts and {len(counters)} counter texts."
        )
    ids = np.asarray(negatives)
    if ids.ndim == 1:
        ids = ids[:, None]
    if ids.ndim != 2:
        raise ValueError(f"negatives must be 1-D or 2-D bank ids; got shape {ids.shape}.")
    if indices is None:
        if ids.shape[0] != n_pairs:
            raise ValueError(
                "negatives must have one row per pair when indices is None: got "
                f"{ids.shape[0]} rows for {n_pairs} pairs. Pass the indices given "
                "to transform."
            )
        rows = np.arange(n_pairs)
    else:
        rows = np.asarray(indices)
        if rows.shape != (ids.shape[0],) or (rows.size and not np.issubdtype(rows.dtype,
                                                                              np.integer)):
            raise ValueError(
                f"indices must be {ids.shape[0]} integers, one per row of negatives; got "
                f"an array of shape {rows.shape} and dtype {rows.dtype}."
            )
        if rows.size and (rows.min() < 0 or rows.max() >= n_pairs):
            raise ValueError(f"indices must lie in [0, {n_pairs}); got "
                             f"{int(rows[(rows < 0) | (rows >= n_pairs)][0])}.")
    side, index = bank_ids_to_pairs(ids, n_pairs)
    bank = (points, counters)
    records = []
    for row, pair in enumerate(rows.tolist()):
        anchor = {"anchor": points[pair], "positive": counters[pair]}
        texts = [bank[s][i] for s, i in zip(side[row].tolist(), index[row].tolist(),
                                                    strict=True)]
        if output_format == "triplet":
            records.extend({**anchor, "negative": text} for text in texts)
        else:
            records.append({**anchor, **{f"negative_{j}": text
                                         for j, text in enumerate(texts, start=1)}})
    if path is not None:
        write_jsonl(records, path)
    return records


def write_jsonl(records, path) -> None:
    """Write dicts as JSON Lines (UTF-8, one object per line), atomically."""
    with atomic_write(path, mode="w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False))
            fh.write("\n")

