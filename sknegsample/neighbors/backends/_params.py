"""The ``search_params`` each backend accepts, validated in one place.

faiss' and hnswlib's HNSW take the same three integers; both used to pass
them through ``int()`` only, so ``M=0`` crashed the process (hnswlib
segfaults, faiss aborts), ``M=-1`` hung faiss and ``ef_search=-1`` ended in a
message that named nothing. The other backends take no parameters, and a
key they would ignore is refused rather than dropped.
"""

from __future__ import annotations

import numbers

_KNOWN_PARAMS = {
    "brute": [],
    "ball_tree": [],
    "kd_tree": [],
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
}

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
    known = _KNOWN_PARAMS[algorithm]
    params = dict(params or {})
    unknown = sorted(set(params) - set(known), key=str)
    if unknown:
        expected = (f"expected some of {known}" if known else
                    f"it takes none: search_params must be empty for algorithm={algorithm!r}")
        raise ValueError(f"search_params has unknown keys for algorithm={algorithm!r}: "
                         f"{unknown}; {expected}.")
    return hnsw_params(params, algorithm) if known else {}


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
    unknown = sorted(set(params) - set(_HNSW_DEFAULTS), key=str)
    if unknown:
        raise ValueError(
            f"search_params has unknown keys for algorithm={algorithm!r}: {unknown}; "
            f"expected some of {_KNOWN_PARAMS[algorithm]}."
        )
    resolved = {}
    for key, default in _HNSW_DEFAULTS.items():
        value = params.get(key, default)
        low, high = _HNSW_BOUNDS[key]
        expected = f"an int in [{low}, {high}]"
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
        resolved[key] = int(value)
    return resolved
