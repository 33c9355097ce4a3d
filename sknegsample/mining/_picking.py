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
# about 1 / n_pairs, so the fallback only runs on tiny or label-heavy banks.
_MAX_ATTEMPTS = 64


@dataclass
class MinedChunk:
    """Negatives of one chunk of anchors and what happened while picking them."""

    negatives: np.ndarray  # (n, n_negatives) int64 bank ids
    distances: np.ndarray  # (n, n_negatives) metric distance anchor -> negative
    is_random: np.ndarray  # (n, n_negatives) bool: drawn at random
    window: np.ndarray  # (n, window) int64 hard candidates (-1 padded)
    n_copies: np.ndarray  # (n,) copies skipped by the hard search
    n_below: np.ndarray  # (n,) candidates skipped by the positive margin
    short: np.ndarray  # (n,) bool: fewer allowed hard candidates than hard slots


def mine_chunk(search: NeighborSearch, queries, keys, query_labels, min_distance, *,
               n_negatives: int, random_rate: float, window: int, skip: int,
               hard_selection: str, seed: int, working_memory=None,
               bank_rows=None) -> MinedChunk:
    """Pick ``n_negatives`` distinct allowed bank ids for each anchor row.

    Parameters
    ----------
    search : NeighborSearch
        Fitted search over the bank.
    queries : ndarray of shape (n, n_features)
        Anchors, already prepared by ``search.prepare_queries``.
    keys : ndarray of uint64 of shape (n,)
        Per-anchor hash key (its index, or its content for new queries).
    query_labels : ndarray of int64 of shape (n,)
        Label code of each anchor (-1 for none); same-label ids are excluded.
    min_distance : ndarray of shape (n,) or None
        Hard candidates must be strictly farther than this.
    n_negatives, random_rate, window, skip, hard_selection, seed
        See :class:`~sknegsample.HybridNegativeSampler`.
    working_memory : int or None
        MiB per search chunk.
    bank_rows : slice or None
        Where the anchors sit in the bank, when they are its own rows (see
        :meth:`~sknegsample.neighbors.NeighborSearch.kneighbors`).
    """
    n_rows = queries.shape[0]
    slots = np.arange(n_negatives)
    is_random = hash_uniform(seed, keys[:, None], slots[None, :], _STREAM_BRANCH) < random_rate
    negatives = np.full((n_rows, n_negatives), -1, dtype=np.int64)
    distances = np.full((n_rows, n_negatives), np.inf)
    zeros = np.zeros(n_rows, dtype=np.int64)
    result = MinedChunk(negatives, distances, is_random, np.full((n_rows, window), -1, np.int64),
                        zeros, zeros.copy(), np.zeros(n_rows, dtype=bool))
    if n_rows and not is_random.all():
        _pick_hard(search, queries, keys, query_labels, min_distance, result,
                   window=window, skip=skip, hard_selection=hard_selection, seed=seed,
                   working_memory=working_memory, bank_rows=bank_rows)
    for slot in range(n_negatives):
        todo = np.flatnonzero(negatives[:, slot] < 0)
        if todo.size:
            ids, dist = draw_random(search, queries[todo], keys[todo], query_labels[todo],
                                    negatives[todo], slot, seed)
            negatives[todo, slot] = ids
            distances[todo, slot] = dist
    return result


def _pick_hard(search, queries, keys, query_labels, min_distance, result, *, window, skip,
               hard_selection, seed, working_memory, bank_rows):
    found = search.kneighbors(queries, skip + window, query_labels=query_labels,
                              min_distance=min_distance, working_memory=working_memory,
                              bank_rows=bank_rows)
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


def draw_random(search: NeighborSearch, queries, keys, query_labels, taken, slot: int,
                seed: int, stream: int = _STREAM_RANDOM, allowed_extra=None):
    """Draw one bank id per row, uniform over the row's allowed ids.

    Allowed: not sharing the row's label, not already in ``taken``, not a copy
    of the query (distance 0), and passing ``allowed_extra(rows, ids)`` when
    given. Rejection sampling keeps the draw exactly uniform over that set.

    Returns
    -------
    ids : ndarray of int64 of shape (n,)
    distances : ndarray of shape (n,)
    """
    n_bank = search.n_bank_
    labels = search.groups_.labels if search.groups_ is not None else None
    ids = np.full(len(queries), -1, dtype=np.int64)
    dist = np.full(len(queries), np.inf)
    pending = np.arange(len(queries))
    for attempt in range(_MAX_ATTEMPTS):
        cand = (hash_uint64(seed, keys[pending], slot, attempt, stream)
                % np.uint64(n_bank)).astype(np.int64)
        ok = _allowed(labels, query_labels[pending], taken[pending], cand, pending,
                      allowed_extra)
        d = search.pair_distances(queries[pending], cand[:, None])[:, 0]
        ok &= d > 0
        ids[pending[ok]] = cand[ok]
        dist[pending[ok]] = d[ok]
        pending = pending[~ok]
        if not pending.size:
            return ids, dist
    for row in pending:
        ids[row], dist[row] = _draw_by_listing(
            search, labels, queries[row], keys[row], query_labels[row], taken[row], row,
            slot, seed, stream, allowed_extra,
        )
    return ids, dist


def _draw_by_listing(search, labels, query, key, query_label, taken, row, slot, seed, stream,
                     allowed_extra):
    """Uniform draw for a row whose allowed ids are too rare for rejection.

    Lists the ids allowed by label, ``taken`` and ``allowed_extra``, visits
    them in a hashed (uniformly random) order and returns the first that is
    not a copy of the query, checking copies a block at a time.
    """
    everything = np.arange(search.n_bank_)
    ok = _allowed(labels, np.full(search.n_bank_, query_label),
                  np.broadcast_to(taken, (search.n_bank_, taken.shape[0])), everything,
                  np.full(search.n_bank_, row), allowed_extra)
    choices = np.flatnonzero(ok)
    order = choices[np.argsort(hash_uint64(seed, np.uint64(key), slot, stream, choices))]
    for start in range(0, order.size, 256):
        block = order[start:start + 256]
        d = search.pair_distances(query[None, :], block[None, :])[0]
        good = np.flatnonzero(d > 0)
        if good.size:
            return block[good[0]], d[good[0]]
    raise ValueError(
        "Not enough allowed negatives: an anchor has no bank id left that is "
        "not itself, its positive, a same-label row, a copy of it or already "
        f"picked or over max_negative_uses (n_negatives slot {slot}). Lower "
        "n_negatives, raise max_negative_uses or add data."
    )


def _allowed(labels, query_labels, taken, cand, rows, allowed_extra):
    ok = ~(taken == cand[:, None]).any(axis=1)
    if labels is not None:
        ok &= ~((query_labels >= 0) & (labels[cand] == query_labels))
    if allowed_extra is not None:
        ok &= allowed_extra(rows, cand)
    return ok


def cap_negative_uses(search: NeighborSearch, queries, keys, query_labels, mined: MinedChunk,
                      order: np.ndarray, max_uses: int, seed: int) -> int:
    """Replace picks of bank ids already used ``max_uses`` times; returns the count.

    Anchors are visited in ``order`` (ascending anchor index), so the outcome is
    deterministic. A capped hard pick moves to the next unused candidate of its
    window; a capped random pick (or a hard one whose window is spent) is
    redrawn at random among ids still under the cap.
    """
    uses = np.zeros(search.n_bank_, dtype=np.int64)
    n_replaced = 0
    under_cap = lambda rows, ids: uses[ids] < max_uses
    for row in order:
        for slot in range(mined.negatives.shape[1]):
            pick = mined.negatives[row, slot]
            if uses[pick] >= max_uses:
                n_replaced += 1
                pick = _next_in_window(mined, row, uses, max_uses) \
                    if not mined.is_random[row, slot] else -1
                if pick < 0:
                    mined.is_random[row, slot] = True
                    ids, dist = draw_random(
                        search, queries[[row]], keys[[row]], query_labels[[row]],
                        mined.negatives[[row]], slot, seed, stream=_STREAM_CAP,
                        allowed_extra=under_cap,
                    )
                    pick = ids[0]
                    mined.distances[row, slot] = dist[0]
                else:
                    mined.distances[row, slot] = search.pair_distances(
                        queries[[row]], np.array([[pick]]))[0, 0]
                mined.negatives[row, slot] = pick
            uses[pick] += 1
    return n_replaced


def _next_in_window(mined: MinedChunk, row: int, uses, max_uses) -> int:
    for cand in mined.window[row]:
        if cand >= 0 and uses[cand] < max_uses and cand not in mined.negatives[row]:
            return int(cand)
    return -1
