"""Plot helpers: the numbers they plot, and the figures they return."""

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.plotting import negative_distances, plot_distance_distribution, plot_query_time

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mined():
    point, counter = make_pairs(150, 6, random_state=0)
    sampler = HybridNegativeSampler(random_rate=0.4, n_negatives=3, random_state=0)
    negatives = sampler.fit_transform(point, counter)
    return point, counter, sampler, negatives


def test_negative_distances_match_brute_force(mined):
    point, counter, sampler, negatives = mined
    d = negative_distances(sampler)
    bank = np.vstack([point, counter])
    np.testing.assert_allclose(d["positive"], np.linalg.norm(point - counter, axis=1),
                               rtol=1e-5)
    brute = np.linalg.norm(bank[negatives] - point[:, None, :], axis=2)
    is_random = sampler.negative_is_random_
    np.testing.assert_allclose(np.sort(d["hard"]), np.sort(brute[~is_random]), rtol=1e-5)
    np.testing.assert_allclose(np.sort(d["random"]), np.sort(brute[is_random]), rtol=1e-5)
    assert d["hard"].mean() < d["random"].mean()


def test_negative_distances_needs_paired_fit_transform():
    point, counter = make_pairs(30, 4, random_state=0)
    with pytest.raises(ValueError, match="fit_transform"):
        negative_distances(HybridNegativeSampler().fit(point, counter))
    sampler = HybridNegativeSampler()
    sampler.fit_transform(point, np.arange(30) // 2)
    with pytest.raises(ValueError, match="'labels' mode"):
        negative_distances(sampler)


def test_plot_distance_distribution(mined):
    *_, sampler, _ = mined
    fig, ax = plt.subplots()
    assert plot_distance_distribution(sampler, bins=10, ax=ax) is ax
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    n_random = int(sampler.negative_is_random_.sum())
    assert labels == ["positives (150)", f"hard negatives ({450 - n_random})",
                      f"random negatives ({n_random})"]
    assert ax.get_xlabel() == "euclidean distance to the anchor"


def test_plot_distance_distribution_skips_empty_kind():
    point, counter = make_pairs(40, 4, random_state=0)
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    sampler.fit_transform(point, counter)
    ax = plot_distance_distribution(sampler)
    assert len(ax.get_legend().get_texts()) == 2


def test_plot_query_time():
    ax = plot_query_time([2, 16, 64], [1.0, 0.5, 0.7], label="a")
    ax = plot_query_time([2, 16, 64], [2.0, 1.0, 0.9], n_calls=[5, 3, 4], label="b", ax=ax)
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert len(ax.figure.axes) == 2  # the twin axes of the distance evaluations
    with pytest.raises(ValueError, match="one entry per setting"):
        plot_query_time([1, 2], [1.0])
    with pytest.raises(ValueError, match="n_calls"):
        plot_query_time([1, 2], [1.0, 2.0], n_calls=[1])
