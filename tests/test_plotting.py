"""Plot helpers: the numbers they plot, and the figures they return."""

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler, audit
from sknegsample.datasets import make_pairs
from sknegsample.plotting import (
    negative_distances,
    plot_audit,
    plot_distance_distribution,
    plot_query_time,
)

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


def test_plot_audit_draws_the_reports_numbers(mined):
    point, counter, sampler, _ = mined
    report = audit(sampler, point, counter, duplicate_threshold=1.5)
    fig, axes = plt.subplots(1, 3)
    assert list(report.plot(axes=axes)) == list(axes)
    gap_ax, reuse_ax, cluster_ax = axes
    labels = [t.get_text() for t in gap_ax.get_legend().get_texts()]
    gaps = report.gaps_by_kind()
    assert labels == [f"{kind} ({gaps[kind].size}, {np.mean(gaps[kind] < 0):.1%} < 0)"
                      for kind in ("hard", "random")]
    lorenz = reuse_ax.get_lines()[0]
    assert lorenz.get_ydata()[0] == 0 and lorenz.get_ydata()[-1] == pytest.approx(1.0)
    assert f"Gini {report.reuse_gini:.3f}" in lorenz.get_label()
    sizes = {int(round(p.get_x() + p.get_width() / 2)): p.get_height()
             for p in cluster_ax.patches}
    expected = {}
    for cluster in report.clusters:
        expected[cluster.size] = expected.get(cluster.size, 0) + 1
    assert expected and sizes == expected


def test_plot_audit_new_figure_and_bad_axes(mined):
    point, counter, sampler, negatives = mined
    report = audit(negatives, point, counter)  # one kind: "all"
    axes = plot_audit(report)
    assert len(axes) == 3 and axes[0].figure is axes[2].figure
    assert [t.get_text().split(" (")[0] for t in axes[0].get_legend().get_texts()] == ["all"]
    with pytest.raises(ValueError, match="axes must hold 3 matplotlib Axes; got 1"):
        plot_audit(report, axes=[axes[0]])
