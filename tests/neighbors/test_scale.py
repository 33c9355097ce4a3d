"""Embeddings of any magnitude are searched like embeddings near 1 (issue 12, item 9).

Distances are scale-equivariant and a power of two scales exactly, so mining
``2**e * X`` must ask the search backend the same questions (no extra
completeness re-queries) and return the same negatives, at exactly ``2**e``
times the distances. Before the bank was scaled, 1e-30 embeddings re-queried
every row against the whole bank (30 s instead of 0.5 s at 4000 x 32); before
the exact distances were scaled too, float64 rows of 1e-300 were all copies
of each other (their squared differences underflow) and rows of 1e30 were
refused as too large for the float32 search.
"""

from __future__ import annotations

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.neighbors import NeighborSearch

# (exponent, dtype): float32 holds 2**+-100 (1e+-30), float64 2**+-1000 (1e+-301).
SCALES = [(-100, np.float32), (100, np.float32), (-1000, np.float64), (1000, np.float64)]


def _mine(point, counter, **params):
    """Negatives, info and the backend calls ``(rows, k)`` of fit + transform."""
    sampler = HybridNegativeSampler(random_state=0, **params).fit(point, counter)
    backend = sampler.search_.backend_
    calls = []
    candidates = backend.candidates

    def counted(queries32, queries, k, *args, **kwargs):
        calls.append((len(queries), k))
        return candidates(queries32, queries, k, *args, **kwargs)

    backend.candidates = counted
    negatives, info = sampler.transform(point, return_info=True)
    return negatives, info, calls


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
@pytest.mark.parametrize(("exponent", "dtype"), SCALES)
def test_mining_is_scale_equivariant(exponent, dtype, algorithm):
    point, counter = make_pairs(300, 16, n_clusters=6, random_state=0)
    params = dict(algorithm=algorithm, n_negatives=3, random_rate=0.3, n_candidates=5,
                  positive_margin=0.9)
    point, counter = point.astype(dtype), counter.astype(dtype)
    expected, expected_info, expected_calls = _mine(point, counter, **params)
    scale = dtype(2.0**exponent)
    negatives, info, calls = _mine(point * scale, counter * scale, **params)
    # The same rows asked again with the same k: no extra completeness work.
    assert calls == expected_calls
    np.testing.assert_array_equal(negatives, expected)
    np.testing.assert_array_equal(info.negative_distances,
                                  expected_info.negative_distances * 2.0**exponent)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_search_of_a_tiny_float64_bank_equals_the_unscaled_one(metric):
    rng = np.random.RandomState(0)
    bank = rng.normal(size=(400, 8))
    queries = rng.normal(size=(50, 8))
    reference = NeighborSearch(metric=metric).fit(bank)
    expected = reference.kneighbors(reference.prepare_queries(queries), 5)
    scale = 2.0**-1000
    search = NeighborSearch(metric=metric).fit(bank * scale)
    got = search.kneighbors(search.prepare_queries(queries * scale), 5)
    np.testing.assert_array_equal(got.ids, expected.ids)
    np.testing.assert_array_equal(
        got.distances, expected.distances * (scale if metric == "euclidean" else 1.0))
    assert not got.n_copies.any()


def test_queries_too_large_for_the_banks_scale_are_refused():
    bank = np.random.RandomState(0).normal(size=(50, 4)).astype(np.float32)
    search = NeighborSearch().fit(bank)
    with pytest.raises(ValueError, match="X holds values too large for the float32 search"):
        search.prepare_queries(bank * np.float32(1e30))
    with pytest.raises(ValueError, match="too large"):
        NeighborSearch().fit(np.array([[1e308, 0.0], [0.0, 1.0]]))


@pytest.mark.parametrize("exponent", [-1000, 1000])
def test_sharded_mining_is_scale_equivariant(exponent):
    # Two resident shards (the multi-device path; a bank on disk streams the same shards).
    point, counter = (a.astype(np.float64) for a in
                      make_pairs(200, 8, n_clusters=4, random_state=1))
    params = dict(n_negatives=2, random_rate=0.5, device="cpu,cpu", random_state=0)
    expected, info = HybridNegativeSampler(**params).fit(point, counter).transform(
        point, return_info=True)
    scale = 2.0**exponent
    negatives, scaled_info = HybridNegativeSampler(**params).fit(
        point * scale, counter * scale).transform(point * scale, return_info=True)
    np.testing.assert_array_equal(negatives, expected)
    np.testing.assert_array_equal(scaled_info.negative_distances,
                                  info.negative_distances * scale)
