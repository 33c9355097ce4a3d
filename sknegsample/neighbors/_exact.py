"""Exact float64 distances and the error bounds that decide when they are needed.

The backends estimate squared distances in float32 (or float64, for trees);
:class:`~sknegsample.neighbors.NeighborSearch` re-ranks the candidates whose
order the estimate cannot vouch for on distances computed here from the
stored bank, and proves a row complete with :func:`error_bound`.
"""

from __future__ import annotations

import numpy as np
from sklearn import get_config

from ._distances import _EPS32, _row_norms

_EPS64 = float(np.finfo(np.float64).eps)


# Bytes of float64 scratch the exact re-ranking may use at once: small enough
# to stay in cache between the gather, the subtraction and the sum. Re-ranking
# 12k queries x 24 candidates x 384 took 465 ms with 64 MiB steps, 290 with
# 8 MiB, 200 with 2 MiB or 512 KiB, 229 with 128 KiB.
_RERANK_BYTES = 2**20


def gamma(n: int, unit_roundoff: float) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: the worst-case relative error of
    a length-``n`` sum of products, in any order, FMA or not."""
    nu = n * unit_roundoff
    return nu / (1.0 - nu)


def estimate_error_factor(n_features: int, estimate: str, matmul_eps: float = _EPS32) -> float:
    """``c`` such that ``|estimate - true squared distance| <= c (|q| + |b|)^2``.

    ``"float32"``: the estimate is ``|q|^2 + |b|^2 - 2 q.b`` in float32, three
    length-``d`` dot products and two additions, each bounded by
    ``gamma_{d+2}`` relative to ``|q|^2 + |b|^2 + 2 |q||b| = (|q| + |b|)^2``;
    a GEMM that rounds its inputs first (TF32, bfloat16: ``matmul_eps`` above
    float32's) adds twice the inputs' unit roundoff. This is a worst-case
    bound, whatever the summation order of the BLAS (Higham, *Accuracy and
    Stability of Numerical Algorithms*, 3.1). ``"exact"``: trees sum squared
    differences in float64 (and return a square root that is squared back):
    ``4 d eps64`` covers it with room.
    """
    if estimate == "exact":
        return 4.0 * n_features * _EPS64
    unit = _EPS32 / 2
    input_unit = 0.0 if matmul_eps <= _EPS32 else matmul_eps / 2
    return gamma(n_features + 2, unit) + 2 * input_unit + input_unit**2


def error_bound(queries32: np.ndarray, max_bank_norm: float, factor: float) -> np.ndarray:
    """Per-row bound on the error of a backend's squared-distance estimate.

    ``queries32`` are the float32 queries the backend sees and
    ``max_bank_norm`` the largest bank row norm in the same units (norms are
    rounded up by :func:`~sknegsample.neighbors._distances._row_norms`).
    """
    return factor * (_row_norms(queries32) + max_bank_norm) ** 2


def needs_exact(candidate, estimate, error, lower_sq, k, upper_sq=None, band_only=False):
    """Which candidates need their exact distance.

    Outside the error band of the ``k``-th estimate a candidate's rank is
    already certain, so only the candidates up to that band are re-ranked
    exactly: about k + 1 of the k + overfetch fetched per row instead of all
    of them (the float64 re-rank of 20k x 384 took 0.47 s for all, ~0.05 s
    for the band). A row with an estimate within the error of ``lower_sq``
    (a possible copy, or a guard skip) is re-ranked in full.

    ``band_only`` (a caller that takes estimates where the order is
    certain, see ``NeighborSearch.kneighbors(exact_distances=False)``)
    re-ranks only the band around the ``k``-th, whose members decide which
    ``k`` are returned: candidates further below are among the ``k``
    whatever their exact distance. A row with an estimate within the error
    of ``upper_sq`` is then re-ranked in full as well.
    """
    est = np.where(candidate, estimate, np.inf)
    width = est.shape[1]
    kth = np.partition(est, k - 1, axis=1)[:, k - 1] if width >= k else \
        np.full(len(est), np.inf)
    band = candidate & (est <= (kth + 2 * error)[:, None])
    in_full = (candidate & (est - error[:, None] <= lower_sq[:, None])).any(axis=1)
    if band_only:
        band &= est >= (kth - 2 * error)[:, None]
        if upper_sq is not None:
            in_full |= (candidate & (est + error[:, None] >= upper_sq[:, None])).any(axis=1)
    band[in_full] = candidate[in_full]
    return band


def exact_sq(bank: np.ndarray, queries: np.ndarray, ids: np.ndarray, mask=None,
             scale: float = 1.0) -> np.ndarray:
    """Squared distances in float64, computed from differences (no cancellation).

    Only where ``mask`` is True (every id >= 0 when None); ``inf`` elsewhere.
    The differences are multiplied by ``scale`` (a power of two: exact)
    before they are squared, so the result is in the search's scaled units
    and neither underflows (``1e-300``) nor overflows (``1e300``).
    """
    out = np.full(ids.shape, np.inf)
    if mask is None and ids.shape[1] == 1 and ids.size and ids.min() >= 0:
        # One id per query (a positive, a drawn negative): rows align, so
        # no gather of the queries is needed.
        diff = np.subtract(bank[ids[:, 0]], queries, dtype=np.float64)
        if scale != 1.0:
            diff *= scale
        out[:, 0] = np.einsum("ij,ij->i", diff, diff)
        return out
    rows, cols = np.nonzero((ids >= 0) if mask is None else (mask & (ids >= 0)))
    if rows.size == 0:
        return out
    # Never more scratch than sklearn's working_memory allows either.
    budget = min(_RERANK_BYTES, int(get_config()["working_memory"] * 2**20))
    step = max(1, budget // (8 * max(1, queries.shape[1])))
    for start in range(0, rows.size, step):
        r, c = rows[start:start + step], cols[start:start + step]
        # The float64 difference of two float32 values is exact; casting
        # inside the subtraction spares a float64 copy of the gathered
        # rows (the re-rank took 0.74 s instead of 1.1 s for 20k x 9 x 384).
        diff = np.subtract(bank[ids[r, c]], queries[r], dtype=np.float64)
        if scale != 1.0:
            diff *= scale
        out[r, c] = np.einsum("ij,ij->i", diff, diff)
    return out
