"""AuditReport: what :func:`~sknegsample.audit` measured, as numbers, a dict and a figure."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Quantiles of the gap distributions in to_dict().
_QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)

# Entries listed in to_dict() where the full array lives on the report.
_LISTED = 20


def gini(counts) -> float:
    """Gini coefficient of non-negative counts: 0 when all are equal, towards 1 when one holds all.

    Examples
    --------
    >>> from sknegsample.evaluation._report import gini
    >>> gini([2, 2, 2, 2]), gini([0, 0, 0, 8])
    (0.0, 0.75)
    """
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = x.size, x.sum()
    if n == 0 or total == 0:
        return 0.0
    # Sorted-sample form of the mean absolute difference over twice the mean.
    return float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / (n * total))


@dataclass
class AuditReport:
    """The audit of mined negatives returned by :func:`~sknegsample.audit`.

    Bank ids index ``vstack([point, counter])``: ``id < n_pairs`` is point
    ``id``, otherwise counter ``id - n_pairs``.

    Attributes
    ----------
    metric : str
        Distance of every measure.
    negatives : ndarray of int64 of shape (n_pairs, n_negatives)
        The audited bank ids (``-1``: missing).
    is_random : ndarray of bool of shape (n_pairs, n_negatives) or None
        Which were random draws; None when unknown.
    positive_distances : ndarray of shape (n_pairs,)
        Each anchor's distance to its own counter.
    negative_distances : ndarray of shape (n_pairs, n_negatives)
        Each anchor's distance to each negative (NaN where missing).
    gaps : ndarray of shape (n_pairs, n_negatives)
        ``negative_distances - positive_distances[:, None]``: below 0, the
        negative is closer than the positive (a likely false negative).
    duplicate_threshold : float
        Distance at or under which two bank items are near-duplicates.
    components : ndarray of int64 of shape (2 * n_pairs,)
        Near-duplicate cluster of each bank item (singletons included).
    clusters : list of ndarray of int64
        Bank ids of each cluster of two items or more, largest first.
    reuse_counts : ndarray of int64 of shape (2 * n_pairs,)
        Anchors each bank item serves as a negative.
    short_anchors : ndarray of int64
        Anchors with fewer negatives than asked for, or (from a sampler) fewer
        allowed hard candidates than hard slots.
    n_worst : int
        Likely false negatives listed by :attr:`worst`.
    """

    metric: str
    negatives: np.ndarray
    is_random: np.ndarray | None
    positive_distances: np.ndarray
    negative_distances: np.ndarray
    duplicate_threshold: float
    components: np.ndarray
    short_anchors: np.ndarray
    n_worst: int = 10
    gaps: np.ndarray = field(init=False, repr=False)
    clusters: list = field(init=False, repr=False)
    reuse_counts: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.gaps = self.negative_distances - self.positive_distances[:, None]
        _, first, sizes = np.unique(self.components, return_index=True,
                                    return_counts=True)
        members = np.split(np.argsort(self.components, kind="stable"), np.cumsum(sizes)[:-1])
        # Largest first; equal sizes by their first bank id.
        order = [i for i in np.lexsort((first, -sizes)) if sizes[i] >= 2]
        self.clusters = [members[i] for i in order]
        live = self.negatives[self.negatives >= 0]
        self.reuse_counts = np.bincount(live, minlength=self.components.size).astype(np.int64)

    @property
    def n_pairs(self) -> int:
        return self.negatives.shape[0]

    @property
    def n_negatives(self) -> int:
        return self.negatives.shape[1]

    def gaps_by_kind(self) -> dict:
        """Finite gaps of ``"hard"`` and ``"random"`` negatives (``"all"`` when unknown)."""
        live = np.isfinite(self.gaps)
        if self.is_random is None:
            return {"all": self.gaps[live]}
        return {"hard": self.gaps[live & ~self.is_random],
                "random": self.gaps[live & self.is_random]}

    @property
    def false_negative_fraction(self) -> float:
        """Share of the negatives closer to their anchor than its positive."""
        live = np.isfinite(self.gaps)
        return float(np.mean(self.gaps[live] < 0)) if live.any() else 0.0

    @property
    def worst(self) -> list[dict]:
        """The ``n_worst`` likely false negatives, the most negative gap first."""
        closer = np.isfinite(self.gaps) & (self.gaps < 0)
        anchors, slots = np.nonzero(closer)
        order = np.lexsort((slots, anchors, self.gaps[anchors, slots]))[: self.n_worst]
        n = self.n_pairs
        cases = []
        for a, s in zip(anchors[order], slots[order], strict=True):
            bank_id = int(self.negatives[a, s])
            cases.append({
                "anchor": int(a), "negative": bank_id,
                "side": "point" if bank_id < n else "counter", "index": bank_id % n,
                "kind": self._kind(a, s), "gap": float(self.gaps[a, s]),
                "distance": float(self.negative_distances[a, s]),
                "positive_distance": float(self.positive_distances[a]),
            })
        return cases

    @property
    def reuse_gini(self) -> float:
        """Gini coefficient of :attr:`reuse_counts` over the whole bank (0: even reuse)."""
        return gini(self.reuse_counts)

    @property
    def max_reuse(self) -> int:
        """Most anchors one bank item serves as a negative."""
        return int(self.reuse_counts.max(initial=0))

    @property
    def in_own_cluster_fraction(self) -> float:
        """Share of the negatives that are near-duplicates of their anchor or its positive."""
        live = self.negatives >= 0
        if not live.any():
            return 0.0
        n, c = self.n_pairs, self.components
        anchor = np.arange(n)[:, None]
        own = (c[np.where(live, self.negatives, 0)] == c[anchor]) | \
            (c[np.where(live, self.negatives, 0)] == c[n + anchor])
        return float(np.mean(own[live]))

    def _kind(self, anchor, slot):
        if self.is_random is None:
            return "all"
        return "random" if self.is_random[anchor, slot] else "hard"

    def to_dict(self) -> dict:
        """The headline figures as plain Python values, for JSON logs.

        Examples
        --------
        >>> import json
        >>> from sknegsample import audit
        >>> from sknegsample.datasets import make_pairs
        >>> point, counter = make_pairs(50, 4, random_state=0)
        >>> report = audit([[50, 1]] * 50, point, counter)
        >>> d = report.to_dict()
        >>> d["reuse"]["max"], d["gaps"]["all"]["count"]
        (50, 100)
        >>> _ = json.dumps(d)  # JSON-serialisable
        """
        live = np.isfinite(self.gaps)
        gaps = {}
        for kind, values in self.gaps_by_kind().items():
            gaps[kind] = {"count": int(values.size)}
            if values.size:
                gaps[kind].update({
                    "mean": float(values.mean()),
                    "quantiles": {str(q): float(v) for q, v in
                                  zip(_QUANTILES, np.quantile(values, _QUANTILES), strict=True)},
                    "closer_than_positive": float(np.mean(values < 0)),
                })
        sizes = [int(c.size) for c in self.clusters]
        top = np.argsort(-self.reuse_counts, kind="stable")[:5]
        return {
            "n_pairs": int(self.n_pairs),
            "n_negatives": int(self.n_negatives),
            "metric": self.metric,
            "gaps": gaps,
            "false_negatives": {
                "count": int(np.sum(self.gaps[live] < 0)),
                "fraction": self.false_negative_fraction,
                "worst": self.worst,
            },
            "near_duplicates": {
                "threshold": self.duplicate_threshold,
                "n_clusters": len(sizes),
                "n_items": int(sum(sizes)),
                "largest": max(sizes, default=0),
                "sizes": sizes[:_LISTED],
                "negatives_in_own_cluster": self.in_own_cluster_fraction,
            },
            "reuse": {
                "max": self.max_reuse,
                "gini": self.reuse_gini,
                "n_distinct": int(np.sum(self.reuse_counts > 0)),
                "top": [{"id": int(i), "anchors": int(self.reuse_counts[i])} for i in top],
            },
            "short_anchors": {"count": int(self.short_anchors.size),
                              "first": self.short_anchors[:_LISTED].tolist()},
        }

    def summary(self) -> str:
        """A few lines for a terminal: the headline figures of :meth:`to_dict`."""
        d = self.to_dict()
        fn, dup, reuse = d["false_negatives"], d["near_duplicates"], d["reuse"]
        lines = [f"audit of {d['n_pairs']} anchors x {d['n_negatives']} negatives "
                 f"({self.metric} distance)"]
        for kind, g in d["gaps"].items():
            if g["count"]:
                q = g["quantiles"]
                lines.append(f"  gap to the positive, {kind:<6} ({g['count']}): median "
                             f"{q['0.5']:+.3f}, 5%-95% [{q['0.05']:+.3f}, {q['0.95']:+.3f}]")
        worst = f", worst gap {fn['worst'][0]['gap']:+.3f}" if fn["worst"] else ""
        lines.append(f"  closer than the positive (likely false negatives): {fn['count']} "
                     f"({fn['fraction']:.1%}){worst}")
        lines.append(f"  near-duplicate clusters (distance <= {dup['threshold']:.3f}): "
                     f"{dup['n_clusters']} holding {dup['n_items']} items, largest "
                     f"{dup['largest']}; {dup['negatives_in_own_cluster']:.1%} of the "
                     "negatives sit in their anchor's cluster")
        lines.append(f"  reuse: {reuse['n_distinct']} distinct negatives, at most "
                     f"{reuse['max']} anchors each, Gini {reuse['gini']:.3f}")
        lines.append(f"  anchors short of negatives: {d['short_anchors']['count']}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, *, axes=None):
        """Draw the audit: gaps by kind, reuse's Lorenz curve, cluster sizes.

        Needs matplotlib (see :func:`sknegsample.plotting.plot_audit`).

        Parameters
        ----------
        axes : sequence of 3 matplotlib Axes or None, default=None
            Where to draw; a new figure when None.

        Returns
        -------
        axes : ndarray of 3 matplotlib Axes
        """
        from ..plotting import plot_audit

        return plot_audit(self, axes=axes)
