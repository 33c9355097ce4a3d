"""Figures: distances of mined negatives, their audit, and benchmark curves.

Needs matplotlib (the ``plot`` extra), imported only when a figure is drawn.
Each plotting function draws on ``ax`` (a new figure's axes when None) and
returns it, like scikit-learn's ``Display.plot``.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'sknegsample[plot]'.") \
            from exc
    return plt.subplots(figsize=(6.4, 4.0), layout="constrained")[1]


def negative_distances(sampler) -> dict[str, np.ndarray]:
    """Distances of positives, hard and random negatives after ``fit_transform``.

    Parameters
    ----------
    sampler : HybridNegativeSampler
        Fitted with ``fit_transform(point, counter)`` (paired mode), which
        stores the distances of what it mined.

    Returns
    -------
    distances : dict of str to 1-D ndarray
        ``"positive"``: each anchor's distance to its own counter;
        ``"hard"`` and ``"random"``: the distances of the hard and of the
        random negatives.

    Examples
    --------
    >>> from sknegsample import HybridNegativeSampler
    >>> from sknegsample.datasets import make_pairs
    >>> from sknegsample.plotting import negative_distances
    >>> point, counter = make_pairs(200, 8, random_state=0)
    >>> sampler = HybridNegativeSampler(random_rate=0.5, n_negatives=2, random_state=0)
    >>> _ = sampler.fit_transform(point, counter)
    >>> d = negative_distances(sampler)
    >>> len(d["positive"]), len(d["hard"]) + len(d["random"])
    (200, 400)
    >>> bool(d["hard"].mean() < d["random"].mean())
    True
    """
    check_is_fitted(sampler)
    if getattr(sampler, "negative_gap_", None) is None:
        raise ValueError(
            "negative_distances needs a sampler fitted with fit_transform(point, counter) "
            f"(paired mode); got one in {getattr(sampler, 'mode_', '?')!r} mode or fitted "
            "with fit alone."
        )
    distances = sampler.negative_distances_
    is_random = sampler.negative_is_random_
    # gap = negative distance - positive distance, per negative.
    positive = (distances - sampler.negative_gap_)[:, 0]
    return {"positive": positive, "hard": distances[~is_random],
            "random": distances[is_random]}


def plot_distance_distribution(sampler, *, bins=40, ax=None):
    """Histogram of positive, hard-negative and random-negative distances.

    Hard negatives should sit between the positives and the random ones; a
    hard-negative mass to the left of the positives' mode is where false
    negatives (unlabelled positives) hide, and what ``positive_margin`` guards
    against.

    Parameters
    ----------
    sampler : HybridNegativeSampler
        Fitted with ``fit_transform(point, counter)``; ``random_rate``
        strictly between 0 and 1 gives both kinds of negatives.
    bins : int, default=40
        Number of histogram bins, shared by the three distributions.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sknegsample import HybridNegativeSampler
    >>> from sknegsample.datasets import make_pairs
    >>> from sknegsample.plotting import plot_distance_distribution
    >>> point, counter = make_pairs(200, 8, random_state=0)
    >>> sampler = HybridNegativeSampler(random_rate=0.5, random_state=0)
    >>> _ = sampler.fit_transform(point, counter)
    >>> ax = plot_distance_distribution(sampler)
    >>> [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()]
    ['positives', 'hard negatives', 'random negatives']
    """
    distances = negative_distances(sampler)
    ax = _axes(ax)
    finite = np.concatenate([d[np.isfinite(d)] for d in distances.values()])
    edges = np.histogram_bin_edges(finite, bins=bins)
    styles = {
        "positive": ("positives", "tab:green"),
        "hard": ("hard negatives", "tab:red"),
        "random": ("random negatives", "tab:gray"),
    }
    for key, (label, color) in styles.items():
        values = distances[key]
        if values.size:
            ax.hist(values, bins=edges, density=True, histtype="stepfilled", alpha=0.35,
                    color=color, edgecolor=color, label=f"{label} ({values.size})")
    ax.set_xlabel(f"{sampler.metric} distance to the anchor")
    ax.set_ylabel("density")
    ax.set_title("Distances of positives and mined negatives")
    ax.legend()
    return ax


def plot_query_time(leaf_size, seconds, *, n_calls=None, label=None, ax=None):
    """Query time against a tree's ``leaf_size`` (the benchmark figure).

    Parameters
    ----------
    leaf_size : array-like of int of shape (n_settings,)
        Leaf sizes measured.
    seconds : array-like of float of shape (n_settings,)
        Query time at each leaf size.
    n_calls : array-like of int of shape (n_settings,) or None, default=None
        Distance evaluations at each leaf size (``BallTree.get_n_calls()``),
        drawn against a second axis: machine-independent work, where seconds
        are noisy.
    label : str or None, default=None
        Legend label of the time curve (e.g. the data set and its size).
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None. Call again with the same
        ``ax`` to compare curves.

    Returns
    -------
    ax : matplotlib Axes
        The time axes (the distance-evaluation axes is its twin).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sknegsample.plotting import plot_query_time
    >>> ax = plot_query_time([2, 8, 40], [3.1, 1.2, 0.9], n_calls=[9e6, 4e6, 5e6],
    ...                      label="ball_tree")
    >>> ax.get_xscale(), ax.get_xlabel()
    ('log', 'leaf_size')
    """
    leaf_size = np.asarray(leaf_size)
    seconds = np.asarray(seconds, dtype=float)
    if leaf_size.ndim != 1 or leaf_size.shape != seconds.shape:
        raise ValueError(
            "leaf_size and seconds must be 1-D with one entry per setting; got shapes "
            f"{leaf_size.shape} and {seconds.shape}."
        )
    ax = _axes(ax)
    (line,) = ax.plot(leaf_size, seconds, marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("leaf_size")
    ax.set_ylabel("query time (s)")
    ax.set_ylim(bottom=0)
    if n_calls is not None:
        n_calls = np.asarray(n_calls, dtype=float)
        if n_calls.shape != seconds.shape:
            raise ValueError(f"n_calls must have the shape of seconds {seconds.shape}; "
                             f"got {n_calls.shape}.")
        twin = ax.twinx()
        twin.plot(leaf_size, n_calls, marker="s", linestyle="--", color=line.get_color(),
                  alpha=0.6)
        twin.set_ylabel("distance evaluations (dashed)")
        twin.set_ylim(bottom=0)
    if label is not None:
        ax.legend()
    return ax


def plot_audit(report, *, axes=None):
    """Three panels of an audit of mined negatives (:func:`sknegsample.audit`).

    1. the gap of each negative to its anchor's positive, hard and random
       negatives apart, with the likely false negatives left of 0;
    2. the Lorenz curve of reuse (share of the negatives served by the least
       used share of the bank), with the Gini coefficient;
    3. how many near-duplicate clusters there are of each size.

    Parameters
    ----------
    report : AuditReport
        What :func:`~sknegsample.audit` returned.
    axes : sequence of 3 matplotlib Axes or None, default=None
        Where to draw; a new figure with three panels when None.

    Returns
    -------
    axes : ndarray of 3 matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sknegsample import HybridNegativeSampler, audit
    >>> from sknegsample.datasets import make_pairs
    >>> from sknegsample.plotting import plot_audit
    >>> point, counter = make_pairs(200, 8, random_state=0)
    >>> sampler = HybridNegativeSampler(n_negatives=2, random_rate=0.5, random_state=0)
    >>> _ = sampler.fit_transform(point, counter)
    >>> axes = plot_audit(audit(sampler, point, counter))
    >>> [ax.get_xlabel() for ax in axes]  # doctest: +NORMALIZE_WHITESPACE
    ['negative distance - positive distance', 'share of the bank (least used first)',
     'cluster size (bank items)']
    """
    if axes is None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError("plotting needs matplotlib: pip install 'sknegsample[plot]'.") \
                from exc
        axes = plt.subplots(1, 3, figsize=(13.0, 3.8), layout="constrained")[1]
    axes = np.asarray(axes, dtype=object).ravel()
    if axes.size != 3:
        raise ValueError(f"axes must hold 3 matplotlib Axes; got {axes.size}.")
    gap_ax, reuse_ax, cluster_ax = axes

    gaps = report.gaps_by_kind()
    finite = np.concatenate([g for g in gaps.values()])
    edges = np.histogram_bin_edges(finite if finite.size else [0.0, 1.0], bins=40)
    colors = {"hard": "tab:red", "random": "tab:gray", "all": "tab:blue"}
    for kind, values in gaps.items():
        if values.size:
            gap_ax.hist(values, bins=edges, histtype="stepfilled", alpha=0.35,
                        color=colors[kind], edgecolor=colors[kind],
                        label=f"{kind} ({values.size}, {np.mean(values < 0):.1%} < 0)")
    gap_ax.axvline(0.0, color="black", linewidth=1, linestyle="--")
    gap_ax.set_xlabel("negative distance - positive distance")
    gap_ax.set_ylabel("negatives")
    gap_ax.set_title("Gap to the positive (< 0: likely false negative)")
    gap_ax.legend(fontsize="small")

    counts = np.sort(report.reuse_counts)
    share = np.concatenate([[0.0], np.cumsum(counts) / max(counts.sum(), 1)])
    items = np.linspace(0.0, 1.0, share.size)
    reuse_ax.plot(items, share, color="tab:purple",
                  label=f"Gini {report.reuse_gini:.3f}, max {report.max_reuse}")
    reuse_ax.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle=":",
                  label="every item equally")
    reuse_ax.set_xlabel("share of the bank (least used first)")
    reuse_ax.set_ylabel("share of the negatives")
    reuse_ax.set_title("Reuse of bank items as negatives")
    reuse_ax.legend(fontsize="small")

    sizes, n_clusters = np.unique([c.size for c in report.clusters] or [0],
                                  return_counts=True)
    if report.clusters:
        cluster_ax.bar(sizes, n_clusters, color="tab:orange")
    # Counts of clusters: whole numbers on the axis.
    cluster_ax.yaxis.get_major_locator().set_params(integer=True)
    cluster_ax.set_xlabel("cluster size (bank items)")
    cluster_ax.set_ylabel("clusters")
    cluster_ax.set_title(f"Near-duplicates (distance <= {report.duplicate_threshold:.3g})")
    return axes
