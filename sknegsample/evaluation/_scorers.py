"""Fitted scorers compared on the same queries, and their lists exported as run files."""

from __future__ import annotations

import os
from pathlib import Path

from sklearn.utils.validation import check_is_fitted

from ..metrics._bootstrap import compare_scores
from ..metrics._ranking import check_metric, per_query_scores
from ..rerank._evaluation import ranking_metrics
from ..rerank._scorer import BallTreePairScorer
from ._runfiles import write_trec_qrels, write_trec_run


def compare_scorers(scorer, baseline, X, y, *, metric="accuracy@1", k=None,
                    anchor_groups=None, confidence=0.95, n_bootstrap=1000,
                    random_state=None) -> dict:
    """Compare two fitted scorers, or a scorer and its retrieval, on the same queries.

    Both rank the same queries against the same bank (the evaluation pairs,
    as in :meth:`~sknegsample.BallTreePairScorer.evaluate`); their per-query
    scores are compared paired: the gain, a bootstrap interval resampling the
    queries (the same draws for both), a sign-flip permutation p-value, and
    the queries each wins and loses.

    Parameters
    ----------
    scorer : BallTreePairScorer
        The candidate, fitted.
    baseline : BallTreePairScorer or "retrieval"
        Another fitted scorer (its re-ranked lists), or ``"retrieval"``: the
        candidate's own retrieval order, before its head re-ranks it.
    X, y : array-like of shape (n_pairs, n_features)
        Evaluation points and their counters.
    metric : {"accuracy@1", "recall", "mrr", "ndcg", "map"}, default="accuracy@1"
        The per-query score compared (:func:`~sknegsample.metrics.per_query_scores`).
    k : int or None, default=None
        Its cut-off; None is the whole list (``topk``).
    anchor_groups : array-like of shape (n_pairs,) or None, default=None
        Pairs sharing a label are one query, as in ``evaluate``.
    confidence : float in (0, 1), default=0.95
        Coverage of the bootstrap interval.
    n_bootstrap : int >= 1, default=1000
        Bootstrap replicates, and sign flips of the p-value.
    random_state : int, RandomState instance or None, default=None
        Seeds the resampling and the flips.

    Returns
    -------
    result : dict
        ``"gain"`` (scorer minus baseline), ``"ci"`` (low, high),
        ``"p_value"``, ``"wins"``, ``"losses"``, ``"n_queries"``, ``"a"`` and
        ``"b"`` (the two means), ``"metric"`` and ``"k"``.

    Examples
    --------
    >>> from sknegsample import BallTreePairScorer, compare_scorers
    >>> from sknegsample.datasets import make_pairs
    >>> point, counter = make_pairs(300, 8, noise=0.6, random_state=0)
    >>> scorer = BallTreePairScorer(max_epochs=3, random_state=0).fit(point[:200],
    ...                                                               counter[:200])
    >>> out = compare_scorers(scorer, "retrieval", point[200:], counter[200:], random_state=0)
    >>> sorted(out)
    ['a', 'b', 'ci', 'gain', 'k', 'losses', 'metric', 'n_queries', 'p_value', 'wins']
    >>> out["gain"] == scorer.evaluate(point[200:], counter[200:])["gain@1"]
    True
    """
    _check_scorer(scorer, "scorer")
    if isinstance(baseline, str):
        if baseline != "retrieval":
            raise ValueError("baseline must be a fitted BallTreePairScorer or 'retrieval'; "
                             f"got {baseline!r}.")
    else:
        _check_scorer(baseline, "baseline")
    check_metric(metric)  # before ranking: a typo fails at once
    ranking = scorer._rank(X, y, anchor_groups)
    other = ranking.ids if isinstance(baseline, str) else \
        baseline._rank(X, y, anchor_groups).reranked
    a = per_query_scores(ranking.reranked, ranking.true_ids, metric, k)
    b = per_query_scores(other, ranking.true_ids, metric, k)
    result = compare_scores(a, b, confidence=confidence, n_bootstrap=n_bootstrap,
                            random_state=random_state)
    return {**result, "metric": metric, "k": k}


def export_run(scorer, X, y, *, run_path=None, retrieval_run_path=None, qrels_path=None,
               anchor_groups=None, tag="sknegsample", confidence=0.95,
               n_bootstrap=1000) -> dict:
    """Evaluate a scorer and write its lists as TREC run files, with the qrels.

    One ranking gives both the files and the returned metrics, so a tool
    reading the files (ranx, trec_eval) finds the same MRR and nDCG as
    :meth:`~sknegsample.BallTreePairScorer.evaluate`.

    Queries are named by their first pair row (``"12"``); documents are
    ``"c<i>"`` for counter ``i`` and ``"p<i>"`` for point ``i`` of the
    evaluation pairs. A query's relevant documents are its counters (several
    when pairs are copies or share an ``anchor_groups`` label). Scores are the
    head's margins (re-ranked run) and minus the retrieval distances
    (retrieval run), written strictly decreasing along each list
    (:func:`write_trec_run`).

    Parameters
    ----------
    scorer : BallTreePairScorer
        Fitted.
    X, y : array-like of shape (n_pairs, n_features)
        Evaluation points and their counters.
    run_path : str or path-like or None, default=None
        Where to write the re-ranked lists (tag ``"<tag>-reranked"``).
    retrieval_run_path : str or path-like or None, default=None
        Where to write the retrieval order (tag ``"<tag>-retrieval"``).
    qrels_path : str or path-like or None, default=None
        Where to write the relevant counters of each query.
    anchor_groups : array-like of shape (n_pairs,) or None, default=None
        As in ``evaluate``.
    tag : str, default="sknegsample"
        Prefix of the run names.
    confidence, n_bootstrap
        As in ``evaluate``.

    Returns
    -------
    metrics : dict
        ``evaluate``'s metrics of the exported lists.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sknegsample import BallTreePairScorer
    >>> from sknegsample.datasets import make_pairs
    >>> from sknegsample.evaluation import export_run
    >>> point, counter = make_pairs(120, 8, random_state=0)
    >>> scorer = BallTreePairScorer(max_epochs=2, topk=3, random_state=0).fit(
    ...     point[:100], counter[:100])
    >>> out = Path(tempfile.mkdtemp())
    >>> metrics = export_run(scorer, point[100:], counter[100:], run_path=out / "run.trec",
    ...                      qrels_path=out / "qrels.trec")
    >>> (out / "run.trec").read_text().splitlines()[0].split()[:4]
    ['0', 'Q0', 'c0', '1']
    >>> (out / "qrels.trec").read_text().splitlines()[0]
    '0 0 c0 1'
    """
    _check_scorer(scorer, "scorer")
    paths = {"run_path": run_path, "retrieval_run_path": retrieval_run_path,
             "qrels_path": qrels_path}
    given = {name: Path(os.fspath(p)).resolve() for name, p in paths.items() if p is not None}
    if not given:
        raise ValueError("export_run needs at least one of run_path, retrieval_run_path and "
                         "qrels_path; got none.")
    if len(set(given.values())) < len(given):
        raise ValueError(f"export_run writes each file once; got the same path twice in {given}.")
    ranking = scorer._rank(X, y, anchor_groups)
    metrics = ranking_metrics(ranking, scorer.topk, confidence=confidence,
                              n_bootstrap=n_bootstrap, random_state=scorer.random_state)
    n = len(ranking.queries.groups)
    doc_ids = [f"c{i}" for i in range(n)] + [f"p{i}" for i in range(n)]
    query_ids = [str(row) for row in ranking.queries.rows]
    names = {"query_ids": query_ids, "doc_ids": doc_ids}
    if run_path is not None:
        write_trec_run(run_path, ranking.reranked, ranking.reranked_scores,
                       tag=f"{tag}-reranked", **names)
    if retrieval_run_path is not None:
        write_trec_run(retrieval_run_path, ranking.ids, -ranking.distances,
                       tag=f"{tag}-retrieval", **names)
    if qrels_path is not None:
        write_trec_qrels(qrels_path, ranking.true_ids, **names)
    return metrics


def _check_scorer(scorer, name):
    if not isinstance(scorer, BallTreePairScorer):
        raise TypeError(f"{name} must be a fitted BallTreePairScorer; got "
                        f"{type(scorer).__name__}.")
    check_is_fitted(scorer)
