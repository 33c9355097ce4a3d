"""The head's gain with an interval, and queries with several relevant counters.

The bootstrap and the sign flips are checked against plain loops that draw
the same indices from the same generator; evaluate() with copies and
``anchor_groups`` against a brute-force retrieval and the head module called
one query at a time.
"""

import itertools
import math

import numpy as np
import pytest
import torch

from sknegsample.metrics import (
    _bootstrap,
    compare_rankings,
    compare_scores,
    mrr_at_k,
    paired_bootstrap_ci,
    sign_flip_pvalue,
)
from sknegsample.rerank import BallTreePairScorer
from sknegsample.rerank._evaluation import QueryGroups

pytestmark = pytest.mark.usefixtures("single_torch_thread")

FAST = dict(topk=5, hidden_units=8, max_epochs=2, batch_size=64, random_state=0)


def _slow_bootstrap(a, b, confidence, n_bootstrap, seed):
    """Reference: one replicate at a time, a Python sum over its drawn queries."""
    rng = _bootstrap.bootstrap_generator(seed)
    n = len(a)
    means = []
    for _ in range(n_bootstrap):
        rows = rng.integers(0, n, size=n)
        means.append(sum(a[i] - b[i] for i in rows) / n)
    alpha = (1 - confidence) / 2
    return tuple(np.quantile(means, [alpha, 1 - alpha]))


@pytest.mark.parametrize("n_bootstrap", [1, 63, 64, 150])
def test_bootstrap_matches_slow_loop(n_bootstrap):
    rng = np.random.RandomState(1)
    a, b = rng.randint(0, 2, 23).astype(float), rng.rand(23)
    fast = paired_bootstrap_ci(a, b, confidence=0.9, n_bootstrap=n_bootstrap, random_state=7)
    slow = _slow_bootstrap(a, b, 0.9, n_bootstrap, 7)
    assert fast == pytest.approx(slow, abs=1e-12)


def test_columns_share_the_resampled_queries():
    rng = np.random.RandomState(2)
    d = rng.normal(size=(31, 2))
    both = _bootstrap.bootstrap_means(d, 100, _bootstrap.bootstrap_generator(5))
    for j in range(2):
        one = _bootstrap.bootstrap_means(d[:, [j]], 100, _bootstrap.bootstrap_generator(5))
        np.testing.assert_allclose(both[:, j], one[:, 0], rtol=1e-12)


def test_bootstrap_interval_is_near_the_normal_interval():
    # Large n: the percentile interval of a mean approaches mean +- 1.96 se.
    rng = np.random.RandomState(0)
    d = rng.normal(0.3, 1.0, 2000)
    low, high = paired_bootstrap_ci(d, np.zeros_like(d), n_bootstrap=2000, random_state=0)
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert low == pytest.approx(d.mean() - 1.96 * se, abs=0.2 * se)
    assert high == pytest.approx(d.mean() + 1.96 * se, abs=0.2 * se)


def test_sign_flip_matches_slow_loop_and_exact_enumeration():
    d = np.array([1.0, 1.0, 1.0, -1.0, 1.0, 0.0, 1.0, 0.5])
    rng = _bootstrap.bootstrap_generator(3)
    reached = 0
    for _ in range(500):
        signs = _bootstrap.sign_bits(rng, 1, len(d))[0] * 2 - 1
        reached += abs(sum(s * x for s, x in zip(signs, d, strict=True))) >= abs(d.sum())
    slow = (reached + 1) / 501
    assert sign_flip_pvalue(d, np.zeros_like(d), n_permutations=500, random_state=3) == slow
    flips = [abs(np.dot(s, d)) for s in itertools.product([-1, 1], repeat=len(d))]
    exact = np.mean(np.array(flips) >= abs(d.sum()) - 1e-12)
    p = sign_flip_pvalue(d, np.zeros_like(d), n_permutations=20000, random_state=0)
    # Monte Carlo: standard error sqrt(p (1 - p) / 20000) < 0.004.
    assert p == pytest.approx(exact, abs=0.015)


def test_sign_flip_rejects_a_clear_gain_and_not_noise():
    rng = np.random.RandomState(4)
    noise = rng.randint(0, 2, 300).astype(float), rng.randint(0, 2, 300).astype(float)
    assert sign_flip_pvalue(*noise, random_state=0) > 0.05
    better = np.maximum(noise[0], rng.rand(300) < 0.3)
    assert sign_flip_pvalue(better, noise[0], random_state=0) < 0.01


def test_compare_rankings_counts_wins_and_losses():
    truth = np.array([0, 1, 2, 3])
    a = np.array([[0, 9], [1, 9], [9, 2], [3, 9]])  # hits 1, 1, 0, 1
    b = np.array([[9, 0], [1, 9], [2, 9], [9, 3]])  # hits 0, 1, 1, 0
    out = compare_rankings(a, b, truth, n_bootstrap=200, random_state=0)
    assert out["gain"] == pytest.approx(0.75 - 0.5)
    assert (out["wins"], out["losses"], out["n_queries"]) == (2, 1, 4)
    assert (out["a"], out["b"]) == (0.75, 0.5)
    low, high = out["ci"]
    assert low <= out["gain"] <= high
    assert 0 < out["p_value"] <= 1
    mrr = compare_rankings(a, b, truth, metric="mrr", n_bootstrap=10, random_state=0)
    assert mrr["gain"] == pytest.approx(mrr_at_k(a, truth) - mrr_at_k(b, truth))


@pytest.mark.parametrize("kwargs, match", [
    ({"confidence": 1.0}, "confidence must be a float in"),
    ({"confidence": True}, "confidence must be a float in"),
    ({"n_bootstrap": 0}, "n_bootstrap must be an int >= 1"),
])
def test_bad_bootstrap_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_ci(np.ones(3), np.zeros(3), **kwargs)


@pytest.mark.parametrize("a, b, match", [
    (np.ones(3), np.zeros(4), "same non-zero length"),
    (np.ones((3, 1)), np.zeros((3, 1)), "same non-zero length"),
    ([], [], "same non-zero length"),
    ([1.0, np.nan], [0.0, 0.0], "finite"),
])
def test_bad_per_query_scores(a, b, match):
    with pytest.raises(ValueError, match=match):
        compare_scores(a, b)
    with pytest.raises(ValueError, match=match):
        sign_flip_pvalue(a, b)


# evaluate(): the gain keys.

@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    centers = rng.normal(scale=3.0, size=(4, 6))
    point = centers[np.arange(60) % 4] + rng.normal(size=(60, 6))
    counter = point + 0.3 * rng.normal(size=(60, 6))
    point, counter = point.astype(np.float32), counter.astype(np.float32)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    scorer = BallTreePairScorer(**FAST).fit(point[:40], counter[:40])
    torch.set_num_threads(previous)
    return scorer, point[40:], counter[40:]


def test_evaluate_reports_gain_with_interval(fitted):
    scorer, point, counter = fitted
    m = scorer.evaluate(point, counter, n_bootstrap=200)
    n = m["n_queries"]
    assert m["gain@1"] == pytest.approx(m["accuracy@1"] - m["retrieval_accuracy@1"])
    assert m["n_correct"] - m["retrieval_n_correct"] == m["wins"] - m["losses"]
    assert m["retrieval_n_correct"] == round(m["retrieval_accuracy@1"] * n)
    assert m["gain_mrr@k"] == pytest.approx(m["mrr@k"] - m["retrieval_mrr@k"])
    assert m["map@k"] == pytest.approx(m["mrr@k"])  # one counter per query
    for key in ("gain@1", "gain_mrr@k"):
        low, high = m[key + "_ci"]
        assert isinstance(m[key + "_ci"], tuple)
        assert low <= m[key] + 1e-12 and m[key] - 1e-12 <= high
    # Seeded by random_state: the same interval twice, another with another seed.
    assert scorer.evaluate(point, counter, n_bootstrap=200) == m
    wider = scorer.evaluate(point, counter, n_bootstrap=200, confidence=0.99)
    assert wider["gain@1_ci"][0] <= m["gain@1_ci"][0] <= m["gain@1_ci"][1] \
        <= wider["gain@1_ci"][1]


def test_evaluate_interval_is_the_bootstrap_of_the_per_query_hits(fitted):
    scorer, point, counter = fitted
    m = scorer.evaluate(point, counter, n_bootstrap=300)
    ranking = scorer._rank(point, counter)
    truth = ranking.true_ids[:, 0]
    hits = (ranking.reranked[:, 0] == truth).astype(float)
    retrieval_hits = (ranking.ids[:, 0] == truth).astype(float)
    expected = paired_bootstrap_ci(hits, retrieval_hits, n_bootstrap=300, random_state=0)
    assert m["gain@1_ci"] == pytest.approx(expected, abs=1e-12)
    assert m["wins"] == int(np.sum(hits > retrieval_hits))


def test_no_bootstrap_leaves_numbers_only(fitted):
    # What cross_validate's scoring needs: every value a number.
    scorer, point, counter = fitted
    full = scorer.evaluate(point, counter, n_bootstrap=20)
    bare = scorer.evaluate(point, counter, n_bootstrap=0)
    assert bare == {k: v for k, v in full.items() if not k.endswith("_ci")}
    assert all(isinstance(v, (int, float)) for v in bare.values())


def test_bad_evaluate_bootstrap_parameters_name_the_argument(fitted):
    scorer, point, counter = fitted
    with pytest.raises(ValueError, match="n_bootstrap must be an int >= 0; got -1"):
        scorer.evaluate(point, counter, n_bootstrap=-1)
    with pytest.raises(ValueError, match="confidence must be a float in"):
        scorer.evaluate(point, counter, confidence=95)


# Several relevant counters.

def test_query_groups_of_copies_and_labels():
    X = np.array([[0.0, 1], [2, 3], [0, 1], [4, 5], [6, 7], [2, 3]])
    q = QueryGroups.from_pairs(X)
    assert q.groups.tolist() == [0, 1, 0, 2, 3, 1]
    assert q.rows.tolist() == [0, 1, 3, 4]
    assert q.relevant.tolist() == [[0, 2], [1, 5], [3, -1], [4, -1]]
    # Labels join pairs 3 and 4, and (through pair 5's copy) 1, 5 and 0.
    q = QueryGroups.from_pairs(X, anchor_groups=["a", "b", "c", "d", "d", "a"])
    assert q.groups.tolist() == [0, 0, 0, 1, 1, 0]
    assert q.relevant.tolist() == [[0, 1, 2, 5], [3, 4, -1, -1]]


@pytest.mark.parametrize("groups, error, match", [
    (np.arange(3), ValueError, r"anchor_groups must hold one label per evaluation pair, "
                               r"shape \(20,\); got shape \(3,\)"),
    (np.zeros((20, 1)), ValueError, "one label per evaluation pair"),
    (np.linspace(0, 1, 20), TypeError, "integer or string labels; got dtype float64"),
])
def test_bad_anchor_groups(fitted, groups, error, match):
    scorer, point, counter = fitted
    with pytest.raises(error, match=match):
        scorer.evaluate(point, counter, anchor_groups=groups)


def _brute_force_evaluation(scorer, point, counter, groups):
    """Per query: exact retrieval over the bank without the query's own points,
    the head module on one candidate at a time, and the textbook metrics."""
    n = len(point)
    bank = np.vstack([counter, point]).astype(np.float64)
    module = scorer.head_.module_
    per_query = {key: [] for key in ("top1", "ret_top1", "rr", "ndcg", "map")}
    ids_by_query = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        query = point[members[0]].astype(np.float64)
        allowed = np.setdiff1d(np.arange(2 * n), n + members)
        dist = np.linalg.norm(bank[allowed] - query, axis=1)
        top = allowed[np.lexsort((allowed, dist))[: scorer.topk]]
        ids_by_query.append(top)
        with torch.no_grad():
            logits = np.array([module(
                torch.tensor(query[None], dtype=torch.float32),
                torch.tensor(bank[b][None], dtype=torch.float32),
                torch.tensor([np.linalg.norm(bank[b] - query) / scorer.distance_scale_],
                             dtype=torch.float32)).numpy()[0] for b in top])
        reranked = top[np.argsort(-(logits[:, 1] - logits[:, 0]), kind="stable")]
        relevant = set(members.tolist())  # counter i is bank id i
        hits = [b in relevant for b in reranked]
        first = next((i + 1 for i, h in enumerate(hits) if h), None)
        per_query["top1"].append(float(hits[0]))
        per_query["ret_top1"].append(float(top[0] in relevant))
        per_query["rr"].append(0.0 if first is None else 1.0 / first)
        dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
        per_query["ndcg"].append(dcg / ideal)
        precisions = [sum(hits[: i + 1]) / (i + 1) for i, h in enumerate(hits) if h]
        per_query["map"].append(sum(precisions) / len(relevant))
    return {key: np.array(v) for key, v in per_query.items()}, np.array(ids_by_query)


def test_copies_and_anchor_groups_against_brute_force(fitted):
    scorer, point, counter = fitted
    point = point.copy()
    point[[3, 7]] = point[1]  # pairs 1, 3, 7: one anchor with three positives
    labels = np.arange(len(point))
    labels[[12, 15]] = 100  # pairs 12 and 15: one query (point 12) by label
    groups = QueryGroups.from_pairs(point, labels).groups
    reference, ids = _brute_force_evaluation(scorer, point, counter, groups)
    ranking = scorer._rank(point, counter, anchor_groups=labels)
    np.testing.assert_array_equal(ranking.ids, ids)
    m = scorer.evaluate(point, counter, anchor_groups=labels, n_bootstrap=50)
    assert m["n_queries"] == len(point) - 3
    assert m["accuracy@1"] == pytest.approx(reference["top1"].mean())
    assert m["n_correct"] == reference["top1"].sum()
    assert m["retrieval_accuracy@1"] == pytest.approx(reference["ret_top1"].mean())
    assert m["mrr@k"] == pytest.approx(reference["rr"].mean())
    assert m["ndcg@10"] == pytest.approx(reference["ndcg"].mean())
    assert m["map@k"] == pytest.approx(reference["map"].mean())
    assert scorer.score(point, counter, anchor_groups=labels) == m["accuracy@1"]
    # Without labels, the copies still make one query.
    assert scorer.evaluate(point, counter, n_bootstrap=10)["n_queries"] == len(point) - 2


def test_a_query_never_retrieves_a_copy_of_itself(fitted):
    scorer, point, counter = fitted
    point = point.copy()
    point[5] = point[0]
    ranking = scorer._rank(point, counter)
    n = len(point)
    assert not np.isin(ranking.ids[0], [n + 0, n + 5]).any()
    # Both counters of the merged query are relevant to it.
    assert ranking.true_ids[0].tolist() == [0, 5]


@pytest.mark.parametrize("n", [7, 64, 100])
def test_sign_bits_blocks_equal_single_rows(n):
    block = _bootstrap.sign_bits(_bootstrap.bootstrap_generator(0), 5, n)
    rng = _bootstrap.bootstrap_generator(0)
    rows = np.vstack([_bootstrap.sign_bits(rng, 1, n) for _ in range(5)])
    np.testing.assert_array_equal(block, rows)
    assert block.shape == (5, n) and 0.3 < block.mean() < 0.7
