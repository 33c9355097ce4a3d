"""RemineCallback: the trainer really consumes the refreshed negatives."""

import logging
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("sentence_transformers")
datasets = pytest.importorskip("datasets")
pytest.importorskip("accelerate")


def _pairs(n=8):
    from sknegsample.datasets import load_manpage_pairs

    data = load_manpage_pairs()
    return datasets.Dataset.from_dict({
        "anchor": [str(t)[:60] for t in data.point_text[:n]],
        "positive": [str(t)[:80] for t in data.counter_text[:n]],
    })


class _Recorder:
    """Wraps the trainer's data collator and keeps the texts of every batch."""

    def __init__(self, collator):
        self.collator = collator
        self.batches = []

    def __call__(self, features):
        self.batches.append([dict(f) for f in features])
        return self.collator(features)

    def __getattr__(self, name):
        return getattr(self.collator, name)


def test_trainer_sees_refreshed_negatives(tmp_path, single_torch_thread):
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from sknegsample.text import RemineCallback
    from sknegsample.text._embedder import _default_model_path

    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    model = SentenceTransformer(_default_model_path(), device="cpu")
    pairs = _pairs()
    encodes = []
    original = model.encode_document

    def counting(*args, **kwargs):
        encodes.append(model.training)
        return original(*args, **kwargs)

    model.encode_document = counting
    # Epoch 0 mines hard negatives, epoch 1 random ones: two tables that must differ.
    cb = RemineCallback(pairs, model, num_negatives=2, random_state=0,
                        schedule=lambda epoch: 0.0 if epoch == 0 else 1.0)
    assert cb.train_dataset.column_names[:2] == ["anchor", "positive"]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=2, per_device_train_batch_size=4,
        learning_rate=1e-4, save_strategy="no", report_to="none", logging_strategy="no",
        disable_tqdm=True, use_cpu=True, seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=cb.train_dataset,
                                         loss=MultipleNegativesRankingLoss(model), callbacks=[cb])
    recorder = _Recorder(trainer.data_collator)
    trainer.data_collator = recorder
    weights_before = next(model.parameters()).detach().clone()
    trainer.train()

    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert [h["random_rate"] for h in cb.history] == [0.0, 1.0]
    assert encodes and not any(encodes)  # encoded in eval mode
    assert not np.array_equal(cb.history[0]["negatives"], cb.history[1]["negatives"])
    corpus = np.asarray(cb.corpus_, dtype=object)
    row_of = {a: i for i, a in enumerate(pairs["anchor"])}
    seen = [[] for _ in range(2)]
    for b, batch in enumerate(recorder.batches[-4:]):  # 2 steps per epoch
        seen[b // 2].extend(batch)
    for epoch, rows in enumerate(seen):
        table = corpus[cb.history[epoch]["negatives"]]
        assert len(rows) == 8
        for row in rows:
            i = row_of[row["anchor"]]
            assert [row["negative_1"], row["negative_2"]] == table[i].tolist()
    # The second refresh encoded with the updated weights.
    assert not np.array_equal(weights_before.numpy(), next(model.parameters()).detach().numpy())


def test_refresh_without_a_trainer_is_reproducible():
    from sknegsample.text import RemineCallback

    pairs = _pairs(12)

    class Encoder:
        """Any encoder: a fixed random projection of character counts."""

        def encode(self, texts, **kwargs):
            rng = np.random.RandomState(0)
            proj = rng.normal(size=(256, 16))
            counts = np.zeros((len(texts), 256))
            for i, t in enumerate(texts):
                for ch in t.encode()[:200]:
                    counts[i, ch] += 1
            return counts @ proj

    first = RemineCallback(pairs, Encoder(), num_negatives=3, random_rate=0.5, random_state=7)
    second = RemineCallback(pairs, Encoder(), num_negatives=3, random_rate=0.5, random_state=7)
    row = first.train_dataset[0]
    assert list(row) == ["anchor", "positive", "negative_1", "negative_2", "negative_3"]
    second.train_dataset[0]
    np.testing.assert_array_equal(first.history[0]["negatives"], second.history[0]["negatives"])
    negatives = first.history[0]["negatives"]
    assert (negatives != np.arange(12)[:, None]).all()  # never the own positive
    with pytest.raises(ValueError, match="every_n_epochs must be None or an int >= 1"):
        RemineCallback(pairs, Encoder(), every_n_epochs=0)
