"""BallTreePairScorer: a skorch-trained pair head, scored by retrieve-then-rerank."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet

from ..metrics import accuracy_at_1
from ..mining._preprocess import apply_preprocessor, fit_preprocessor
from ..mining._sampler import HybridNegativeSampler
from ..neighbors._pairs import aligned_distances
from ..neighbors._search import NeighborSearch
from ..utils._persistence import _VersionedState, head_state, restore_head, restore_state_on_error
from ..utils._random import derive_seed
from ..utils._validation import check_embeddings, validate_pairs, validate_queries
from ._columns import _check_counter_y, _resolve_columns
from ._evaluation import EvaluationBank, QueryGroups, Ranking, ranking_metrics
from ._head import PairDataset, pair_logits, score_candidates
from ._head_net import check_head_device, fit_head_net, make_head_net
from ._pair_miner import _PairMiner

# Negatives per anchor of the default sampler (docs/scorer_quality.md).
_DEFAULT_NEGATIVES = 4


class BallTreePairScorer(_VersionedState, BaseEstimator):
    """Pair classifier head trained on mined negatives, scored by retrieve-then-rerank.

    ``fit(point, counter)`` mines negatives for every training pair with a
    :class:`HybridNegativeSampler`, and trains a small head on (query,
    candidate) pairs with skorch: label 1 for ``(point[i], counter[i])``,
    0 for ``(point[i], negative)``. ``score(point, counter)`` is the
    prototype's accuracy@1: for each evaluation point, retrieve the ``topk``
    nearest candidates from a bank built of the evaluated pairs, re-rank them
    by the head, and count a hit when the best is the point's own counter.

    Parameters
    ----------
    sampler : HybridNegativeSampler or None, default=None
        Mines the training negatives; its metric, algorithm, leaf size and
        device also drive the retrieval. Cloned in ``fit``, so its parameters
        are tunable as ``sampler__random_rate`` etc. If its ``random_state`` is
        None it is seeded from ``random_state``. None means
        ``HybridNegativeSampler(n_negatives=4, n_candidates=2 * topk,
        hard_selection="uniform")`` with the prototype's ``random_rate=0.8``:
        hard negatives come from around the list the head will re-rank (the
        single nearest negative alone trains a head that loses to retrieval
        on real data; see ``docs/scorer_quality.md``).
    head : skorch NeuralNet, torch module class or instance, or None, default=None
        The pair classifier. None builds a ``NeuralNetClassifier`` over
        :class:`~sknegsample.rerank._head.PairHead` from ``hidden_units``, ``lr``,
        ``max_epochs``, ``batch_size`` and ``device`` (Adam, cross-entropy,
        no validation split). A module class or instance is wrapped the same
        way. A skorch net is cloned and used with its own settings (tune it
        as ``head__lr``, ``head__module__hidden_units``; the flat parameters
        are then ignored). The scorer sets ``module__n_features`` and
        ``module__include_distance`` (not on a module instance) and the
        iterators' ``collate_fn``; the module follows the contract in
        :mod:`sknegsample.rerank._head`.
    hidden_units : int or tuple of int, default=64
        Hidden layer sizes of the default head; 0 is the prototype's linear head.
    lr : float, default=1e-3
        Adam learning rate of the default head.
    max_epochs : int, default=10
        Training epochs of the default head.
    batch_size : int, default=256
        Training pairs per batch of the default head.
    device : str, default="cpu"
        Torch device of the default head, for training and scoring.
    topk : int, default=10
        Candidates retrieved per query and re-ranked by the head.
    candidates : {"all", "counters"}, default="all"
        Evaluation bank: ``"all"`` is the prototype's ``vstack([counter,
        point])`` without the query itself; ``"counters"`` is the counters
        only.
    retrieval_columns : slice, array-like of int or bool, or None, default=None
        Columns of ``X`` (after ``preprocessor``) that mining and retrieval
        use. None means all.
    head_columns : slice, array-like of int or bool, or None, default=None
        Columns the head sees. None means all. With ``X = np.hstack([view1,
        view2])``, ``retrieval_columns=slice(0, d1)`` retrieves on view 1 and
        the head scores both views, as the prototype did.
    include_distance : bool, default=True
        Give the head the pair's retrieval distance (divided by
        ``distance_scale_``). The default head then starts as the retrieval
        order (a zero-initialised MLP plus ``-distance_weight * distance``)
        and learns where to depart from it.
    curriculum : bool, callable or None, default=None
        Re-mine the negatives at the start of every epoch with
        ``random_rate = schedule(epoch)``. True uses
        :func:`~sknegsample.decaying_random_rate` (the prototype's
        ``max(0, 0.8 - 0.02 * epoch)``); a callable is the schedule.
    preprocessor : transformer or None, default=None
        Fitted on ``vstack([X, y])`` of the training pairs and applied to both
        sides everywhere (e.g. ``PCA(64)`` or ``Normalizer()``), so it stays
        inside each cross-validation fold.
    random_state : int, RandomState instance or None, default=None
        Seeds mining, the head's initialisation and the batch shuffling
        (through a forked torch generator: the global one is left alone).

    Attributes
    ----------
    n_features_in_ : int
        Number of features of ``X`` seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when ``X`` had string column names.
    n_pairs_ : int
        Number of training pairs.
    preprocessor_ : transformer or None
        The fitted clone of ``preprocessor``.
    retrieval_columns_ : ndarray of int64
        Resolved ``retrieval_columns``.
    head_columns_ : ndarray of int64
        Resolved ``head_columns``.
    sampler_ : HybridNegativeSampler
        The fitted sampler (after a curriculum, its ``random_rate`` is the last
        epoch's).
    distance_scale_ : float
        Mean training positive distance; the head sees distances divided by it.
    head_ : skorch NeuralNet
        The trained head; ``head_.history`` holds the per-epoch loss (and
        ``random_rate`` under a curriculum).

    See Also
    --------
    HybridNegativeSampler : Mines the training negatives.

    Notes
    -----
    Use it like any estimator with ``X = point`` and ``y = counter``:
    ``cross_val_score(BallTreePairScorer(), point, counter, cv=KFold(5))``
    keeps pairs together, mines only from each fold's training rows, and
    evaluates each held-out fold against its own bank. All metrics at once:
    ``cross_validate(..., scoring=lambda est, X, y: est.evaluate(X, y, n_bootstrap=0))``.
    The prototype's tree is ``sampler=HybridNegativeSampler(
    algorithm="ball_tree", leaf_size=2)``; the default exact brute-force
    search finds the same neighbours faster.

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample import BallTreePairScorer
    >>> rng = np.random.RandomState(0)
    >>> point = rng.normal(size=(200, 8))
    >>> # Counters are noisy in the last four features, which misleads distance.
    >>> counter = point + rng.normal(scale=[0.2] * 4 + [1.0] * 4, size=(200, 8))
    >>> scorer = BallTreePairScorer(random_state=0).fit(point[:150], counter[:150])
    >>> metrics = scorer.evaluate(point[150:], counter[150:])
    >>> metrics["retrieval_accuracy@1"], metrics["accuracy@1"], metrics["n_correct"]
    (0.48, 0.68, 34)
    >>> scorer.score(point[150:], counter[150:])
    0.68
    >>> scorer.predict(point[:3]).shape, scorer.predict_proba(point[:3]).shape
    ((3,), (3, 2))
    """

    _parameter_constraints: dict = {
        "sampler": [HybridNegativeSampler, None],
        "head": [NeuralNet, type, torch.nn.Module, None],
        "hidden_units": [Interval(numbers.Integral, 0, None, closed="left"), tuple, list],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "topk": [Interval(numbers.Integral, 1, None, closed="left")],
        "candidates": [StrOptions({"all", "counters"})],
        "retrieval_columns": [slice, "array-like", None],
        "head_columns": [slice, "array-like", None],
        "include_distance": ["boolean"],
        "curriculum": ["boolean", callable, None],
        "preprocessor": [HasMethods(["fit", "transform"]), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, sampler=None, head=None, hidden_units=64, lr=1e-3, max_epochs=10,
                 batch_size=256, device="cpu", topk=10, candidates="all",
                 retrieval_columns=None, head_columns=None, include_distance=True,
                 curriculum=None, preprocessor=None, random_state=None):
        self.sampler = sampler
        self.head = head
        self.hidden_units = hidden_units
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.device = device
        self.topk = topk
        self.candidates = candidates
        self.retrieval_columns = retrieval_columns
        self.head_columns = head_columns
        self.include_distance = include_distance
        self.curriculum = curriculum
        self.preprocessor = preprocessor
        self.random_state = random_state

    @restore_state_on_error
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: ArrayLike, y: ArrayLike) -> BallTreePairScorer:
        """Mine negatives for the training pairs and train the head.

        Parameters
        ----------
        X : array-like of shape (n_pairs, n_features)
            Point (query) embeddings.
        y : array-like of shape (n_pairs, n_features)
            Counter embeddings; row ``i`` is the positive of ``X[i]``.

        Returns
        -------
        self : BallTreePairScorer
            The fitted scorer.
        """
        check_head_device(self)
        # X first: its own problems (NaN, sparse, empty) are reported as such.
        validate_pairs(self, X, None, reset=True)
        _check_counter_y(y, "fit")
        X, y = validate_pairs(self, X, y, reset=True)
        sampler_seed, torch_seed, curriculum_seed = derive_seed(self.random_state, size=3)
        self.preprocessor_, X, y = fit_preprocessor(self.preprocessor, X, y)
        width = X.shape[1]
        self.retrieval_columns_ = _resolve_columns(self.retrieval_columns, width,
                                                   "retrieval_columns")
        self.head_columns_ = _resolve_columns(self.head_columns, width, "head_columns")
        self.n_pairs_ = X.shape[0]

        if self.sampler is None:
            # Hard negatives drawn from around the list the head re-ranks: the
            # nearest one alone is mostly another point on real data, which
            # teaches the head "counter beats point" instead of which counter.
            self.sampler_ = HybridNegativeSampler(
                n_negatives=_DEFAULT_NEGATIVES, n_candidates=2 * self.topk,
                hard_selection="uniform")
        else:
            self.sampler_ = clone(self.sampler)
        if self.sampler_.random_state is None:
            self.sampler_.set_params(random_state=sampler_seed)
        X_ret, y_ret = X[:, self.retrieval_columns_], y[:, self.retrieval_columns_]
        self.sampler_.fit(X_ret, y_ret)
        miner = _PairMiner(self.sampler_, X_ret, self.include_distance)
        self.distance_scale_ = miner.distance_scale

        X_head, y_head = X[:, self.head_columns_], y[:, self.head_columns_]
        dataset = PairDataset(torch.as_tensor(X_head, dtype=torch.float32),
                              torch.as_tensor(np.vstack([X_head, y_head]), dtype=torch.float32),
                              miner)
        dataset.remine(self.sampler_.random_rate, self.sampler_.random_state)
        net = make_head_net(self, X_head.shape[1], curriculum_seed)
        self.head_ = fit_head_net(net, dataset, torch_seed)

        # predict() retrieves from the training counters.
        self._counter_search = self._make_search().fit(
            apply_preprocessor(self.sampler_.preprocessor_, y_ret), input_name="y")
        self._counter_head = y_head
        return self

    def _make_search(self) -> NeighborSearch:
        # The fitted search's device: "cpu" for a CUDA model loaded without CUDA.
        return self.sampler_.make_search(device=self.sampler_.search_.device)

    def _views(self, X):
        """Preprocessed retrieval-space and head-view rows of validated ``X``."""
        X = apply_preprocessor(self.preprocessor_, X)
        retrieval = apply_preprocessor(self.sampler_.preprocessor_,
                                       X[:, self.retrieval_columns_])
        return retrieval, X[:, self.head_columns_]

    def _head_scores(self, query, bank, ids, distances):
        distance = distances / self.distance_scale_ if self.include_distance else None
        return score_candidates(self.head_.module_, query, bank, ids, distance,
                                device=self.head_.device)

    def _rank(self, X, y, anchor_groups=None) -> Ranking:
        """Retrieve each query's candidates from the evaluated pairs and re-rank them."""
        check_is_fitted(self)
        # set_params may change topk, candidates, ... after fit: check again.
        self._validate_params()
        validate_queries(self, X)
        _check_counter_y(y, "evaluate")
        X, y = validate_pairs(self, X, y, reset=False)
        queries = QueryGroups.from_pairs(X, anchor_groups)
        bank = EvaluationBank.build(queries, self._views(X), self._views(y), self.candidates)
        search = self._make_search().fit(bank.retrieval, bank.labels, input_name="y")
        # A negative bound admits a counter identical to its point.
        result = search.kneighbors(search.prepare_queries(bank.query_retrieval, "X"), self.topk,
                                   query_labels=bank.query_labels,
                                   min_distance=np.full(len(queries.rows), -1.0))
        scores = self._head_scores(bank.query_head, bank.head, result.ids, result.distances)
        return Ranking.from_scores(result.ids, result.distances, scores, queries)

    def evaluate(self, X: ArrayLike, y: ArrayLike, *, anchor_groups: ArrayLike | None = None,
                 confidence: float = 0.95, n_bootstrap: int = 1000) -> dict:
        """Retrieve-then-rerank metrics on the evaluation pairs ``(X, y)``.

        Parameters
        ----------
        X, y : array-like of shape (n_pairs, n_features)
            Evaluation points (the queries) and their counters: the candidate bank.
        anchor_groups : array-like of shape (n_pairs,) or None, default=None
            One label per pair; pairs sharing one, like pairs whose points are
            copies, are one query (the first one's point) whose relevant
            items are all their counters.
        confidence : float in (0, 1), default=0.95
            Coverage of the paired bootstrap intervals of the gains.
        n_bootstrap : int, default=1000
            Bootstrap replicates, seeded by ``random_state``; 0 leaves the
            intervals out (every value is then a number, as scoring needs).

        Returns
        -------
        metrics : dict
            ``"accuracy@1"`` (what :meth:`score` returns), ``"n_correct"``,
            ``"n_queries"``, ``"topk"``, ``"recall@k"``, ``"mrr@k"``, ``"map@k"``,
            ``"ndcg@10"``, the same as ``"retrieval_..."`` without the head, and
            the head's gain: ``"gain@1"``, ``"gain@1_ci"`` (low, high), ``"wins"``,
            ``"losses"``, ``"gain_mrr@k"``, ``"gain_mrr@k_ci"`` (the scorer page
            of the user guide defines each).
        """
        return ranking_metrics(self._rank(X, y, anchor_groups), self.topk,
                               confidence=confidence, n_bootstrap=n_bootstrap,
                               random_state=self.random_state)

    def score(self, X: ArrayLike, y: ArrayLike, anchor_groups: ArrayLike | None = None) -> float:
        """Accuracy@1 after re-ranking: ``evaluate(X, y)["accuracy@1"]``.

        Parameters
        ----------
        X, y : array-like of shape (n_pairs, n_features)
            Evaluation points and their counters.
        anchor_groups : array-like of shape (n_pairs,) or None, default=None
            As in :meth:`evaluate`.

        Returns
        -------
        score : float
            Fraction of queries whose best re-ranked candidate is one of their counters.
        """
        ranking = self._rank(X, y, anchor_groups)
        return accuracy_at_1(ranking.reranked, ranking.true_ids)

    def _best_counters(self, x_ret, x_head):
        """Training counter index of each new point's best re-ranked match."""
        search = self._counter_search
        # Copies are admitted: a point may coincide with a stored counter.
        result = search.kneighbors(search.prepare_queries(x_ret, "X"), self.topk,
                                   min_distance=np.full(len(x_ret), -1.0))
        scores = self._head_scores(x_head, self._counter_head, result.ids, result.distances)
        return result.ids[np.arange(len(x_ret)), np.argmax(scores, axis=1)]

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Index of the best counter among the fitted ones, for each new point.

        The ``topk`` nearest training counters are retrieved and re-ranked by
        the head.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Point embeddings.

        Returns
        -------
        counter_index : ndarray of int64 of shape (n_queries,)
            Row of the training ``y`` that the head ranks first.
        """
        check_is_fitted(self)
        self._validate_params()
        X = validate_queries(self, X)
        return self._best_counters(*self._views(X))

    def predict_proba(self, X: ArrayLike, candidates: ArrayLike | None = None) -> np.ndarray:
        """Head probabilities for explicit (point, candidate) pairs.

        Parameters
        ----------
        X : array-like of shape (n_pairs, n_features)
            Point embeddings.
        candidates : array-like of shape (n_pairs, n_features) or None, default=None
            Candidate counter embeddings, row ``r`` paired with ``X[r]``. None
            pairs each point with its predicted training counter
            (:meth:`predict`), giving the head's confidence in its choice.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
            Column 1 is the probability that the candidate is the point's counter.
        """
        check_is_fitted(self)
        self._validate_params()
        if candidates is not None:
            _check_counter_y(candidates, "predict_proba", name="candidates")
        X = validate_queries(self, X)
        x_ret, x_head = self._views(X)
        distance = None
        if candidates is None:
            ids = self._best_counters(x_ret, x_head)
            cand_head = self._counter_head[ids]
            if self.include_distance:
                search = self._counter_search
                distance = search.pair_distances(search.prepare_queries(x_ret, "X"),
                                                 ids[:, None])[:, 0]
        else:
            candidates = check_embeddings(candidates, input_name="candidates")
            if candidates.shape != X.shape:
                raise ValueError(
                    f"candidates must have the same shape as X: expected {X.shape}, "
                    f"got {candidates.shape}. Row r of candidates is paired with row r of X."
                )
            cand_ret, cand_head = self._views(candidates)
            if self.include_distance:
                # Row r against row r: no index over the candidates is needed.
                distance = aligned_distances(x_ret, cand_ret, self.sampler_.search_.metric)
        if distance is not None:
            distance = distance / self.distance_scale_
        logits = pair_logits(self.head_.module_, x_head, cand_head, distance,
                             device=self.head_.device)
        return torch.softmax(torch.from_numpy(logits), dim=1).numpy()

    def __getstate__(self):
        state = super().__getstate__()
        if "head_" in state:
            # Weights as numpy arrays: the file loads on any device, and a skops
            # file trusts no torch or skorch type (sknegsample.utils._persistence).
            state["head_"] = head_state(state["head_"])
        return state

    def __setstate__(self, state):
        state = dict(state)
        head = state.pop("head_", None)
        super().__setstate__(state)
        if head is not None:
            self.head_ = restore_head(make_head_net(self, len(self.head_columns_), 0), head)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

