"""Counter-based randomness: a draw depends only on (seed, key, counters).

An anchor's random picks must not depend on its position in the batch, the
chunk size or ``n_jobs``, so they cannot come from one sequential generator.
Creating a ``numpy.random.Generator`` per anchor works but costs about 10 us
each; the splitmix64 finaliser below hashes (seed, key, counter) tuples for a
whole chunk in a few vectorised numpy passes instead.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 with full avalanche."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MUL1
    x = x ^ (x >> np.uint64(27))
    x = x * _MUL2
    return x ^ (x >> np.uint64(31))


def hash_uint64(seed: int, keys: np.ndarray, *counters) -> np.ndarray:
    """uint64 hash of ``(seed, key, *counters)``, broadcast over arrays.

    Parameters
    ----------
    seed : int
        Non-negative seed below 2**64.
    keys : ndarray of uint64
        One key per anchor.
    *counters : int or ndarray
        Further coordinates (slot, attempt, stream), broadcast with ``keys``.
    """
    with np.errstate(over="ignore"):
        h = _mix(np.asarray(keys, dtype=np.uint64) + _mix(np.uint64(seed) + _GOLDEN))
        for counter in counters:
            h = _mix(h ^ (np.asarray(counter, dtype=np.uint64) * _GOLDEN + _GOLDEN))
    return h


def hash_uniform(seed: int, keys: np.ndarray, *counters) -> np.ndarray:
    """Uniform float64 in [0, 1) from the top 53 bits of :func:`hash_uint64`."""
    return (hash_uint64(seed, keys, *counters) >> np.uint64(11)) * (2.0**-53)


def row_keys(rows: np.ndarray) -> np.ndarray:
    """Content hash of each row, so a new query's draws follow its values.

    Rows are hashed as float64 bit patterns (float32 input widens exactly);
    -0.0 is folded into 0.0 so that equal values give equal keys.
    """
    values = np.ascontiguousarray(rows, dtype=np.float64) + 0.0
    bits = values.view(np.uint64)
    with np.errstate(over="ignore"):
        h = np.full(bits.shape[0], np.uint64(bits.shape[1]), dtype=np.uint64)
        for column in range(bits.shape[1]):
            h = _mix(h ^ bits[:, column]) + _GOLDEN
    return h
