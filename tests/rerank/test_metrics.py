"""Ranking metrics against hand-computed cases."""

import math

import numpy as np
import pytest

from sknegsample.metrics import (
    accuracy_at_1,
    mrr_at_k,
    ndcg_at_k,
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
