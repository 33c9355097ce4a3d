"""The search engine: exact k-nearest neighbours with per-query exclusions.

Owns :class:`NeighborSearch` (the completeness loop that keeps the answer
exact while the arithmetic is float32), distance and error-bound helpers
(``_distances``), chunk sizing (``_chunking``), label groups (``_labels``),
the two-stage top-k selection (``_select``) and, in ``backends``, one module
per backend family behind the :class:`~sknegsample.neighbors.backends.SearchBackend`
protocol. May import ``utils`` only.
"""

from ._algorithms import ALGORITHMS, METRICS, resolve_algorithm
from ._chunking import chunk_rows
from ._labels import LabelGroups
from ._search import NeighborSearch, SearchResult

__all__ = [
    "ALGORITHMS",
    "METRICS",
    "LabelGroups",
    "NeighborSearch",
    "SearchResult",
    "chunk_rows",
    "resolve_algorithm",
]
