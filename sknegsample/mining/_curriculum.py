"""The prototype's curriculum schedule for ``random_rate``."""

from __future__ import annotations

import numpy as np


def decaying_random_rate(epoch: int, start: float = 0.8, decay: float = 0.02,
                         floor: float = 0.0) -> float:
    """The prototype's curriculum: ``max(floor, start - decay * epoch)``.

    Early epochs see mostly random negatives, later ones mostly hard ones.
    Set it between epochs with ``sampler.set_params(random_rate=...)``; no
    re-fit is needed.

    Parameters
    ----------
    epoch : int
        Epoch number, from 0.
    start : float, default=0.8
        Rate at epoch 0.
    decay : float, default=0.02
        Decrease per epoch.
    floor : float, default=0.0
        Lowest rate.

    Returns
    -------
    rate : float
        A valid ``random_rate`` in [0, 1].

    Examples
    --------
    >>> from sknegsample import decaying_random_rate
    >>> [round(decaying_random_rate(e), 2) for e in (0, 1, 10, 50)]
    [0.8, 0.78, 0.6, 0.0]
    """
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
        raise ValueError(f"epoch must be an int >= 0; got {epoch!r}.")
    return float(min(1.0, max(floor, start - decay * epoch)))

