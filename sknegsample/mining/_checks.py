"""Checks of the sampler's inputs and settings that need more than a parameter constraint.

Each message names the argument, what was expected and what was received;
the warnings (:class:`~sknegsample.exceptions.GuardScaleWarning`) flag a
setting that runs but probably does not do what was meant.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..exceptions import GuardScaleWarning
from ..neighbors._chunking import chunk_rows
from ..utils._device import check_device


def check_anchor_groups(anchor_groups, n_rows):
    groups = np.asarray(anchor_groups)
    if groups.ndim != 1 or groups.shape[0] != n_rows:
        raise ValueError(
            f"anchor_groups must have one label per pair: expected shape ({n_rows},), "
            f"got {groups.shape}.")
    if groups.dtype.kind not in "biuUSO":
        raise TypeError(f"anchor_groups must hold integer or string labels; got dtype "
                        f"{groups.dtype}.")
    return groups


def refuse_text_counters(y):
    """Refuse a label vector that is in fact the counter texts of a text pipeline.

    ``Pipeline([SentenceEmbedder(), sampler]).fit(point_texts, counter_texts)``
    embeds the points only and hands the sampler the raw counter texts as
    ``y``: read as labels, one per row, they would silently turn paired
    mining into mining without positives.
    """
    if y.dtype.kind not in "OUS" or y.shape[0] < 2:
        return
    if np.unique(y.astype(str)).size == y.shape[0]:
        raise ValueError(
            "y holds one distinct string per row of X: these look like the counter "
            "texts of a text pipeline, which a Pipeline step in front of the sampler "
            "does not embed (it transforms X only). Embed both sides and pass the "
            "counter embeddings: emb = SentenceEmbedder(); sampler.fit(emb.fit_transform("
            "point_texts), emb.transform(counter_texts)). To mine with string labels, "
            "give rows that share a label the same string.")


def warn_scale_mismatch(point: np.ndarray, counter: np.ndarray) -> None:
    """Warn when points and counters differ in scale by more than 10x.

    A Pipeline step in front of the sampler transforms ``X`` (the points)
    only; the counters keep their original scale, and every hard negative
    then comes from one side. ``preprocessor=`` transforms both.
    """
    if point.shape[0] == 0:
        return
    # In log2: norms of rows near the float range's ends overflow or underflow.
    p, c = _median_log2_norm(point), _median_log2_norm(counter)
    if p == c:  # equal, or both sides all zeros
        return
    if abs(p - c) > np.log2(10):
        warnings.warn(
            f"The points (X) and the counters (y) differ in scale by {_power_of_two(abs(p - c))}"
            f"x (median row norms {_power_of_two(p)} and {_power_of_two(c)}). A Pipeline step "
            "in front of the sampler transforms X only; pass the transformer as "
            "HybridNegativeSampler(preprocessor=...) to apply it to both sides.",
            GuardScaleWarning, stacklevel=4)


# Rows whose norms estimate the median for the 10x test: an evenly spaced
# sample (the median of 4096 norms is within a few percent of the whole's;
# all 12k x 384 docstring rows of both sides took 0.22 s of a 2.2 s fit +
# transform).
_SCALE_SAMPLE = 4096


def _median_log2_norm(rows) -> float:
    """log2 of the median row norm, in row blocks (no float64 copy of a matrix or file).

    Each block is divided by a power of two near its largest entry (exact), so
    no square overflows or underflows; all-zero rows give ``-inf``. At most
    ``_SCALE_SAMPLE`` evenly spaced rows are read from memory; rows on disk
    are read in order, block by block (scattered reads of a file bring far
    more of it into memory than they use).
    """
    if type(rows) is np.ndarray:
        rows = rows[::-(-rows.shape[0] // _SCALE_SAMPLE)]
    step = chunk_rows(8 * rows.shape[1], rows.shape[0])
    logs = []
    for start in range(0, rows.shape[0], step):
        block = np.asarray(rows[start:start + step], dtype=np.float64)
        largest = float(np.abs(block).max(initial=0.0))
        if largest == 0.0:
            logs.append(np.full(len(block), -np.inf))
            continue
        exponent = np.frexp(largest)[1]
        norms = np.linalg.norm(np.ldexp(block, -exponent), axis=1)
        with np.errstate(divide="ignore"):
            logs.append(np.log2(norms) + exponent)
    # The median of the logs is the log of the median (for an even count, of
    # the geometric mean of the two middle norms: as good for a 10x test).
    return float(np.median(np.concatenate(logs)))


def _power_of_two(log2_value: float) -> str:
    """``2 ** log2_value`` in scientific notation, without overflow."""
    if log2_value == -np.inf:
        return "0"
    if log2_value == np.inf:
        return "inf"
    exponent10 = log2_value * np.log10(2.0)
    whole = int(np.floor(exponent10))
    return f"{10 ** (exponent10 - whole):.3g}e{whole:+03d}"


def check_enough_negatives(search, n_negatives: int, negative_pool: str,
                           n_samples: int) -> None:
    """Refuse a pool that leaves some fitted anchor fewer than ``n_negatives`` ids.

    The anchors are the first ``n_samples`` bank rows (the points in paired
    mode); a counter queried as an anchor is checked when it is drawn for.
    """
    groups = search.groups_
    start, stop = search.pool_range()
    pool_size = stop - start
    excluded = np.zeros(search.n_bank_, dtype=np.int64)
    if groups is not None:
        in_pool = np.bincount(groups.labels[start:stop], minlength=groups.counts.size)
        excluded = in_pool[groups.labels]
        if groups.extra_ptr is not None:
            ids = groups.extra_ids
            owner = np.repeat(np.arange(search.n_bank_), np.diff(groups.extra_ptr))
            inside = (ids >= start) & (ids < stop)
            excluded = excluded + np.bincount(owner[inside], minlength=search.n_bank_)
    excluded = excluded[:n_samples]
    worst = int(np.argmax(excluded))
    available = pool_size - int(excluded[worst])
    if available < n_negatives:
        raise ValueError(
            f"negative_pool={negative_pool!r} leaves too few negatives for "
            f"n_negatives={n_negatives} (fit got n_samples={n_samples}): the pool holds "
            f"{pool_size} bank rows and anchor "
            f"{worst} may not receive {int(excluded[worst])} of them (itself, its "
            f"positives, its anchor or label group, copies): only {available} allowed. "
            "Pass more pairs, lower n_negatives or widen negative_pool."
        )


def warn_short_anchors(sampler, mined):
    """Warn when the window cannot fit in the pool: every hard slot turns random."""
    window = sampler.n_candidates if sampler.n_candidates is not None else sampler.n_negatives
    if not mined.short.any() or sampler.skip_nearest + window < sampler.search_.n_pool_ // 2:
        return
    warnings.warn(
        f"{int(mined.short.sum())} of {mined.short.size} anchors had fewer allowed "
        f"hard candidates than hard slots: skip_nearest={sampler.skip_nearest} plus a "
        f"window of {window} does not fit in the {sampler.search_.n_pool_} candidates of "
        f"negative_pool={sampler.negative_pool!r}; their hard slots were drawn at random. "
        "Lower skip_nearest or n_candidates.", GuardScaleWarning, stacklevel=4)


def check_fit_options(sampler, anchor_groups):
    """Options checked at fit and again at transform (``set_params`` may change them).

    The device (each one of a comma-separated list: one bank shard per
    device), and the options that need paired data (counters as y).
    """
    for device in str(sampler.device).split(","):
        check_device(device.strip(), name="device")
    paired = sampler.mode_ == "paired"
    if sampler.negative_pool == "counters" and not paired:
        raise ValueError(
            "negative_pool='counters' needs paired data (y = counter embeddings of "
            f"shape (n_pairs, n_features)); got y in {sampler.mode_!r} mode.")
    for name in ("positive_margin", "absolute_margin"):
        if getattr(sampler, name) is not None and not paired:
            raise ValueError(
                f"{name} needs paired data (y = counter embeddings of shape "
                f"(n_pairs, n_features)); got y in {sampler.mode_!r} mode."
            )
    if anchor_groups is not None and not paired:
        raise ValueError(
            "anchor_groups needs paired data (y = counter embeddings of shape "
            f"(n_pairs, n_features)); got y in {sampler.mode_!r} mode.")
