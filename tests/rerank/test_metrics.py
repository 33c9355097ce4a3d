"""Ranking metrics against hand-computed cases, brute-force loops and ranx."""

import math

import numpy as np
import pytest

from sknegsample.metrics import (
    accuracy_at_1,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    per_query_scores,
    recall_at_k,
    true_rank,
)

# Three queries: true id at rank 1, at rank 3, and absent (list padded by -1).
RANKED = np.array([[7, 2, 5], [4, 0, 1], [3, 6, -1]])
TRUE = np.array([7, 1, 9])


def test_true_rank():
    assert true_rank(RANKED, TRUE).tolist() == [1, 3, 0]


def test_hand_computed_values():
    assert accuracy_at_1(RANKED, TRUE) == pytest.approx(1 / 3)
    assert recall_at_k(RANKED, TRUE) == pytest.approx(2 / 3)
    assert recall_at_k(RANKED, TRUE, k=2) == pytest.approx(1 / 3)
    assert mrr_at_k(RANKED, TRUE) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert mrr_at_k(RANKED, TRUE, k=2) == pytest.approx(1 / 3)
    assert ndcg_at_k(RANKED, TRUE) == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert ndcg_at_k(RANKED, TRUE, k=2) == pytest.approx(1 / 3)


def test_padding_never_matches_and_k_beyond_the_list_is_the_list():
    ranked = np.array([[-1, -1]])
    assert true_rank(ranked, [3]).tolist() == [0]
    assert recall_at_k(RANKED, TRUE, k=100) == recall_at_k(RANKED, TRUE)


def test_perfect_and_worst_rankings():
    ids = np.arange(5)
    perfect = np.column_stack([ids, ids + 10])
    assert accuracy_at_1(perfect, ids) == 1.0
    assert mrr_at_k(perfect, ids) == 1.0
    assert ndcg_at_k(perfect, ids) == 1.0
    assert recall_at_k(perfect + 100, ids) == 0.0


@pytest.mark.parametrize(
    "ranked, truth, error, match",
    [
        (np.array([1, 2]), [1], ValueError, "ranked_ids must be 2-D"),
        (np.array([[1.0, 2.0]]), [1], TypeError, "ranked_ids must hold integer"),
        (np.array([[1, 2]]), [[[1]]], ValueError, "true_ids must be 1-D"),
        (np.array([[1, 2]]), [1, 2], ValueError, "one row per query"),
        (np.zeros((0, 2), dtype=int), [], ValueError, "at least one query"),
    ],
)
def test_bad_input(ranked, truth, error, match):
    with pytest.raises(error, match=match):
        true_rank(ranked, truth)


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        recall_at_k(RANKED, TRUE, k=k)


# Several relevant ids per query: brute-force references, one query at a time.

def _reference(ranked, relevant, metric, k):
    """Textbook binary-relevance definitions, written as plain loops."""
    relevant = {int(r) for r in relevant if r >= 0}
    ranked = [int(r) for r in ranked]
    top = ranked[: len(ranked) if k is None else k]
    hits = [r >= 0 and r in relevant for r in top]
    if metric == "accuracy@1":
        return float(bool(ranked) and ranked[0] >= 0 and ranked[0] in relevant)
    if metric == "recall":
        return float(any(hits))
    if metric == "mrr":
        return next((1.0 / (i + 1) for i, h in enumerate(hits) if h), 0.0)
    if metric == "ndcg":
        dcg = sum(1.0 / math.log2(i + 2) for i, h in enumerate(hits) if h)
        n_ideal = len(relevant) if k is None else min(len(relevant), k)
        return dcg / sum(1.0 / math.log2(i + 2) for i in range(n_ideal))
    precisions, found = [], 0
    for i, h in enumerate(hits):
        if h:
            found += 1
            precisions.append(found / (i + 1))
    return sum(precisions) / len(relevant)


def _random_case(seed, n_queries=40, n_ranked=8, max_relevant=4, n_ids=20):
    rng = np.random.RandomState(seed)
    ranked = np.stack([rng.permutation(n_ids)[:n_ranked] for _ in range(n_queries)])
    # Padding where a search ran out of candidates: at the end of a row.
    ranked[np.arange(n_ranked) >= rng.randint(n_ranked // 2, n_ranked + 4, n_queries)[:, None]] = -1
    relevant = np.full((n_queries, max_relevant), -1)
    for q in range(n_queries):
        ids = rng.choice(n_ids, size=rng.randint(1, max_relevant + 1), replace=False)
        relevant[q, rng.permutation(max_relevant)[: len(ids)]] = ids  # padding anywhere
    return ranked, relevant


FUNCTIONS = {"recall": recall_at_k, "mrr": mrr_at_k, "ndcg": ndcg_at_k, "map": map_at_k}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [None, 1, 3, 8, 20])
def test_several_relevant_match_brute_force(seed, k):
    ranked, relevant = _random_case(seed)
    for metric in ("accuracy@1", *FUNCTIONS):
        expected = [_reference(r, t, metric, k) for r, t in zip(ranked, relevant, strict=True)]
        got = per_query_scores(ranked, relevant, metric, k)
        np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=metric)
        if metric in FUNCTIONS:
            assert FUNCTIONS[metric](ranked, relevant, k=k) == pytest.approx(np.mean(expected))
    assert accuracy_at_1(ranked, relevant) == pytest.approx(
        np.mean([_reference(r, t, "accuracy@1", None) for r, t in zip(ranked, relevant,
                                                                        strict=True)]))


def test_one_relevant_id_reads_the_same_in_both_forms():
    ranked, relevant = _random_case(7, max_relevant=1)
    for metric in ("accuracy@1", *FUNCTIONS):
        np.testing.assert_array_equal(per_query_scores(ranked, relevant[:, 0], metric, 5),
                                      per_query_scores(ranked, relevant, metric, 5))
    np.testing.assert_array_equal(true_rank(ranked, relevant[:, 0]),
                                  true_rank(ranked, relevant))
    # With one relevant id, average precision is the reciprocal rank.
    assert map_at_k(ranked, relevant[:, 0]) == mrr_at_k(ranked, relevant[:, 0])


def test_hand_computed_several_relevant():
    ranked = np.array([[5, 1, 7, 2]])
    relevant = np.array([[1, 2, 9]])  # 9 never retrieved
    assert true_rank(ranked, relevant).tolist() == [2]
    assert map_at_k(ranked, relevant) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert map_at_k(ranked, relevant, k=2) == pytest.approx((1 / 2) / 3)
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, relevant) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    # At k=1 the ideal list holds one relevant id, not three.
    assert ndcg_at_k([[1, 5]], relevant, k=1) == 1.0
    # A relevant id listed twice counts once.
    assert map_at_k(ranked, [[1, 1, 2]]) == pytest.approx((1 / 2 + 2 / 4) / 2)


@pytest.mark.parametrize("truth, match", [
    ([[-1, -1]], "at least one relevant id >= 0"),
    ([-3], "at least one relevant id >= 0"),
    ([[2, -2]], "padded with -1, and -1 only"),
    (np.zeros((1, 0), dtype=int), "at least one relevant id"),
])
def test_bad_relevance(truth, match):
    with pytest.raises(ValueError, match=match):
        mrr_at_k([[1, 2]], truth)


def test_bad_metric_name():
    with pytest.raises(ValueError, match="metric must be one of 'accuracy@1'"):
        per_query_scores([[1]], [1], "ndcg@10")


@pytest.mark.slow
def test_metrics_equal_ranx():
    """ranx (trec_eval's definitions, numba-compiled) gives the same numbers."""
    import warnings

    ranx = pytest.importorskip("ranx")
    ranked, relevant = _random_case(11, n_queries=60, n_ranked=10, max_relevant=5)
    # Zero-padded query ids: ranx returns per-query arrays in sorted id order.
    qrels = ranx.Qrels({f"q{q:03d}": {f"d{d}": 1 for d in row if d >= 0}
                        for q, row in enumerate(relevant)})
    # Scores strictly decreasing with the rank, so that ranx's order is ours.
    run = ranx.Run({f"q{q:03d}": {f"d{d}": float(len(row) - j) for j, d in enumerate(row) if d >= 0}
                    for q, row in enumerate(ranked)})
    names = {"recall": "hit_rate", "mrr": "mrr", "ndcg": "ndcg", "map": "map"}
    with warnings.catch_warnings():
        # numba's note while compiling ranx on first use.
        warnings.filterwarnings("ignore", message="unsafe cast")
        for k in (1, 3, 10):
            expected = ranx.evaluate(qrels, run, [f"{names[m]}@{k}" for m in FUNCTIONS],
                                     return_mean=False)
            for metric, name in names.items():
                np.testing.assert_allclose(per_query_scores(ranked, relevant, metric, k),
                                           expected[f"{name}@{k}"], rtol=1e-9,
                                           err_msg=f"{metric}@{k}")
