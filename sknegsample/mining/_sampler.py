"""HybridNegativeSampler: hard and random negatives as a scikit-learn transformer."""

from __future__ import annotations

import inspect
import numbers

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import Bunch
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..neighbors import ALGORITHMS, METRICS, NeighborSearch, fit_search
from ..utils._persistence import _VersionedState, restore_state_on_error
from ..utils._random import derive_seed
from ..utils._validation import check_indices, validate_pairs, validate_queries
from ._anchors import index_anchors
from ._batch import mine_rows
from ._checks import (
    check_anchor_groups,
    check_enough_negatives,
    check_fit_options,
    refuse_text_counters,
    warn_scale_mismatch,
    warn_short_anchors,
)
from ._guards import warn_ratio_on_unit_rows
from ._preprocess import fit_preprocessor

_POOLS = ("both", "counters", "points")


class HybridNegativeSampler(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _VersionedState,
                            BaseEstimator):
    """Mine hard and random negatives for paired embeddings.

    ``fit(point, counter)`` indexes the bank ``np.vstack([point, counter])``;
    ``transform`` returns, for each anchor, ``n_negatives`` distinct *bank
    ids* from ``negative_pool``: each is, with probability ``random_rate``,
    drawn uniformly from the allowed ids, and otherwise taken from the
    anchor's nearest allowed neighbours (a hard negative). Rows of ``X``
    equal to a fitted point (or counter) are recognised as that anchor: an
    anchor never receives itself, any of its positives, or a copy of itself.

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
    negative_pool : {"both", "counters", "points"}, default="both"
        Where negatives come from: the whole bank (the prototype's two
        pools), the counters only (what a query -> document retriever is
        tested against: see the user guide's "which pool, which guard") or
        the points only. Ids stay bank ids.
    positive_margin : float in (0, 1] or None, default=None
        Relative false-negative guard (NV-Retriever's TopK-PercPos) against
        the anchor's closest positive. ``metric="cosine"``: skip a candidate
        whose similarity ``s >= s_pos - (1 - positive_margin) |s_pos|``
        (``s >= 0.95 s_pos`` for ``positive_margin=0.95`` and a positive
        similarity; sign-safe). ``metric="euclidean"``: skip ``d <= d_pos /
        positive_margin`` (a distance ratio: on unit-norm rows use cosine
        for the similarity rule; a GuardScaleWarning says so).
    absolute_margin : float >= 0 or None, default=None
        Absolute false-negative guard (sentence-transformers'
        ``absolute_margin``): cosine: skip ``s > s_pos - absolute_margin``;
        euclidean: skip ``d < d_pos + absolute_margin``.
    min_distance : float >= 0 or None, default=None
        Skip negatives closer than this (cosine distance is ``1 - s``:
        sentence-transformers' ``max_score=m`` is ``min_distance=1 - m``).
    max_distance : float >= 0 or None, default=None
        Skip negatives farther than this (``min_score=m`` is
        ``max_distance=1 - m`` under cosine).
    guard_random_negatives : bool, default=True
        Apply the guards above to random picks too (a random pick that fails
        them is drawn again); False applies them to hard picks only.
    max_negative_uses : int or None, default=None
        Cap on how many anchors of one ``transform`` call may receive the same
        bank id (hub items otherwise become everyone's negative). Anchors are
        served in ascending order; a capped hard pick moves to the next
        candidate of its window, then to a random id under the cap. With a
        cap, an anchor's negatives depend on the rest of the batch.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between embeddings.
    algorithm : {"auto", "brute", "ball_tree", "kd_tree", "faiss_flat", \
"faiss_hnsw", "faiss_ivf", "hnswlib"}, default="auto"
        Search backend. Every backend but HNSW and IVF is exact. ``auto`` picks a
        kd-tree for very low dimensions (<= 8 features, 10k+ rows), and exact
        brute force (``brute``, a torch GEMM on the CPU or GPU) otherwise;
        mining the training anchors, brute force scores each pair of them
        once. ``faiss_*`` and ``hnswlib`` need the ``ann`` extra.
    leaf_size : int, default=40
        Leaf size of the ball/kd tree (the prototype used 2).
    search_params : dict or None, default=None
        HNSW options: ``M``, ``ef_construction``, ``ef_search``; IVF options:
        ``nlist``, ``nprobe``.
    device : str or torch.device, default="cpu"
        Torch device for brute-force search ("cuda" for a GPU; several,
        comma-separated, hold one shard of the bank each).
    preprocessor : transformer or None, default=None
        Fitted on points and counters stacked, and applied to both sides and
        to every query (a ``PCA`` or normaliser in front of mining). A
        Pipeline step in front of the sampler would transform the points
        only.
    random_state : int, RandomState instance or None, default=None
        Seeds every random choice. An anchor's picks depend only on the seed
        and the anchor itself (its index, or its content for new queries).
        An int repeats the same draws on every call; a ``RandomState``
        instance draws afresh on every call (scikit-learn's convention): use
        one for an epoch loop that is reproducible from one seed.
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
    n_anchor_groups_ : int
        Number of distinct anchors (pairs with copied points, or sharing an
        ``anchor_groups`` label, are one anchor with several positives).
    mode_ : {"paired", "labels", "rows"}
        How ``y`` was read: a counter matrix, a label vector, or None.
    preprocessor_ : transformer or None
        The fitted clone of ``preprocessor``.
    search_ : NeighborSearch
        The index over the bank (its candidates: ``negative_pool``).
    negative_distances_ : ndarray of shape (n_pairs_, n_negatives)
        After ``fit_transform``: distance from each anchor to each negative.
    negative_gap_ : ndarray of shape (n_pairs_, n_negatives) or None
        After ``fit_transform`` in paired mode: negative distance minus the
        anchor's closest positive distance (negative values flag likely
        false negatives).
    negative_is_random_ : ndarray of bool of shape (n_pairs_, n_negatives)
        After ``fit_transform``: which negatives were drawn at random.
    n_skipped_ : dict
        After ``fit_transform``: hard candidates skipped as ``"copies"`` and
        by the ``"guards"``, random picks drawn again by the guards
        (``"random_redrawn"``) or left unguarded because nothing passed
        (``"random_relaxed"``), and picks replaced by ``"max_negative_uses"``.
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
    >>> negatives = sampler.fit(point, counter).transform(point)
    >>> negatives.shape, negatives.dtype
    ((6, 1), dtype('int64'))
    >>> bool(np.all(negatives[:, 0] % 6 != np.arange(6)))  # never self/positive
    True
    >>> bool(np.array_equal(negatives, sampler.fit_transform(point, counter)))
    True
    """

    _parameter_constraints: dict = {
        "n_negatives": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_rate": [Interval(numbers.Real, 0, 1, closed="both")],
        "n_candidates": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "hard_selection": [StrOptions({"nearest", "uniform"})],
        "skip_nearest": [Interval(numbers.Integral, 0, None, closed="left")],
        "negative_pool": [StrOptions(set(_POOLS))],
        "positive_margin": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "absolute_margin": [Interval(numbers.Real, 0, None, closed="left"), None],
        "min_distance": [Interval(numbers.Real, 0, None, closed="left"), None],
        "max_distance": [Interval(numbers.Real, 0, None, closed="left"), None],
        "guard_random_negatives": ["boolean"],
        "max_negative_uses": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "metric": [StrOptions(set(METRICS))],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "leaf_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "search_params": [dict, None],
        "device": [str, torch.device],
        "preprocessor": [HasMethods(["fit", "transform"]), None],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, *, n_negatives=1, random_rate=0.8, n_candidates=None,
                 hard_selection="nearest", skip_nearest=0, negative_pool="both",
                 positive_margin=None, absolute_margin=None, min_distance=None,
                 max_distance=None, guard_random_negatives=True, max_negative_uses=None,
                 metric="euclidean", algorithm="auto", leaf_size=40, search_params=None,
                 device="cpu", preprocessor=None, random_state=None, n_jobs=None):
        self.n_negatives = n_negatives
        self.random_rate = random_rate
        self.n_candidates = n_candidates
        self.hard_selection = hard_selection
        self.skip_nearest = skip_nearest
        self.negative_pool = negative_pool
        self.positive_margin = positive_margin
        self.absolute_margin = absolute_margin
        self.min_distance = min_distance
        self.max_distance = max_distance
        self.guard_random_negatives = guard_random_negatives
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
    def fit(self, X: ArrayLike, y: ArrayLike | None = None, *,
            anchor_groups: ArrayLike | None = None) -> HybridNegativeSampler:
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
        anchor_groups : array-like of shape (n_pairs,) or None, default=None
            Paired mode: pairs sharing a value are one anchor with several
            positives (none of them is ever a negative of any of its rows).
            Pairs whose points are copies of each other are grouped without
            it. Routed through a ``Pipeline`` with
            ``set_fit_request(anchor_groups=True)``.

        Returns
        -------
        self : HybridNegativeSampler
            The fitted sampler.
        """
        X, y = validate_pairs(self, X, y, reset=True, keep_on_disk=True)
        self._fit_bank(X, y, anchor_groups)
        return self

    def _fit_bank(self, X, y, anchor_groups):
        paired = y is not None and y.ndim == 2
        self.mode_ = "paired" if paired else ("labels" if y is not None else "rows")
        if not paired and y is not None:
            refuse_text_counters(y)
        check_fit_options(self, anchor_groups)
        if anchor_groups is not None:
            anchor_groups = check_anchor_groups(anchor_groups, X.shape[0])
        if paired:
            warn_scale_mismatch(X, y)
        self._anchors = index_anchors(X, y, self.mode_, anchor_groups)
        self.preprocessor_, X, counter = fit_preprocessor(
            self.preprocessor, X, y if paired else None
        )
        n_rows = X.shape[0]
        pool = {"both": None, "counters": (n_rows, 2 * n_rows),
                "points": (0, n_rows)}[self.negative_pool]
        self.n_pairs_ = n_rows
        self.n_anchor_groups_ = int(self._anchors.labels[:n_rows].max()) + 1 if paired \
            else int(np.unique(self._anchors.labels).size)
        # vstack([X, counter]), or shards for memmaps / several devices (fit_search).
        self.search_ = fit_search(
            self.make_search(), [X, counter] if paired else [X], self._anchors.labels,
            input_name="X and y", pool=pool, extra_ptr=self._anchors.extra_ptr,
            extra_ids=self._anchors.extra_ids)
        warn_ratio_on_unit_rows(self.search_.bank_, self.metric, self.positive_margin)
        self._check_sizes()

    def _check_sizes(self):
        """Parameters that depend on the fitted bank (re-checked at transform)."""
        if self.n_candidates is not None and self.n_candidates < self.n_negatives:
            raise ValueError(
                f"n_candidates must be >= n_negatives ({self.n_negatives}) so that "
                f"the window holds every hard negative; got {self.n_candidates}."
            )
        if self.min_distance is not None and self.max_distance is not None and \
                self.max_distance < self.min_distance:
            raise ValueError(
                f"max_distance must be >= min_distance; got max_distance="
                f"{self.max_distance} and min_distance={self.min_distance}.")
        check_enough_negatives(self.search_, self.n_negatives, self.negative_pool,
                               self.n_pairs_)

    def make_search(self, device=None) -> NeighborSearch:
        """An unfitted :class:`~sknegsample.neighbors.NeighborSearch` with these settings.

        ``device`` overrides the parameter (a fitted search's device, which
        falls back to "cpu" when a CUDA model is loaded without CUDA).
        """
        return NeighborSearch(metric=self.metric, algorithm=self.algorithm,
                              leaf_size=self.leaf_size,
                              device=str(self.device) if device is None else device,
                              search_params=self.search_params, n_jobs=self.n_jobs)

    def transform(self, X: ArrayLike, indices: ArrayLike | None = None, *,
                  return_info: bool = False):
        """Mine negatives for each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Anchor embeddings. A row equal (after rounding to float32) to a
            fitted point is that anchor: it never receives itself, its
            positives or its anchor group, and its random picks are those of
            ``fit_transform``; a row equal to a fitted counter is treated the
            same way, its point(s) being its positives. Other rows are new
            queries: only their copies are excluded.
        indices : array-like of int of shape (n_queries,) or None, default=None
            Position of each row among the fitted anchors (the prototype's
            ``(index, embedding)`` input); it wins over recognition. Routed
            through a ``Pipeline`` with ``set_transform_request(indices=True)``.
        return_info : bool, default=False
            Also return the call's diagnostics (for an epoch loop's logs).

        Returns
        -------
        negatives : ndarray of int64 of shape (n_queries, n_negatives)
            Bank ids: ``id < n_pairs_`` is point ``id``, otherwise counter
            ``id - n_pairs_`` (paired mode); row ids of ``X`` otherwise.
        info : Bunch
            Only with ``return_info=True``: ``negative_distances``,
            ``negative_gap`` (None outside paired mode; nan for new
            queries), ``negative_is_random``, ``n_skipped``,
            ``short_anchors`` (as the fitted attributes of
            :meth:`fit_transform`) and ``anchors`` (bank row each query was
            taken as, -1 for new queries).
        """
        negatives, info = self._mine(X, indices, info=return_info)
        return (negatives, info) if return_info else negatives

    @restore_state_on_error
    @_fit_context(prefer_skip_nested_validation=False)
    def fit_transform(self, X: ArrayLike, y: ArrayLike | None = None, *,
                      anchor_groups: ArrayLike | None = None) -> np.ndarray:
        """Fit, then mine negatives for every training anchor.

        Equivalent to ``fit(X, y).transform(X)`` (and to ``transform(X,
        indices=np.arange(len(X)))``), and stores the mining diagnostics as
        fitted attributes.

        Parameters
        ----------
        X : array-like of shape (n_pairs, n_features)
            Point (anchor) embeddings.
        y : array-like of shape (n_pairs, n_features), (n_pairs,) or None
            See :meth:`fit`.
        anchor_groups : array-like of shape (n_pairs,) or None, default=None
            See :meth:`fit`.

        Returns
        -------
        negatives : ndarray of int64 of shape (n_pairs, n_negatives)
            Bank ids, as in :meth:`transform`.
        """
        X, y = validate_pairs(self, X, y, reset=True, keep_on_disk=True)
        self._fit_bank(X, y, anchor_groups)
        negatives, info = self._mine(X, np.arange(self.n_pairs_), validate=False)
        self.negative_distances_ = info.negative_distances
        self.negative_is_random_ = info.negative_is_random
        self.negative_gap_ = info.negative_gap
        self.n_skipped_ = info.n_skipped
        self.short_anchors_ = info.short_anchors
        return negatives

    def _mine(self, X, indices, validate=True, info=True):
        check_is_fitted(self)
        if validate:
            # set_params may change any parameter after fit (random_rate between
            # epochs): check again, so a bad value fails with sklearn's message here.
            self._validate_params()
            check_fit_options(self, None)
            self._check_sizes()
            X = validate_queries(self, X)
        indices = check_indices(indices, n_queries=X.shape[0], n_indexable=self.n_pairs_)
        seed = derive_seed(self.random_state)
        batch = mine_rows(self, X, indices, seed)
        mined = batch.mined
        warn_short_anchors(self, mined)
        if not info:  # diagnostics (a gap per negative) only when asked
            return mined.negatives, None
        gap = mined.distances - batch.positive[:, None] if self.mode_ == "paired" else None
        return mined.negatives, Bunch(
            negative_distances=mined.distances,
            negative_is_random=mined.is_random,
            negative_gap=gap,
            n_skipped={
                "copies": int(mined.n_copies.sum()),
                "guards": int(mined.n_below.sum()),
                "random_redrawn": int(mined.n_redrawn.sum()),
                "random_relaxed": int(mined.n_relaxed.sum()),
                "max_negative_uses": int(batch.n_capped),
            },
            short_anchors=np.flatnonzero(mined.short),
            anchors=batch.anchors,
        )

    def __setstate__(self, state):
        super().__setstate__(state)
        # Files saved before a parameter existed: its default (the behaviour
        # they were saved with).
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if param.default is not param.empty and name not in self.__dict__:
                setattr(self, name, param.default)

    @property
    def _n_features_out(self):
        """One output column per negative (for ``get_feature_names_out``)."""
        check_is_fitted(self)  # NotFittedError is an AttributeError: hasattr is False
        return self.n_negatives

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Output is integer ids, whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        tags.target_tags.required = False
        return tags
