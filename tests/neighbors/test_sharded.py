"""A bank cut into shards answers what one search answers (sknegsample.neighbors._sharded)."""

import pickle

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.neighbors import NeighborSearch, ShardedSearch, fit_search
from sknegsample.neighbors._parts import BankParts
from sknegsample.neighbors.backends import TorchBruteBackend

EXACT = ["brute", "ball_tree", "kd_tree", "faiss_flat"]
FIELDS = ("ids", "distances", "n_copies", "n_below")
N = 300


@pytest.fixture(scope="module")
def data():
    point, counter = make_pairs(N, 12, n_clusters=5, duplicate_rate=0.1, random_state=0)
    labels = np.concatenate([np.arange(N)] * 2)
    # Extra exclusions per class (a bank row), as the sampler lists copies.
    rng = np.random.RandomState(3)
    key = np.unique(rng.randint(0, 2 * N, 200) * 2 * N + rng.randint(0, 2 * N, 200))
    owner, ids = key // (2 * N), key % (2 * N)
    ptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=2 * N))])
    return point, counter, labels, ptr, ids


def _assert_same(result, expected):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(result, field), getattr(expected, field),
                                      err_msg=field)


def _calls(search, queries, labels):
    rng = np.random.RandomState(1)
    scale = np.median(search.kneighbors(queries, 3).distances[:, -1])
    floor = rng.uniform(-0.5, 1.0, len(queries)) * scale
    rows = dict(query_labels=labels[:N], query_classes=np.arange(N))
    return [{}, dict(rows, bank_rows=slice(0, N)),
            dict(rows, min_distance=floor, max_distance=floor + rng.uniform(0.5, 3, N) * scale)]


@pytest.mark.parametrize("pool", [None, (N, 2 * N)], ids=["both", "counters"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", EXACT)
def test_shards_merge_into_the_one_search_answer(data, algorithm, metric, pool):
    if algorithm == "faiss_flat":
        pytest.importorskip("faiss")
    point, counter, labels, ptr, ids = data
    fit_args = dict(pool=pool, extra_ptr=ptr, extra_ids=ids)
    one = NeighborSearch(metric=metric, algorithm=algorithm).fit(
        np.vstack([point, counter]), labels, **fit_args)
    queries = one.prepare_queries(point)
    for shard_rows in (37, 256, 10_000):
        sharded = ShardedSearch(metric=metric, algorithm=algorithm, shard_rows=shard_rows).fit(
            BankParts([point, counter], metric), labels, **fit_args)
        for kwargs in _calls(one, queries, labels):
            _assert_same(sharded.kneighbors(queries, 7, **kwargs),
                         one.kneighbors(queries, 7, **kwargs))
        some = np.tile(np.arange(0, 2 * N, 29), (N, 1))
        np.testing.assert_array_equal(sharded.pair_distances(queries, some),
                                      one.pair_distances(queries, some))


def test_the_shard_holding_the_anchors_shares_their_block(data, monkeypatch):
    point, counter, labels, ptr, ids = data
    calls = []
    original = TorchBruteBackend.bank_row_candidates

    def spy(self, start, stop, *args, **kwargs):
        calls.append((start, stop))
        return original(self, start, stop, *args, **kwargs)

    monkeypatch.setattr(TorchBruteBackend, "bank_row_candidates", spy)
    sharded = ShardedSearch(algorithm="brute", shard_rows=200).fit(
        BankParts([point, counter], "euclidean"), labels, extra_ptr=ptr, extra_ids=ids)
    sharded.kneighbors(point, 5, query_labels=labels[:N], query_classes=np.arange(N),
                       bank_rows=slice(0, N))
    # Anchors 0-299 lie in shards [0, 200) and [200, 400): each shares its part.
    assert calls == [(0, 200), (0, 100)]


def test_several_devices_hold_one_shard_each(data):
    point, counter, _, _, _ = data
    params = dict(n_negatives=3, random_rate=0.3, n_candidates=6, max_negative_uses=2,
                  random_state=0)
    expected = HybridNegativeSampler(**params).fit_transform(point, counter)
    sampler = HybridNegativeSampler(device="cpu,cpu", **params)
    np.testing.assert_array_equal(sampler.fit_transform(point, counter), expected)
    assert isinstance(sampler.search_, ShardedSearch)
    assert [s.device for s in sampler.search_.shards_] == ["cpu", "cpu"]
    assert [s.n_bank_ for s in sampler.search_.shards_] == [N, N]


def test_fit_search_keeps_one_search_for_a_bank_in_memory(data):
    point, counter, labels, _, _ = data
    search = fit_search(NeighborSearch(), [point, counter], labels)
    assert type(search) is NeighborSearch
    np.testing.assert_array_equal(search.bank_, np.vstack([point, counter]))


def test_a_sharded_search_survives_pickling(data):
    point, counter, labels, ptr, ids = data
    sharded = ShardedSearch(metric="cosine", shard_rows=100).fit(
        BankParts([point, counter], "cosine"), labels, extra_ptr=ptr, extra_ids=ids)
    loaded = pickle.loads(pickle.dumps(sharded))
    queries = sharded.prepare_queries(point)
    _assert_same(loaded.kneighbors(queries, 4, query_labels=labels[:N]),
                 sharded.kneighbors(queries, 4, query_labels=labels[:N]))


@pytest.mark.parametrize("algorithm", ["faiss_hnsw", "hnswlib", "faiss_ivf"])
def test_approximate_algorithms_do_not_shard(data, algorithm):
    point, counter, labels, _, _ = data
    with pytest.raises(ValueError, match=rf"exact: algorithm must be 'auto' or one of .*"
                                         rf"got '{algorithm}'"):
        ShardedSearch(algorithm=algorithm).fit(BankParts([point, counter]), labels)


def test_pool_must_be_a_range_of_the_bank(data):
    point, counter, labels, _, _ = data
    with pytest.raises(ValueError, match=r"pool must be a non-empty range of the 600 bank "
                                         r"rows; got \(500, 700\)"):
        ShardedSearch().fit(BankParts([point, counter]), labels, pool=(500, 700))
