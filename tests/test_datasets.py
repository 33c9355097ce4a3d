"""Tests of sknegsample.datasets: the pair generator and the shipped data."""

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import pairwise_distances
from sklearn.model_selection import GroupKFold

from sknegsample.datasets import load_manpage_pairs, make_pairs


def _accuracy_at_1(point, counter):
    """Fraction of points whose own counter is the nearest by cosine."""
    point = point / np.linalg.norm(point, axis=1, keepdims=True)
    counter = counter / np.linalg.norm(counter, axis=1, keepdims=True)
    return np.mean(np.argmax(point @ counter.T, axis=1) == np.arange(len(point)))


# --------------------------------------------------------------------------
# make_pairs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_make_pairs_shapes_and_dtype(dtype):
    point, counter = make_pairs(n_pairs=50, n_features=7, dtype=dtype, random_state=0)
    assert point.shape == counter.shape == (50, 7)
    assert point.dtype == counter.dtype == dtype
    assert np.all(np.isfinite(point)) and np.all(np.isfinite(counter))


def test_make_pairs_is_deterministic_under_random_state():
    kwargs = {"n_pairs": 40, "duplicate_rate": 0.2, "return_groups": True}
    first = make_pairs(**kwargs, random_state=3)
    again = make_pairs(**kwargs, random_state=3)
    other = make_pairs(**kwargs, random_state=4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_make_pairs_accepts_a_random_state_instance():
    a = make_pairs(n_pairs=10, random_state=np.random.RandomState(0))
    b = make_pairs(n_pairs=10, random_state=0)
    np.testing.assert_array_equal(a[0], b[0])


def test_make_pairs_groups_are_balanced_clusters():
    point, _, groups = make_pairs(n_pairs=100, n_clusters=4, return_groups=True, random_state=0)
    assert groups.shape == (100,) and groups.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(groups), [25, 25, 25, 25])
    # Points sit around their centre: closer to their own cluster's mean.
    means = np.stack([point[groups == g].mean(axis=0) for g in range(4)])
    np.testing.assert_array_equal(pairwise_distances(point, means).argmin(axis=1), groups)


def test_make_pairs_counter_is_point_plus_noise():
    point, counter = make_pairs(
        n_pairs=500, n_features=16, noise=0.5, random_state=0, dtype=np.float64
    )
    # Gaussian noise of std 0.5 per feature: per-coordinate std of the gap.
    assert np.std(counter - point) == pytest.approx(0.5, rel=0.05)
    assert _accuracy_at_1(point, counter) > 0.9


def test_make_pairs_without_duplicates_has_no_near_copies():
    point, _ = make_pairs(n_pairs=200, random_state=0)
    distances = pairwise_distances(point)
    np.fill_diagonal(distances, np.inf)
    assert distances.min() > 0.1


def test_make_pairs_duplicate_families_are_near_copies():
    n_pairs, rate, dup_noise = 200, 0.25, 1e-3
    point, counter, groups = make_pairs(
        n_pairs=n_pairs,
        duplicate_rate=rate,
        duplicate_noise=dup_noise,
        return_groups=True,
        random_state=0,
    )
    # Rows closer than a few noise standard deviations are one family.
    threshold = 10 * dup_noise * np.sqrt(point.shape[1])
    near = pairwise_distances(point) < threshold
    n_families, family = connected_components(near, directed=False)
    # Each family is one original plus its copies.
    assert n_pairs - n_families == int(rate * n_pairs)
    # A copy copies the whole pair and keeps the cluster of its original.
    near_counter = pairwise_distances(counter) < threshold
    np.testing.assert_array_equal(near, near_counter)
    for f in range(n_families):
        assert len(np.unique(groups[family == f])) == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_pairs": 0}, ValueError, r"n_pairs must be an int >= 2; got 0"),
        ({"n_pairs": 10.0}, TypeError, r"n_pairs must be an int >= 2; got 10.0"),
        ({"n_pairs": True}, TypeError, r"n_pairs must be an int >= 2; got True"),
        ({"n_features": 0}, ValueError, r"n_features must be an int >= 1; got 0"),
        ({"n_clusters": 0}, ValueError, r"n_clusters must be an int >= 1; got 0"),
        (
            {"n_pairs": 5, "n_clusters": 6},
            ValueError,
            r"n_clusters must be <= n_pairs \(5\); got 6",
        ),
        (
            {"cluster_std": -1},
            ValueError,
            r"cluster_std must be a real number in \[0, inf\); got -1",
        ),
        (
            {"noise": "a"},
            TypeError,
            r"noise must be a real number in \[0, inf\); got 'a'",
        ),
        (
            {"duplicate_rate": 1.0},
            ValueError,
            r"duplicate_rate must be a real number in \[0, 1.0\); got 1.0",
        ),
        (
            {"duplicate_noise": float("nan")},
            ValueError,
            r"duplicate_noise must be a real number in \[0, inf\); got nan",
        ),
        (
            {"dtype": np.int32},
            ValueError,
            r"dtype must be a floating-point dtype; got int32",
        ),
    ],
)
def test_make_pairs_rejects_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_pairs(**kwargs)


# --------------------------------------------------------------------------
# load_manpage_pairs


@pytest.fixture(scope="module")
def manpages():
    return load_manpage_pairs()


def test_load_manpage_pairs_shapes_and_dtypes(manpages):
    n_pairs = manpages.point.shape[0]
    assert n_pairs >= 1500
    assert manpages.point.shape == manpages.counter.shape == (n_pairs, 384)
    assert manpages.point.dtype == manpages.counter.dtype == np.float32
    for name in ("point_text", "counter_text", "groups", "page"):
        assert manpages[name].shape == (n_pairs,), name


def test_load_manpage_pairs_texts(manpages):
    for name in ("point_text", "counter_text"):
        texts = manpages[name]
        assert texts.dtype == object
        assert all(isinstance(t, str) and t == t.strip() for t in texts)
        lengths = np.array([len(t) for t in texts])
        assert lengths.min() >= 12 and lengths.max() <= 512
        # De-duplicated when built.
        assert len(set(texts)) == len(texts)
    # No roff markup or overstrike left by the rendering.
    joined = "".join(manpages.point_text) + "".join(manpages.counter_text)
    assert "\b" not in joined and "\\f" not in joined


def test_load_manpage_pairs_embeddings_are_unit_norm(manpages):
    for name in ("point", "counter"):
        assert not np.isnan(manpages[name]).any()
        # Stored as float16: norms are 1 up to that precision.
        np.testing.assert_allclose(np.linalg.norm(manpages[name], axis=1), 1.0, atol=2e-3)


def test_load_manpage_pairs_is_a_retrieval_task_with_room(manpages):
    accuracy = _accuracy_at_1(manpages.point, manpages.counter)
    assert 0.5 < accuracy < 0.95


def test_load_manpage_pairs_groups_split_with_group_kfold(manpages):
    groups = manpages.groups
    assert len(np.unique(groups)) >= 5
    for train, test in GroupKFold(n_splits=5).split(manpages.point, groups=groups):
        assert not set(groups[train]) & set(groups[test])


def test_load_manpage_pairs_descr_and_model(manpages):
    assert manpages.model == "sentence-transformers/all-MiniLM-L6-v2"
    n_pairs = str(len(manpages.point))
    for needle in ("License", "all-MiniLM-L6-v2", n_pairs, "manpages"):
        assert needle in manpages.DESCR


def test_load_manpage_pairs_return_x_y_and_dtype(manpages):
    point, counter = load_manpage_pairs(return_X_y=True, dtype=np.float64)
    assert point.dtype == counter.dtype == np.float64
    np.testing.assert_allclose(point, manpages.point)
    np.testing.assert_allclose(counter, manpages.counter)


def test_load_manpage_pairs_rejects_integer_dtype():
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype"):
        load_manpage_pairs(dtype=np.int64)
