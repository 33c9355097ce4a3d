"""The search algorithms and metrics on offer, and what ``algorithm="auto"`` picks."""

from __future__ import annotations

ALGORITHMS = ("auto", "brute", "ball_tree", "kd_tree", "faiss_flat", "faiss_hnsw", "faiss_ivf",
              "hnswlib")
METRICS = ("euclidean", "cosine")

#: Algorithms that return the exact neighbours (their shards merge exactly).
EXACT_ALGORITHMS = ("brute", "ball_tree", "kd_tree", "faiss_flat")


def resolve_algorithm(algorithm: str, n_bank: int, n_features: int, device: str) -> str:
    """Pick the backend for ``algorithm="auto"``.

    Trees only prune in a handful of dimensions. ``benchmarks/crossover.py``
    (half the bank queries it, as in ``fit_transform``; 2 cores) measured the
    kd-tree / brute time ratio, clustered (make_pairs) and Gaussian data:

    ========  ==========  ==========  ==========  ==========
    n_bank    2-4 feat.   8 feat.     16 feat.    32 feat.
    ========  ==========  ==========  ==========  ==========
    10k       0.07-0.27   0.43 / 0.95 0.48 / 2.2  1.0-1.4
    50k       0.03-0.11   0.31 / 0.92 1.1 / -     -
    ========  ==========  ==========  ==========  ==========

    (clustered / Gaussian where they differ.) So a kd-tree from 10k rows at
    <= 8 features, where it won on both kinds of data; exact brute force
    above, and on small banks where either takes milliseconds. Brute force
    is the torch backend, also on the CPU with faiss installed: on new
    queries it runs level with faiss' ``IndexFlatL2``, and mining the
    training anchors it scores each pair once where faiss scores it twice
    (``benchmarks/compare_search.py``, docs/benchmarks.md).
    """
    if algorithm != "auto":
        return algorithm
    if n_features <= 8 and n_bank >= 10_000 and device == "cpu":
        return "kd_tree"
    return "brute"
