"""HybridNegativeSampler: ground truth, exclusions, invariances, pipelines."""

import numpy as np
import pytest
import sklearn
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline

from sknegsample import HybridNegativeSampler, bank_ids_to_pairs, decaying_random_rate
from sknegsample.datasets import make_pairs
from sknegsample.exceptions import GuardScaleWarning

EXACT_ALGORITHMS = ["brute", "ball_tree", "kd_tree", "faiss_flat"]


def _pairs(n_pairs=60, n_features=5, seed=0, dtype=np.float64):
    rng = np.random.RandomState(seed)
    point = rng.normal(size=(n_pairs, n_features))
    counter = point + 0.3 * rng.normal(size=(n_pairs, n_features))
    return point.astype(dtype), counter.astype(dtype)


def _brute_force_negatives(point, counter, k, metric="euclidean", skip=0):
    """Nearest allowed bank ids by float64 numpy: ties broken by id."""
    bank = np.vstack([point, counter]).astype(np.float64)
    queries = point.astype(np.float64)
    if metric == "cosine":
        bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    dist = ((queries[:, None, :] - bank[None, :, :]) ** 2).sum(-1)
    n = len(point)
    rows = np.arange(n)
    dist[rows, rows] = np.inf  # itself
    dist[rows, rows + n] = np.inf  # its positive
    dist[dist == 0] = np.inf  # copies
    ids = np.broadcast_to(np.arange(2 * n), dist.shape)
    order = np.lexsort((ids, dist), axis=1)
    return order[:, skip : skip + k]


@pytest.mark.parametrize("algorithm", EXACT_ALGORITHMS)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_hard_negatives_equal_brute_force(algorithm, metric):
    point, counter = _pairs()
    sampler = HybridNegativeSampler(
        random_rate=0.0, n_negatives=3, algorithm=algorithm, metric=metric, leaf_size=2
    )
    negatives = sampler.fit_transform(point, counter)
    np.testing.assert_array_equal(negatives, _brute_force_negatives(point, counter, 3, metric))


def test_skip_nearest_shifts_the_window():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=2, skip_nearest=3)
    expected = _brute_force_negatives(point, counter, 2, skip=3)
    np.testing.assert_array_equal(sampler.fit_transform(point, counter), expected)


def test_uniform_selection_stays_inside_the_window():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(
        random_rate=0.0, n_negatives=2, n_candidates=6, hard_selection="uniform", random_state=0
    )
    negatives = sampler.fit_transform(point, counter)
    window = _brute_force_negatives(point, counter, 6)
    assert all(set(row) <= set(win) for row, win in zip(negatives, window, strict=True))
    # Uniform within the window means not always the two nearest.
    assert not np.array_equal(negatives, window[:, :2])


def test_never_self_positive_or_copy_even_when_a_copy_ranks_first():
    point, counter = _pairs(n_pairs=20)
    point[3] = point[7]  # an exact duplicate of anchor 7 sits in the bank
    counter[5] = point[5]  # a positive identical to its anchor
    for random_rate in (0.0, 1.0):
        sampler = HybridNegativeSampler(random_rate=random_rate, n_negatives=4, random_state=0)
        negatives = sampler.fit_transform(point, counter)
        bank = np.vstack([point, counter])
        rows = np.arange(20)
        assert not np.any(negatives == rows[:, None])
        assert not np.any(negatives == rows[:, None] + 20)
        copies = np.all(bank[negatives] == point[:, None, :], axis=-1)
        assert not copies.any()
    assert sampler.fit(point, counter).transform(point[[7]])[0].tolist().count(3) == 0


def test_transform_with_indices_equals_fit_transform():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=2, random_state=3)
    mined = sampler.fit_transform(point, counter)
    again = sampler.transform(point, indices=np.arange(len(point)))
    np.testing.assert_array_equal(mined, again)


def test_picks_depend_only_on_anchor_not_on_batch_order_subset_or_chunking():
    point, counter = _pairs(n_pairs=200)
    sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=3, random_state=7)
    sampler.fit(point, counter)
    full = sampler.transform(point, indices=np.arange(200))
    order = np.random.RandomState(0).permutation(200)
    np.testing.assert_array_equal(sampler.transform(point[order], indices=order), full[order])
    subset = order[:17]
    np.testing.assert_array_equal(sampler.transform(point[subset], indices=subset), full[subset])
    with sklearn.config_context(working_memory=0.01):
        np.testing.assert_array_equal(sampler.transform(point, indices=np.arange(200)), full)
    # New queries: picks follow the content of the row.
    new = sampler.transform(point[order])
    np.testing.assert_array_equal(new[np.argsort(order)], sampler.transform(point))


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
def test_results_do_not_depend_on_n_jobs(algorithm):
    point, counter = _pairs(n_pairs=150)
    outputs = [
        HybridNegativeSampler(
            random_rate=0.3, n_negatives=2, algorithm=algorithm, n_jobs=n_jobs, random_state=1
        ).fit_transform(point, counter)
        for n_jobs in (1, 2, -1)
    ]
    for other in outputs[1:]:
        np.testing.assert_array_equal(outputs[0], other)


def test_random_state_controls_reproducibility():
    point, counter = _pairs()
    make = lambda seed: HybridNegativeSampler(random_rate=0.8, random_state=seed)
    np.testing.assert_array_equal(
        make(0).fit_transform(point, counter), make(0).fit_transform(point, counter)
    )
    assert not np.array_equal(
        make(0).fit_transform(point, counter), make(1).fit_transform(point, counter)
    )


def test_curriculum_needs_no_refit():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(random_state=0).fit(point, counter)
    index = sampler.search_
    indices = np.arange(len(point))
    for epoch in range(3):
        sampler.set_params(random_rate=decaying_random_rate(epoch, start=1.0, decay=0.5))
        sampler.transform(point, indices=indices)
        assert sampler.search_ is index
    # At rate 0 (epoch 2) every negative is the nearest allowed one.
    np.testing.assert_array_equal(
        sampler.transform(point, indices=indices), _brute_force_negatives(point, counter, 1)
    )


def test_positive_margin_skips_candidates_near_the_positive():
    point, counter = _pairs(n_pairs=80)
    plain = HybridNegativeSampler(random_rate=0.0, n_negatives=2)
    guarded = HybridNegativeSampler(random_rate=0.0, n_negatives=2, positive_margin=0.5)
    plain.fit_transform(point, counter)
    negatives = guarded.fit_transform(point, counter)
    positive = np.linalg.norm(point - counter, axis=1)
    bank = np.vstack([point, counter])
    distance = np.linalg.norm(bank[negatives] - point[:, None, :], axis=-1)
    assert np.all(distance > positive[:, None] / 0.5)
    assert guarded.n_skipped_["guards"] > 0
    assert plain.n_skipped_["guards"] == 0
    np.testing.assert_allclose(guarded.negative_gap_, distance - positive[:, None])


def test_positive_margin_cosine_follows_topk_percpos():
    point, counter = _pairs(n_pairs=80)
    sampler = HybridNegativeSampler(
        random_rate=0.0, metric="cosine", positive_margin=0.9, n_negatives=2
    )
    negatives = sampler.fit_transform(point, counter)
    unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)
    bank = unit(np.vstack([point, counter]))
    sim_neg = np.einsum("nkd,nd->nk", bank[negatives], unit(point))
    sim_pos = np.einsum("nd,nd->n", unit(counter), unit(point))
    assert np.all(sim_neg < 0.9 * sim_pos[:, None] + 1e-12)


def test_max_negative_uses_caps_hubs():
    rng = np.random.RandomState(0)
    # In 50 dimensions random unit vectors are ~sqrt(2) apart, so a point at
    # the origin (distance 1) is every anchor's nearest neighbour: a hub.
    point = rng.normal(size=(100, 50))
    point /= np.linalg.norm(point, axis=1, keepdims=True)
    counter = point + 0.05 * rng.normal(size=(100, 50))
    point[0] = 0.0
    uncapped = HybridNegativeSampler(random_rate=0.0).fit_transform(point, counter)
    sampler = HybridNegativeSampler(random_rate=0.0, max_negative_uses=3, random_state=0)
    capped = sampler.fit_transform(point, counter)
    assert np.bincount(uncapped.ravel()).max() > 3
    assert np.bincount(capped.ravel()).max() <= 3
    assert sampler.n_skipped_["max_negative_uses"] > 0


def test_diagnostics_after_fit_transform():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=2, random_state=0)
    negatives = sampler.fit_transform(point, counter)
    bank = np.vstack([point, counter])
    expected = np.linalg.norm(bank[negatives] - point[:, None, :], axis=-1)
    np.testing.assert_allclose(sampler.negative_distances_, expected)
    assert sampler.negative_is_random_.shape == negatives.shape
    assert set(sampler.n_skipped_) == {"copies", "guards", "random_redrawn", "random_relaxed",
                                       "max_negative_uses"}
    assert sampler.short_anchors_.dtype == np.int64


def test_short_anchors_are_filled_at_random():
    point, counter = _pairs(n_pairs=4)
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=5, skip_nearest=2)
    # skip_nearest + the window exceed half the pool: said once, with the count.
    with pytest.warns(GuardScaleWarning, match="4 of 4 anchors had fewer allowed"):
        negatives = sampler.fit_transform(point, counter)
    assert len(sampler.short_anchors_) == 4
    assert all(len(set(row)) == 5 for row in negatives)
    assert sampler.negative_is_random_.any()


def test_label_mode_never_returns_same_label():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    labels = rng.randint(0, 5, size=60)
    sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=3, random_state=0)
    negatives = sampler.fit_transform(X, labels)
    assert sampler.mode_ == "labels"
    assert negatives.max() < 60
    assert not np.any(labels[negatives] == labels[:, None])


def test_rows_mode_excludes_only_the_anchor():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    negatives = HybridNegativeSampler(random_rate=0.0).fit_transform(X)
    dist = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    np.testing.assert_array_equal(negatives[:, 0], dist.argmin(axis=1))


def test_bank_ids_index_the_stacked_bank_and_convert_to_pairs():
    point, counter = _pairs(n_pairs=10)
    sampler = HybridNegativeSampler(random_rate=1.0, n_negatives=4, random_state=0)
    negatives = sampler.fit_transform(point, counter)
    side, index = bank_ids_to_pairs(negatives, sampler.n_pairs_)
    stacked = np.vstack([point, counter])[negatives]
    from_pairs = np.where(side[..., None] == 0, point[index], counter[index])
    np.testing.assert_array_equal(stacked, from_pairs)


@pytest.mark.parametrize(
    "bad, match",
    [([0, 20], r"bank_ids must lie in \[0, 20\)"), ([0.5], "must hold integers")],
)
def test_bank_ids_to_pairs_rejects_bad_ids(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bank_ids_to_pairs(bad, n_pairs=10)


def test_preprocessor_applies_to_both_sides_in_a_pipeline():
    point, counter = _pairs(n_pairs=50, n_features=8)
    sampler = HybridNegativeSampler(random_rate=0.0, preprocessor=PCA(3, random_state=0))
    pipe = Pipeline([("sampler", sampler)]).fit(point, counter)
    fitted = pipe.named_steps["sampler"]
    pca = PCA(3, random_state=0).fit(np.vstack([point, counter]))
    np.testing.assert_allclose(fitted.search_.bank_[50:], pca.transform(counter), atol=1e-10)
    expected = _brute_force_negatives(pca.transform(point), pca.transform(counter), 1)
    with sklearn.config_context(enable_metadata_routing=True):
        sampler_routed = HybridNegativeSampler(
            random_rate=0.0, preprocessor=PCA(3, random_state=0)
        ).set_transform_request(indices=True)
        pipe = Pipeline([("sampler", sampler_routed)]).fit(point, counter)
        negatives = pipe.transform(point, indices=np.arange(50))
    np.testing.assert_array_equal(negatives, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64])
def test_accepted_dtypes(dtype):
    point, counter = _pairs(n_pairs=30)
    point, counter = (point * 10).astype(dtype), (counter * 10).astype(dtype)
    negatives = HybridNegativeSampler(random_rate=0.0).fit_transform(point, counter)
    assert negatives.dtype == np.int64 and negatives.shape == (30, 1)


def test_readonly_memmap_and_noncontiguous_views(tmp_path):
    point, counter = _pairs(n_pairs=30, dtype=np.float32)
    np.save(tmp_path / "p.npy", point)
    np.save(tmp_path / "c.npy", counter)
    p_map = np.load(tmp_path / "p.npy", mmap_mode="r")
    c_map = np.load(tmp_path / "c.npy", mmap_mode="r")
    expected = HybridNegativeSampler(random_rate=0.0).fit_transform(point, counter)
    np.testing.assert_array_equal(
        HybridNegativeSampler(random_rate=0.0).fit_transform(p_map, c_map), expected
    )
    wide_p = np.repeat(point, 2, axis=1)[:, ::2]
    wide_c = np.asfortranarray(counter)
    assert not wide_p.flags.c_contiguous
    np.testing.assert_array_equal(
        HybridNegativeSampler(random_rate=0.0).fit_transform(wide_p, wide_c), expected
    )


def test_leaf_size_two_is_reachable():
    point, counter = _pairs()
    sampler = HybridNegativeSampler(algorithm="ball_tree", leaf_size=2, random_rate=0.0)
    sampler.fit(point, counter)
    assert sampler.search_.backend_.tree_.get_arrays()[0].shape == (120, 5)
    assert HybridNegativeSampler().leaf_size == 40


def test_rare_allowed_ids_are_still_drawn_uniformly():
    # 198 rows share label 0, so a label-0 anchor may only receive one of the
    # two label-1 rows: rejection sampling gives up and lists the allowed ids.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    labels = np.zeros(200, dtype=int)
    labels[[10, 20]] = 1
    negatives = HybridNegativeSampler(random_rate=1.0, random_state=0).fit_transform(X, labels)
    majority = negatives[labels == 0, 0]
    assert set(majority) == {10, 20}
    assert 0.35 < np.mean(majority == 10) < 0.65


def test_readonly_memmap_without_counters(tmp_path):
    X, _ = _pairs(n_pairs=30, dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    X_map = np.load(tmp_path / "x.npy", mmap_mode="r")
    sampler = HybridNegativeSampler(random_rate=0.0)
    np.testing.assert_array_equal(sampler.fit_transform(X_map), sampler.fit_transform(X))
    np.testing.assert_array_equal(sampler.transform(X_map), sampler.transform(X))


@pytest.mark.parametrize("preprocessor", [None, PCA(n_components=5, random_state=0)])
@pytest.mark.parametrize("y_kind", ["paired", "labels"])
def test_training_anchors_share_their_symmetric_block(monkeypatch, y_kind, preprocessor):
    # fit_transform and transform(X, indices=arange) (as the scorer's
    # re-mining calls it) score each pair of anchors once, and answer as an
    # exact tree does.
    from sknegsample.neighbors.backends import TorchBruteBackend

    calls = []
    shared = TorchBruteBackend.bank_row_candidates
    monkeypatch.setattr(TorchBruteBackend, "bank_row_candidates",
                        lambda self, *a, **kw: calls.append(a[:2]) or shared(self, *a, **kw))
    point, counter = make_pairs(300, 8, random_state=0)
    y = counter if y_kind == "paired" else np.arange(300) % 7
    params = dict(random_rate=0.0, n_negatives=3, preprocessor=preprocessor, random_state=0)
    sampler = HybridNegativeSampler(algorithm="brute", **params)
    mined = sampler.fit_transform(point, y)
    assert calls == [(0, 300)]
    calls.clear()
    np.testing.assert_array_equal(sampler.transform(point, indices=np.arange(300)), mined)
    assert calls == [(0, 300)]
    tree = HybridNegativeSampler(algorithm="ball_tree", **params).fit_transform(point, y)
    np.testing.assert_array_equal(mined, tree)
