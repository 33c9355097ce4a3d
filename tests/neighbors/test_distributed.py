"""Exact search on a Dask cluster of worker processes (sknegsample.neighbors._distributed).

One ``LocalCluster(processes=True, n_workers=2, threads_per_worker=1)`` for
the module: every exact algorithm and metric must send its (query block x
bank shard) tasks to both workers and return, bit for bit, what one process
returns; a worker killed while it runs a task must not change the answer.
"""

import os

import joblib
import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.neighbors import NeighborSearch, ShardedSearch
from sknegsample.neighbors._parts import BankParts

distributed = pytest.importorskip("distributed")

EXACT = ["brute", "ball_tree", "kd_tree", "faiss_flat"]
N_PAIRS = 5000
FIELDS = ("ids", "distances", "n_copies", "n_below")


def _cluster():
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=":0")


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    point, counter = make_pairs(N_PAIRS, 24, n_clusters=20, duplicate_rate=0.05,
                                random_state=0)
    labels = np.concatenate([np.arange(N_PAIRS)] * 2)
    return point, counter, labels


def _assert_same(result, expected):
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(result, field), getattr(expected, field),
                                      err_msg=field)


def _on_cluster(client, call):
    """``call()`` under the Dask backend, and the tasks the workers ran for it."""
    with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
        result = call()
    return result, tasks.data


def _search_tasks(tasks, name):
    return [t for t in tasks if t["key"].startswith(name)]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", EXACT)
def test_exact_search_runs_on_the_workers_with_the_same_answer(client, data, algorithm,
                                                               metric):
    if algorithm == "faiss_flat":
        pytest.importorskip("faiss")
    point, counter, labels = data
    bank = np.vstack([point, counter])
    search = NeighborSearch(metric=metric, algorithm=algorithm).fit(bank, labels)
    queries = search.prepare_queries(point)
    rng = np.random.RandomState(0)
    # Up to about the third neighbour's distance: some rows skip a few.
    min_distance = rng.uniform(-0.5, 1.0, N_PAIRS) * np.median(
        search.kneighbors(queries, 3).distances[:, -1])
    calls = [
        # The training anchors: bank rows with their labels (shared block).
        dict(query_labels=labels[:N_PAIRS], bank_rows=slice(0, N_PAIRS)),
        dict(query_labels=labels[:N_PAIRS], min_distance=min_distance),
        {},
    ]
    for kwargs in calls:
        expected = search.kneighbors(queries, 6, **kwargs)
        result, tasks = _on_cluster(client, lambda kw=kwargs: search.kneighbors(queries, 6,
                                                                                 **kw))
        _assert_same(result, expected)
        ran = _search_tasks(tasks, "_block_on_shard")
        # One block (the queries fit working_memory) x two shards, one per
        # worker process.
        assert len(ran) == 2
        assert len({t["worker"] for t in ran}) == 2


def test_shards_are_placed_once_per_client(client, data):
    point, counter, labels = data
    search = NeighborSearch().fit(np.vstack([point, counter]), labels)
    _, first = _on_cluster(client, lambda: search.kneighbors(point[:300], 3))
    _, second = _on_cluster(client, lambda: search.kneighbors(point[300:600], 3))
    assert len(_search_tasks(first, "_fit_scattered")) == 2
    # The second call reuses the shards fitted on the workers.
    assert _search_tasks(second, "_fit_scattered") == []
    assert len(_search_tasks(second, "_block_on_shard")) == 2


def test_query_blocks_follow_working_memory(client, data):
    point, counter, labels = data
    search = NeighborSearch().fit(np.vstack([point, counter]), labels)
    kwargs = dict(query_labels=labels[:600], bank_rows=slice(0, 600), working_memory=0.02)
    expected = search.kneighbors(point[:600], 4, **kwargs)
    result, tasks = _on_cluster(client, lambda: search.kneighbors(point[:600], 4, **kwargs))
    _assert_same(result, expected)
    # 600 queries x 24 float32 in blocks of 0.02 MiB: three blocks, two shards each.
    assert len(_search_tasks(tasks, "_block_on_shard")) == 6


def test_sampler_fit_transform_is_identical_on_the_cluster(client, data):
    point, counter, _ = data
    params = dict(n_negatives=3, random_rate=0.3, n_candidates=8, max_negative_uses=4,
                  random_state=0)
    expected = HybridNegativeSampler(**params).fit_transform(point, counter)
    sampler = HybridNegativeSampler(**params)
    negatives, tasks = _on_cluster(client, lambda: sampler.fit_transform(point, counter))
    np.testing.assert_array_equal(negatives, expected)
    assert len(_search_tasks(tasks, "_block_on_shard")) >= 2


def test_bank_on_disk_is_streamed_by_the_workers(client, data, tmp_path):
    point, counter, labels = data
    np.save(tmp_path / "point.npy", point.astype(np.float16))
    parts = [np.load(tmp_path / "point.npy", mmap_mode="r"), counter]
    in_memory = NeighborSearch(metric="cosine").fit(
        np.vstack([parts[0].astype(np.float64), counter]), labels)
    on_disk = ShardedSearch(metric="cosine", shard_rows=1500).fit(
        BankParts(parts, "cosine"), labels)
    queries = in_memory.prepare_queries(point[:700])
    kwargs = dict(query_labels=labels[:700])
    expected = in_memory.kneighbors(queries, 4, **kwargs)
    result, tasks = _on_cluster(client, lambda: on_disk.kneighbors(queries, 4, **kwargs))
    _assert_same(result, expected)
    ran = _search_tasks(tasks, "_block_on_stream")
    assert len(ran) == 2 and len({t["worker"] for t in ran}) == 2


def test_approximate_search_keeps_its_joblib_slices(client, data):
    pytest.importorskip("hnswlib")
    point, counter, labels = data
    search = NeighborSearch(algorithm="hnswlib", n_jobs=2).fit(np.vstack([point, counter]),
                                                               labels)
    expected = search.kneighbors(point[:500], 3, query_labels=labels[:500])
    result, tasks = _on_cluster(client, lambda: search.kneighbors(point[:500], 3,
                                                                  query_labels=labels[:500]))
    _assert_same(result, expected)
    # One HNSW index answers: its query slices run as joblib tasks.
    assert len(tasks) >= 2 and _search_tasks(tasks, "_block_on_shard") == []


class _KillOnce(distributed.WorkerPlugin):
    """Kill the worker process that starts the first search task (once per flag file)."""

    def __init__(self, flag):
        self.flag = flag

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("_block_on_shard"):
            try:
                os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return
            os._exit(1)


def test_a_worker_killed_mid_run_does_not_change_the_answer(client, data, tmp_path):
    point, counter, labels = data
    search = NeighborSearch().fit(np.vstack([point, counter]), labels)
    kwargs = dict(query_labels=labels[:N_PAIRS], bank_rows=slice(0, N_PAIRS))
    expected = search.kneighbors(point, 5, **kwargs)
    flag = tmp_path / "killed"
    client.register_plugin(_KillOnce(str(flag)), name="kill-once")
    try:
        result, _ = _on_cluster(client, lambda: search.kneighbors(point, 5, **kwargs))
    finally:
        client.unregister_worker_plugin("kill-once")
    assert flag.exists(), "no worker was killed: the test did not test anything"
    _assert_same(result, expected)
    # The nanny restarts the dead worker.
    client.wait_for_workers(2, timeout=60)
