"""Search backends, one module per family, behind one protocol.

Every backend is built unfitted by :func:`make_backend` and follows
:class:`SearchBackend`: ``fit(bank32)`` indexes the float32 bank and
``candidates(queries32, queries_exact, k, ...)`` proposes ``k`` candidate ids per query with a
squared-distance estimate. :class:`~sknegsample.neighbors.NeighborSearch`
re-ranks the proposals on exact float64 distances, so a backend only has to
be good at proposing.

Persistence: a backend's ``__getstate__`` keeps only plain Python values and
numpy arrays (no torch tensor, tree or native index object), so that pickle,
joblib and skops files need to trust no type outside sknegsample, and a model
saved on a GPU loads on a CPU. Indexes that are cheap and deterministic to
rebuild from the bank (brute force, trees, faiss' flat index) are rebuilt by
``restore``; HNSW graphs and IVF indexes, whose construction is
multi-threaded, are kept as their serialised bytes.
"""

from ._base import SearchBackend
from ._faiss import FaissBackend
from ._hnswlib import HnswlibBackend
from ._ivf import IvfBackend
from ._params import check_search_params
from ._torch_brute import TorchBruteBackend
from ._trees import TreeBackend

__all__ = [
    "FaissBackend",
    "HnswlibBackend",
    "IvfBackend",
    "SearchBackend",
    "TorchBruteBackend",
    "TreeBackend",
    "make_backend",
]


def make_backend(algorithm: str, *, leaf_size: int, params: dict | None, device: str,
                 n_jobs: int, random_state: int) -> SearchBackend:
    """The unfitted backend of a resolved ``algorithm`` (never ``"auto"``)."""
    # Checked here for every backend, before any index is built.
    check_search_params(params, algorithm)
    if algorithm == "brute":
        return TorchBruteBackend(device)
    if algorithm in ("ball_tree", "kd_tree"):
        return TreeBackend(algorithm, leaf_size)
    if algorithm in ("faiss_flat", "faiss_hnsw"):
        return FaissBackend(algorithm, params)
    if algorithm == "faiss_ivf":
        return IvfBackend(params, random_state=random_state)
    return HnswlibBackend(params, n_jobs=n_jobs, random_state=random_state)
