"""The head's life in the scorer: copied in, seeded, stopped when it diverges,
put in eval mode once, and scored without touching shared state."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from sknegsample import HybridNegativeSampler
from sknegsample.exceptions import TrainingDivergedError
from sknegsample.neighbors._search import NeighborSearch
from sknegsample.rerank import BallTreePairScorer
from sknegsample.rerank._head import PairHead, pair_features

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = dict(max_epochs=2, batch_size=64, random_state=0)


class DropoutPairHead(PairHead):
    """PairHead with dropout before its last layer: train and eval mode differ."""

    def __init__(self, n_features, hidden_units=16, include_distance=True):
        super().__init__(n_features, hidden_units, include_distance)
        self.layers.insert(len(self.layers) - 1, torch.nn.Dropout(0.5))


@pytest.fixture
def data(pairs):
    return pairs(40, 6)


def _weights(module):
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _random_instance():
    torch.manual_seed(5)
    head = PairHead(6, hidden_units=8)
    # Non-zero last layer: an instance that starts away from retrieval order.
    torch.nn.init.normal_(head.layers[-1].weight)
    return head


@pytest.mark.parametrize("wrap", ["module instance", "skorch net holding an instance"])
def test_a_module_instance_is_copied_not_trained_in_place(data, wrap):
    point, counter = data
    instance = _random_instance()
    before = _weights(instance)
    head = instance if wrap == "module instance" else NeuralNetClassifier(
        instance, criterion=torch.nn.CrossEntropyLoss, max_epochs=2, batch_size=64,
        train_split=None, verbose=0)
    scorer = BallTreePairScorer(head=head, **FAST)
    first = scorer.fit(point[:30], counter[:30])
    first_weights = _weights(first.head_.module_)
    first_metrics = first.evaluate(point[30:], counter[30:])
    # The constructor parameter is untouched ...
    assert scorer.get_params()["head"] is head
    _assert_same_weights(_weights(instance), before)
    assert first.head_.module_ is not instance
    # ... so a second fit starts where the first did, and reproduces it.
    second = scorer.fit(point[:30], counter[:30])
    _assert_same_weights(_weights(second.head_.module_), first_weights)
    assert second.evaluate(point[30:], counter[30:]) == first_metrics


def test_head_is_in_eval_mode_after_fit_and_after_load(data):
    point, counter = data
    scorer = BallTreePairScorer(head=DropoutPairHead, **FAST).fit(point[:30], counter[:30])
    assert not any(m.training for m in scorer.head_.module_.modules())
    loaded = pickle.loads(pickle.dumps(scorer))
    assert not any(m.training for m in loaded.head_.module_.modules())
    assert loaded.evaluate(point[30:], counter[30:]) == scorer.evaluate(point[30:], counter[30:])


def test_scoring_never_switches_the_shared_modules_mode(data):
    point, counter = data
    scorer = BallTreePairScorer(head=DropoutPairHead, **FAST).fit(point[:30], counter[:30])
    module = scorer.head_.module_
    switches = []
    original = type(module).train

    def recording_train(self, mode=True):
        if self is module:  # not a private copy (deepcopy rebinds the method)
            switches.append(mode)
        return original(self, mode)

    module.train = recording_train.__get__(module)
    scorer.evaluate(point[30:], counter[30:])
    scorer.predict(point[30:])
    scorer.predict_proba(point[30:])
    scorer.predict_proba(point[30:], counter[30:])
    assert switches == []


def test_a_module_left_in_training_mode_is_scored_in_eval_mode_on_a_copy(data):
    point, counter = data
    scorer = BallTreePairScorer(head=DropoutPairHead, **FAST).fit(point[:30], counter[:30])
    expected = scorer.evaluate(point[30:], counter[30:])
    scorer.head_.module_.train()
    # Dropout would make these differ from call to call.
    assert all(scorer.evaluate(point[30:], counter[30:]) == expected for _ in range(5))
    assert scorer.head_.module_.training  # the caller's setting is left alone


def test_a_diverged_head_stops_fit_naming_lr(data):
    point, counter = data
    scorer = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    before = scorer.evaluate(point[30:], counter[30:])
    with pytest.raises(TrainingDivergedError, match=r"training loss is (nan|inf) at epoch "
                                                    r"\d+, batch \d+: training diverged\. "
                                                    r"Lower the learning rate \(lr=1e\+30"):
        scorer.set_params(lr=1e30).fit(point[:30], counter[:30])
    assert np.isfinite(scorer.head_.history[-1, "train_loss"])
    assert scorer.evaluate(point[30:], counter[30:]) == before  # the previous fit survives


def test_a_diverged_skorch_head_names_head__lr(data):
    point, counter = data
    net = NeuralNetClassifier(PairHead, criterion=torch.nn.CrossEntropyLoss, lr=1e30,
                              max_epochs=3, train_split=None, verbose=0)
    with pytest.raises(TrainingDivergedError, match=r"head__lr=1e\+30, optimizer SGD"):
        BallTreePairScorer(head=net, random_state=0).fit(point, counter)


def test_a_criterion_that_takes_logits_for_probabilities_is_pointed_at(data):
    point, counter = data
    net = NeuralNetClassifier(PairHead, max_epochs=1, train_split=None, verbose=0)
    with pytest.raises(TrainingDivergedError, match=r"criterion \(NLLLoss; .*CrossEntropyLoss"):
        BallTreePairScorer(head=net, random_state=0).fit(point, counter)


def test_fit_seeds_only_the_cpu_and_training_device_generators(data, monkeypatch):
    point, counter = data
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch, "manual_seed", lambda seed: calls.append(seed))
    a = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    b = BallTreePairScorer(**FAST).fit(point[:30], counter[:30])
    assert calls == []
    _assert_same_weights(_weights(a.head_.module_), _weights(b.head_.module_))


def _reference_proba(scorer, X, candidates):
    """The head on explicitly built pair features, distances from numpy."""
    X, candidates = X.astype(np.float64), candidates.astype(np.float64)
    if scorer.sampler_.metric == "cosine":
        a = X / np.linalg.norm(X, axis=1, keepdims=True)
        b = candidates / np.linalg.norm(candidates, axis=1, keepdims=True)
        distance = 1.0 - np.sum(a * b, axis=1)
    else:
        distance = np.linalg.norm(X - candidates, axis=1)
    module = pickle.loads(pickle.dumps(scorer.head_.module_)).double()
    features = pair_features(torch.from_numpy(X), torch.from_numpy(candidates),
                             torch.from_numpy(distance / scorer.distance_scale_))
    with torch.no_grad():
        return torch.softmax(module.forward_features(features), dim=1).numpy()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", ["brute", "hnswlib"])
def test_predict_proba_with_candidates_builds_no_index(data, monkeypatch, metric, algorithm):
    if algorithm == "hnswlib":
        pytest.importorskip("hnswlib")
    point, counter = data
    sampler = HybridNegativeSampler(metric=metric, algorithm=algorithm)
    scorer = BallTreePairScorer(sampler=sampler, **FAST).fit(point[:30], counter[:30])

    def no_index(*args, **kwargs):
        raise AssertionError("predict_proba built an index")

    monkeypatch.setattr(NeighborSearch, "fit", no_index)
    proba = scorer.predict_proba(point[30:], counter[::-1][:10])
    np.testing.assert_allclose(proba, _reference_proba(scorer, point[30:], counter[::-1][:10]),
                               rtol=1e-10, atol=1e-12)
