"""TREC run files and qrels: the ranked lists in the format IR tools read.

A run file has one line per (query, document): ``qid Q0 docid rank score
tag``; a qrels file one line per relevant document: ``qid 0 docid 1``. ranx,
trec_eval, pytrec_eval and BEIR read both.

Tools re-sort a run by score and break ties their own way (trec_eval by
document id, ranx arbitrarily), so a tie could reorder what we ranked. The
written scores are therefore strictly decreasing along each list: the real
score (the head's margin, or minus the retrieval distance) where it already
is, else the largest float below the previous line's score (``np.nextafter``,
one ulp down). The order any tool reads back is ours, and the scores keep
their meaning for score-based fusion.
"""

from __future__ import annotations

import numpy as np

from ..utils._io import atomic_write


def write_trec_run(path, ranked_ids, scores=None, *, query_ids=None, doc_ids=None,
                   tag="sknegsample"):
    """Write ranked lists as a TREC run file, ``qid Q0 docid rank score tag`` per line.

    Parameters
    ----------
    path : str or path-like
        Destination, written atomically (:func:`~sknegsample.utils._io.atomic_write`).
    ranked_ids : array-like of int of shape (n_queries, n_ranked)
        Ids per query, best first; ``-1`` (padding) is skipped.
    scores : array-like of float of shape (n_queries, n_ranked) or None, default=None
        Non-increasing along each row. Ties are written one ulp apart, so
        that a tool re-sorting by score reads back this order. None writes
        ``n_ranked - rank + 1``.
    query_ids : sequence of str of length n_queries or None, default=None
        Name of each query; None uses its row number.
    doc_ids : sequence of str or None, default=None
        Name of each id (``doc_ids[i]`` for id ``i``); None uses the id.
    tag : str, default="sknegsample"
        The run's name, the last column.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sknegsample.evaluation import write_trec_run
    >>> path = Path(tempfile.mkdtemp()) / "run.trec"
    >>> write_trec_run(path, [[4, 2, -1], [0, 3, 1]], [[2.5, 2.5, -1.0], [0.9, 0.1, 0.0]],
    ...                doc_ids=["d0", "d1", "d2", "d3", "d4"])
    >>> print(path.read_text(), end="")
    0 Q0 d4 1 2.5 sknegsample
    0 Q0 d2 2 2.4999999999999996 sknegsample
    1 Q0 d0 1 0.9 sknegsample
    1 Q0 d3 2 0.1 sknegsample
    1 Q0 d1 3 0.0 sknegsample
    """
    ranked = _check_ids(ranked_ids, "ranked_ids")
    if scores is None:
        scores = np.broadcast_to(np.arange(ranked.shape[1], 0, -1, dtype=np.float64),
                                 ranked.shape)
    written = strictly_decreasing(scores, ranked)
    qids = _names(query_ids, ranked.shape[0], "query_ids")
    _check_tag(tag)
    names = _doc_names(doc_ids, ranked)
    with atomic_write(path, mode="w") as fh:
        for q, (row, row_scores) in enumerate(zip(ranked, written, strict=True)):
            for rank, (doc, score) in enumerate(zip(row[row >= 0], row_scores[row >= 0],
                                                    strict=True), start=1):
                fh.write(f"{qids[q]} Q0 {names(doc)} {rank} {float(score)!r} {tag}\n")


def write_trec_qrels(path, true_ids, *, query_ids=None, doc_ids=None):
    """Write each query's relevant ids as TREC qrels, ``qid 0 docid 1`` per line.

    Parameters
    ----------
    path : str or path-like
        Destination, written atomically.
    true_ids : array-like of int of shape (n_queries,) or (n_queries, max_relevant)
        Relevant ids, one per query or rows padded with ``-1``
        (:mod:`sknegsample.metrics`).
    query_ids, doc_ids : sequence of str or None, default=None
        Names, as in :func:`write_trec_run`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sknegsample.evaluation import write_trec_qrels
    >>> path = Path(tempfile.mkdtemp()) / "qrels.trec"
    >>> write_trec_qrels(path, [[0, 3], [1, -1]], query_ids=["a", "b"])
    >>> print(path.read_text(), end="")
    a 0 0 1
    a 0 3 1
    b 0 1 1
    """
    truth = _check_ids(true_ids, "true_ids")
    truth = truth.reshape(truth.shape[0], -1)
    qids = _names(query_ids, truth.shape[0], "query_ids")
    names = _doc_names(doc_ids, truth)
    with atomic_write(path, mode="w") as fh:
        for q, row in enumerate(truth):
            for doc in np.unique(row[row >= 0]):
                fh.write(f"{qids[q]} 0 {names(doc)} 1\n")


def strictly_decreasing(scores, ranked_ids=None) -> np.ndarray:
    """``scores`` made strictly decreasing along each row, ties one ulp apart.

    Entries where ``ranked_ids`` is ``-1`` (padding) are ignored and returned
    as they are.

    Examples
    --------
    >>> from sknegsample.evaluation._runfiles import strictly_decreasing
    >>> strictly_decreasing([[3.0, 1.0, 1.0, 1.0]]).tolist() == [
    ...     [3.0, 1.0, np.nextafter(1.0, 0), np.nextafter(np.nextafter(1.0, 0), 0)]]
    True
    """
    scores = np.array(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D, one row per query; got shape {scores.shape}.")
    live = np.ones(scores.shape, dtype=bool) if ranked_ids is None else \
        np.asarray(ranked_ids) >= 0
    if ranked_ids is not None and np.shape(ranked_ids) != scores.shape:
        raise ValueError("scores must have the shape of ranked_ids "
                         f"{np.shape(ranked_ids)}; got {scores.shape}.")
    if not np.all(np.isfinite(scores[live])):
        raise ValueError("scores must be finite where an id is ranked; got NaN or infinity.")
    # Padding (inf here) never lowers the running minimum nor is checked itself.
    given = np.where(live, scores, np.inf)
    lowest = np.minimum.accumulate(given, axis=1)
    rising = live[:, 1:] & (given[:, 1:] > lowest[:, :-1])
    if np.any(rising):
        q, j = (int(i[0]) for i in np.nonzero(rising))
        raise ValueError(
            "scores must be non-increasing along each row (best first); got "
            f"{float(given[q, j + 1])!r} after {float(lowest[q, j])!r} in row {q}, "
            f"column {j + 1}."
        )
    previous = np.full(scores.shape[0], np.inf)
    for j in range(scores.shape[1]):
        column, here = scores[:, j], live[:, j]
        column[here] = np.minimum(column[here], np.nextafter(previous[here], -np.inf))
        previous = np.where(here, column, previous)
    return scores


def _check_ids(ids, name):
    ids = np.asarray(ids)
    if ids.ndim not in ((2,) if name == "ranked_ids" else (1, 2)):
        raise ValueError(f"{name} must be 2-D, one row per query; got shape {ids.shape}.")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"{name} must hold integer ids; got dtype {ids.dtype}.")
    return ids


def _names(names, n, name):
    if names is None:
        return [str(i) for i in range(n)]
    names = [str(x) for x in names]
    if len(names) != n:
        raise ValueError(f"{name} must name each of the {n} queries; got {len(names)} names.")
    _check_tokens(names, name)
    return names


def _doc_names(doc_ids, ids):
    if doc_ids is None:
        return str
    doc_ids = [str(x) for x in doc_ids]
    top = int(ids.max(initial=-1))
    if top >= len(doc_ids):
        raise ValueError(f"doc_ids must name every id up to {top}; got {len(doc_ids)} names.")
    _check_tokens(doc_ids, "doc_ids")
    return doc_ids.__getitem__


def _check_tokens(names, name):
    # TREC files are whitespace-separated: a name with a space would shift
    # every later column when read back.
    bad = next((x for x in names if not x or any(c.isspace() for c in x)), None)
    if bad is not None:
        raise ValueError(f"{name} must be non-empty names without whitespace; got {bad!r}.")


def _check_tag(tag):
    if not isinstance(tag, str):
        raise TypeError(f"tag must be a str; got {type(tag).__name__}.")
    _check_tokens([tag], "tag")
