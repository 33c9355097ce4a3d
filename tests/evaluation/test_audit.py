"""The audit of mined negatives, against brute force and on the bundled man pages."""

import json

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist

from sknegsample import HybridNegativeSampler, audit
from sknegsample.datasets import load_manpage_pairs, make_pairs
from sknegsample.evaluation import AuditReport
from sknegsample.evaluation._report import gini


@pytest.fixture(scope="module")
def manpages():
    data = load_manpage_pairs()
    sampler = HybridNegativeSampler(n_negatives=4, random_rate=0.5, random_state=0)
    negatives = sampler.fit_transform(data.point, data.counter)
    return data, sampler, negatives, audit(sampler, data.point, data.counter)


def _brute_components(bank, n, threshold, metric="euclidean"):
    d = cdist(bank, bank, metric=metric)
    linked = d <= threshold
    np.fill_diagonal(linked, False)
    linked[np.arange(n), n + np.arange(n)] = False  # a point and its own counter
    linked[n + np.arange(n), np.arange(n)] = False
    return connected_components(linked, directed=False)[1]


def _same_partition(a, b):
    # Equal up to renaming: each label of a maps to exactly one of b, and back.
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_manpage_audit_against_brute_force(manpages):
    data, sampler, negatives, report = manpages
    n = len(data.point)
    bank = np.vstack([data.point, data.counter]).astype(np.float64)
    np.testing.assert_array_equal(report.negatives, negatives)
    positive = np.linalg.norm(data.point - data.counter, axis=1)
    distances = np.linalg.norm(bank[negatives] - data.point[:, None, :], axis=2)
    np.testing.assert_allclose(report.positive_distances, positive, rtol=1e-5)
    np.testing.assert_allclose(report.gaps, distances - positive[:, None], atol=1e-5)
    np.testing.assert_allclose(report.gaps, sampler.negative_gap_, rtol=1e-12)
    assert report.false_negative_fraction == pytest.approx(np.mean(sampler.negative_gap_ < 0))
    hard = report.gaps_by_kind()["hard"]
    assert hard.size == np.sum(~sampler.negative_is_random_)
    assert np.median(hard) < np.median(report.gaps_by_kind()["random"])
    # The worst cases: the most negative gaps, in order.
    worst = report.worst
    assert len(worst) == 10
    assert [w["gap"] for w in worst] == pytest.approx(np.sort(report.gaps.ravel())[:10])
    for w in worst:
        assert report.negatives[w["anchor"]].tolist().count(w["negative"]) == 1
        assert w["kind"] in ("hard", "random") and w["gap"] < 0
    # Reuse: counted by hand.
    counts = np.zeros(2 * n, dtype=int)
    for row in negatives:
        for b in row:
            counts[b] += 1
    np.testing.assert_array_equal(report.reuse_counts, counts)
    assert report.max_reuse == counts.max()
    np.testing.assert_array_equal(report.short_anchors, sampler.short_anchors_)
    # Near-duplicates: the exact radius graph, by brute force.
    assert report.duplicate_threshold == pytest.approx(0.5 * np.median(positive), rel=1e-5)
    expected = _brute_components(bank, n, report.duplicate_threshold)
    assert _same_partition(report.components, expected)


def test_manpage_near_duplicate_families(manpages):
    data, _, _, report = manpages
    n = len(data.point)
    texts = np.concatenate([data.point_text, data.counter_text])
    assert report.clusters, "the man pages hold near-duplicate families"
    sizes = [c.size for c in report.clusters]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) >= 2
    # The ISO 8859 character-set pages are one family on both sides.
    iso = np.flatnonzero([t.startswith("iso_8859-") for t in data.point_text])
    assert len(iso) >= 10
    families = {report.components[i] for i in iso}
    assert len(families) <= 2, "the iso_8859-n summaries fall apart"
    largest = report.clusters[0]
    assert np.mean([("8859" in texts[i]) for i in largest]) > 0.8
    # Each family is one kind of text: summaries (< n) or descriptions.
    assert all(len({i < n for i in c}) == 1 for c in report.clusters[:5])


def test_to_dict_is_json_and_summary_reads(manpages):
    *_, report = manpages
    d = json.loads(json.dumps(report.to_dict()))
    assert d["n_pairs"] == 1823 and d["n_negatives"] == 4
    assert d["false_negatives"]["fraction"] == pytest.approx(report.false_negative_fraction)
    assert d["near_duplicates"]["n_clusters"] == len(report.clusters)
    assert d["reuse"]["gini"] == pytest.approx(report.reuse_gini)
    assert d["gaps"]["hard"]["count"] + d["gaps"]["random"]["count"] == 1823 * 4
    text = str(report)
    assert "likely false negatives" in text and "near-duplicate clusters" in text


def test_array_input_equals_sampler_input(manpages):
    data, sampler, negatives, report = manpages
    again = audit(negatives, data.point, data.counter, is_random=sampler.negative_is_random_)
    np.testing.assert_allclose(again.gaps, report.gaps, rtol=1e-12)
    np.testing.assert_array_equal(again.components, report.components)
    assert again.to_dict()["reuse"] == report.to_dict()["reuse"]
    plain = audit(negatives, data.point, data.counter)
    assert list(plain.gaps_by_kind()) == ["all"]
    assert plain.worst[0]["kind"] == "all"


def test_cosine_and_missing_negatives():
    point, counter = make_pairs(60, 5, random_state=0)
    negatives = np.tile([[1, 70, 5]], (60, 1))
    negatives[3, 2] = negatives[7, 0] = -1  # two anchors got fewer
    report = audit(negatives, point, counter, metric="cosine", duplicate_threshold=0.05)
    assert report.short_anchors.tolist() == [3, 7]
    assert np.isnan(report.gaps[3, 2]) and report.reuse_counts[5] == 59
    bank = np.vstack([point, counter])
    expected = cdist(point, bank, "cosine")[np.arange(60)[:, None], np.maximum(negatives, 0)]
    positive = np.diag(cdist(point, counter, "cosine"))
    live = negatives >= 0
    np.testing.assert_allclose(report.gaps[live], (expected - positive[:, None])[live],
                               atol=1e-6)  # float32 rows, normalised in float32
    assert _same_partition(report.components, _brute_components(bank, 60, 0.05, "cosine"))


def test_copies_are_duplicates_and_large_families_chain():
    # 40 copies of one point: one cluster of 40 + (partners excluded) through
    # several rounds of the growing k-NN.
    point, counter = make_pairs(100, 4, random_state=1)
    point[:40] = point[0]
    report = audit(np.tile([[50]], (100, 1)), point, counter, duplicate_threshold=0.0)
    assert [c.size for c in report.clusters] == [40]
    np.testing.assert_array_equal(report.clusters[0], np.arange(40))


def test_gini_against_mean_absolute_difference():
    rng = np.random.RandomState(0)
    for counts in (rng.poisson(3, 50), rng.randint(0, 2, 9), np.array([5])):
        x = counts.astype(float)
        mad = np.abs(x[:, None] - x[None, :]).mean()
        assert gini(counts) == pytest.approx(mad / (2 * x.mean()))
    assert gini(np.zeros(4)) == 0.0


def test_sampler_that_cannot_repeat_its_negatives():
    point, counter = make_pairs(50, 4, random_state=0)
    sampler = HybridNegativeSampler(n_negatives=2, random_rate=0.5)  # random_state=None
    sampler.fit_transform(point, counter)
    with pytest.raises(ValueError, match="could not repeat the sampler's negatives"):
        audit(sampler, point, counter)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"negatives": np.zeros((10, 2), dtype=int)}, ValueError,
     r"negatives must have shape \(n_pairs, n_negatives\) = \(30, \.\.\.\)"),
    ({"negatives": np.full((30, 2), 60)}, ValueError, r"bank ids in \[0, 60\) or -1"),
    ({"negatives": np.zeros((30, 2))}, TypeError, "negatives must hold integer bank ids"),
    ({"is_random": np.zeros((30, 3), dtype=bool)}, ValueError, "is_random must be a bool"),
    ({"metric": "manhattan"}, ValueError, "metric must be one of"),
    ({"duplicate_threshold": -1.0}, ValueError, "duplicate_threshold must be a float >= 0"),
    ({"n_worst": -1}, ValueError, "n_worst must be an int >= 0"),
    ({"counter": np.zeros((29, 4))}, ValueError, "point and counter must have the same shape"),
    ({"point": np.full((30, 4), np.nan)}, ValueError, "point"),
])
def test_bad_arguments(kwargs, error, match):
    point, counter = make_pairs(30, 4, random_state=0)
    args = {"negatives": np.zeros((30, 2), dtype=int), "point": point, "counter": counter,
            **kwargs}
    negatives = args.pop("negatives")
    with pytest.raises(error, match=match):
        audit(negatives, **args)


def test_bad_samplers():
    point, counter = make_pairs(30, 4, random_state=0)
    fitted_only = HybridNegativeSampler(random_state=0).fit(point, counter)
    with pytest.raises(ValueError, match=r"fitted with fit_transform\(point, counter\)"):
        audit(fitted_only, point, counter)
    mined = HybridNegativeSampler(random_state=0)
    mined.fit_transform(point, counter)
    with pytest.raises(ValueError, match="is_random is for an array"):
        audit(mined, point, counter, is_random=mined.negative_is_random_)
    with pytest.raises(ValueError, match="must hold the 30 pairs the sampler was fitted on"):
        audit(mined, point[:20], counter[:20])


def test_report_is_a_plain_dataclass():
    point, counter = make_pairs(20, 3, random_state=0)
    report = audit(np.tile([[21, 22]], (20, 1)), point, counter)
    assert isinstance(report, AuditReport)
    assert report.n_pairs == 20 and report.n_negatives == 2
    assert report.to_dict()["reuse"]["top"][0] == {"id": 21, "anchors": 20}
