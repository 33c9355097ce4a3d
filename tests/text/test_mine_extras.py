"""mine_hard_negatives' extras over sentence-transformers: embeddings in, hybrid, caps, copies."""

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

from sknegsample.text import mine_hard_negatives  # noqa: E402


def _data(n=30, d=8, seed=0):
    rng = np.random.RandomState(seed)
    anchors = rng.normal(size=(n, d))
    positives = anchors + 0.3 * rng.normal(size=(n, d))
    ds = datasets.Dataset.from_dict({"a": [f"q{i}" for i in range(n)],
                                     "p": [f"d{i}" for i in range(n)]})
    return ds, anchors, positives


def _mine(ds, anchors, positives, **kwargs):
    kwargs.setdefault("verbose", False)
    return mine_hard_negatives(ds, anchor_embeddings=anchors, positive_embeddings=positives,
                               return_statistics=True, **kwargs)


def _cosine(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def test_top_negatives_are_brute_force_nearest_non_positives():
    ds, anchors, positives = _data()
    _, stats = _mine(ds, anchors, positives, num_negatives=3)
    sims = _cosine(anchors, positives)
    np.fill_diagonal(sims, -np.inf)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :3]
    np.testing.assert_array_equal(stats["negatives"], expected)
    np.testing.assert_allclose(stats["negative_scores"],
                               np.take_along_axis(sims, expected, axis=1), atol=1e-6)


def test_random_rate_mixes_in_uniform_negatives_never_positives():
    ds, anchors, positives = _data(n=60)
    _, top = _mine(ds, anchors, positives, num_negatives=4)
    _, hybrid = _mine(ds, anchors, positives, num_negatives=4, random_rate=0.5, random_state=3)
    ids, is_random = hybrid["negatives"], hybrid["is_random"]
    assert 0.3 < is_random.mean() < 0.7
    assert (ids >= 0).all() and (ids != np.arange(60)[:, None]).all()
    assert all(len(set(row)) == 4 for row in ids)
    # The hard slots hold the anchor's best hard negatives, in order.
    for row in range(60):
        hard = ids[row][~is_random[row]]
        assert set(hard) <= set(top["negatives"][row])
    _, again = _mine(ds, anchors, positives, num_negatives=4, random_rate=0.5, random_state=3)
    np.testing.assert_array_equal(again["negatives"], ids)
    _, other = _mine(ds, anchors, positives, num_negatives=4, random_rate=0.5, random_state=4)
    assert (other["negatives"] != ids).any()


def test_all_random_negatives_are_spread_over_the_corpus():
    ds, anchors, positives = _data(n=40)
    _, stats = _mine(ds, anchors, positives, num_negatives=2, random_rate=1.0, random_state=0)
    assert stats["is_random"].all()
    assert len(np.unique(stats["negatives"])) > 25  # not the nearest few


def test_max_negative_uses_caps_every_id():
    ds, anchors, positives = _data(n=40)
    _, stats = _mine(ds, anchors, positives, num_negatives=2, range_max=12,
                     max_negative_uses=1)
    ids = stats["negatives"][stats["negatives"] >= 0]
    assert np.bincount(ids).max() == 1
    assert stats["max_negative_uses"] > 0
    # Greedy reference in anchor order over each anchor's window.
    sims = _cosine(anchors, positives)
    np.fill_diagonal(sims, -np.inf)
    used = set()
    for row in range(40):
        window = [int(i) for i in np.argsort(-sims[row], kind="stable")[:11]]
        picks = []
        for cand in window:
            if len(picks) == 2:
                break
            if cand not in used:
                picks.append(cand)
                used.add(cand)
        got = stats["negatives"][row]
        assert sorted(got[got >= 0].tolist()) == sorted(picks)


def test_exclude_copies_drops_the_anchor_text_from_the_corpus():
    ds, anchors, positives = _data(n=10)
    corpus = ["q3", "twin", "extra"]
    corpus_emb = np.vstack([anchors[3], anchors[3], -anchors[3]])
    kwargs = dict(corpus=corpus, corpus_embeddings=corpus_emb, num_negatives=1,
                  output_format="n-tuple")
    out, stats = _mine(ds, anchors, positives, **kwargs)
    # ST's rule: the anchor's own text is struck out; an embedding twin is the hardest.
    assert out[3]["negative_1"] == "twin"
    assert "q3" not in [row["negative_1"] for row in out if row["a"] == "q3"]
    out, stats = _mine(ds, anchors, positives, exclude_copies=True, **kwargs)
    assert out[3]["negative_1"] not in ("q3", "twin") and stats["copies"] >= 2


def test_several_positives_per_anchor_are_all_excluded():
    ds, anchors, positives = _data(n=12)
    rows = {"a": list(ds["a"]) + ["q0", "q0"], "p": list(ds["p"]) + ["d1", "d2"]}
    ds2 = datasets.Dataset.from_dict(rows)
    out, stats = _mine(ds2, np.vstack([anchors, anchors[[0, 0]]]),
                       np.vstack([positives, positives[[1, 2]]]), num_negatives=3)
    assert not {1, 2, 0} & set(stats["negatives"][0].tolist())
    assert [r["p"] for r in out if r["a"] == "q0"][:3] == ["d0"] * 3  # 3 rows per positive
    assert sum(r["a"] == "q0" for r in out) == 9


@pytest.mark.parametrize("kwargs, error, match", [
    ({"anchor_embeddings": None}, ValueError, "anchor_embeddings and positive_embeddings"),
    ({"anchor_embeddings": np.ones((3, 2))}, ValueError, r"anchor_embeddings must have shape"),
    ({"random_rate": 1.5}, ValueError, r"random_rate must be in \[0, 1\]"),
    ({"max_negative_uses": 0}, ValueError, "max_negative_uses"),
    ({"sampling_strategy": "hardest"}, ValueError, "sampling_strategy"),
    ({"output_format": "pairs"}, ValueError, "Invalid output_format"),
    ({"num_negatives": 0}, ValueError, "num_negatives must be at least 1"),
    ({"range_min": 5, "range_max": 5}, ValueError, "range_min must be smaller"),
    ({"corpus": ["x"]}, ValueError, "corpus_embeddings"),
])
def test_bad_arguments_name_themselves(kwargs, error, match):
    ds, anchors, positives = _data(n=6)
    args = dict(anchor_embeddings=anchors, positive_embeddings=positives, verbose=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        mine_hard_negatives(ds, **args)


def test_verbose_prints_st_statistics(capsys):
    ds, anchors, positives = _data(n=20)
    _mine(ds, anchors, positives, verbose=True, max_score=0.2, num_negatives=2)
    out = capsys.readouterr().out
    assert "Setting range_max to" in out and "Metric" in out
    assert "due to the max_score of 0.2" in out
