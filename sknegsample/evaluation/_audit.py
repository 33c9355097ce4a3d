"""An audit of mined negatives: gaps to the positive, false negatives, near-duplicates, reuse.

Everything is measured in the space the negatives were mined in: a fitted
sampler's own index (its preprocessor and metric), or, for a plain array of
bank ids, an exact index over ``vstack([point, counter])``.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.utils.validation import check_is_fitted

from ..mining._sampler import HybridNegativeSampler
from ..neighbors import METRICS, NeighborSearch
from ..utils._validation import check_embeddings
from ._report import AuditReport

# Neighbours fetched per bank item in the first near-duplicate search; rows
# whose last one is still within the threshold are asked again with twice k.
_FIRST_K = 16

# Default near-duplicate threshold, as a fraction of the median positive
# distance. On the bundled man pages (median 0.78) it is 0.39: readdir /
# readdir_r, the iso_8859-n pages and OpenSSL's "deprecated" boilerplate fall
# within it, while the closest positive pair is at 0.37 and 99% are above 0.45.
_DUPLICATE_FRACTION = 0.5


def audit(sampler_or_negatives, point, counter, *, is_random=None, metric="euclidean",
          duplicate_threshold=None, n_worst=10) -> AuditReport:
    """Audit mined negatives before training on them.

    Measures, for every mined negative, its gap to the anchor's positive
    (negative distance minus positive distance), hard and random negatives
    apart; the share closer to the anchor than its positive (likely false
    negatives: unlabelled positives) with the worst cases; clusters of
    near-duplicates in the bank, found by distance; how concentrated reuse
    is (how many anchors each bank item serves as a negative); and the
    anchors that got fewer negatives than asked for.

    Parameters
    ----------
    sampler_or_negatives : HybridNegativeSampler or array-like of int of shape \
(n_pairs, n_negatives)
        A sampler fitted with ``fit_transform(point, counter)`` (its hard /
        random split, metric, preprocessor and short anchors are used, and its
        negatives are re-mined with ``transform(point, indices=...)``, which
        needs an int ``random_state`` to repeat them), or the bank ids it (or
        another miner) returned: ``id < n_pairs`` is point ``id``, otherwise
        counter ``id - n_pairs``; ``-1`` marks a missing negative.
    point, counter : array-like of shape (n_pairs, n_features)
        The pairs the negatives were mined for.
    is_random : array-like of bool of shape (n_pairs, n_negatives) or None, default=None
        Which negatives were drawn at random, for an array of ids (e.g.
        ``sampler.negative_is_random_``). None reports them as one kind.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance for an array of ids (a sampler uses its own).
    duplicate_threshold : float or None, default=None
        Two bank items at most this far apart are near-duplicates (a point
        and its own counter are never linked: they are the pair). None is half
        the median positive distance, far closer than almost any positive
        pair. Clusters are the connected components of that graph; finding
        it costs a k-NN search of every bank item, about what mining costs.
    n_worst : int, default=10
        Likely false negatives listed, the most negative gaps first.

    Returns
    -------
    report : AuditReport
        The measures; ``report.to_dict()`` for logs, ``report.plot()`` for a
        figure, ``print(report)`` for a summary.

    Examples
    --------
    >>> from sknegsample import HybridNegativeSampler, audit
    >>> from sknegsample.datasets import make_pairs
    >>> point, counter = make_pairs(300, 8, n_clusters=4, random_state=0)
    >>> sampler = HybridNegativeSampler(n_negatives=4, random_rate=0.5, random_state=0)
    >>> _ = sampler.fit_transform(point, counter)
    >>> report = audit(sampler, point, counter)
    >>> report.negatives.shape, sorted(report.gaps_by_kind())
    ((300, 4), ['hard', 'random'])
    >>> bool(report.gaps_by_kind()["hard"].mean() < report.gaps_by_kind()["random"].mean())
    True
    >>> sorted(report.to_dict())  # doctest: +NORMALIZE_WHITESPACE
    ['false_negatives', 'gaps', 'metric', 'n_negatives', 'n_pairs', 'near_duplicates',
     'reuse', 'short_anchors']
    """
    if isinstance(n_worst, bool) or not isinstance(n_worst, numbers.Integral) or n_worst < 0:
        raise ValueError(f"n_worst must be an int >= 0; got {n_worst!r}.")
    if isinstance(sampler_or_negatives, HybridNegativeSampler):
        if is_random is not None:
            raise ValueError("is_random is for an array of negatives; a sampler gives its "
                             "own (negative_is_random_). Got both.")
        mined = _from_sampler(sampler_or_negatives, point, counter)
    else:
        mined = _from_array(sampler_or_negatives, point, counter, is_random, metric)
    search, negatives, is_random, short, metric = mined
    n = negatives.shape[0]
    live = negatives >= 0
    anchors = search.bank_[:n]
    positive = search.pair_distances(anchors, (n + np.arange(n))[:, None])[:, 0]
    # pair_distances gives inf where an id is -1 (missing); NaN keeps it out.
    distances = np.where(live, search.pair_distances(anchors, negatives), np.nan)
    if duplicate_threshold is None:
        duplicate_threshold = _DUPLICATE_FRACTION * float(np.median(positive))
    elif isinstance(duplicate_threshold, bool) or not isinstance(
            duplicate_threshold, numbers.Real) or not duplicate_threshold >= 0:
        raise ValueError("duplicate_threshold must be a float >= 0 or None; got "
                         f"{duplicate_threshold!r}.")
    components = duplicate_components(search, n, float(duplicate_threshold))
    short = np.union1d(short, np.flatnonzero(~live.all(axis=1))).astype(np.int64)
    return AuditReport(
        metric=metric, negatives=negatives, is_random=is_random,
        positive_distances=positive, negative_distances=distances,
        duplicate_threshold=float(duplicate_threshold), components=components,
        short_anchors=short, n_worst=int(n_worst))


def duplicate_components(search, n_pairs, threshold) -> np.ndarray:
    """Connected component of each bank item in the near-duplicate graph.

    Exact radius neighbourhoods through k-NN: rows whose ``k``-th allowed
    neighbour is still within ``threshold`` are asked again with twice ``k``.
    A row never links to itself or its pair partner (same label); copies
    (distance 0) are admitted.
    """
    bank = search.bank_
    n_bank = bank.shape[0]
    labels = np.concatenate([np.arange(n_pairs), np.arange(n_pairs)])
    rows, cols = [], []
    todo, k = np.arange(n_bank), _FIRST_K
    while todo.size:
        k = min(k, n_bank - 2)
        result = search.kneighbors(bank[todo], k, query_labels=labels[todo],
                                   min_distance=np.full(todo.size, -1.0))
        within = (result.ids >= 0) & (result.distances <= threshold)
        full = within[:, -1] if k < n_bank - 2 else np.zeros(todo.size, dtype=bool)
        done = ~full
        r, c = np.nonzero(within & done[:, None])
        rows.append(todo[r])
        cols.append(result.ids[r, c])
        todo, k = todo[full], 2 * k
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n_bank, n_bank))
    return connected_components(graph, directed=False)[1].astype(np.int64)


def _from_sampler(sampler, point, counter):
    check_is_fitted(sampler)
    if getattr(sampler, "mode_", None) != "paired" or \
            getattr(sampler, "negative_gap_", None) is None:
        raise ValueError(
            "audit needs a sampler fitted with fit_transform(point, counter) (paired "
            f"mode); got one in {getattr(sampler, 'mode_', '?')!r} mode or fitted with fit "
            "alone. Pass the negatives fit_transform returned instead."
        )
    point, counter = _check_pairs(point, counter)
    if point.shape[0] != sampler.n_pairs_:
        raise ValueError(f"point must hold the {sampler.n_pairs_} pairs the sampler was "
                         f"fitted on; got {point.shape[0]} rows.")
    search = sampler.search_
    negatives = sampler.transform(point, indices=np.arange(sampler.n_pairs_))
    again = search.pair_distances(search.bank_[:sampler.n_pairs_], negatives)
    if not np.allclose(again, sampler.negative_distances_, rtol=1e-9, atol=1e-12):
        raise ValueError(
            "audit could not repeat the sampler's negatives: transform(point) found other "
            "ones than fit_transform did (point is not the fitted one, or random_state is "
            "not an int). Pass the negatives fit_transform returned, with "
            "is_random=sampler.negative_is_random_."
        )
    return search, negatives, sampler.negative_is_random_, sampler.short_anchors_, \
        sampler.metric


def _from_array(negatives, point, counter, is_random, metric):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}; got {metric!r}.")
    point, counter = _check_pairs(point, counter)
    n = point.shape[0]
    negatives = np.asarray(negatives)
    if negatives.ndim != 2 or negatives.shape[0] != n:
        raise ValueError(f"negatives must have shape (n_pairs, n_negatives) = ({n}, ...), one "
                         f"row per pair; got shape {negatives.shape}.")
    if negatives.size and not np.issubdtype(negatives.dtype, np.integer):
        raise TypeError(f"negatives must hold integer bank ids; got dtype {negatives.dtype}.")
    bad = (negatives < -1) | (negatives >= 2 * n)
    if np.any(bad):
        raise ValueError(f"negatives must be bank ids in [0, {2 * n}) or -1 for a missing "
                         f"one; got {int(negatives[bad][0])}.")
    if is_random is not None:
        is_random = np.asarray(is_random)
        if is_random.shape != negatives.shape or is_random.dtype != bool:
            raise ValueError(f"is_random must be a bool array of the negatives' shape "
                             f"{negatives.shape}; got {is_random.dtype} of shape "
                             f"{is_random.shape}.")
    search = NeighborSearch(metric=metric).fit(
        np.vstack([point, counter]), np.concatenate([np.arange(n), np.arange(n)]),
        input_name="point and counter")
    return search, negatives.astype(np.int64), is_random, np.zeros(0, dtype=np.int64), metric


def _check_pairs(point, counter):
    point = check_embeddings(point, input_name="point")
    counter = check_embeddings(counter, input_name="counter")
    if point.shape != counter.shape or point.shape[0] < 2:
        raise ValueError("point and counter must have the same shape, at least 2 pairs (row i "
                         f"of counter is the positive of point i); got {point.shape} and "
                         f"{counter.shape}.")
    return point, counter
