"""Synthetic and real paired-embedding data sets.

``make_pairs`` generates clustered pairs with optional near-duplicate
families; ``load_manpage_pairs`` loads real text pairs embedded by a
sentence-embedding model.
"""

from ._generators import make_pairs
from ._loaders import load_manpage_pairs

__all__ = ["load_manpage_pairs", "make_pairs"]
