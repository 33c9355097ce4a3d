"""The ``search_params`` each backend accepts, validated in one place.

faiss' and hnswlib's HNSW take the same three integers; both used to pass
them through ``int()`` only, so ``M=0`` crashed the process (hnswlib
segfaults, faiss aborts), ``M=-1`` hung faiss and ``ef_search=-1`` ended in a
message that named nothing. faiss' IVF takes ``nlist`` and ``nprobe``, with
defaults that follow the bank's size (:func:`ivf_params`). The other backends
take no parameters, and a key they would ignore is refused rather than dropped.
"""

from __future__ import annotations

import math
import numbers

_KNOWN_PARAMS = {
    "brute": [],
    "ball_tree": [],
    "kd_tree": [],
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
    "faiss_ivf": ["nlist", "nprobe"],
}

# faiss and hnswlib store their parameters in C ints.
_MAX_C_INT = 2**31 - 1

# Defaults and bounds of the HNSW parameters. M is the number of links per
# node: the graph needs at least 2 (M=1 gives hnswlib's level multiplier
# 1 / log(1) = inf). hnswlib caps M at 10000 itself (with a message on
# stderr); faiss allocates 2 * M links per node, and at M=10**9 fails to
# allocate (std::bad_alloc) or, for a larger bank, is killed for memory.
# The ef values size a search's candidate list, which faiss allocates up
# front for every search thread: efSearch=2**31 - 1 failed to allocate. A
# million is far past any useful value (typical ones are 10 to 1000).
_HNSW_DEFAULTS = {"M": 32, "ef_construction": 200, "ef_search": 128}
_HNSW_BOUNDS = {"M": (2, 10_000), "ef_construction": (1, 10**6), "ef_search": (1, 10**6)}


def check_search_params(params: dict | None, algorithm: str) -> dict:
    """Validated ``search_params`` of a resolved ``algorithm``, defaults filled in.

    Parameters
    ----------
    params : dict or None
        The user's ``search_params``.
    algorithm : str
        A resolved algorithm (never ``"auto"``); named in the messages.

    Returns
    -------
    params : dict
        ``{}`` for the exact backends and faiss' flat index; for the HNSW
        ones ``{"M": int, "ef_construction": int, "ef_search": int}``.

    Examples
    --------
    >>> from sknegsample.neighbors.backends._params import check_search_params
    >>> check_search_params(None, "ball_tree")
    {}
    >>> check_search_params({"M": 8}, "ball_tree")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: search_params has unknown keys for algorithm='ball_tree': ['M']; it takes none: ...
    """
    params = dict(params or {})
    _refuse_unknown(params, algorithm)
    if algorithm == "faiss_ivf":
        # nlist is bounded by the bank's rows, known at fit (ivf_params then).
        ivf_params(params, _MAX_C_INT)
        return params
    return hnsw_params(params, algorithm) if _KNOWN_PARAMS[algorithm] else {}


def hnsw_params(params: dict | None, algorithm: str) -> dict:
    """Validated HNSW parameters of ``algorithm``, with defaults filled in.

    Parameters
    ----------
    params : dict or None
        The user's ``search_params``.
    algorithm : {"faiss_hnsw", "hnswlib"}
        Named in the messages.

    Returns
    -------
    params : dict
        ``{"M": int, "ef_construction": int, "ef_search": int}``.

    Examples
    --------
    >>> from sknegsample.neighbors.backends._params import hnsw_params
    >>> hnsw_params({"M": 8}, "hnswlib")
    {'M': 8, 'ef_construction': 200, 'ef_search': 128}
    >>> hnsw_params({"M": 0}, "hnswlib")
    Traceback (most recent call last):
    ...
    ValueError: search_params['M'] for algorithm='hnswlib' must be an int in [2, 10000]; got 0.
    """
    params = dict(params or {})
    _refuse_unknown(params, algorithm)
    return {key: _checked_int(params, key, default, *_HNSW_BOUNDS[key], algorithm)
            for key, default in _HNSW_DEFAULTS.items()}


def _refuse_unknown(params: dict, algorithm: str) -> None:
    known = _KNOWN_PARAMS[algorithm]
    unknown = sorted(set(params) - set(known), key=str)
    if unknown:
        expected = (f"expected some of {known}" if known else
                    f"it takes none: search_params must be empty for algorithm={algorithm!r}")
        raise ValueError(f"search_params has unknown keys for algorithm={algorithm!r}: "
                         f"{unknown}; {expected}.")


def _checked_int(params: dict, key: str, default: int, low: int, high: int, algorithm: str,
                 expected: str | None = None) -> int:
    """``params[key]`` (or ``default``) as an int in ``[low, high]``."""
    expected = expected or f"an int in [{low}, {high}]"
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"search_params[{key!r}] for algorithm={algorithm!r} must be {expected}; "
            f"got {value!r} of type {type(value).__name__}."
        )
    if not low <= value <= high:
        raise ValueError(
            f"search_params[{key!r}] for algorithm={algorithm!r} must be {expected}; "
            f"got {value!r}."
        )
    return int(value)


# The IVF rule. nlist ~ sqrt(n) balances the two costs of a query: nlist
# centroid distances (one GEMM) and nprobe * n / nlist list entries. nprobe
# has no size-only rule that holds on both kinds of data measured here: on
# embedding-like data (benchmarks/ann_1m.py, 200k-2M rows) nprobe = 1-3 of
# 447-1414 cells gave the mined negatives recall@1 >= 0.97, on real 384-d
# MiniLM man-page embeddings (3646 rows, 60 cells) nprobe = 8 gave only
# 0.963. So the default nprobe is measured on the bank itself
# (IvfBackend._calibrate_nprobe).
_IVF_CELLS_PER_SQRT_N = 1.0
_IVF_MIN_POINTS_PER_CELL = 39

#: Recall@8 the calibrated ``nprobe`` must reach on a sample of bank rows:
#: above the 0.95 promised on mined negatives, by more than the sample's
#: standard error (about 0.008 at 512 rows).
IVF_TARGET_RECALL = 0.97


def ivf_params(params: dict | None, n_bank: int) -> dict:
    """Validated IVF parameters for a bank of ``n_bank`` rows, defaults filled in.

    ``nlist`` (inverted lists, or cells) defaults to ``round(sqrt(n_bank))``,
    but at most ``n_bank // 39`` so that k-means has the 39 training points
    per cell faiss asks for (and at least 1). ``nprobe`` (cells visited per
    query) defaults to None: :class:`~.IvfBackend` then picks the smallest
    value in 1, 2, 3, 4, 6, 8, 12, ... that reaches recall@8 >= 0.97 on a
    seeded sample of 512 bank rows queried against the bank.

    Parameters
    ----------
    params : dict or None
        The user's ``search_params``: ``nlist`` and ``nprobe``, ints >= 1,
        ``nprobe <= nlist <= n_bank``.
    n_bank : int
        Rows in the bank.

    Returns
    -------
    params : dict
        ``{"nlist": int, "nprobe": int or None}``.

    Examples
    --------
    >>> from sknegsample.neighbors.backends._params import ivf_params
    >>> ivf_params(None, 2_000_000)
    {'nlist': 1414, 'nprobe': None}
    >>> ivf_params({"nprobe": 2}, 10_000)
    {'nlist': 100, 'nprobe': 2}
    >>> ivf_params({"nlist": 4, "nprobe": 5}, 10_000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: search_params['nprobe'] for algorithm='faiss_ivf' must be ... <= nlist (4); got 5.
    """
    params = dict(params or {})
    _refuse_unknown(params, "faiss_ivf")
    n_bank = max(int(n_bank), 1)
    default_nlist = int(round(_IVF_CELLS_PER_SQRT_N * math.sqrt(n_bank)))
    default_nlist = max(1, min(default_nlist, n_bank // _IVF_MIN_POINTS_PER_CELL))
    nlist = _checked_int(params, "nlist", default_nlist, 1, n_bank, "faiss_ivf",
                         expected=f"an int >= 1 and <= the bank's {n_bank} rows")
    nprobe = None
    if params.get("nprobe") is not None:
        nprobe = _checked_int(params, "nprobe", None, 1, nlist, "faiss_ivf",
                              expected=f"an int >= 1 and <= nlist ({nlist})")
    return {"nlist": nlist, "nprobe": nprobe}
