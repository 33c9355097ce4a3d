"""The sampler's contract on its natural path, against a float64 brute force written from
the definitions: fitted rows recognised, pools, several positives, guards, epochs."""

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import load_manpage_pairs
from sknegsample.exceptions import GuardScaleWarning

EXACT = ["brute", "ball_tree", "kd_tree", "faiss_flat"]
POOLS = {"both": lambda n: np.arange(2 * n), "counters": lambda n: np.arange(n, 2 * n),
         "points": lambda n: np.arange(n)}


def _pairs(n=60, d=5, seed=0, flip=False):
    rng = np.random.RandomState(seed)
    point = rng.normal(size=(n, d))
    counter = (-point if flip else point) + 0.4 * rng.normal(size=(n, d))
    return point, counter


def reference(point, counter, *, metric="euclidean", pool="both", anchor_groups=None,
              positive_margin=None, absolute_margin=None, min_distance=None,
              max_distance=None):
    """Per anchor: allowed bank ids ordered by (distance, id), and the distance matrix.

    Written from the definitions, in float64: pairs with equal points (or
    equal anchor_groups labels) are one anchor; an anchor never receives its
    points, its counters, a copy of its point, or a counter equal to one of
    its counters; guards use the closest positive.
    """
    n = len(point)
    bank = np.vstack([point, counter]).astype(np.float64)
    queries = point.astype(np.float64)
    if metric == "cosine":
        bank = bank / np.linalg.norm(bank, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    sq = ((queries[:, None, :] - bank[None, :, :]) ** 2).sum(-1)
    dist = sq / 2 if metric == "cosine" else np.sqrt(sq)
    group = np.arange(n)
    for i in range(n):  # union-find by repeated relabelling (small n)
        for j in range(n):
            same = (point[i] == point[j]).all() or (
                anchor_groups is not None and anchor_groups[i] == anchor_groups[j])
            if same and group[i] != group[j]:
                group[group == group[j]] = group[i]
    in_pool = np.zeros(2 * n, bool)
    in_pool[POOLS[pool](n)] = True
    raw = np.vstack([point, counter])
    allowed, positive = [], []
    for i in range(n):
        members = np.flatnonzero(group == group[i])
        forbidden = np.zeros(2 * n, bool)
        forbidden[members] = forbidden[members + n] = True
        forbidden |= (raw == point[i]).all(axis=1)
        for j in members:
            forbidden[n:] |= (counter == counter[j]).all(axis=1)
        d_pos = dist[i, members + n].min()
        d = dist[i]
        keep = in_pool & ~forbidden & (d > 0)
        if positive_margin is not None:
            if metric == "cosine":
                s, s_pos = 1 - d, 1 - d_pos
                keep &= ~(s >= s_pos - (1 - positive_margin) * abs(s_pos))
            else:
                keep &= ~(d <= d_pos / positive_margin)
        if absolute_margin is not None:
            keep &= ~(d < d_pos + absolute_margin)
        if min_distance is not None:
            keep &= ~(d < min_distance)
        if max_distance is not None:
            keep &= ~(d > max_distance)
        ids = np.flatnonzero(keep)
        allowed.append(ids[np.lexsort((ids, d[ids]))])
        positive.append(d_pos)
    return allowed, dist, np.array(positive)


def _hard(sampler, point, counter, **fit):
    return sampler.fit(point, counter, **fit).transform(point)


@pytest.mark.parametrize("algorithm", EXACT)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("pool", sorted(POOLS))
def test_natural_path_equals_brute_force_for_every_pool(algorithm, metric, pool):
    pytest.importorskip("faiss") if algorithm == "faiss_flat" else None
    point, counter = _pairs()
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=3, metric=metric,
                                    negative_pool=pool, algorithm=algorithm, leaf_size=2)
    negatives = _hard(sampler, point, counter)
    allowed, _, _ = reference(point, counter, metric=metric, pool=pool)
    np.testing.assert_array_equal(negatives, np.array([a[:3] for a in allowed]))
    assert np.isin(negatives, POOLS[pool](60)).all()
    np.testing.assert_array_equal(negatives, sampler.fit_transform(point, counter))


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_random_picks_stay_in_the_pool_and_are_uniform_over_it(pool):
    point, counter = _pairs(n=400, d=4, seed=1)
    sampler = HybridNegativeSampler(random_rate=1.0, n_negatives=4, negative_pool=pool,
                                    random_state=0)
    negatives = sampler.fit(point, counter).transform(point)
    ids = POOLS[pool](400)
    assert np.isin(negatives, ids).all()
    from scipy import stats
    counts = np.bincount((negatives.ravel() - ids[0]) * 10 // ids.size, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_random_picks_in_a_narrow_window_are_uniform_over_it():
    # A window of a few ids in an 800-row pool: rejection sampling mostly
    # misses, and the draw falls back to listing the window with the search.
    point, counter = _pairs(n=400, d=4, seed=2)
    bank = np.vstack([point, counter])
    dist = np.linalg.norm(point[:, None, :] - bank[None, :, :], axis=2)
    dist[np.arange(400), np.arange(400)] = dist[np.arange(400), 400 + np.arange(400)] = np.inf
    ceiling = float(np.quantile(np.sort(dist, axis=1)[:, 4], 0.5))
    inside = [np.flatnonzero((row > 0) & (row <= ceiling)) for row in dist]
    sampler = HybridNegativeSampler(random_rate=1.0, max_distance=ceiling,
                                    random_state=np.random.RandomState(0)).fit(point, counter)
    picks, inside = [], inside[:40]
    for _ in range(300):
        negatives, info = sampler.transform(point[:40], return_info=True)
        picks.append(negatives[:, 0])
        empty = sum(ids.size == 0 for ids in inside)
        assert info.n_skipped["random_relaxed"] == empty > 0
        assert all(n in ids for n, ids in zip(negatives[:, 0], inside, strict=True) if ids.size)
    from scipy import stats
    anchor = next(i for i, ids in enumerate(inside) if 4 <= ids.size <= 8)
    chosen = np.array(picks)[:, anchor]
    counts = np.array([np.sum(chosen == i) for i in inside[anchor]])
    assert counts.sum() == 300 and stats.chisquare(counts).pvalue > 1e-3


def test_fitted_anchor_never_receives_its_positive_without_indices():
    point, counter = _pairs(n=200)
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    negatives = sampler.fit(point, counter).transform(point)
    assert not np.any(negatives[:, 0] == np.arange(200) + 200)
    assert not np.any(negatives[:, 0] == np.arange(200))


@pytest.mark.parametrize("fit_dtype, query_dtype", [(np.float64, np.float32),
                                                    (np.float32, np.float64)])
def test_query_dtype_does_not_matter(fit_dtype, query_dtype):
    point, counter = _pairs(n=80)
    sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=2, random_state=3)
    expected = sampler.fit_transform(point.astype(fit_dtype), counter.astype(fit_dtype))
    got = sampler.transform(point.astype(fit_dtype).astype(query_dtype))
    np.testing.assert_array_equal(got, expected)
    info = sampler.transform(point.astype(query_dtype), return_info=True)[1]
    np.testing.assert_array_equal(info.anchors, np.arange(80))


def test_a_counter_query_is_its_pair_anchor_mirrored():
    point, counter = _pairs(n=50)
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=3).fit(point, counter)
    negatives, info = sampler.transform(counter, return_info=True)
    np.testing.assert_array_equal(info.anchors, np.arange(50, 100))
    # Its own point (its positive) and itself never come back.
    assert not np.any(negatives == np.arange(50)[:, None])
    assert not np.any(negatives == np.arange(50, 100)[:, None])


def test_new_queries_are_only_denied_their_copies():
    point, counter = _pairs(n=50)
    rng = np.random.RandomState(9)
    new = rng.normal(size=(5, 5))
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=2).fit(point, counter)
    negatives, info = sampler.transform(new, return_info=True)
    assert (info.anchors == -1).all() and np.isnan(info.negative_gap).all()
    bank = np.vstack([point, counter])
    d = np.linalg.norm(new[:, None] - bank[None], axis=-1)
    np.testing.assert_array_equal(negatives, np.argsort(d, axis=1, kind="stable")[:, :2])


def test_repeated_anchors_are_one_anchor_with_several_positives():
    point, counter = _pairs(n=100)
    point[50:] = point[:50]  # one question, two answers
    sampler = HybridNegativeSampler(random_rate=0.3, n_negatives=3, random_state=0)
    negatives = sampler.fit(point, counter).transform(point)
    assert sampler.n_anchor_groups_ == 50
    rows = np.arange(100)
    twin = (rows + 50) % 100
    for ids in (rows, twin, rows + 100, twin + 100):
        assert not np.any(negatives == ids[:, None])
    # Copies of one anchor receive the same negatives; the guard uses the
    # closer of its two positives.
    np.testing.assert_array_equal(negatives[:50], negatives[50:])
    allowed, _, _ = reference(point, counter)
    hard = HybridNegativeSampler(random_rate=0.0, n_negatives=3).fit(point, counter)
    np.testing.assert_array_equal(hard.transform(point), [a[:3] for a in allowed])


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_anchor_groups_declare_several_positives(metric):
    point, counter = _pairs(n=60)
    groups = np.arange(60) // 3  # triples of different rows share their answers
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=4, metric=metric,
                                    positive_margin=0.8)
    negatives = sampler.fit(point, counter, anchor_groups=groups).transform(point)
    allowed, _, _ = reference(point, counter, metric=metric, anchor_groups=groups,
                              positive_margin=0.8)
    np.testing.assert_array_equal(negatives, [a[:4] for a in allowed])
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = Pipeline([("sampler", HybridNegativeSampler(
            random_rate=0.0, n_negatives=4, metric=metric, positive_margin=0.8
        ).set_fit_request(anchor_groups=True))])
        np.testing.assert_array_equal(
            pipe.fit(point, counter, anchor_groups=groups).transform(point), negatives)


def test_a_positive_shared_by_two_pairs_is_never_a_negative_of_either():
    point, counter = _pairs(n=40)
    counter[7] = counter[3]  # one document answers two questions
    negatives = HybridNegativeSampler(random_rate=1.0, n_negatives=10, random_state=0).fit(
        point, counter).transform(point)
    for anchor in (3, 7):
        assert not {43, 47} & set(negatives[anchor].tolist())


GUARDS = [
    {"positive_margin": 0.9}, {"positive_margin": 0.6}, {"absolute_margin": 0.05},
    {"min_distance": 0.3}, {"max_distance": 1.2}, {"min_distance": 0.1, "max_distance": 0.9},
    {"positive_margin": 0.95, "absolute_margin": 0.01, "max_distance": 1.5},
]


@pytest.mark.parametrize("algorithm", EXACT)
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: "-".join(g))
def test_guards_equal_brute_force(algorithm, metric, guard):
    pytest.importorskip("faiss") if algorithm == "faiss_flat" else None
    # Counters opposite to their points: negative positive similarities too.
    for flip in (False, True):
        point, counter = _pairs(n=70, flip=flip)
        scale = 1.0 if metric == "cosine" else 3.0
        guard = {k: (v * scale if k in ("min_distance", "max_distance", "absolute_margin")
                     else v) for k, v in guard.items()}
        sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=3, metric=metric,
                                        algorithm=algorithm, leaf_size=2, **guard)
        negatives, info = sampler.fit(point, counter).transform(point, return_info=True)
        allowed, dist, _ = reference(point, counter, metric=metric, **guard)
        expected = np.full((70, 3), -1)
        for i, a in enumerate(allowed):
            expected[i, :min(3, a.size)] = a[:3]
        hard = ~info.negative_is_random
        np.testing.assert_array_equal(negatives[hard], expected[hard])
        # Short anchors are exactly those with fewer allowed ids than slots;
        # their random picks obey the guards when any id can.
        short = np.array([a.size < 3 for a in allowed])
        np.testing.assert_array_equal(np.isin(np.arange(70), info.short_anchors), short)
        for i in np.flatnonzero(short):
            picks = negatives[i][info.negative_is_random[i]]
            assert set(allowed[i].tolist()) <= set(negatives[i].tolist()) or \
                set(picks.tolist()) <= set(allowed[i].tolist())


@st.composite
def guarded_problems(draw):
    n = draw(st.integers(6, 30))
    d = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    point = rng.normal(size=(n, d))
    sign = rng.choice([-1.0, 1.0], size=(n, 1))  # negative similarities included
    counter = sign * point + draw(st.floats(0.05, 2.0)) * rng.normal(size=(n, d))
    n_copies = draw(st.integers(0, n // 3))
    point[n - n_copies:] = point[:n_copies]
    metric = draw(st.sampled_from(["euclidean", "cosine"]))
    guard = draw(st.fixed_dictionaries({}, optional={
        "positive_margin": st.floats(0.3, 1.0),
        "absolute_margin": st.floats(0.0, 0.5),
        "min_distance": st.floats(0.0, 0.5),
        "max_distance": st.floats(0.6, 3.0),
    }))
    params = dict(metric=metric, negative_pool=draw(st.sampled_from(sorted(POOLS))),
                  random_rate=draw(st.sampled_from([0.0, 0.5, 1.0])),
                  n_negatives=draw(st.integers(1, 3)), random_state=seed, **guard)
    return point, counter, params


@pytest.mark.parametrize("noise", [0.3, 3.0])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_guards_on_blocks_of_many_rows(metric, noise):
    # 300 anchors in one score block: the search probes its first rows and,
    # with weak positives (noise 3), masks the whole block before selecting;
    # with close positives most rows need no mask. Both must equal the
    # definitions.
    point, counter = _pairs(n=300, d=6, seed=3)
    counter = point + noise * np.random.RandomState(4).normal(size=point.shape)
    sampler = HybridNegativeSampler(random_rate=0.0, n_negatives=3, metric=metric,
                                    positive_margin=0.9, max_distance=2.5 if metric ==
                                    "euclidean" else 0.6)
    allowed, _, _ = reference(point, counter, metric=metric, positive_margin=0.9,
                              max_distance=sampler.max_distance)
    negatives = _hard(sampler, point, counter)
    for row, ids in zip(negatives, allowed, strict=True):
        expected = ids[:3]
        np.testing.assert_array_equal(row[:len(expected)], expected)


@pytest.mark.filterwarnings("ignore::sknegsample.exceptions.GuardScaleWarning")
@settings(max_examples=60, deadline=None)
@given(guarded_problems())
def test_every_guard_metric_and_pool_holds_for_hard_and_random_picks(problem):
    point, counter, params = problem
    guard = {k: params[k] for k in ("positive_margin", "absolute_margin", "min_distance",
                                    "max_distance") if k in params}
    allowed, dist, _ = reference(point, counter, metric=params["metric"],
                                 pool=params["negative_pool"], **guard)
    sampler = HybridNegativeSampler(**params)
    try:
        sampler.fit(point, counter)
    except ValueError as exc:
        assert "too few negatives" in str(exc)
        return
    negatives, info = sampler.transform(point, return_info=True)
    n = len(point)
    assert np.isin(negatives, POOLS[params["negative_pool"]](n)).all()
    for i, row in enumerate(negatives):
        ok = set(allowed[i].tolist())
        hard = row[~info.negative_is_random[i]]
        # Hard picks are the nearest allowed ids, in order.
        np.testing.assert_array_equal(hard, allowed[i][:hard.size])
        # Random picks obey the guards unless no allowed id was left for them.
        random = row[info.negative_is_random[i]]
        if len(ok) >= params["n_negatives"]:
            assert set(random.tolist()) <= ok


def test_int_seed_repeats_a_random_state_instance_draws_afresh():
    point, counter = _pairs(n=300)
    fixed = HybridNegativeSampler(random_rate=1.0, n_negatives=2, random_state=0)
    fixed.fit(point, counter)
    np.testing.assert_array_equal(fixed.transform(point), fixed.transform(point))

    def epochs(seed):
        sampler = HybridNegativeSampler(random_rate=1.0, n_negatives=2,
                                        random_state=np.random.RandomState(seed))
        sampler.fit(point, counter)
        return [sampler.transform(point) for _ in range(3)]

    first, again = epochs(0), epochs(0)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # reproducible from one seed
    reuse = np.mean(first[0] == first[1])
    assert reuse < 0.05  # fresh picks every epoch


def test_feature_names_and_pandas_output():
    point, counter = _pairs(n=30)
    sampler = HybridNegativeSampler(n_negatives=3, random_state=0).fit(point, counter)
    names = sampler.get_feature_names_out()
    assert names.tolist() == [f"hybridnegativesampler{i}" for i in range(3)]
    frame = sampler.set_output(transform="pandas").transform(point)
    assert isinstance(frame, pd.DataFrame) and list(frame.columns) == names.tolist()
    with pytest.raises(sklearn.exceptions.NotFittedError):
        HybridNegativeSampler().get_feature_names_out()


def test_device_accepts_a_torch_device():
    point, counter = _pairs(n=30)
    a = HybridNegativeSampler(random_rate=0.0, device=torch.device("cpu")).fit_transform(
        point, counter)
    b = HybridNegativeSampler(random_rate=0.0).fit_transform(point, counter)
    np.testing.assert_array_equal(a, b)


def test_text_counters_as_labels_are_refused_with_the_way_out():
    point, _ = _pairs(n=10)
    texts = np.array([f"answer {i}" for i in range(10)], dtype=object)
    with pytest.raises(ValueError, match="look like the counter texts.*SentenceEmbedder"):
        HybridNegativeSampler().fit(point, texts)
    # String labels that repeat are labels.
    HybridNegativeSampler(random_rate=0.0).fit(point, np.array(["a", "b"] * 5))


def test_a_pipeline_step_that_scales_the_points_only_is_flagged():
    point, counter = _pairs(n=40)
    pipe = Pipeline([("scale", StandardScaler()), ("sampler", HybridNegativeSampler())])
    with pytest.warns(GuardScaleWarning, match="preprocessor="):
        pipe.fit(point * 100, counter * 100)


def test_ratio_guard_with_euclidean_on_unit_rows_warns():
    point, counter = _pairs(n=40)
    unit = point / np.linalg.norm(point, axis=1, keepdims=True)
    unit_c = counter / np.linalg.norm(counter, axis=1, keepdims=True)
    with pytest.warns(GuardScaleWarning, match="metric='cosine'"):
        HybridNegativeSampler(positive_margin=0.95).fit(unit, unit_c)


@pytest.mark.parametrize("params, match", [
    ({"positive_margin": float("nan")}, "'positive_margin' parameter"),
    ({"positive_margin": -0.1}, "'positive_margin' parameter"),
    ({"positive_margin": 1.5}, "'positive_margin' parameter"),
    ({"absolute_margin": -1.0}, "'absolute_margin' parameter"),
    ({"absolute_margin": float("nan")}, "'absolute_margin' parameter"),
    ({"min_distance": -0.5}, "'min_distance' parameter"),
    ({"max_distance": float("nan")}, "'max_distance' parameter"),
    ({"min_distance": 0.5, "max_distance": 0.1}, "max_distance must be >= min_distance"),
    ({"negative_pool": "documents"}, "'negative_pool' parameter"),
    ({"negative_pool": "points", "n_negatives": 39}, r"negative_pool='points' leaves too few"
                                                     r" negatives for n_negatives=39"),
    ({"guard_random_negatives": "yes"}, "'guard_random_negatives' parameter"),
])
def test_bad_guards_and_pools_are_refused_by_name(params, match):
    point, counter = _pairs(n=20)
    with pytest.raises(ValueError, match=match):
        HybridNegativeSampler(**params).fit(point, counter)


def test_pool_and_margin_need_pairs():
    point, _ = _pairs(n=20)
    for params in ({"negative_pool": "counters"}, {"absolute_margin": 0.1}):
        with pytest.raises(ValueError, match="needs paired data"):
            HybridNegativeSampler(**params).fit(point, np.arange(20) % 3)
    with pytest.raises(ValueError, match="anchor_groups needs paired data"):
        HybridNegativeSampler().fit(point, anchor_groups=np.arange(20))
    with pytest.raises(ValueError, match=r"anchor_groups must have one label per pair"):
        HybridNegativeSampler().fit(point, point + 1, anchor_groups=np.arange(5))


def test_no_leak_on_the_bundled_pairs():
    data = load_manpage_pairs()
    for random_rate in (0.0, 0.8):
        sampler = HybridNegativeSampler(random_rate=random_rate, metric="cosine",
                                        random_state=0)
        negatives = sampler.fit(data.point, data.counter).transform(data.point)
        n = len(data.point)
        assert not np.any(negatives == np.arange(n)[:, None] + n)
        assert not np.any(negatives == np.arange(n)[:, None])
