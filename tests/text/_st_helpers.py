"""Shared fixtures' helpers for the differential tests against sentence-transformers."""

import os

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def bundled_lookup():
    """text -> unit-norm float32 embedding, for every bundled man-page text."""
    from sknegsample.datasets import load_manpage_pairs

    data = load_manpage_pairs()
    table = {}
    for texts, rows in ((data.point_text, data.point), (data.counter_text, data.counter)):
        rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        for text, row in zip(texts, rows, strict=True):
            table.setdefault(str(text), row.astype(np.float32))
    return data, table


def patch_encoder(model, table):
    """Make ``model`` encode by looking texts up in ``table`` (the bundled embeddings).

    The bundled embeddings were made by this very model; the lookup only
    spares the seconds of encoding in the tests. Similarity, device and every
    other part of the model stay ST's own.
    """
    def encode(texts, **kwargs):
        return np.stack([table[t] for t in texts])

    model.encode_query = encode
    model.encode_document = encode
    return model
