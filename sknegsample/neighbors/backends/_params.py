"""The ``search_params`` each backend accepts, validated in one place.

faiss' and hnswlib's HNSW take the same three integers; both used to pass
them through ``int()`` only, so ``M=0`` crashed the process (hnswlib
segfaults, faiss aborts), ``M=-1`` hung faiss and ``ef_search=-1`` ended in a
message that named nothing.
"""

from __future__ import annotations

import numbers

_KNOWN_PARAMS = {
    "faiss_flat": [],
    "faiss_hnsw": ["M", "ef_construction", "ef_search"],
    "hnswlib": ["M", "ef_construction", "ef_search"],
}

# Defaults and lower bounds of the HNSW parameters. M is the number of links
# per node: the graph needs at least 2 (M=1 gives hnswlib's level multiplier
# 1 / log(1) = inf).
_HNSW_DEFAULTS = {"M": 32, "ef_construction": 200, "ef_search": 128}
_HNSW_MINIMUM = {"M": 2, "ef_construction": 1, "ef_search": 1}


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
    ValueError: search_params['M'] for algorithm='hnswlib' must be an int >= 2; got 0.
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
        minimum = _HNSW_MINIMUM[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(
                f"search_params[{key!r}] for algorithm={algorithm!r} must be an int >= "
                f"{minimum}; got {value!r} of type {type(value).__name__}."
            )
        # A bound on the top too: both libraries store these in C ints.
        if not minimum <= value <= 2**31 - 1:
            raise ValueError(
                f"search_params[{key!r}] for algorithm={algorithm!r} must be an int >= "
                f"{minimum}; got {value!r}."
            )
        resolved[key] = int(value)
    return resolved
