"""BallTreePairScorer: sklearn compatibility, retrieval, re-ranking, CV, curriculum."""

import io
import pickle
from functools import partial

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch import NeuralNetClassifier

from sknegsample import HybridNegativeSampler, decaying_random_rate
from sknegsample.rerank import BallTreePairScorer
from sknegsample.rerank._head import PairHead, pair_features, score_candidates

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = dict(max_epochs=2, batch_size=64, hidden_units=8, random_state=0)

_NEEDS_COUNTERS = (
    "fit needs y = counter embeddings of shape (n_pairs, n_features); the check "
    "passes a 1-D target, rejected with a ValueError naming y. The same check "
    "passes on _SelfPaired (counters derived from X) below."
)
_SCORE_NEEDS_COUNTERS = (
    "score(X, y) needs the evaluation counters; the check passes a 1-D target."
)
# Every check that fits with the checks' 1-D y.
_FIT_WITH_1D_Y = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature",
    "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit2d_predict1d",
]
EXPECTED_FAILED_CHECKS = {name: _NEEDS_COUNTERS for name in _FIT_WITH_1D_Y}
SELF_PAIRED_EXPECTED_FAILED_CHECKS = {
    "check_fit_score_takes_y": _SCORE_NEEDS_COUNTERS,
    "check_pipeline_consistency": _SCORE_NEEDS_COUNTERS,
}


class _SelfPaired(BallTreePairScorer):
    """Test adapter: fit(X) pairs each row with X + 0.5, so the checks can fit.

    The common checks only pass 1-D targets; this runs them through the real
    fit, predict and predict_proba with a valid counter matrix.
    """

    def fit(self, X, y=None):
        counter = X
        if not sparse.issparse(X) and not np.iscomplexobj(X):
            try:
                counter = np.asarray(X, dtype=np.float64) + 0.5
            except (TypeError, ValueError):  # let fit report the bad X
                pass
        return super().fit(X, counter)


@parametrize_with_checks(
    [BallTreePairScorer(**FAST), _SelfPaired(**FAST)],
    expected_failed_checks=lambda est: (
        SELF_PAIRED_EXPECTED_FAILED_CHECKS if isinstance(est, _SelfPaired)
        else EXPECTED_FAILED_CHECKS
    ),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.fixture
def data(pairs):
    point, counter = pairs(40, 6)
    return point, counter


@pytest.fixture
def fitted(data):
    point, counter = data
    return BallTreePairScorer(topk=5, **FAST).fit(point[:30], counter[:30])


def _brute_retrieval_accuracy(point, counter, candidates="all"):
    """Nearest candidate by euclidean distance in numpy, ties to the lower bank id."""
    n = len(point)
    bank = np.vstack([counter, point]) if candidates == "all" else counter
    dist = np.linalg.norm(point[:, None, :].astype(np.float64) - bank[None], axis=2)
    if candidates == "all":
        dist[np.arange(n), n + np.arange(n)] = np.inf  # the query itself
    return float(np.mean(np.argmin(dist, axis=1) == np.arange(n)))


@pytest.mark.parametrize("candidates", ["all", "counters"])
def test_retrieval_accuracy_matches_brute_force(data, candidates):
    point, counter = data
    scorer = BallTreePairScorer(candidates=candidates, **FAST).fit(point[:30], counter[:30])
    metrics = scorer.evaluate(point[30:], counter[30:])
    assert metrics["retrieval_accuracy@1"] == _brute_retrieval_accuracy(
        point[30:], counter[30:], candidates)


def test_query_never_retrieves_itself_but_may_retrieve_its_identical_counter(data):
    point, counter = data
    scorer = BallTreePairScorer(topk=3, **FAST).fit(point[:30], counter[:30])
    counter_eval = counter[30:].copy()
    counter_eval[0] = point[30]  # a counter identical to its point
    ranking = scorer._rank(point[30:], counter_eval)
    n = len(counter_eval)
    assert not np.any(ranking.ids == n + np.arange(n)[:, None])
    assert ranking.ids[0, 0] == 0 and ranking.distances[0, 0] == 0


def test_score_equals_evaluate_and_counts_are_consistent(fitted, data):
    point, counter = data
    metrics = fitted.evaluate(point[30:], counter[30:])
    assert fitted.score(point[30:], counter[30:]) == metrics["accuracy@1"]
    assert metrics["n_correct"] == round(metrics["accuracy@1"] * metrics["n_queries"])
    assert metrics["n_queries"] == 10 and metrics["topk"] == 5
    assert metrics["accuracy@1"] <= metrics["recall@k"]
    assert metrics["retrieval_accuracy@1"] <= metrics["recall@k"]
    assert 0 <= metrics["mrr@k"] <= 1 and 0 <= metrics["ndcg@10"] <= 1


def test_batched_scoring_equals_one_pair_at_a_time(fitted, data):
    point, counter = data
    ranking = fitted._rank(point[30:], counter[30:])
    module = fitted.head_.module_
    bank = np.vstack([counter[30:], point[30:]])
    expected = np.empty(ranking.ids.shape)
    with torch.no_grad():
        for i, row in enumerate(ranking.ids):
            for j, bank_id in enumerate(row):  # the prototype's loop
                logits = module(
                    torch.tensor(point[30 + i][None]), torch.tensor(bank[bank_id][None]),
                    torch.tensor([ranking.distances[i, j] / fitted.distance_scale_],
                                 dtype=torch.float32))
                expected[i, j] = float(logits[0, 1] - logits[0, 0])
    np.testing.assert_allclose(ranking.scores, expected, rtol=1e-4, atol=1e-5)
    # The re-ranked list is the retrieved one ordered by score.
    np.testing.assert_array_equal(
        ranking.reranked, np.take_along_axis(ranking.ids, np.argsort(-expected, axis=1,
                                                                     kind="stable"), axis=1))


def test_factorised_scoring_equals_gathered_forward():
    rng = np.random.RandomState(0)
    query, bank = rng.normal(size=(7, 5)), rng.normal(size=(12, 5))
    ids = rng.randint(0, 12, size=(7, 4))
    ids[0, -1] = -1  # padding scores -inf
    distance = rng.uniform(size=(7, 4))
    for hidden in (0, 6, (6, 3)):
        torch.manual_seed(0)
        head = PairHead(5, hidden_units=hidden).eval()
        fast = score_candidates(head, query, bank, ids, distance)

        class Gathered(torch.nn.Module):  # no score_candidates: the generic path
            def __init__(self, head):
                super().__init__()
                self.head = head

            def forward(self, query, candidate, distance):
                return self.head.forward_features(pair_features(query, candidate, distance))

        slow = score_candidates(Gathered(head), query, bank, ids, distance)
        assert fast[0, -1] == -np.inf and slow[0, -1] == -np.inf
        np.testing.assert_allclose(fast[np.isfinite(fast)], slow[np.isfinite(slow)],
                                   rtol=1e-4, atol=1e-5)


def test_predict_and_predict_proba(fitted, data):
    point, counter = data
    best = fitted.predict(point[:30])
    assert best.shape == (30,) and best.dtype == np.int64
    assert best.min() >= 0 and best.max() < 30  # rows of the training counters
    proba = fitted.predict_proba(point[:5], counter[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Without candidates: the pair with the predicted counter.
    np.testing.assert_allclose(fitted.predict_proba(point[:5]),
                               fitted.predict_proba(point[:5], counter[best[:5]]))


def test_two_views(pairs):
    # View 1 carries the pairing, view 2 is noise: retrieving on view 1 only
    # must beat retrieving on both, while the head still sees both views.
    point, counter = pairs(40, 4)
    rng = np.random.RandomState(1)
    X = np.hstack([point, 5 * rng.normal(size=(40, 6))]).astype(np.float32)
    Y = np.hstack([counter, 5 * rng.normal(size=(40, 6))]).astype(np.float32)
    views = BallTreePairScorer(retrieval_columns=slice(0, 4), **FAST).fit(X[:30], Y[:30])
    both = BallTreePairScorer(**FAST).fit(X[:30], Y[:30])
    assert views.retrieval_columns_.tolist() == [0, 1, 2, 3]
    assert views.head_columns_.tolist() == list(range(10))
    assert views.head_.module_.n_features == 10
    assert views.sampler_.n_features_in_ == 4
    ret_views = views.evaluate(X[30:], Y[30:])["retrieval_accuracy@1"]
    assert ret_views == _brute_retrieval_accuracy(point[30:], counter[30:])
    assert ret_views > both.evaluate(X[30:], Y[30:])["retrieval_accuracy@1"]
    # The head may see fewer columns than retrieval, given as indices or a mask.
    mask = np.zeros(10, dtype=bool)
    mask[4:] = True
    narrow = BallTreePairScorer(head_columns=mask, **FAST).fit(X[:30], Y[:30])
    assert narrow.head_.module_.n_features == 6


@pytest.mark.parametrize("name", ["retrieval_columns", "head_columns"])
@pytest.mark.parametrize("columns, error, match", [
    ([0, 9], ValueError, "must index the 6 feature"),
    ([], ValueError, "selects no column"),
    (slice(6, None), ValueError, "selects no column"),
    ([0.5], TypeError, "integer column indices"),
    (np.ones(3, dtype=bool), ValueError, "one entry per feature"),
    ([[0, 1]], ValueError, "must be 1-D"),
])
def test_bad_columns(data, name, columns, error, match):
    point, counter = data
    with pytest.raises(error, match=f"{name}.*{match}|{match}.*{name}"):
        BallTreePairScorer(**{name: columns}, **FAST).fit(point, counter)


def test_cross_validation_kfold_and_groupkfold(pairs):
    point, counter = pairs(40, 6)
    scores = cross_val_score(BallTreePairScorer(**FAST), point, counter, cv=KFold(4))
    assert scores.shape == (4,) and np.all((0 <= scores) & (scores <= 1))
    groups = np.arange(40) % 5
    scores = cross_val_score(BallTreePairScorer(**FAST), point, counter, groups=groups,
                             cv=GroupKFold(5))
    assert scores.shape == (5,)


def test_fit_mines_only_from_training_rows(data):
    point, counter = data
    scorer = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    assert scorer.sampler_.n_pairs_ == 30 and scorer.n_pairs_ == 30
    assert scorer.sampler_.search_.n_bank_ == 60


def test_grid_search_over_topk_random_rate_and_lr(pairs):
    point, counter = pairs(30, 4)
    scorer = BallTreePairScorer(sampler=HybridNegativeSampler(), **FAST)
    grid = GridSearchCV(scorer, {"topk": [2, 5], "sampler__random_rate": [0.0, 1.0],
                                 "lr": [1e-3, 1e-2]}, cv=KFold(3))
    grid.fit(point, counter)
    assert len(grid.cv_results_["params"]) == 8
    assert grid.best_estimator_.head_.lr in (1e-3, 1e-2)


def test_user_skorch_net_is_cloned_and_tunable(data):
    point, counter = data
    net = NeuralNetClassifier(PairHead, module__hidden_units=4, max_epochs=1, lr=0.01,
                              criterion=torch.nn.CrossEntropyLoss, train_split=None,
                              verbose=0)
    scorer = BallTreePairScorer(head=net, random_state=0)
    assert scorer.get_params()["head__lr"] == 0.01
    scorer.set_params(head__lr=0.02).fit(point[:30], counter[:30])
    assert scorer.head_ is not net and scorer.head_.lr == 0.02
    assert not hasattr(net, "module_")  # the user's net stays unfitted
    assert scorer.head_.module_.n_features == 6
    # A module class is wrapped with the flat parameters.
    wrapped = BallTreePairScorer(head=PairHead, **FAST).fit(point[:30], counter[:30])
    assert wrapped.head_.max_epochs == 2


def test_bad_head_type(data):
    point, counter = data
    with pytest.raises(TypeError, match="head must be None, a skorch NeuralNet"):
        BallTreePairScorer(head=dict, **FAST).fit(point, counter)


def test_preprocessor_is_fitted_on_both_sides_inside_fit(data):
    point, counter = data
    scorer = BallTreePairScorer(preprocessor=PCA(3), **FAST).fit(point[:30], counter[:30])
    assert scorer.preprocessor_.n_samples_ == 60
    assert scorer.head_.module_.n_features == 3 and scorer.sampler_.n_features_in_ == 3
    assert scorer.n_features_in_ == 6
    assert np.isfinite(scorer.score(point[30:], counter[30:]))
    scores = cross_val_score(BallTreePairScorer(preprocessor=PCA(3), **FAST), point, counter,
                             cv=KFold(2))
    assert scores.shape == (2,)


def test_fit_is_reproducible_and_leaves_global_torch_rng_alone(data):
    point, counter = data
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    assert torch.equal(torch.rand(1), before)
    b = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    for pa, pb in zip(a.head_.module_.parameters(), b.head_.module_.parameters(),
                      strict=True):
        assert torch.equal(pa, pb)
    assert a.evaluate(point[30:], counter[30:]) == b.evaluate(point[30:], counter[30:])


def _record_negatives(scorer, point, counter):
    """Fit and return the training candidates seen at the start of each epoch."""
    seen = []
    from sknegsample.rerank import _callbacks

    original = _callbacks.CurriculumRemining.on_epoch_begin

    def spy(self, net, dataset_train=None, **kwargs):
        original(self, net, dataset_train=dataset_train, **kwargs)
        seen.append(dataset_train.candidate.clone())

    _callbacks.CurriculumRemining.on_epoch_begin = spy
    try:
        scorer.fit(point, counter)
    finally:
        _callbacks.CurriculumRemining.on_epoch_begin = original
    return seen


def test_curriculum_is_deterministic_and_follows_the_schedule(data):
    point, counter = data
    schedule = partial(decaying_random_rate, start=1.0, decay=0.5)
    params = dict(FAST, max_epochs=3, curriculum=schedule)
    first = _record_negatives(BallTreePairScorer(**params), point, counter)
    second = _record_negatives(BallTreePairScorer(**params), point, counter)
    assert len(first) == 3
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], first[1])  # fresh negatives each epoch
    scorer = BallTreePairScorer(**params).fit(point, counter)
    assert scorer.head_.history[:, "random_rate"] == [1.0, 0.5, 0.0]
    assert scorer.sampler_.random_rate == 0.0


def test_curriculum_true_uses_the_prototype_schedule(data):
    point, counter = data
    scorer = BallTreePairScorer(curriculum=True, **FAST).fit(point, counter)
    assert scorer.head_.history[:, "random_rate"] == [
        decaying_random_rate(0), decaying_random_rate(1)]


def test_curriculum_rejects_a_bad_rate(data):
    point, counter = data
    with pytest.raises(ValueError, match=r"schedule\(0\) returned 2"):
        BallTreePairScorer(curriculum=lambda epoch: 2, **FAST).fit(point, counter)


def test_pickle_round_trip(fitted, data):
    point, counter = data
    buffer = io.BytesIO()
    pickle.dump(fitted, buffer)
    buffer.seek(0)
    loaded = pickle.load(buffer)
    assert loaded.evaluate(point[30:], counter[30:]) == fitted.evaluate(point[30:], counter[30:])
    np.testing.assert_array_equal(loaded.predict(point), fitted.predict(point))


@pytest.mark.parametrize("method", ["score", "evaluate", "predict", "predict_proba"])
def test_methods_before_fit(data, method):
    point, counter = data
    args = (point,) if method.startswith("predict") else (point, counter)
    with pytest.raises(NotFittedError):
        getattr(BallTreePairScorer(), method)(*args)


@pytest.mark.parametrize("params, error, match", [
    ({"topk": 0}, ValueError, "'topk' parameter of BallTreePairScorer must be an int"),
    ({"topk": 2.5}, ValueError, "'topk' parameter"),
    ({"candidates": "points"}, ValueError, "'candidates' parameter"),
    ({"lr": 0}, ValueError, "'lr' parameter"),
    ({"hidden_units": -1}, ValueError, "'hidden_units' parameter"),
    ({"hidden_units": (4, 0)}, ValueError, "hidden_units must be an int >= 0"),
    ({"device": "nonsense"}, ValueError, "device must be a torch device .* got 'nonsense'"),
    ({"device": "meta"}, ValueError, "device must be a compute device"),
    ({"head": NeuralNetClassifier(PairHead, device="gpu")}, ValueError,
     "head__device must be a torch device .* got 'gpu'"),
])
def test_bad_parameters(data, params, error, match):
    point, counter = data
    with pytest.raises(error, match=match):
        BallTreePairScorer(**{**FAST, **params}).fit(point, counter)


def test_cuda_without_cuda_is_refused_before_mining(data, monkeypatch):
    point, counter = data
    # As on a CPU-only build, also where this test runs on a GPU machine.
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    mined = []
    monkeypatch.setattr(HybridNegativeSampler, "fit",
                        lambda *args, **kwargs: mined.append(1))
    with pytest.raises(ValueError, match=r"device='cuda' needs CUDA, but this torch build "
                                         r"\(.*\) has no CUDA support"):
        BallTreePairScorer(**{**FAST, "device": "cuda"}).fit(point, counter)
    assert not mined


def test_bad_input(fitted, data):
    point, counter = data
    with pytest.raises(ValueError, match="requires y to be passed"):
        BallTreePairScorer(**FAST).fit(point, None)
    with pytest.raises(ValueError, match="needs y = counter embeddings.*1 dimension"):
        BallTreePairScorer(**FAST).fit(point, np.arange(40))
    with pytest.raises(ValueError, match="y .*must have the same shape as X"):
        BallTreePairScorer(**FAST).fit(point, counter[:-1])
    bad = point.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BallTreePairScorer(**FAST).fit(bad, counter)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.score(point[30:], np.full_like(counter[30:], np.inf))
    with pytest.raises(ValueError, match="X has 5 features"):
        fitted.predict(point[:, :5])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        fitted.evaluate(point[:1], counter[:1])
    with pytest.raises(ValueError, match="candidates must have the same shape as X"):
        fitted.predict_proba(point[:3], counter[:2])
    with pytest.raises(ValueError, match="needs candidates = counter embeddings"):
        fitted.predict_proba(point[:3], counter[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.gpu
def test_cuda_matches_cpu(data):
    """Retrieval and the head both on the GPU, against both on the CPU."""
    point, counter = data

    def scorer(device):
        sampler = HybridNegativeSampler(n_negatives=4, n_candidates=10,
                                        hard_selection="uniform", device=device)
        return BallTreePairScorer(sampler=sampler, device=device, topk=5, **FAST).fit(
            point[:30], counter[:30])

    cpu, gpu = scorer("cpu"), scorer("cuda")
    assert gpu.sampler_.search_.device.startswith("cuda")
    assert gpu.head_.module_.layers[0].weight.device.type == "cuda"
    assert cpu.head_.module_.layers[0].weight.device.type == "cpu"
    # Exact search: the same neighbours, hence the same training pairs.
    np.testing.assert_array_equal(gpu.sampler_.transform(point[:30], indices=np.arange(30)),
                                  cpu.sampler_.transform(point[:30], indices=np.arange(30)))
    ranking_cpu = cpu._rank(point[30:], counter[30:])
    ranking_gpu = gpu._rank(point[30:], counter[30:])
    np.testing.assert_array_equal(ranking_cpu.ids, ranking_gpu.ids)
    # The heads trained from the same initial weights on the same batches;
    # only float32 kernels differ.
    np.testing.assert_allclose(ranking_gpu.scores, ranking_cpu.scores, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu.predict_proba(point[30:], counter[30:]),
                               cpu.predict_proba(point[30:], counter[30:]), atol=1e-4)
