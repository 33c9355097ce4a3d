"""One fitted estimator, many threads: the same results as serial calls.

Prediction only reads fitted state; these tests call ``transform`` and the
scorer's ``score``/``evaluate``/``predict`` from several threads at once, each
thread on its own queries, and compare with serial calls.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.rerank import BallTreePairScorer

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


@pytest.mark.parametrize("algorithm", ["brute", "hnswlib" if "hnswlib" in ALGORITHMS
                                       else "ball_tree"])
def test_scorer_score_and_predict_from_many_threads(algorithm):
    scorer = BallTreePairScorer(sampler=HybridNegativeSampler(algorithm=algorithm),
                                max_epochs=1, batch_size=128, topk=5, random_state=0)
    scorer.fit(POINT[:200], COUNTER[:200])
    state = joblib.hash(scorer)
    batches = [rows[rows >= 200] for rows in _batches()]
    batches = [rows for rows in batches if len(rows) >= 2]

    def run(rows):
        return (scorer.score(POINT[rows], COUNTER[rows]),
                scorer.evaluate(POINT[rows], COUNTER[rows]),
                scorer.predict(POINT[rows]),
                scorer.predict_proba(POINT[rows], COUNTER[rows]))

    serial = [run(rows) for rows in batches]
    parallel = _concurrently(run, batches)
    for a, b in zip(serial, parallel, strict=True):
        assert a[0] == b[0] and a[1] == b[1]
        np.testing.assert_array_equal(a[2], b[2])
        np.testing.assert_array_equal(a[3], b[3])
    assert joblib.hash(scorer) == state, "prediction changed the fitted state"
