"""Pure functions that pick hard and random negatives for a chunk of anchors.

Kept apart from the estimator so they can be tested and benchmarked directly.
Every random choice is a counter-based hash of (seed, anchor key, slot,
attempt, stream), so an anchor's picks never depend on its batch position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..neighbors._search import NeighborSearch
from ._hashing import hash_uint64, hash_uniform

# Independent hash streams for each kind of decision.
_STREAM_BRANCH, _STREAM_WINDOW, _STREAM_RANDOM, _STREAM_CAP = 1, 2, 3, 4
# Rejection rounds before falling back to listing a row's allowed ids; with
# two excluded ids out of 2 * n_pairs a round is rejected with probability
# about 1 / n_pairs, so the fallback only runs on tiny or label-heavy banks
# (or under a guard that rejects most of the pool).
_MAX_ATTEMPTS = 64


@dataclass
class MinedChunk:
    """Negatives of one chunk of anchors and what happened while picking them."""

    negatives: np.ndarray  # (n, n_negatives) int64 bank ids
    distances: np.ndarray  # (n, n_negatives) metric distance anchor -> negative
    is_random: np.ndarray  # (n, n_negatives) bool: drawn at random
    window: np.ndarray  # (n, window) int64 hard candidates (-1 padded)
    n_copies: np.ndarray  # (n,) copies skipped by the hard search
    n_below: np.ndarray  # (n,) hard candidates skipped by the guards
    short: np.ndarray  # (n,) bool: fewer allowed hard candidates than hard slots
    n_redrawn: np.ndarray  # (n,) random draws rejected by a guard and drawn again
    n_relaxed: np.ndarray  # (n,) random slots no guarded id could fill (drawn unguarded)


@dataclass
class Exclusion:
    """Per-anchor exclusions and distance window, as the search takes them.

    ``labels`` and ``classes`` (-1: none) select the excluded bank ids (see
    :class:`~sknegsample.neighbors.LabelGroups`). A negative lies strictly
    farther than ``floor`` and at most ``ceiling`` away (None: 0, no limit);
    ``guard_random`` applies that window to random picks too.
    """

    labels: np.ndarray
    classes: np.ndarray
    floor: np.ndarray | None = None
    ceiling: np.ndarray | None = None
    guard_random: bool = True

    def __getitem__(self, rows) -> Exclusion:
        def pick(a):
            return None if a is None else a[rows]

        return Exclusion(self.labels[rows], self.classes[rows], pick(self.floor),
                         pick(self.ceiling), self.guard_random)

    def random_window(self):
        """(floor, ceiling) random picks must respect: (None, None) when unguarded."""
        return (self.floor, self.ceiling) if self.guard_random else (None, None)


@dataclass
class Draw:
    """One random id per row, with its distance and what the guards did."""

    ids: np.ndarray
    distances: np.ndarray
    n_redrawn: np.ndarray
    relaxed: np.ndarray


def mine_chunk(search: NeighborSearch, queries, keys, exclusion: Exclusion, *,
               n_negatives: int, random_rate: float, window: int, skip: int,
               hard_selection: str, seed: int, bank_rows=None) -> MinedChunk:
    """Pick ``n_negatives`` distinct allowed bank ids for each anchor row.

    Parameters
    ----------
    search : NeighborSearch
        Fitted search over the bank; candidates come from its pool.
    queries : ndarray of shape (n, n_features)
        Anchors, already prepared by ``search.prepare_queries``.
    keys : ndarray of uint64 of shape (n,)
        Per-anchor hash key (its index, or its content for new queries).
    exclusion : Exclusion
        What each anchor may not receive, and its distance window.
    n_negatives, random_rate, window, skip, hard_selection, seed
        See :class:`~sknegsample.HybridNegativeSampler`.
    bank_rows : slice or None
        Where the anchors sit in the bank, when they are its own rows (see
        :meth:`~sknegsample.neighbors.NeighborSearch.kneighbors`).
    """
    n_rows = queries.shape[0]
    slots = np.arange(n_negatives)
    is_random = hash_uniform(seed, keys[:, None], slots[None, :], _STREAM_BRANCH) < random_rate
    negatives = np.full((n_rows, n_negatives), -1, dtype=np.int64)
    distances = np.full((n_rows, n_negatives), np.inf)
    counts = [np.zeros(n_rows, dtype=np.int64) for _ in range(4)]
    result = MinedChunk(negatives, distances, is_random, np.full((n_rows, window), -1, np.int64),
                        counts[0], counts[1], np.zeros(n_rows, dtype=bool), counts[2], counts[3])
    if n_rows and not is_random.all():
        _pick_hard(search, queries, keys, exclusion, result, window=window, skip=skip,
                   hard_selection=hard_selection, seed=seed, bank_rows=bank_rows)
    for slot in range(n_negatives):
        todo = np.flatnonzero(negatives[:, slot] < 0)
        if todo.size:
            draw = draw_random(search, queries[todo], keys[todo], exclusion[todo],
                               negatives[todo], slot, seed)
            negatives[todo, slot] = draw.ids
            distances[todo, slot] = draw.distances
            result.n_redrawn[todo] += draw.n_redrawn
            result.n_relaxed[todo] += draw.relaxed
    return result


def _pick_hard(search, queries, keys, exclusion, result, *, window, skip, hard_selection,
               seed, bank_rows):
    found = search.kneighbors(queries, skip + window, query_labels=exclusion.labels,
                              query_classes=exclusion.classes, min_distance=exclusion.floor,
                              max_distance=exclusion.ceiling, bank_rows=bank_rows)
    win_ids = found.ids[:, skip:]
    win_dist = found.distances[:, skip:]
    width = win_ids.shape[1]
    if hard_selection == "uniform":
        priority = hash_uniform(seed, keys[:, None], np.arange(width)[None, :], _STREAM_WINDOW)
        priority[win_ids < 0] = np.inf
        order = np.argsort(priority, axis=1, kind="stable")
    else:
        # The window is sorted by distance with -1 padding last: nearest first.
        order = np.broadcast_to(np.arange(width), win_ids.shape)
    ranked_ids = np.take_along_axis(win_ids, order, axis=1)
    ranked_dist = np.take_along_axis(win_dist, order, axis=1)
    hard = ~result.is_random
    rank = np.cumsum(hard, axis=1) - 1
    slot_rank = np.clip(rank, 0, max(width - 1, 0))
    if width:
        picked = np.where(hard, np.take_along_axis(ranked_ids, slot_rank, axis=1), -1)
        picked_dist = np.take_along_axis(ranked_dist, slot_rank, axis=1)
    else:
        picked = np.full_like(result.negatives, -1)
        picked_dist = np.full(result.negatives.shape, np.inf)
    short_slot = hard & ((rank >= width) | (picked < 0))
    picked[short_slot] = -1
    result.negatives[...] = np.where(hard, picked, -1)
    result.distances[...] = np.where(hard & ~short_slot, picked_dist, np.inf)
    # A hard slot with no allowed candidate left is filled at random below.
    result.is_random[short_slot] = True
    result.short[...] = short_slot.any(axis=1)
    result.window[:, :width] = win_ids
    result.n_copies[...] = found.n_copies
    result.n_below[...] = found.n_below


def draw_random(search: NeighborSearch, queries, keys, exclusion: Exclusion, taken,
                slot: int, seed: int, stream: int = _STREAM_RANDOM,
                allowed_extra=None) -> Draw:
    """Draw one bank id per row, uniform over the row's allowed ids in the pool.

    Allowed: not excluded for the row, not already in ``taken``, not a copy
    of the query (distance 0), passing ``allowed_extra(rows, ids)`` when
    given, and inside the row's distance window when the exclusion guards
    random picks. Rejection sampling keeps the draw exactly uniform over that
    set. A row for which no id passes the window is drawn without it
    (``relaxed``) rather than failing.
    """
    floor, ceiling = exclusion.random_window()
    start, stop = search.pool_range()
    n_rows = len(queries)
    ids = np.full(n_rows, -1, dtype=np.int64)
    dist = np.full(n_rows, np.inf)
    n_redrawn = np.zeros(n_rows, dtype=np.int64)
    relaxed = np.zeros(n_rows, dtype=np.int64)
    pending = np.arange(n_rows)
    for attempt in range(_MAX_ATTEMPTS):
        cand = start + (hash_uint64(seed, keys[pending], slot, attempt, stream)
                        % np.uint64(stop - start)).astype(np.int64)
        ok = _allowed(search, exclusion[pending], taken[pending], cand, pending, allowed_extra)
        d = search.pair_distances(queries[pending], cand[:, None])[:, 0]
        ok &= d > 0
        inside = _inside(d, floor, ceiling, pending)
        n_redrawn[pending[ok & ~inside]] += 1
        ok &= inside
        ids[pending[ok]] = cand[ok]
        dist[pending[ok]] = d[ok]
        pending = pending[~ok]
        if not pending.size:
            return Draw(ids, dist, n_redrawn, relaxed)
    if floor is not None or ceiling is not None:
        pending = _draw_in_window(search, queries, keys, exclusion, taken, slot, seed, stream,
                                  allowed_extra, pending, ids, dist, relaxed)
    for row in pending:
        ids[row], dist[row], relaxed[row] = _draw_by_listing(
            search, (start, stop), queries[row], keys[row], exclusion[[row]], taken[row], row,
            slot, seed, stream, allowed_extra, floor, ceiling)
    return Draw(ids, dist, n_redrawn, relaxed)


# Window members listed per row at once by the exact search, for rows whose
# window rejection sampling could not hit: a narrow window (a tight
# max_distance, say) held 20 of 3646 ids, and listing the pool row by row took
# 8 s for 183 such anchors of the man pages; one windowed search lists them.
_WINDOW_LIST = 256


def _draw_in_window(search, queries, keys, exclusion, taken, slot, seed, stream,
                    allowed_extra, pending, ids, dist, relaxed):
    """Uniform draws for ``pending`` rows from their window, listed by the exact search.

    The search returns every allowed id inside a row's window when there
    are fewer than ``_WINDOW_LIST`` of them (it is exact): the draw is then
    the first in hashed order of those not taken and passing
    ``allowed_extra``, or, when none is left, an unguarded draw (relaxed).
    Returns the rows this cannot settle (approximate search, wider windows).
    """
    if not search.is_exact:
        return pending
    found = search.kneighbors(queries[pending], _WINDOW_LIST,
                              query_labels=exclusion.labels[pending],
                              query_classes=exclusion.classes[pending],
                              min_distance=None if exclusion.floor is None
                              else exclusion.floor[pending],
                              max_distance=None if exclusion.ceiling is None
                              else exclusion.ceiling[pending])
    cand = found.ids
    # Every allowed id in the window was listed when the list is not full.
    settled = (cand < 0).any(axis=1)
    ok = (cand >= 0) & ~(cand[:, :, None] == taken[pending][:, None, :]).any(axis=2)
    if allowed_extra is not None:
        rows = np.broadcast_to(pending[:, None], cand.shape)
        ok[ok] = allowed_extra(rows[ok], cand[ok])
    # The first allowed id in hashed order: uniform over the allowed ones.
    priority = hash_uint64(seed, keys[pending][:, None].astype(np.uint64), slot, stream,
                           np.maximum(cand, 0))
    priority[~ok] = np.iinfo(np.uint64).max
    best = np.argmin(priority, axis=1)
    hit = settled & ok.any(axis=1)
    rows_hit = pending[hit]
    ids[rows_hit] = cand[hit, best[hit]]
    dist[rows_hit] = found.distances[hit, best[hit]]
    unguarded = pending[settled & ~hit]
    if unguarded.size:
        rows = unguarded
        loose = Exclusion(exclusion.labels, exclusion.classes, guard_random=False)
        draw = draw_random(search, queries[rows], keys[rows], loose[rows], taken[rows], slot,
                           seed, stream, None if allowed_extra is None else
                           (lambda r, c: allowed_extra(rows[r], c)))
        ids[rows], dist[rows] = draw.ids, draw.distances
        relaxed[rows] = 1
    return pending[~settled]


def _inside(d, floor, ceiling, rows):
    ok = np.ones(d.shape, dtype=bool)
    if floor is not None:
        ok &= d > floor[rows]
    if ceiling is not None:
        ok &= d <= ceiling[rows]
    return ok


def _draw_by_listing(search, pool, query, key, exclusion, taken, row, slot, seed, stream,
                     allowed_extra, floor, ceiling):
    """Uniform draw for a row whose allowed ids are too rare for rejection.

    Lists the pool ids allowed by exclusion, ``taken`` and ``allowed_extra``,
    visits them in a hashed (uniformly random) order and returns the first
    that is not a copy of the query and lies in its window, checking a block
    at a time; the first non-copy when none lies in the window (relaxed).
    """
    everything = np.arange(*pool)
    n = everything.size
    ok = _allowed(search, exclusion[np.zeros(n, dtype=np.int64)],
                  np.broadcast_to(taken, (n, taken.shape[0])), everything,
                  np.full(n, row), allowed_extra)
    choices = everything[ok]
    order = choices[np.argsort(hash_uint64(seed, np.uint64(key), slot, stream, choices))]
    fallback = None
    for start in range(0, order.size, 256):
        block = order[start:start + 256]
        d = search.pair_distances(query[None, :], block[None, :])[0]
        good = np.flatnonzero(d > 0)
        if good.size and fallback is None:
            fallback = (block[good[0]], d[good[0]])
        inside = np.flatnonzero((d > 0) & _inside(d, floor, ceiling, np.full(d.size, row)))
        if inside.size:
            return block[inside[0]], d[inside[0]], 0
    if fallback is not None:
        return fallback[0], fallback[1], 1
    raise ValueError(
        "Not enough allowed negatives: an anchor has no bank id left in the pool that "
        "is not itself, its positive, a same-label row, a copy of it or already "
        f"picked or over max_negative_uses (n_negatives slot {slot}). Lower "
        "n_negatives, raise max_negative_uses, widen negative_pool or add data."
    )


def _allowed(search, exclusion, taken, cand, rows, allowed_extra):
    ok = ~(taken == cand[:, None]).any(axis=1)
    if search.groups_ is not None:
        ok &= ~search.groups_.excluded(exclusion.labels, exclusion.classes, cand[:, None])[:, 0]
    if allowed_extra is not None:
        ok &= allowed_extra(rows, cand)
    return ok


def cap_negative_uses(search: NeighborSearch, rows_of, mined: MinedChunk, order: np.ndarray,
                      max_uses: int, seed: int) -> int:
    """Replace picks of bank ids already used ``max_uses`` times; returns the count.

    Anchors are visited in ``order`` (ascending anchor index), so the outcome is
    deterministic. A capped hard pick moves to the next unused candidate of its
    window; a capped random pick (or a hard one whose window is spent) is
    redrawn at random among ids still under the cap. ``rows_of[[row]]`` gives
    ``(prepared query, (exclusion, key, positive))`` of one anchor, on demand.
    """
    uses = np.zeros(search.n_bank_, dtype=np.int64)
    n_replaced = 0

    def under_cap(rows, ids):
        return uses[ids] < max_uses

    for row in order:
        for slot in range(mined.negatives.shape[1]):
            pick = mined.negatives[row, slot]
            if uses[pick] >= max_uses:
                n_replaced += 1
                pick = _next_in_window(mined, row, uses, max_uses) \
                    if not mined.is_random[row, slot] else -1
                query, (exclusion, key, _) = rows_of[[row]]
                if pick < 0:
                    mined.is_random[row, slot] = True
                    draw = draw_random(search, query, key, exclusion, mined.negatives[[row]],
                                       slot, seed, stream=_STREAM_CAP, allowed_extra=under_cap)
                    pick = draw.ids[0]
                    mined.distances[row, slot] = draw.distances[0]
                    mined.n_redrawn[row] += draw.n_redrawn[0]
                    mined.n_relaxed[row] += draw.relaxed[0]
                else:
                    mined.distances[row, slot] = search.pair_distances(
                        query, np.array([[pick]]))[0, 0]
                mined.negatives[row, slot] = pick
            uses[pick] += 1
    return n_replaced


def _next_in_window(mined: MinedChunk, row: int, uses, max_uses) -> int:
    for cand in mined.window[row]:
        if cand >= 0 and uses[cand] < max_uses and cand not in mined.negatives[row]:
            return int(cand)
    return -1
