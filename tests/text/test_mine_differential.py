"""Differential test: sknegsample's mine_hard_negatives against sentence-transformers' own.

Both functions run on the same ``SentenceTransformer`` (the bundled
all-MiniLM-L6-v2) over 220 rows of the bundled man-page pairs (200 anchors,
20 of them with a second positive), for each parameter family and each output
format. The model's ``encode_query``/``encode_document`` look the texts up in
the bundled embeddings (made by this model) so that no test spends seconds
encoding; ``test_real_encoding_matches`` encodes for real on a few pairs.
"""

import contextlib
import io
import logging
import zlib

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")
datasets = pytest.importorskip("datasets")

from _st_helpers import bundled_lookup, patch_encoder  # noqa: E402

from sknegsample.text import mine_hard_negatives  # noqa: E402

N_ANCHORS, N_SECOND = 200, 20


@pytest.fixture(scope="module")
def setup():
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text._embedder import _default_model_path

    data, table = bundled_lookup()
    model = patch_encoder(SentenceTransformer(_default_model_path(), device="cpu"), table)
    anchors = list(data.point_text[:N_ANCHORS]) + list(data.point_text[:N_SECOND])
    positives = list(data.counter_text[:N_ANCHORS]) + \
        list(data.counter_text[N_ANCHORS:N_ANCHORS + N_SECOND])
    dataset = datasets.Dataset.from_dict({"query": anchors, "answer": positives})
    extra_corpus = list(data.counter_text[300:400])
    return st_mine, model, dataset, extra_corpus, table


def _quiet(function, *args, **kwargs):
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("sknegsample").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return function(*args, **kwargs)


def _row_equal(a, b):
    """Texts equal, numbers equal to float32 precision (ST scores in float32)."""
    if a.keys() != b.keys():
        return False
    for key in a:
        x, y = a[key], b[key]
        if isinstance(x, list) and x and isinstance(x[0], float) or isinstance(x, float):
            if not np.allclose(x, y, atol=1e-5):
                return False
        elif x != y:
            return False
    return True


def _agreement(ours, theirs):
    assert ours.column_names == theirs.column_names
    assert len(ours) == len(theirs)
    rows = zip(ours.to_list(), theirs.to_list(), strict=True)
    return np.mean([_row_equal(a, b) for a, b in rows])


FAMILIES = {
    "defaults": {},
    "range": {"num_negatives": 5, "range_min": 3, "range_max": 20},
    "relative_margin": {"relative_margin": 0.05},
    "absolute_margin": {"absolute_margin": 0.02, "num_negatives": 4},
    "max_score": {"max_score": 0.6},
    "min_score": {"min_score": 0.35, "range_max": 15},
    "max_and_min_score": {"max_score": 0.7, "min_score": 0.3, "num_negatives": 2},
    "num_negatives": {"num_negatives": 8},
    "include_positives": {"include_positives": True, "num_negatives": 4},
    "corpus": {"corpus": "extra"},
}
FORMATS = [(f, s) for f in ("triplet", "n-tuple", "labeled-pair", "labeled-list")
           for s in (False, True)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("output_format, output_scores", FORMATS)
def test_same_rows_as_sentence_transformers(setup, family, output_format, output_scores):
    st_mine, model, dataset, extra_corpus, _ = setup
    kwargs = dict(FAMILIES[family], output_format=output_format, output_scores=output_scores,
                  verbose=False)
    if kwargs.get("corpus") == "extra":
        kwargs["corpus"] = extra_corpus
    theirs = _quiet(st_mine, dataset, model, **kwargs)
    ours = _quiet(mine_hard_negatives, dataset, model, **kwargs)
    assert len(theirs) > 0
    assert _agreement(ours, theirs) >= 0.99


def test_precomputed_embeddings_give_the_same_rows(setup):
    st_mine, model, dataset, extra_corpus, table = setup
    kwargs = dict(relative_margin=0.05, num_negatives=4, output_format="n-tuple",
                  output_scores=True, corpus=extra_corpus, verbose=False)
    theirs = _quiet(st_mine, dataset, model, **kwargs)
    ours = mine_hard_negatives(
        dataset, anchor_embeddings=np.stack([table[t] for t in dataset["query"]]),
        positive_embeddings=np.stack([table[t] for t in dataset["answer"]]),
        corpus_embeddings=np.stack([table[t] for t in extra_corpus]), **kwargs)
    assert _agreement(ours, theirs) >= 0.99


@pytest.mark.parametrize("kwargs", [{}, {"range_min": 2, "range_max": 12, "max_score": 0.7}])
def test_random_strategy_draws_from_the_same_window(setup, kwargs):
    st_mine, model, dataset, _, _ = setup
    num_negatives = 3
    width = kwargs.get("range_max", num_negatives + 2) - kwargs.get("range_min", 0)
    # ST's whole window per anchor: "top" with as many negatives as the window holds.
    window = _quiet(st_mine, dataset, model, num_negatives=width, output_format="labeled-pair",
                    verbose=False, **{"range_max": num_negatives + 2, **kwargs})
    allowed = {}
    for row in window:
        if row["label"] == 0:
            allowed.setdefault(row["query"], set()).add(row["answer"])
    ours, stats = mine_hard_negatives(
        dataset, model, num_negatives=num_negatives, sampling_strategy="random",
        output_format="labeled-pair", verbose=False, random_state=0, return_statistics=True,
        **{"range_max": num_negatives + 2, **kwargs})
    negatives = [row for row in ours if row["label"] == 0]
    assert negatives and all(row["answer"] in allowed[row["query"]] for row in negatives)
    top = mine_hard_negatives(dataset, model, num_negatives=num_negatives, verbose=False,
                              output_format="labeled-pair", return_statistics=True,
                              **{"range_max": num_negatives + 2, **kwargs})[1]
    # Random picks are not always the top ones, and a seed repeats them.
    assert (np.sort(stats["negatives"], axis=1) != np.sort(top["negatives"], axis=1)).any()
    again = mine_hard_negatives(dataset, model, num_negatives=num_negatives, verbose=False,
                                sampling_strategy="random", random_state=0,
                                return_statistics=True,
                                **{"range_max": num_negatives + 2, **kwargs})[1]
    np.testing.assert_array_equal(again["negatives"], stats["negatives"])


class _HashScorer:
    """A stand-in cross-encoder: a fixed pseudo-random score per (query, text)."""

    def __init__(self):
        self.calls = 0

    def predict(self, pairs, batch_size=32, convert_to_tensor=False, pool=None, **kwargs):
        self.calls += 1
        scores = np.array([zlib.crc32(f"{a}|{b}".encode()) / 2**32 for a, b in pairs],
                          dtype=np.float32)
        if convert_to_tensor:
            import torch
            return torch.from_numpy(scores)
        return scores


@pytest.mark.parametrize("kwargs", [{"absolute_margin": 0.0}, {"max_score": 0.8},
                                    {"relative_margin": 0.1, "output_format": "n-tuple"}])
def test_cross_encoder_rescoring_matches(setup, kwargs):
    st_mine, model, dataset, _, _ = setup
    theirs = _quiet(st_mine, dataset, model, cross_encoder=_HashScorer(), verbose=False,
                    output_scores=True, **kwargs)
    scorer = _HashScorer()
    ours = _quiet(mine_hard_negatives, dataset, model, cross_encoder=scorer, verbose=False,
                  output_scores=True, **kwargs)
    assert _agreement(ours, theirs) >= 0.99
    assert scorer.calls == 2  # the pool and the positives, each in one batched call


def test_real_encoding_matches(setup):
    """Both functions encode with the real model (few pairs: encoding costs seconds)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text._embedder import _default_model_path

    _, _, dataset, _, _ = setup
    small = dataset.select(range(24))
    model = SentenceTransformer(_default_model_path(), device="cpu")
    kwargs = dict(num_negatives=2, output_format="n-tuple", output_scores=True, verbose=False,
                  query_prompt="query: ")
    theirs = _quiet(st_mine, small, model, **kwargs)
    ours = _quiet(mine_hard_negatives, small, model, **kwargs)
    assert _agreement(ours, theirs) == 1.0


def test_real_cross_encoder_matches(setup):
    """A CrossEncoder built offline from the bundled MiniLM with a fresh head (mechanics)."""
    import torch
    from sentence_transformers import CrossEncoder, SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text._embedder import _default_model_path

    logging.getLogger("transformers").setLevel(logging.ERROR)
    _, _, dataset, _, _ = setup
    small = datasets.Dataset.from_dict({"query": [t[:60] for t in dataset["query"][:16]],
                                        "answer": [t[:100] for t in dataset["answer"][:16]]})
    torch.manual_seed(0)
    teacher = _quiet(CrossEncoder, _default_model_path(), num_labels=1, device="cpu")
    model = SentenceTransformer(_default_model_path(), device="cpu")
    kwargs = dict(cross_encoder=teacher, absolute_margin=0.0, num_negatives=2,
                  output_format="n-tuple", output_scores=True, verbose=False)
    theirs = _quiet(st_mine, small, model, **kwargs)
    ours = _quiet(mine_hard_negatives, small, model, **kwargs)
    assert len(theirs) > 0
    assert _agreement(ours, theirs) >= 0.99
