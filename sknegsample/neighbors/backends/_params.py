"""The ``search_params`` keys each backend accepts."""

from __future__ import annotations

_KNOWN_PARAMS = {
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
}

