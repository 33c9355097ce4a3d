"""The pool of mine_window: float32 estimates made exact where they decide something.

``mine_window`` asks the search for estimated distances
(``exact_distances=False``) and re-ranks only the cells a rule, a copy or a
used window position depends on (``_PoolScores``). Its answer must be the
one the exact pool gives, cell for cell: picks, scores, window and the
statistics of every rule.
"""

import numpy as np
import pytest

from sknegsample.neighbors import NeighborSearch
from sknegsample.text._mine_core import mine_window

_RULES = ("absolute_margin", "relative_margin", "max_score", "min_score")


def _problem(seed):
    """Unit rows with duplicates and ties, queries near their positive, random rules."""
    rng = np.random.default_rng(seed)
    n_queries, n_corpus, d = rng.integers(5, 120), rng.integers(20, 300), rng.choice([4, 16, 64])
    corpus = rng.standard_normal((n_corpus, d))
    if seed % 3 == 0:  # few distinct values: exact ties, copies in the corpus
        corpus = np.round(corpus, 1)
        corpus[::7] = corpus[0]
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    corpus = corpus.astype(rng.choice([np.float32, np.float64]))
    pos_ids = rng.integers(0, n_corpus, n_queries)
    queries = corpus[pos_ids] + rng.standard_normal((n_queries, d)) * rng.choice([0.05, 0.5, 2])
    if seed % 4 == 1:
        queries[::3] = corpus[pos_ids[::3]]  # a query equal to its positive
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    num_negatives = int(rng.integers(1, 4))
    range_min = int(rng.integers(0, 3))
    kwargs = dict(range_min=range_min, num_negatives=num_negatives, max_positives=1,
                  range_max=range_min + num_negatives + int(rng.integers(0, 30)),
                  sampling_strategy=str(rng.choice(["top", "random"])), seed=seed,
                  exclude_copies=bool(rng.integers(0, 2)),
                  random_rate=float(rng.choice([0.0, 0.3])),
                  copy_ids=np.where(rng.random(n_queries) < 0.2,
                                    rng.integers(0, n_corpus, n_queries), -1))
    for rule in _RULES:
        if rng.random() < 0.4:
            kwargs[rule] = float(rng.choice([0.0, 0.05, 0.2, 0.5, -0.1]))
    if rng.random() < 0.2:
        kwargs["max_negative_uses"] = int(rng.integers(1, 4))
    return queries, corpus, np.arange(n_queries + 1), pos_ids, kwargs


@pytest.mark.parametrize("algorithm, seed", [("brute", seed) for seed in range(40)] + [
    (algorithm, seed) for algorithm in ("ball_tree", "kd_tree", "faiss_flat", "hnswlib")
    for seed in range(4)])
def test_estimated_pool_mines_what_the_exact_pool_mines(algorithm, seed, monkeypatch):
    # Any backend's estimates (trees: float64; faiss, hnswlib: their own float32).
    if algorithm in ("faiss_flat", "hnswlib"):
        pytest.importorskip(algorithm.split("_")[0])
    queries, corpus, pos_ptr, pos_ids, kwargs = _problem(seed)
    kwargs["algorithm"] = algorithm
    estimated = mine_window(queries, corpus, pos_ptr, pos_ids, **kwargs)
    search = NeighborSearch.kneighbors
    monkeypatch.setattr(NeighborSearch, "kneighbors", lambda self, *args, **kw: search(
        self, *args, **{**kw, "exact_distances": True}))
    exact = mine_window(queries, corpus, pos_ptr, pos_ids, **kwargs)
    np.testing.assert_array_equal(estimated.ids, exact.ids)
    np.testing.assert_array_equal(estimated.scores, exact.scores)
    np.testing.assert_array_equal(estimated.is_random, exact.is_random)
    assert estimated.stats.keys() == exact.stats.keys()
    for name, value in exact.stats.items():
        np.testing.assert_array_equal(estimated.stats[name], value, err_msg=name)


def test_the_search_is_asked_for_estimates(monkeypatch):
    # Otherwise the test above compares the exact path with itself.
    asked = []
    search = NeighborSearch.kneighbors
    monkeypatch.setattr(NeighborSearch, "kneighbors", lambda self, *args, **kw: (
        asked.append(kw.get("exact_distances", True)), search(self, *args, **kw))[1])
    queries, corpus, pos_ptr, pos_ids, kwargs = _problem(1)
    mine_window(queries, corpus, pos_ptr, pos_ids, **kwargs)
    assert asked and not asked[0]


@pytest.mark.parametrize("rule", ["absolute_margin", "relative_margin", "max_score"])
def test_scores_on_a_threshold_are_decided_exactly(rule):
    # Copies of each positive elsewhere in the corpus score exactly the
    # positive's score: with a margin of 0 they sit on the threshold and are
    # kept (ST strikes only scores above it), whatever their float32 estimate.
    rng = np.random.default_rng(0)
    n, d = 200, 384
    positives = rng.standard_normal((n, d)).astype(np.float32)
    positives /= np.linalg.norm(positives, axis=1, keepdims=True)
    queries = positives + 0.02 * rng.standard_normal((n, d)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    corpus = np.concatenate([positives, positives, positives])
    pos_ids = np.arange(n)
    kwargs = dict(range_min=0, range_max=5, num_negatives=2, max_positives=1)
    if rule == "max_score":
        exact = NeighborSearch(metric="cosine").fit(corpus)
        kwargs[rule] = 1.0 - exact.pair_distances(exact.prepare_queries(queries[:1]),
                                                  np.array([[0]]))[0, 0]
    else:
        kwargs[rule] = 0.0
    result = mine_window(queries, corpus, np.arange(n + 1), pos_ids, **kwargs)
    if rule == "max_score":  # the first query's copies of its positive are kept
        assert set(result.ids[0]) == {n, 2 * n}
    else:
        np.testing.assert_array_equal(np.sort(result.ids, axis=1),
                                      np.stack([pos_ids + n, pos_ids + 2 * n], axis=1))
        assert result.stats[rule] == 0
