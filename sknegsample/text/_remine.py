"""RemineCallback: hard negatives refreshed with the encoder being trained (ANCE-style).

Needs ``transformers`` (the ``text`` extra). Imported lazily by
``sknegsample.text`` so that importing the package never loads it.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import TrainerCallback

from ..utils._random import derive_seed
from ._mine import mine_hard_negatives

_ROW = "_remine_row"


class RemineCallback(TrainerCallback):
    """Re-encode and re-mine the training negatives while a model trains.

    ``cb.train_dataset`` is the dataset to hand to a
    ``SentenceTransformerTrainer`` (with ``callbacks=[cb]``): one row per
    (anchor, positive) row of ``dataset``, with columns ``anchor``,
    ``positive``, ``negative_1`` ... ``negative_{num_negatives}`` (the input's
    column names). It reads the negatives lazily, through
    :meth:`datasets.Dataset.set_transform`, from a table the callback swaps at
    the start of training and then every ``every_n_epochs`` epochs (or
    ``every_n_steps`` optimizer steps): each refresh encodes anchors and
    corpus with the *current* ``model`` (eval mode, no gradient, its train
    mode restored) and mines with :func:`mine_hard_negatives`. Anchors short
    of negatives get random corpus texts (never a positive) in the empty
    slots, so every row has ``num_negatives``.

    Epoch refreshes run before the epoch's dataloader iterator is created, so
    the whole epoch sees them; a step refresh reaches the batches fetched
    after it (the accelerate dataloader prefetches one). With
    ``dataloader_num_workers > 0`` the workers hold a copy of the table:
    refresh per epoch and keep ``dataloader_persistent_workers=False``.

    Parameters
    ----------
    dataset : datasets.Dataset
        (anchor, positive) pairs, as for :func:`mine_hard_negatives`.
    model : SentenceTransformer
        The model being trained (the same object the trainer gets).
    num_negatives : int, default=1
        Negatives per row.
    random_rate : float, default=0.0
        The hybrid's rate (see :func:`mine_hard_negatives`), unless
        ``schedule`` is given.
    random_state : int, RandomState instance or None, default=None
        Each refresh's seed derives from it and the refresh number.
    every_n_epochs : int or None, default=1
        Refresh period in epochs (None: none).
    every_n_steps : int or None, default=None
        Refresh period in optimizer steps (None: none).
    schedule : callable or None, default=None
        ``schedule(epoch) -> random_rate``, e.g.
        :func:`~sknegsample.decaying_random_rate` for the curriculum.
    **mine_kwargs
        Further keywords of :func:`mine_hard_negatives` (``range_min``,
        ``relative_margin``, ``max_negative_uses``, ``corpus``, ...).

    Attributes
    ----------
    history : list of dict
        One entry per refresh: ``epoch``, ``step``, ``random_rate``,
        ``encode_seconds``, ``mine_seconds``, ``skipped`` (the skip counts),
        ``n_short``, ``n_filled`` and ``negatives`` (corpus ids, shape
        (n_unique_anchors, num_negatives)).
    corpus_ : list of str
        The deduplicated corpus the ids refer to (after the first refresh).
    """

    def __init__(self, dataset, model, *, num_negatives=1, random_rate=0.0, random_state=None,
                 every_n_epochs=1, every_n_steps=None, schedule=None, **mine_kwargs):
        for name, value in (("every_n_epochs", every_n_epochs), ("every_n_steps", every_n_steps)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1; got {value!r}.")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {num_negatives!r}.")
        self.dataset = dataset
        self.model = model
        self.num_negatives = num_negatives
        self.random_rate = random_rate
        self.random_state = random_state
        self.every_n_epochs = every_n_epochs
        self.every_n_steps = every_n_steps
        self.schedule = schedule
        self.mine_kwargs = mine_kwargs
        self.history = []
        self._seed = derive_seed(random_state)
        columns = dataset.column_names
        self._anchor = mine_kwargs.get("anchor_column_name") or columns[0]
        self._positive = mine_kwargs.get("positive_column_name") or columns[1]
        both = dataset.select_columns([self._anchor, self._positive])[:]
        self._anchors, self._positives = both[self._anchor], both[self._positive]
        self._table = None  # (n_rows, num_negatives) negative texts per dataset row
        self._last_step = None
        base = dataset.select_columns([self._anchor, self._positive])
        base = base.add_column(_ROW, np.arange(len(dataset)))
        base.set_transform(self._with_negatives)
        self.train_dataset = base

    @property
    def negative_columns(self):
        return [f"negative_{i + 1}" for i in range(self.num_negatives)]

    def _with_negatives(self, batch):
        if self._table is None:
            self.refresh(epoch=0, step=0)
        rows = np.asarray(batch[_ROW])
        out = {self._anchor: batch[self._anchor], self._positive: batch[self._positive]}
        for i, name in enumerate(self.negative_columns):
            out[name] = self._table[rows, i].tolist()
        return out

    def refresh(self, epoch=0, step=0):
        """Encode with the current model, re-mine, and swap the negatives."""
        rate = self.random_rate if self.schedule is None else float(self.schedule(epoch))
        seed = int(np.random.SeedSequence([self._seed, len(self.history)]).generate_state(1)[0])
        kwargs = {k: v for k, v in self.mine_kwargs.items()
                  if k not in ("output_format", "return_statistics")}
        kwargs.setdefault("verbose", False)
        was_training = getattr(self.model, "training", False)
        try:
            if hasattr(self.model, "eval"):
                self.model.eval()
            with torch.no_grad():
                _, stats = mine_hard_negatives(
                    self.dataset, self.model, num_negatives=self.num_negatives,
                    random_rate=rate, random_state=seed, output_format="n-tuple",
                    return_statistics=True, **kwargs)
        finally:
            if hasattr(self.model, "train"):
                self.model.train(was_training)
        ids = stats["negatives"].copy()
        n_filled = _fill_missing(ids, stats, self._anchor_positive_ids(stats), seed)
        corpus = np.asarray(stats["corpus"], dtype=object)
        query_row = {q: i for i, q in enumerate(stats["queries"])}
        per_row = np.array([query_row[q] for q in self._anchors])
        self._table = corpus[ids[per_row]]
        self.corpus_ = stats["corpus"]
        self._last_step = step
        self.history.append(dict(
            epoch=epoch, step=step, random_rate=rate, encode_seconds=stats["encode_seconds"],
            mine_seconds=stats["mine_seconds"],
            skipped={k: v for k, v in stats.items() if isinstance(v, int) and k in _SKIPS},
            n_short=len(stats["short_anchors"]), n_filled=n_filled, negatives=ids))
        return self

    def _anchor_positive_ids(self, stats):
        corpus_idx = {t: i for i, t in enumerate(stats["corpus"])}
        query_row = {q: i for i, q in enumerate(stats["queries"])}
        positives = [set() for _ in stats["queries"]]
        for a, p in zip(self._anchors, self._positives, strict=True):
            positives[query_row[a]].add(corpus_idx[p])
        return positives

    # Trainer events ------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        if not self.history or self.history[-1]["step"] != state.global_step:
            self.refresh(epoch=int(state.epoch or 0), step=state.global_step)

    def on_epoch_begin(self, args, state, control, **kwargs):
        epoch = int(round(state.epoch or 0))
        if (self.every_n_epochs and epoch > 0 and epoch % self.every_n_epochs == 0
                and self._last_step != state.global_step):
            self.refresh(epoch=epoch, step=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.every_n_steps and state.global_step % self.every_n_steps == 0 \
                and self._last_step != state.global_step:
            self.refresh(epoch=int(state.epoch or 0), step=state.global_step)


_SKIPS = ("copies", "absolute_margin", "relative_margin", "max_score", "min_score",
          "max_negative_uses")


def _fill_missing(ids, stats, positives, seed) -> int:
    """Random corpus ids (not a positive, not already in the row) in empty slots."""
    rng = np.random.RandomState(seed % 2**32)
    n_corpus = len(stats["corpus"])
    filled = 0
    for row in np.flatnonzero((ids < 0).any(axis=1)):
        taken = set(ids[row][ids[row] >= 0].tolist()) | positives[row]
        choices = np.setdiff1d(np.arange(n_corpus), np.fromiter(taken, dtype=np.int64))
        empty = np.flatnonzero(ids[row] < 0)
        if choices.size < empty.size:
            raise ValueError(f"num_negatives={ids.shape[1]} is more than the corpus can give "
                             f"an anchor ({choices.size + len(taken) - len(positives[row])} "
                             "texts that are not its positives).")
        ids[row, empty] = rng.choice(choices, size=empty.size, replace=False)
        filled += empty.size
    return filled
