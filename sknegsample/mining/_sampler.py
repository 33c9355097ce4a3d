"""HybridNegativeSampler: hard and random negatives as a scikit-learn transformer."""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..neighbors import ALGORITHMS, METRICS, NeighborSearch
from ..neighbors._chunking import chunk_rows
from ..utils._persistence import _VersionedState, restore_state_on_error
from ..utils._validation import check_indices, validate_pairs, validate_queries
from ._hashing import row_keys
from ._picking import MinedChunk, cap_negative_uses, mine_chunk
from ._preprocess import apply_preprocessor, fit_preprocessor


class HybridNegativeSampler(TransformerMixin, _VersionedState, BaseEstimator):
    """Mine hard and random negatives for paired embeddings.

    ``fit(point, counter)`` indexes the bank ``np.vstack([point, counter])``;
    ``transform`` returns, for each anchor, ``n_negatives`` distinct *bank
    ids*: each is, with probability ``random_rate``, drawn uniformly from the
    allowed bank ids, and otherwise taken from the anchor's nearest allowed
    neighbours (a hard negative). An anchor never receives itself, its own
    positive, or a copy of itself (distance 0).

    Read more in the user guide (``docs/user_guide.rst``).

    Parameters
    ----------
    n_negatives : int, default=1
        Negatives per anchor; a row never repeats an id.
    random_rate : float, default=0.8
        Probability that a negative is random rather than hard (the
        prototype's default). Change it between epochs with ``set_params``;
        no re-fit is needed.
    n_candidates : int or None, default=None
        Size of the hard-negative window: hard negatives come from the
        ``n_candidates`` nearest allowed candidates after the first
        ``skip_nearest``. None means ``n_negatives``.
    hard_selection : {"nearest", "uniform"}, default="nearest"
        Take the window's nearest candidates, or draw uniformly within it
        (sentence-transformers' ``sampling_strategy="random"``).
    skip_nearest : int, default=0
        Allowed candidates to skip before the window starts
        (sentence-transformers' ``range_min``).
    positive_margin : float in (0, 1] or None, default=None
        Positive-aware false-negative guard (NV-Retriever's TopK-PercPos), for
        anchors whose positive is known (paired ``fit`` and ``indices``): with
        ``metric="cosine"`` a hard candidate is skipped when its similarity to
        the anchor is at least ``positive_margin`` times the positive's; with
        ``metric="euclidean"`` when its distance is at most the positive's
        divided by ``positive_margin``. Random negatives are not filtered.
    max_negative_uses : int or None, default=None
        Cap on how many anchors of one ``transform`` call may receive the same
        bank id (hub items otherwise become everyone's negative). Anchors are
        served in ascending order; a capped hard pick moves to the next
        candidate of its window, then to a random id under the cap. With a
        cap, an anchor's negatives depend on the rest of the batch.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between embeddings.
    algorithm : {"auto", "brute", "ball_tree", "kd_tree", "faiss_flat", \
"faiss_hnsw", "hnswlib"}, default="auto"
        Search backend. Every backend but HNSW is exact. ``auto`` picks a
        kd-tree for very low dimensions (<= 8 features, 10k+ rows), and exact
        brute force (``brute``, a torch GEMM on the CPU or GPU) otherwise;
        mining the training anchors, brute force scores each pair of them
        once. ``faiss_*`` and ``hnswlib`` need the ``ann`` extra.
    leaf_size : int, default=40
        Leaf size of the ball/kd tree (the prototype used 2).
    search_params : dict or None, default=None
        HNSW options: ``M``, ``ef_construction``, ``ef_search``.
    device : str, default="cpu"
        Torch device for brute-force search ("cuda" for a GPU).
    preprocessor : transformer or None, default=None
        Fitted on points and counters stacked, and applied to both sides and
        to every query (a ``PCA`` or normaliser in front of mining).
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice. An anchor's picks depend only on the seed
        and the anchor itself (its index, or its content for new queries).
    n_jobs : int or None, default=None
        Threads for tree and HNSW searches. Brute force uses torch's threads.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when ``X`` had string column
        names.
    n_pairs_ : int
        Number of fitted anchors (pairs in paired mode, rows otherwise).
    mode_ : {"paired", "labels", "rows"}
        How ``y`` was read: a counter matrix, a label vector, or None.
    preprocessor_ : transformer or None
        The fitted clone of ``preprocessor``.
    search_ : NeighborSearch
        The index over the bank.
    negative_distances_ : ndarray of shape (n_pairs_, n_negatives)
        After ``fit_transform``: distance from each anchor to each negative.
    negative_gap_ : ndarray of shape (n_pairs_, n_negatives) or None
        After ``fit_transform`` in paired mode: negative distance minus the
        anchor's positive distance (negative values flag likely false
        negatives).
    negative_is_random_ : ndarray of bool of shape (n_pairs_, n_negatives)
        After ``fit_transform``: which negatives were drawn at random.
    n_skipped_ : dict
        After ``fit_transform``: candidates skipped by each guard
        (``"copies"``, ``"positive_margin"``, ``"max_negative_uses"``).
    short_anchors_ : ndarray of int64
        After ``fit_transform``: anchors with fewer allowed hard candidates
        than hard slots (the missing ones were drawn at random).

    See Also
    --------
    BallTreePairScorer : Retrieve-then-rerank evaluation on mined pairs.
    bank_ids_to_pairs : Convert bank ids to the prototype's (side, index).

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample import HybridNegativeSampler
    >>> rng = np.random.RandomState(0)
    >>> point = rng.normal(size=(6, 4))
    >>> counter = point + 0.01 * rng.normal(size=(6, 4))
    >>> sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    >>> negatives = sampler.fit_transform(point, counter)
    >>> negatives.shape, negatives.dtype
    ((6, 1), dtype('int64'))
    >>> bool(np.all(negatives[:, 0] % 6 != np.arange(6)))  # never self/positive
    True
    """

    _parameter_constraints: dict = {
        "n_negatives": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_rate": [Interval(numbers.Real, 0, 1, closed="both")],
        "n_candidates": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "hard_selection": [StrOptions({"nearest", "uniform"})],
        "skip_nearest": [Interval(numbers.Integral, 0, None, closed="left")],
        "positive_margin": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "max_negative_uses": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "metric": [StrOptions(set(METRICS))],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "leaf_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "search_params": [dict, None],
        "device": [str],
        "preprocessor": [HasMethods(["fit", "transform"]), None],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, *, n_negatives=1, random_rate=0.8, n_candidates=None,
                 hard_selection="nearest", skip_nearest=0, positive_margin=None,
                 max_negative_uses=None, metric="euclidean", algorithm="auto",
                 leaf_size=40, search_params=None, device="cpu", preprocessor=None,
                 random_state=None, n_jobs=None):
        self.n_negatives = n_negatives
        self.random_rate = random_rate
        self.n_candidates = n_candidates
        self.hard_selection = hard_selection
        self.skip_nearest = skip_nearest
        self.positive_margin = positive_margin
        self.max_negative_uses = max_negative_uses
        self.metric = metric
        self.algorithm = algorithm
        self.leaf_size = leaf_size
        self.search_params = search_params
        self.device = device
        self.preprocessor = preprocessor
        self.random_state = random_state
        self.n_jobs = n_jobs

    @restore_state_on_error
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: ArrayLike, y: ArrayLike | None = None) -> HybridNegativeSampler:
        """Index the bank of points and counters.

        Parameters
        ----------
        X : array-like of shape (n_pairs, n_features)
            Point (anchor) embeddings.
        y : array-like of shape (n_pairs, n_features), array-like of shape \
(n_pairs,) or None, default=None
            Counter embeddings (paired mode: the bank is ``vstack([X, y])`` and
            row ``i`` of ``y`` is the positive of anchor ``i``); or a label per
            row (label mode: the bank is ``X`` and rows sharing a label are
            never each other's negatives); or None (the bank is ``X``).

        Returns
        -------
        self : HybridNegativeSampler
            The fitted sampler.
        """
        X, y = validate_pairs(self, X, y, reset=True)
        self._fit_bank(X, y)
        return self

    def _fit_bank(self, X, y):
        paired = y is not None and y.ndim == 2
        self.mode_ = "paired" if paired else ("labels" if y is not None else "rows")
        self.preprocessor_, X, counter = fit_preprocessor(
            self.preprocessor, X, y if paired else None
        )
        n_rows = X.shape[0]
        if paired:
            bank = np.vstack([X, counter])
            labels = np.concatenate([np.arange(n_rows), np.arange(n_rows)])
        else:
            bank = X
            labels = np.arange(n_rows) if y is None else np.unique(y, return_inverse=True)[1]
        labels = labels.astype(np.int64)
        self._check_enough_negatives(n_rows, bank.shape[0], labels)
        if self.positive_margin is not None and not paired:
            raise ValueError(
                "positive_margin needs paired data (y = counter embeddings of shape "
                f"(n_pairs, n_features)); got y in {self.mode_!r} mode."
            )
        self.n_pairs_ = n_rows
        self.search_ = self.make_search().fit(bank, labels, input_name="X and y")
        # Each fitted anchor's label code, for transform(..., indices=...).
        self._anchor_labels = labels[:n_rows]

    def make_search(self, device=None) -> NeighborSearch:
        """An unfitted :class:`~sknegsample.neighbors.NeighborSearch` with these settings.

        ``device`` overrides the parameter (a fitted search's device, which
        falls back to "cpu" when a CUDA model is loaded without CUDA).
        """
        return NeighborSearch(metric=self.metric, algorithm=self.algorithm,
                              leaf_size=self.leaf_size,
                              device=self.device if device is None else device,
                              search_params=self.search_params, n_jobs=self.n_jobs)

    def _check_enough_negatives(self, n_rows, n_bank, labels):
        largest_group = int(np.bincount(labels).max())
        available = n_bank - largest_group
        if available < self.n_negatives:
            raise ValueError(
                f"n_negatives={self.n_negatives} needs at least that many allowed "
                f"negatives per anchor, but fit got n_samples={n_rows}: the bank has "
                f"{n_bank} rows and an anchor "
                f"may not receive {largest_group} of them (itself, its positive or "
                f"its label group): only {available} allowed. Pass more pairs or "
                "lower n_negatives."
            )
        if self.n_candidates is not None and self.n_candidates < self.n_negatives:
            raise ValueError(
                f"n_candidates must be >= n_negatives ({self.n_negatives}) so that "
                f"the window holds every hard negative; got {self.n_candidates}."
            )

    def transform(self, X: ArrayLike, indices: ArrayLike | None = None) -> np.ndarray:
        """Mine negatives for each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Anchor embeddings.
        indices : array-like of int of shape (n_queries,) or None, default=None
            Position of each row among the fitted anchors (the prototype's
            ``(index, embedding)`` input). Anchor ``indices[r]`` then never
            receives itself or its positive (or its label group), and its
            random picks follow its index. Without it rows are new queries:
            only copies of them are excluded. Routed through a ``Pipeline``
            with ``set_transform_request(indices=True)``.

        Returns
        -------
        negatives : ndarray of int64 of shape (n_queries, n_negatives)
            Bank ids: ``id < n_pairs_`` is point ``id``, otherwise counter
            ``id - n_pairs_`` (paired mode); row ids of ``X`` otherwise.
        """
        return self._mine(X, indices)[0].negatives

    @restore_state_on_error
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
        """Fit, then mine negatives for every training anchor.

        Equivalent to ``fit(X, y).transform(X, indices=np.arange(len(X)))``,
        and stores the mining diagnostics as fitted attributes.

        Parameters
        ----------
        X : array-like of shape (n_pairs, n_features)
            Point (anchor) embeddings.
        y : array-like of shape (n_pairs, n_features), (n_pairs,) or None
            See :meth:`fit`.

        Returns
        -------
        negatives : ndarray of int64 of shape (n_pairs, n_negatives)
            Bank ids, as in :meth:`transform`.
        """
        X, y = validate_pairs(self, X, y, reset=True)
        self._fit_bank(X, y)
        mined, skipped, positive = self._mine(X, np.arange(self.n_pairs_), validate=False)
        self.negative_distances_ = mined.distances
        self.negative_is_random_ = mined.is_random
        self.negative_gap_ = None if positive is None else mined.distances - positive[:, None]
        self.n_skipped_ = skipped
        self.short_anchors_ = np.flatnonzero(mined.short)
        return mined.negatives

    def _mine(self, X, indices, validate=True):
        check_is_fitted(self)
        if validate:
            # set_params may change any parameter after fit (random_rate is
            # meant to change between epochs): check them again, so that a bad
            # value fails here with sklearn's message, not deep in the mining.
            self._validate_params()
            self._check_enough_negatives(self.n_pairs_, self.search_.n_bank_,
                                         self.search_.groups_.labels)
            X = validate_queries(self, X)
        indices = check_indices(indices, n_queries=X.shape[0], n_indexable=self.n_pairs_)
        search = self.search_
        queries = search.prepare_queries(apply_preprocessor(self.preprocessor_, X), "X")
        if indices is None:
            keys = row_keys(X)
            labels = np.full(X.shape[0], -1, dtype=np.int64)
        else:
            keys = indices.astype(np.uint64)
            labels = self._anchor_labels[indices]
        positive = None
        if self.mode_ == "paired" and indices is not None:
            positive = search.pair_distances(queries, (indices + self.n_pairs_)[:, None])[:, 0]
        min_distance = None
        if self.positive_margin is not None and positive is not None:
            min_distance = self._margin_distance(positive)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        mined = self._mine_in_chunks(queries, keys, labels, min_distance, seed,
                                     _first_bank_row(indices))
        n_capped = 0
        if self.max_negative_uses is not None:
            order = np.argsort(indices if indices is not None else np.arange(len(X)),
                               kind="stable")
            n_capped = cap_negative_uses(search, queries, keys, labels, mined, order,
                                         self.max_negative_uses, seed)
        skipped = {
            "copies": int(mined.n_copies.sum()),
            "positive_margin": int(mined.n_below.sum()),
            "max_negative_uses": int(n_capped),
        }
        return mined, skipped, positive

    def _margin_distance(self, positive):
        if self.metric == "cosine":
            # similarity = 1 - distance; skip sim >= margin * positive sim.
            return 1.0 - self.positive_margin * (1.0 - positive)
        return positive / self.positive_margin

    def _mine_in_chunks(self, queries, keys, labels, min_distance, seed,
                        first_bank_row=None) -> MinedChunk:
        window = self.n_candidates if self.n_candidates is not None else self.n_negatives
        # Bound the per-chunk bookkeeping (window, draws) by working_memory;
        # the search inside bounds its own scratch the same way.
        rows = chunk_rows(
            8 * (queries.shape[1] + 4 * (self.skip_nearest + window + self.n_negatives)),
            queries.shape[0],
        )
        parts = []
        for start in range(0, queries.shape[0], rows):
            sl = slice(start, min(start + rows, queries.shape[0]))
            # Anchors that are consecutive bank rows let the search score
            # each pair of them once (NeighborSearch.kneighbors, bank_rows).
            bank_rows = None if first_bank_row is None else \
                slice(first_bank_row + sl.start, first_bank_row + sl.stop)
            parts.append(mine_chunk(
                self.search_, queries[sl], keys[sl], labels[sl],
                None if min_distance is None else min_distance[sl],
                n_negatives=self.n_negatives, random_rate=self.random_rate,
                window=window, skip=self.skip_nearest, hard_selection=self.hard_selection,
                seed=seed, bank_rows=bank_rows,
            ))
        if not parts:
            raise ValueError("X must contain at least one row; got 0.")
        return MinedChunk(*(np.concatenate([getattr(p, f) for p in parts])
                            for f in MinedChunk.__dataclass_fields__))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Output is integer ids, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        tags.target_tags.required = False
        return tags


def _first_bank_row(indices) -> int | None:
    """Bank row of the first anchor when ``indices`` are consecutive, else None.

    Anchor ``i`` is bank row ``i`` in every mode (the points come first in
    paired mode); the search still checks that the rows are equal.
    """
    if indices is None or len(indices) == 0:
        return None
    start = int(indices[0])
    if not np.array_equal(indices, np.arange(start, start + len(indices))):
        return None
    return start
