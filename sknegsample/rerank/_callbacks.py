"""Skorch callback that re-mines the training negatives every epoch."""

from __future__ import annotations

import numpy as np
from skorch.callbacks import Callback

from ..mining._curriculum import decaying_random_rate
from ..utils._random import derive_seed


class CurriculumRemining(Callback):
    """Re-mine negatives at the start of every epoch on a ``random_rate`` schedule.

    Early epochs see mostly random (easy) negatives, later ones mostly hard
    ones. At the start of epoch ``e`` (from 0) the callback sets the rate to
    ``schedule(e)``, asks the training dataset to re-mine with a seed derived
    from ``random_state`` and ``e`` (so a fit is reproducible and each epoch
    draws fresh negatives), and records the rate in ``net.history`` as
    ``"random_rate"``.

    The training dataset must provide ``remine(random_rate, seed)``, as the
    dataset :class:`BallTreePairScorer` builds does; a ``torch`` ``Subset`` of
    one (a validation split) is unwrapped.

    Parameters
    ----------
    schedule : callable, default=decaying_random_rate
        ``schedule(epoch) -> random_rate`` in [0, 1]. The default is the
        prototype's ``max(0, 0.8 - 0.02 * epoch)``; other shapes via
        ``functools.partial(decaying_random_rate, start=..., decay=...)``.
    random_state : int, RandomState instance or None, default=None
        Seeds the per-epoch mining.

    Examples
    --------
    >>> from sknegsample.rerank._callbacks import CurriculumRemining
    >>> cb = CurriculumRemining(random_state=0).initialize()
    >>> [round(cb.schedule(e), 2) for e in range(3)]
    [0.8, 0.78, 0.76]
    >>> cb.epoch_seed(1) == CurriculumRemining(random_state=0).initialize().epoch_seed(1)
    True
    """

    def __init__(self, schedule=decaying_random_rate, random_state=None):
        self.schedule = schedule
        self.random_state = random_state

    def initialize(self):
        # Draw the base seed once per fit, so random_state=None still gives
        # distinct, consistent seeds across the epochs of one fit.
        self.seed_ = derive_seed(self.random_state)
        return self

    def epoch_seed(self, epoch: int) -> int:
        """Seed of the mining at ``epoch``, a function of the base seed only."""
        return int(np.random.SeedSequence([self.seed_, epoch]).generate_state(1)[0])

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        # NeuralNet.on_epoch_begin has already opened this epoch's history row.
        epoch = len(net.history) - 1
        rate = self.schedule(epoch)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(
                f"The curriculum schedule must return a random_rate in [0, 1]; "
                f"schedule({epoch}) returned {rate!r}."
            )
        dataset = getattr(dataset_train, "dataset", dataset_train)
        dataset.remine(float(rate), self.epoch_seed(epoch))
        net.history.record("random_rate", float(rate))
