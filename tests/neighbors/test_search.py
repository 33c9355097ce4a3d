"""The search layer against a float64 numpy brute force (sknegsample.neighbors._search)."""

import tracemalloc

import numpy as np
import pytest
import sklearn
import torch

from sknegsample.datasets import make_pairs
from sknegsample.neighbors import ALGORITHMS, NeighborSearch, resolve_algorithm
from sknegsample.neighbors._distances import normalize_rows
from sknegsample.neighbors.backends._base import DistanceWindow
from sknegsample.neighbors.backends._torch_brute import TorchBruteBackend

EXACT = ["brute", "ball_tree", "kd_tree", "faiss_flat"]
APPROXIMATE = ["faiss_hnsw", "faiss_ivf", "hnswlib"]
_OPTIONAL = {"faiss_flat": "faiss", "faiss_hnsw": "faiss", "faiss_ivf": "faiss",
             "hnswlib": "hnswlib"}


def _needs(algorithm):
    if algorithm in _OPTIONAL:
        pytest.importorskip(_OPTIONAL[algorithm])


def _float64_distances(bank, queries, metric):
    bank = np.asarray(bank, dtype=np.float64)
    queries = np.asarray(queries, dtype=np.float64)
    sq = ((queries[:, None, :] - bank[None, :, :]) ** 2).sum(axis=2)
    return sq / 2.0 if metric == "cosine" else np.sqrt(sq)


def _first_allowed(dist, allowed, k):
    """The k allowed ids of each row by (distance, id), inf / -1 padded."""
    ids_out = np.full((len(dist), k), -1)
    dist_out = np.full((len(dist), k), np.inf)
    for row in range(len(dist)):
        ids = np.flatnonzero(allowed[row])
        ids = ids[np.lexsort((ids, dist[row, ids]))][:k]
        ids_out[row, : len(ids)] = ids
        dist_out[row, : len(ids)] = dist[row, ids]
    return dist_out, ids_out


def reference_kneighbors(bank, queries, k, metric="euclidean", bank_labels=None,
                         query_labels=None, min_distance=None):
    """Float64 brute force: allowed ids by (distance, id), inf / -1 padded."""
    dist = _float64_distances(bank, queries, metric)
    allowed = dist > 0
    if min_distance is not None:
        allowed = np.where(min_distance[:, None] < 0, True, dist > min_distance[:, None])
    if query_labels is not None:
        allowed &= ~((query_labels[:, None] >= 0) & (bank_labels[None, :] == query_labels[:, None]))
    return _first_allowed(dist, allowed, k)


def _random_data(n_bank=300, n_features=6, seed=0):
    rng = np.random.RandomState(seed)
    bank = rng.normal(size=(n_bank, n_features)).astype(np.float32)
    if n_bank >= 60:
        bank[50:60] = bank[:10]  # exact copies, at distance 0
    return bank


def _clustered_data(n_bank=300, n_features=16, seed=0):
    point, counter = make_pairs(n_bank // 2, n_features, n_clusters=5, duplicate_rate=0.1,
                                random_state=seed)
    return np.vstack([point, counter])


def _fit(bank, metric, algorithm, labels=None, **params):
    search = NeighborSearch(metric=metric, algorithm=algorithm, **params).fit(bank, labels)
    prepared = normalize_rows(bank, "bank") if metric == "cosine" else bank
    return search, prepared


def _labelled_queries(bank, metric, algorithm, rng, *, step, group, unlabelled, first):
    """A search over ``bank`` with random label groups of about ``group`` rows.

    Returns the search, the prepared bank, the labels, every ``step``-th
    prepared row as queries with their labels (every ``unlabelled``-th query
    without one: it excludes only copies), and the median distance to the
    first ``first`` bank rows (a scale for floors and ceilings).
    """
    labels = rng.randint(0, len(bank) // group, size=len(bank))
    search, prepared = _fit(bank, metric, algorithm, labels)
    queries = prepared[::step]
    query_labels = labels[::step].copy()
    query_labels[::unlabelled] = -1
    first_ids = np.tile(np.arange(first), (len(queries), 1))
    scale = np.median(search.pair_distances(queries, first_ids))
    return search, prepared, labels, queries, query_labels, scale


def _assert_same(result, reference, rtol=1e-9):
    dist, ids = reference
    np.testing.assert_array_equal(result.ids, ids)
    np.testing.assert_allclose(result.distances, dist, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("data", [_random_data, _clustered_data], ids=["random", "clustered"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", EXACT)
def test_exact_algorithms_equal_float64_brute_force(algorithm, metric, data):
    _needs(algorithm)
    rng = np.random.RandomState(1)
    search, prepared, labels, queries, query_labels, scale = _labelled_queries(
        data(), metric, algorithm, rng, step=3, group=3, unlabelled=4, first=20)
    min_distance = rng.uniform(-0.2, 0.3, size=len(queries)) * scale
    for kwargs in ({}, {"query_labels": query_labels},
                   {"query_labels": query_labels, "min_distance": min_distance}):
        result = search.kneighbors(queries, 7, **kwargs)
        expected = reference_kneighbors(prepared, queries, 7, metric, labels,
                                        kwargs.get("query_labels"), kwargs.get("min_distance"))
        _assert_same(result, expected)


@pytest.mark.parametrize("algorithm", EXACT)
def test_copies_and_margin_are_counted(algorithm):
    _needs(algorithm)
    bank = _random_data()
    search, _ = _fit(bank, "euclidean", algorithm)
    result = search.kneighbors(bank[:10], 3, min_distance=np.full(10, 1e-9))
    # Rows 0-9 each have two copies: themselves and rows 50-59.
    np.testing.assert_array_equal(result.n_copies, 2)
    np.testing.assert_array_equal(result.n_below, 0)
    admitted = search.kneighbors(bank[:10], 3, min_distance=np.full(10, -1.0))
    np.testing.assert_array_equal(np.sort(admitted.ids[:, :2], axis=1),
                                  np.c_[np.arange(10), np.arange(50, 60)])


@pytest.mark.parametrize("algorithm", EXACT)
def test_ties_are_broken_by_id(algorithm):
    _needs(algorithm)
    # Small integer coordinates: every distance is exact in any summation
    # order, and many are equal.
    rng = np.random.RandomState(0)
    bank = rng.randint(0, 3, size=(200, 3)).astype(np.float32)
    search, _ = _fit(bank, "euclidean", algorithm)
    queries = rng.randint(0, 3, size=(40, 3)).astype(np.float32) + 0.5
    _assert_same(search.kneighbors(queries, 15),
                 reference_kneighbors(bank, queries, 15), rtol=0)


@pytest.mark.parametrize("algorithm", EXACT)
def test_rows_running_out_of_allowed_ids_are_padded(algorithm):
    _needs(algorithm)
    bank = _random_data(n_bank=12)
    labels = np.array([0] * 10 + [1, 2])
    search, _ = _fit(bank, "euclidean", algorithm, labels)
    result = search.kneighbors(bank[:3], 5, query_labels=labels[:3])
    assert set(result.ids[:, :2].ravel()) == {10, 11}
    np.testing.assert_array_equal(result.ids[:, 2:], -1)
    assert np.isinf(result.distances[:, 2:]).all()


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree", "kd_tree"])
def test_results_do_not_depend_on_n_jobs_or_working_memory(algorithm):
    bank = _clustered_data(n_bank=400)
    labels = np.arange(len(bank)) % 200
    expected = None
    for n_jobs in (1, 2):
        search, _ = _fit(bank, "euclidean", algorithm, labels, n_jobs=n_jobs)
        for working_memory in (0.001, 0.1, 1024):
            with sklearn.config_context(working_memory=working_memory):
                result = search.kneighbors(bank, 5, query_labels=labels)
            if expected is None:
                expected = result
            np.testing.assert_array_equal(result.ids, expected.ids)
            np.testing.assert_array_equal(result.distances, expected.distances)


@pytest.mark.parametrize("algorithm", APPROXIMATE)
def test_approximate_recall_at_defaults_on_clustered_data(algorithm):
    _needs(algorithm)
    point, counter = make_pairs(1500, 32, random_state=0)
    bank = np.vstack([point, counter])
    k = 10
    exact = NeighborSearch(algorithm="brute").fit(bank).kneighbors(point, k)
    approx = NeighborSearch(algorithm=algorithm).fit(bank).kneighbors(point, k)
    hits = sum(len(np.intersect1d(a, e)) for a, e in zip(approx.ids, exact.ids, strict=True))
    recall = hits / exact.ids.size
    assert recall >= 0.95, f"{algorithm} recall@{k} = {recall:.3f} < 0.95 at default settings"


@pytest.mark.parametrize("algorithm, params, match", [
    ("brute", {"M": 8}, "search_params must be empty"),
    ("faiss_flat", {"M": 8}, "unknown keys.*faiss_flat"),
    ("faiss_hnsw", {"ef": 8}, r"unknown keys.*\['M', 'ef_construction', 'ef_search'\]"),
    ("hnswlib", {"efSearch": 8}, "unknown keys.*hnswlib"),
    ("faiss_ivf", {"n_probe": 8}, r"unknown keys.*\['nlist', 'nprobe'\]"),
    ("faiss_ivf", {"nlist": 0}, r"'nlist'\] for algorithm='faiss_ivf' must be an int >= 1"),
    ("faiss_ivf", {"nlist": 301}, r"<= the bank's 300 rows; got 301"),
    ("faiss_ivf", {"nlist": 4, "nprobe": 5}, r"'nprobe'.* <= nlist \(4\); got 5"),
])
def test_search_params_errors_name_the_expected_keys(algorithm, params, match):
    _needs(algorithm)
    with pytest.raises(ValueError, match=match):
        NeighborSearch(algorithm=algorithm, search_params=params).fit(_random_data())


@pytest.mark.parametrize("algorithm", ["faiss_hnsw", "hnswlib"])
def test_hnsw_parameters_are_honoured(algorithm):
    _needs(algorithm)
    bank = _clustered_data()
    params = {"M": 8, "ef_construction": 40, "ef_search": 16}
    search = NeighborSearch(algorithm=algorithm, search_params=params).fit(bank)
    assert search.backend_.ef_search_ == 16
    assert search.kneighbors(bank[:5], 3).ids.shape == (5, 3)


def test_auto_rule():
    # torch brute force, faiss installed or not (it is, with the test extra).
    assert resolve_algorithm("auto", 50_000, 384, "cpu") == "brute"
    assert resolve_algorithm("auto", 50_000, 3, "cpu") == "kd_tree"
    assert resolve_algorithm("auto", 500, 3, "cpu") == "brute"
    assert resolve_algorithm("auto", 10**6, 3, "cuda") == "brute"
    assert resolve_algorithm("ball_tree", 10, 384, "cpu") == "ball_tree"
    assert set(ALGORITHMS) >= {"auto", *EXACT, *APPROXIMATE}


def test_device_other_than_cpu_needs_brute():
    with pytest.raises(ValueError, match="brute-force backend only"):
        NeighborSearch(algorithm="ball_tree", device="cuda").fit(_random_data())


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
def test_no_n_by_n_matrix(algorithm):
    # A 20k bank queried by itself: an n x n float32 block would be 1.6 GB.
    rng = np.random.RandomState(0)
    bank = rng.normal(size=(20_000, 4)).astype(np.float32)
    search = NeighborSearch(algorithm=algorithm).fit(bank)
    working_memory = 16
    tracemalloc.start()
    try:
        search.kneighbors(bank, 3, working_memory=working_memory)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    n_by_n = 4 * len(bank) ** 2
    assert peak < 3 * working_memory * 2**20, (peak, n_by_n)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_cuda_equals_cpu(metric):
    bank = _clustered_data(n_bank=2000, n_features=64)
    labels = np.arange(len(bank)) % 1000
    cpu = NeighborSearch(metric=metric, algorithm="brute").fit(bank, labels)
    gpu = NeighborSearch(metric=metric, algorithm="brute", device="cuda").fit(bank, labels)
    queries = cpu.prepare_queries(bank[:500])
    # No cap on k: more neighbours than torch.topk's fast CUDA path handles.
    for k in (1, 10, 1500):
        expected = cpu.kneighbors(queries, k, query_labels=labels[:500])
        for bank_rows in (None, slice(0, 500)):  # plain, and the shared anchor block
            result = gpu.kneighbors(queries, k, query_labels=labels[:500], bank_rows=bank_rows)
            np.testing.assert_array_equal(result.ids, expected.ids)
            np.testing.assert_array_equal(result.distances, expected.distances)
    # A window: the floor written into the GPU's score block, the int32
    # selection and the count under the floor, as on the CPU.
    scale = np.median(cpu.kneighbors(queries, 20).distances)
    rng = np.random.RandomState(0)
    lower, upper = rng.uniform(0, 1.5, 500) * scale, rng.uniform(1, 3, 500) * scale
    for k in (1, 10):
        expected = cpu.kneighbors(queries, k, query_labels=labels[:500], min_distance=lower,
                                  max_distance=upper)
        result = gpu.kneighbors(queries, k, query_labels=labels[:500], min_distance=lower,
                                max_distance=upper)
        np.testing.assert_array_equal(result.ids, expected.ids)
        np.testing.assert_array_equal(result.distances, expected.distances)
        np.testing.assert_array_equal(result.n_below, expected.n_below)


def test_error_bound_follows_torch_matmul_precision():
    from sknegsample.neighbors._distances import matmul_epsilon

    assert matmul_epsilon("highest") == np.finfo(np.float32).eps
    assert matmul_epsilon("high") > matmul_epsilon("highest")  # TF32
    assert matmul_epsilon("medium") > matmul_epsilon("high")  # bfloat16
    rng = np.random.RandomState(0)
    bank = rng.normal(size=(300, 16))
    search = NeighborSearch(algorithm="brute").fit(bank)
    queries = rng.normal(size=(5, 16)).astype(np.float32)
    strict = search._error_bound(queries)
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        loose = search._error_bound(queries)
        # Still exact: the looser bound only means more re-queries.
        result = search.kneighbors(queries.astype(np.float64), 3)
    finally:
        torch.set_float32_matmul_precision(previous)
    assert np.all(loose > strict)
    dist = ((queries[:, None, :].astype(np.float64) - bank[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(result.ids, np.argsort(dist, axis=1, kind="stable")[:, :3])


def test_gpu_chunks_are_sized_from_free_device_memory():
    from sknegsample.neighbors._chunking import gpu_chunk_rows

    # 2M-row bank, 8 bytes per score: 16 MB a row; 20 GB free -> 312 rows.
    assert gpu_chunk_rows(16_000_000, 10**6, 20 * 10**9) == 312
    assert gpu_chunk_rows(16_000_000, 100, 20 * 10**9) == 100
    assert gpu_chunk_rows(16_000_000, 100, 0) == 1


def _paired_labels(n_pairs):
    return np.concatenate([np.arange(n_pairs), np.arange(n_pairs)])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("labels", ["paired", "groups", "none"])
@pytest.mark.parametrize("rows", [slice(0, 150), slice(40, 150), slice(0, 300), slice(290, 300)])
def test_queries_that_are_bank_rows_score_each_pair_once(rows, labels, metric):
    # Mining the training anchors: the queries are bank rows with their own
    # labels, and brute force shares their symmetric block (the clustered
    # data holds near-copies; _random_data exact copies).
    for bank in (_clustered_data(), _random_data()):
        bank_labels = {"paired": _paired_labels(len(bank) // 2),
                       "groups": np.arange(len(bank)) % 37, "none": None}[labels]
        search, prepared = _fit(bank, metric, "brute", bank_labels)
        queries = prepared[rows]
        query_labels = None if bank_labels is None else bank_labels[rows]
        scale = np.median(search.pair_distances(queries, np.tile(np.arange(20),
                                                                 (len(queries), 1))))
        min_distance = np.random.RandomState(0).uniform(-0.2, 0.3, len(queries)) * scale
        for working_memory in (0.05, 1024):  # one block of queries, or many
            for lower in (None, min_distance):  # with rows re-queried past the margin
                result = search.kneighbors(queries, 7, query_labels=query_labels,
                                           min_distance=lower, working_memory=working_memory,
                                           bank_rows=rows)
                expected = reference_kneighbors(prepared, queries, 7, metric, bank_labels,
                                                query_labels, lower)
                _assert_same(result, expected)


def test_bank_rows_are_checked_before_the_block_is_shared(monkeypatch):
    bank = _clustered_data()
    labels = _paired_labels(len(bank) // 2)
    search, _ = _fit(bank, "euclidean", "brute", labels)
    calls = []
    shared = search.backend_.bank_row_candidates
    monkeypatch.setattr(search.backend_, "bank_row_candidates",
                        lambda *a, **kw: calls.append(a[:2]) or shared(*a, **kw))
    rows = slice(0, 150)
    other = bank[rows].copy()
    other[3, 0] += 1e-3  # no longer bank row 3
    cases = [
        (bank[rows], labels[rows], True),
        (other, labels[rows], False),
        (bank[rows], np.roll(labels[rows], 1), False),  # not the rows' own labels
        (bank[:149], labels[:149], False),  # not as many rows as the slice
    ]
    for queries, query_labels, is_shared in cases:
        calls.clear()
        result = search.kneighbors(queries, 5, query_labels=query_labels, bank_rows=rows)
        assert calls == ([(0, 150)] if is_shared else [])
        _assert_same(result, reference_kneighbors(bank, queries, 5, "euclidean", labels,
                                                  query_labels))


def test_bank_rows_block_stays_within_working_memory():
    rng = np.random.RandomState(0)
    bank = rng.normal(size=(20_000, 4)).astype(np.float32)
    search = NeighborSearch(algorithm="brute").fit(bank, np.arange(len(bank)))
    working_memory = 16
    tracemalloc.start()
    try:
        search.kneighbors(bank, 3, query_labels=np.arange(len(bank)),
                          working_memory=working_memory, bank_rows=slice(0, len(bank)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * working_memory * 2**20, peak


@pytest.mark.parametrize("rows", [slice(0, 150), slice(40, 300)])
def test_shared_block_proposes_what_a_plain_search_proposes(rows):
    # The first-round candidates themselves, not only the final answer: the
    # completeness check would repair wrong estimates with re-queries, at a
    # cost no answer shows.
    from sknegsample.neighbors.backends import TorchBruteBackend

    bank = _random_data(n_features=5)
    bank[10:20] *= 3.0  # rows of different norms
    labels = _paired_labels(len(bank) // 2)
    backend = TorchBruteBackend().fit(bank, bank)
    groups = NeighborSearch(algorithm="brute").fit(bank, labels).groups_
    exclude = groups.members(labels[rows])
    scratch = backend.scratch(64)
    ids, estimate = backend.bank_row_candidates(rows.start, rows.stop, 9, *exclude,
                                                scratch=scratch, block_rows=32)
    plain_ids, plain_estimate = backend.candidates(bank[rows], bank[rows], 9, *exclude,
                                                   scratch=scratch)
    np.testing.assert_allclose(np.sort(estimate, axis=1), np.sort(plain_estimate, axis=1),
                               rtol=1e-5, atol=1e-5)
    exact = ((bank[rows, None, :].astype(np.float64) - bank[ids]) ** 2).sum(axis=2)
    np.testing.assert_allclose(estimate, exact, rtol=1e-5, atol=1e-5)


# Distance windows (the guards' floor and ceiling). Brute force writes a
# floor into its score block and selects on the bits of floor - score
# (neighbors/backends/_torch_brute.py): every exact backend is held to the
# float64 answer and to the float64 count of the ids the floor skipped, at
# several magnitudes.


def _reference_in_window(bank, queries, k, metric, bank_labels, query_labels, lower, upper):
    """Float64 brute force with a window: (distances, ids, skipped under the floor)."""
    dist = _float64_distances(bank, queries, metric)
    same_label = (query_labels[:, None] >= 0) & (bank_labels[None, :] == query_labels[:, None])
    floor = np.where(lower < 0, -np.inf, lower)
    allowed = ~same_label & (dist > floor[:, None]) & (dist <= upper[:, None])
    if (lower >= 0).any():
        allowed &= (dist > 0) | (lower[:, None] < 0)
    skipped = (~same_label & (dist <= floor[:, None])).sum(axis=1)
    return (*_first_allowed(dist, allowed, k), skipped)


@pytest.mark.parametrize("magnitude", [2.0**-40, 1.0, 3e4])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", EXACT)
def test_window_equals_float64_brute_force(algorithm, metric, magnitude):
    _needs(algorithm)
    rng = np.random.RandomState(3)
    search, prepared, labels, queries, query_labels, scale = _labelled_queries(
        _clustered_data(n_bank=400) * magnitude, metric, algorithm, rng, step=2, group=4,
        unlabelled=5, first=40)
    # Floors from none to past most of the bank (rows with fewer than k
    # ids left), ceilings from tight to none, some rows admitting copies.
    lower = rng.uniform(0.0, 1.2, size=len(queries)) * scale
    lower[::7] = -1.0
    upper = rng.uniform(0.8, 2.0, size=len(queries)) * scale
    upper[::3] = np.inf
    for kwargs in ({"min_distance": lower}, {"max_distance": upper},
                   {"min_distance": lower, "max_distance": upper}):
        result = search.kneighbors(queries, 7, query_labels=query_labels, **kwargs)
        dist, ids, skipped = _reference_in_window(
            prepared, queries, 7, metric, labels, query_labels,
            kwargs.get("min_distance", np.zeros(len(queries))),
            kwargs.get("max_distance", np.full(len(queries), np.inf)))
        np.testing.assert_array_equal(result.ids, ids)
        np.testing.assert_allclose(result.distances, dist, rtol=1e-9, atol=0)
        if "min_distance" in kwargs:
            floored = lower >= 0
            np.testing.assert_array_equal((result.n_below + result.n_copies)[floored],
                                          skipped[floored])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("algorithm", EXACT)
def test_estimated_distances_keep_the_exact_ids(algorithm, metric):
    # exact_distances=False: the same k ids (as a set; the order within the
    # error bound is the estimate's), each distance within distance_error of
    # the float64 one, the k-th exact; with labels, floors and ceilings.
    _needs(algorithm)
    rng = np.random.RandomState(5)
    search, prepared, labels, queries, query_labels, scale = _labelled_queries(
        _clustered_data(n_bank=400), metric, algorithm, rng, step=2, group=4,
        unlabelled=5, first=40)
    lower = rng.uniform(-0.2, 0.8, size=len(queries)) * scale
    upper = np.where(np.arange(len(queries)) % 3, np.inf, 2.0 * scale)
    no_labels = np.full(len(queries), -1)
    for k in (1, 7, 37):
        for kwargs in ({}, {"query_labels": query_labels, "min_distance": lower,
                            "max_distance": upper}):
            exact = search.kneighbors(queries, k, **kwargs)
            estimated = search.kneighbors(queries, k, exact_distances=False, **kwargs)
            _, reference_ids, _ = _reference_in_window(
                prepared, queries, k, metric, labels, kwargs.get("query_labels", no_labels),
                kwargs.get("min_distance", np.zeros(len(queries))),
                kwargs.get("max_distance", np.full(len(queries), np.inf)))
            np.testing.assert_array_equal(np.sort(estimated.ids, axis=1),
                                          np.sort(reference_ids, axis=1))
            np.testing.assert_array_equal(estimated.n_below, exact.n_below)
            np.testing.assert_array_equal(estimated.n_copies, exact.n_copies)
            assert (estimated.distance_error > 0).all()
            assert not exact.distance_error.any()
            found = estimated.ids >= 0
            truth = np.take_along_axis(_float64_distances(prepared, queries, metric),
                                       np.where(found, estimated.ids, 0), axis=1)
            gap = np.abs(np.where(found, estimated.distances - truth, 0.0))
            assert (gap <= estimated.distance_error[:, None]).all()
            np.testing.assert_array_equal(estimated.distances[:, -1], exact.distances[:, -1])


def test_floor_selection_skips_counts_and_pads():
    """The backend's own contract: k nearest inside the window, the skipped counted."""
    # Integer coordinates: every squared distance is exact in float32.
    bank = np.array([[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0]], dtype=np.float32)
    backend = TorchBruteBackend().fit(bank, bank)
    queries = np.zeros((3, 2), dtype=np.float32)
    # Squared distances 0, 1, 4, 9, 16, 25. Row 0: floor 3.5, ceiling 20;
    # row 1: floor 0.5, no ceiling, id 1 excluded; row 2: floor past all.
    window = DistanceWindow(np.array([3.5, 0.5, 30.0]), np.array([20.0, np.inf, np.inf]))
    ids, estimate = backend.candidates(queries, queries, 3, np.array([1]), np.array([1]),
                                       window=window)
    np.testing.assert_array_equal(np.sort(ids, axis=1)[:, ::-1][:, :3],
                                  [[4, 3, 2], [4, 3, 2], [-1, -1, -1]])
    np.testing.assert_array_equal(window.n_below, [2, 1, 6])
    kept = ids >= 0
    np.testing.assert_allclose(estimate[kept], (ids[kept] ** 2).astype(float), atol=1e-5)
    assert (estimate[~kept] == np.inf).all()


def test_windowed_error_bound_covers_the_floor():
    """Estimates of a floored call stay within the error the backend reports."""
    rng = np.random.RandomState(0)
    bank = (rng.normal(size=(3000, 64)) * 40).astype(np.float32)
    queries = bank[:200] + rng.normal(size=(200, 64)).astype(np.float32)
    search = NeighborSearch(metric="euclidean").fit(bank)
    backend = search.backend_
    queries32 = search._to32(queries)
    error = search._error_bound(queries32)
    sq = np.einsum("ij,ij->i", queries32.astype(np.float64), queries32.astype(np.float64))
    lower = np.quantile(((queries32[:, None, :].astype(np.float64)
                          - search.bank32_[None, :, :]) ** 2).sum(axis=2), 0.3, axis=1)
    window, err = backend.window(lower, np.full(200, np.inf), error, np.sqrt(sq),
                                 search._max_norm)
    ids, estimate = backend.candidates(queries32, queries32, 20, window=window)
    exact = ((search.bank32_[ids].astype(np.float64)
              - queries32[:, None, :].astype(np.float64)) ** 2).sum(axis=2)
    assert (np.abs(estimate - exact) <= err[:, None]).all()
    assert (exact >= lower[:, None] - 2 * err[:, None]).all()
