"""Skorch callbacks of the head: re-mining every epoch, stopping a diverged training."""

from __future__ import annotations

import math

import numpy as np
from skorch.callbacks import Callback

from ..exceptions import TrainingDivergedError
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


class StopOnNonFiniteLoss(Callback):
    """Stop training with :class:`TrainingDivergedError` once a batch loss is NaN or inf.

    A head whose loss diverged (a learning rate far too large) has NaN or
    infinite weights: without this it scores every candidate NaN, the ranks
    fall back to retrieval order and accuracy@1 silently equals retrieval's.
    The batch loss is already in ``net.history``, so the check costs no
    device synchronisation.

    Parameters
    ----------
    lr_name : str, default="lr"
        How the learning rate is set from the estimator that owns the net
        (``"lr"``, or ``"head__lr"`` for a skorch net given as ``head``),
        named in the message.

    Examples
    --------
    >>> import torch
    >>> from skorch import NeuralNetRegressor
    >>> from sknegsample.rerank._callbacks import StopOnNonFiniteLoss
    >>> net = NeuralNetRegressor(torch.nn.Linear(1, 1), lr=1e30, max_epochs=5,
    ...                          train_split=None, callbacks=[StopOnNonFiniteLoss()])
    >>> X = torch.ones(64, 1)
    >>> net.fit(X, 2 * X)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sknegsample.exceptions.TrainingDivergedError: The head's training loss is ... at epoch ...
    """

    def __init__(self, lr_name="lr"):
        self.lr_name = lr_name

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training:
            return
        loss = net.history[-1, "batches", -1, "train_loss"]
        if math.isfinite(loss):
            return
        epoch, batch_number = len(net.history), len(net.history[-1, "batches"])
        raise TrainingDivergedError(
            f"The head's training loss is {loss} at epoch {epoch}, batch {batch_number}: "
            f"training diverged. Lower the learning rate ({self.lr_name}={net.lr!r}, "
            f"optimizer {type(net.optimizer_).__name__}). If no rate helps, check the "
            f"embeddings' scale and the criterion ({type(net.criterion_).__name__}; the "
            "pair head returns logits, which NeuralNetClassifier's default NLLLoss takes "
            "for probabilities: use torch.nn.CrossEntropyLoss)."
        )
