"""One fitted estimator, many threads: the same results as serial calls.

Prediction only reads fitted state; these tests call ``transform`` and the
scorer's ``score``/``evaluate``/``predict`` from several threads at once, each
thread on its own queries, and compare the outputs with serial calls. The
scorer's head has dropout, so a training flag switched by one thread would
change another's scores; its weights and flags are compared directly, since
``joblib.hash`` goes through ``__getstate__``, which drops both.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch

from sknegsample import HybridNegativeSampler
from sknegsample.rerank import BallTreePairScorer
from sknegsample.rerank._head import PairHead

ALGORITHMS = ["brute", "ball_tree", "kd_tree"]
for _module, _algorithms in (("faiss", ["faiss_flat", "faiss_hnsw", "faiss_ivf"]),
                             ("hnswlib", ["hnswlib"])):
    try:
        __import__(_module)
        ALGORITHMS += _algorithms
    except ImportError:  # pragma: no cover - depends on the environment
        pass

_rng = np.random.RandomState(0)
POINT = _rng.normal(size=(300, 8))
COUNTER = POINT + 0.2 * _rng.normal(size=(300, 8))
N_THREADS, N_CALLS = 4, 16


def _batches():
    """Different queries per call: new rows, and fitted anchors by index."""
    rng = np.random.RandomState(1)
    return [rng.choice(300, size=40 + 5 * i, replace=False) for i in range(N_CALLS)]


def _concurrently(function, args):
    with ThreadPoolExecutor(max_workers=N_THREADS) as pool:
        return list(pool.map(function, args))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sampler_transform_from_many_threads(algorithm):
    sampler = HybridNegativeSampler(algorithm=algorithm, n_negatives=3, n_candidates=6,
                                    random_rate=0.3, random_state=0, n_jobs=2)
    sampler.fit(POINT, COUNTER)
    state = joblib.hash(sampler)

    def mine(rows):
        return (sampler.transform(POINT[rows], indices=rows),
                sampler.transform(POINT[rows] + 0.01))

    serial = [mine(rows) for rows in _batches()]
    parallel = _concurrently(mine, _batches())
    for (a, b), (c, d) in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert joblib.hash(sampler) == state, "transform changed the fitted state"


class DropoutPairHead(PairHead):
    """PairHead with dropout before its last layer: a head in training mode
    scores differently on every call, so a mode switched by one thread shows
    in another thread's outputs."""

    def __init__(self, n_features, hidden_units=16, include_distance=True):
        super().__init__(n_features, hidden_units, include_distance)
        self.layers.insert(len(self.layers) - 1, torch.nn.Dropout(0.5))


def _torch_state(module):
    """What joblib.hash(scorer) cannot see: __getstate__ keeps the weights as
    numpy copies and drops the training flags."""
    return ({name: tensor.detach().clone() for name, tensor in module.state_dict().items()},
            [m.training for m in module.modules()])


def _assert_torch_state_unchanged(module, before):
    weights, flags = _torch_state(module)
    for name, tensor in before[0].items():
        assert torch.equal(weights[name], tensor), f"{name} changed"
    assert flags == before[1], "the module's training flags changed"


@pytest.fixture(scope="module")
def dropout_scorers():
    """A dropout head behind brute force and behind hnswlib (or a ball tree)."""
    out = {}
    for algorithm in ["brute", "hnswlib" if "hnswlib" in ALGORITHMS else "ball_tree"]:
        scorer = BallTreePairScorer(sampler=HybridNegativeSampler(algorithm=algorithm),
                                    head=DropoutPairHead, max_epochs=2, batch_size=128,
                                    topk=5, random_state=0)
        out[algorithm] = scorer.fit(POINT[:200], COUNTER[:200])
    return out


@pytest.mark.parametrize("algorithm", ["brute", "hnswlib" if "hnswlib" in ALGORITHMS
                                       else "ball_tree"])
def test_scorer_score_and_predict_from_many_threads(dropout_scorers, algorithm):
    scorer = dropout_scorers[algorithm]
    state, torch_state = joblib.hash(scorer), _torch_state(scorer.head_.module_)
    batches = [rows[rows >= 200] for rows in _batches()]
    batches = [rows for rows in batches if len(rows) >= 2]

    def run(rows):
        return (scorer.score(POINT[rows], COUNTER[rows]),
                scorer.evaluate(POINT[rows], COUNTER[rows]),
                scorer.predict(POINT[rows]),
                scorer.predict_proba(POINT[rows], COUNTER[rows]),
                scorer.predict_proba(POINT[rows]))

    serial = [run(rows) for rows in batches]
    parallel = _concurrently(run, batches)
    for a, b in zip(serial, parallel, strict=True):
        assert a[0] == b[0] and a[1] == b[1]
        for x, y in zip(a[2:], b[2:], strict=True):
            np.testing.assert_array_equal(x, y)
    assert joblib.hash(scorer) == state, "prediction changed the fitted state"
    _assert_torch_state_unchanged(scorer.head_.module_, torch_state)


def test_many_evaluate_calls_with_a_dropout_head(dropout_scorers):
    """8 threads x 10 evaluate calls on the same pairs: all equal the serial result."""
    scorer = dropout_scorers["brute"]
    torch_state = _torch_state(scorer.head_.module_)
    X, y = POINT[200:], COUNTER[200:]
    expected = scorer.evaluate(X, y)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: scorer.evaluate(X, y), range(80)))
    wrong = [r["accuracy@1"] for r in results if r != expected]
    assert not wrong, (f"{len(wrong)} of 80 concurrent calls differ from the serial "
                       f"accuracy@1 {expected['accuracy@1']}: {wrong[:5]}")
    _assert_torch_state_unchanged(scorer.head_.module_, torch_state)
