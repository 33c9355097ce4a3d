"""Integer seeds drawn from a ``random_state``, for code that needs plain ints."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

# Seeds stay below 2**31 - 1: torch, faiss, hnswlib and numpy's legacy
# RandomState all take them, and old saved files were drawn in this range.
_SEED_BOUND = np.iinfo(np.int32).max


def derive_seed(random_state, size: int | None = None):
    """Draw an int seed (or ``size`` of them) from ``random_state``.

    The one place the package turns a scikit-learn ``random_state`` into the
    plain integers that torch generators, ``SeedSequence`` and native
    libraries take. An int gives the same seeds every time; a
    ``RandomState`` instance is advanced, as scikit-learn's estimators do.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        Anything :func:`sklearn.utils.check_random_state` accepts.
    size : int or None, default=None
        None draws one seed; an int draws a tuple of ``size`` seeds (the same
        numbers as ``size`` one-at-a-time draws).

    Returns
    -------
    seed : int or tuple of int
        In ``[0, 2**31 - 1)``.

    Examples
    --------
    >>> from sknegsample.utils._random import derive_seed
    >>> derive_seed(0)
    209652396
    >>> derive_seed(0, size=2)
    (209652396, 398764591)
    """
    rng = check_random_state(random_state)
    if size is None:
        return int(rng.randint(_SEED_BOUND))
    return tuple(int(seed) for seed in rng.randint(_SEED_BOUND, size=size))
