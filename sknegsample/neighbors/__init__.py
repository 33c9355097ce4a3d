"""The search engine: exact k-nearest neighbours with per-query exclusions.

Owns :class:`NeighborSearch` (the completeness loop that keeps the answer
exact while the arithmetic is float32), distance and error-bound helpers
(``_distances``), chunk sizing (``_chunking``), label groups (``_labels``),
the two-stage top-k selection (``_select``) and, in ``backends``, one module
per backend family behind the :class:`~sknegsample.neighbors.backends.SearchBackend`
protocol. Beyond one process: :class:`ShardedSearch` (a bank cut into
shards, on disk or on several devices; ``_sharded``, ``_parts``, ``_merge``)
and the Dask tasks of an exact search (``_distributed``). May import
``utils`` only.
"""

from ._algorithms import ALGORITHMS, METRICS, resolve_algorithm
from ._chunking import chunk_rows
from ._labels import LabelGroups
from ._search import NeighborSearch, SearchResult
from ._sharded import ShardedSearch, fit_search

__all__ = [
    "ALGORITHMS",
    "METRICS",
    "LabelGroups",
    "NeighborSearch",
    "SearchResult",
    "ShardedSearch",
    "chunk_rows",
    "fit_search",
    "resolve_algorithm",
]
