"""The candidate window of sentence-transformers' ``mine_hard_negatives``, on sknegsample's search.

Pure numpy on embeddings (no texts, no models): :func:`mine_window` takes
normalised query and corpus embeddings and each query's positives (corpus ids)
and returns the negatives ST's function would pick, plus the hybrid extras.

ST's semantics, reproduced exactly:

1. the *pool* is the ``range_max + max_positives + 1`` corpus rows nearest
   each query (cosine), positives and a copy of the query's text included;
2. positives (unless ``include_positives``) and candidates failing a margin,
   ``max_score`` or ``min_score`` are struck out *inside* the pool (the pool
   does not grow to replace them);
3. the survivors, best first, are cut to ``range_max``, the first
   ``range_min`` are dropped, and ``num_negatives`` are taken from the top
   ("top") or drawn uniformly from the remaining window ("random").

The search is :class:`~sknegsample.neighbors.NeighborSearch`, the engine of
:class:`~sknegsample.HybridNegativeSampler` (exact, chunked by
``working_memory``, no k cap on any device); random draws and seeds use the
sampler's counter-based hashing, so results follow ``random_state`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..mining._hashing import hash_uniform
from ..mining._picking import Exclusion, draw_random
from ..neighbors import NeighborSearch

# Hash streams (distinct from the sampler's 1-4).
_STREAM_BRANCH, _STREAM_WINDOW, _STREAM_RANDOM = 11, 12, 13


@dataclass
class MinedWindow:
    """Negatives of each unique query, best first.

    ``ids`` are corpus ids (-1: missing), ``scores`` their similarity (or the
    teacher's score; -inf: missing), ``positive_scores`` one per (query,
    positive) pair in CSR order, ``stats`` what each rule skipped.
    """

    ids: np.ndarray
    scores: np.ndarray
    is_random: np.ndarray
    positive_scores: np.ndarray
    window: np.ndarray
    window_scores: np.ndarray
    stats: dict = field(default_factory=dict)


def positive_keys(pos_ptr: np.ndarray, pos_ids: np.ndarray, n_corpus: int) -> np.ndarray:
    """Sorted ``query * n_corpus + corpus_id`` of every (query, positive) pair."""
    rows = np.repeat(np.arange(len(pos_ptr) - 1, dtype=np.int64), np.diff(pos_ptr))
    return np.sort(rows * n_corpus + pos_ids)


def is_positive(keys: np.ndarray, rows: np.ndarray, ids: np.ndarray, n_corpus: int) -> np.ndarray:
    """True where corpus id ``ids[i, ...]`` is a positive of query ``rows[i]``."""
    probe = np.asarray(rows, dtype=np.int64).reshape(-1, *([1] * (ids.ndim - 1))) * n_corpus + ids
    where = np.searchsorted(keys, probe).clip(max=max(len(keys) - 1, 0))
    return (keys[where] == probe) & (ids >= 0)


def mine_window(queries, corpus, pos_ptr, pos_ids, *, range_min, range_max, max_positives,
                num_negatives, sampling_strategy="top", absolute_margin=None,
                relative_margin=None, max_score=None, min_score=None, include_positives=False,
                copy_ids=None, exclude_copies=False, teacher=None, random_rate=0.0,
                max_negative_uses=None, seed=0,
                algorithm="auto", device="cpu", working_memory=None) -> MinedWindow:
    """Mine ``num_negatives`` corpus ids per query with ST's rules.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, n_features)
        Unique query embeddings.
    corpus : ndarray of shape (n_corpus, n_features)
        Corpus embeddings (positives included).
    pos_ptr, pos_ids : ndarray of int64
        CSR lists: query ``q``'s positives are ``pos_ids[pos_ptr[q]:pos_ptr[q + 1]]``.
    copy_ids : ndarray of int64 of shape (n_queries,) or None
        Corpus id of a text equal to the query (-1: none), struck out like a
        positive (ST's rule since 6.x). None strikes nothing out.
    exclude_copies : bool
        Also strike out rows at distance 0 from the query.
    teacher : callable or None
        ``teacher(query_rows, corpus_ids) -> scores`` rescoring the pool and
        the positives (ST's ``cross_encoder``).
    Other parameters
        As in :func:`sknegsample.text.mine_hard_negatives`.
    """
    n_queries, n_corpus = queries.shape[0], corpus.shape[0]
    search = NeighborSearch(metric="cosine", algorithm=algorithm, device=device).fit(corpus)
    queries = search.prepare_queries(queries, "anchor embeddings")
    pool_size = min(range_max + max_positives + 1, n_corpus)
    # Without a teacher, float32 estimates serve wherever they decide
    # nothing (_PoolScores); a teacher's ties fall back on exact distances.
    found = search.kneighbors(queries, pool_size, min_distance=np.full(n_queries, -1.0),
                              working_memory=working_memory, exact_distances=teacher is not None)
    ids = found.ids
    valid = ids >= 0
    pool = _PoolScores(search, queries, found)
    pos_rows = np.repeat(np.arange(n_queries), np.diff(pos_ptr))
    positive_scores = 1.0 - search.pair_distances(queries[pos_rows], pos_ids[:, None])[:, 0]
    stats = {}
    copies = np.zeros(ids.shape, dtype=bool)
    if copy_ids is not None:
        copies = valid & (ids == np.asarray(copy_ids)[:, None])
    if exclude_copies:
        pool.refine_near(np.ones(n_queries))  # a distance of 0 (score 1) must be exact
        copies |= valid & (pool.distances <= 0)
    scores = pool.scores
    if teacher is not None:
        rows = np.broadcast_to(np.arange(n_queries)[:, None], ids.shape)
        scores[valid] = teacher(rows[valid], ids[valid])
        positive_scores = np.asarray(teacher(pos_rows, pos_ids), dtype=np.float64)
    pkeys = positive_keys(pos_ptr, pos_ids, n_corpus)
    if not include_positives:
        scores[is_positive(pkeys, np.arange(n_queries), ids, n_corpus)] = -np.inf
    stats["copies"] = int((copies & np.isfinite(scores)).sum())
    scores[copies] = -np.inf
    # Each rule's decision is made on exact scores near its threshold.
    _strike_out(scores, positive_scores, pos_ptr, stats, absolute_margin=absolute_margin,
                relative_margin=relative_margin, max_score=max_score, min_score=min_score,
                refine_near=pool.refine_near)
    # The window positions used are in exact order: the first range_min +
    # num_negatives for "top", all of them when drawn from or capped.
    used = range_max if sampling_strategy == "random" or max_negative_uses is not None \
        else range_min + num_negatives
    pool.refine_top(used)

    # Survivors first; ties by distance, then id (the pool's order).
    order = np.lexsort((ids, pool.distances, -scores), axis=1)[:, :range_max]
    win_ids = np.take_along_axis(ids, order, axis=1)[:, range_min:]
    win_scores = np.take_along_axis(scores, order, axis=1)[:, range_min:]
    if win_ids.shape[1] < num_negatives:  # a corpus smaller than the window
        pad = num_negatives - win_ids.shape[1]
        win_ids = np.pad(win_ids, ((0, 0), (0, pad)), constant_values=-1)
        win_scores = np.pad(win_scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    win_ids = np.where(np.isfinite(win_scores), win_ids, -1)
    keys = np.arange(n_queries, dtype=np.uint64)
    if sampling_strategy == "random":
        width = win_ids.shape[1]
        options = np.maximum(np.isfinite(win_scores).sum(axis=1), num_negatives)
        priority = hash_uniform(seed, keys[:, None], np.arange(width)[None, :], _STREAM_WINDOW)
        priority[np.arange(width)[None, :] >= options[:, None]] = np.inf
        picked = np.argsort(priority, axis=1, kind="stable")[:, :num_negatives]
        picked.sort(axis=1)  # window positions ascending = best first
    else:
        picked = np.broadcast_to(np.arange(num_negatives), (n_queries, num_negatives))
    hard_ids = np.take_along_axis(win_ids, picked, axis=1)
    hard_scores = np.take_along_axis(win_scores, picked, axis=1)

    slots = np.arange(num_negatives)
    is_random = hash_uniform(seed, keys[:, None], slots[None, :], _STREAM_BRANCH) < random_rate
    rank = np.clip(np.cumsum(~is_random, axis=1) - 1, 0, None)
    out_ids = np.where(is_random, -1, np.take_along_axis(hard_ids, rank, axis=1))
    out_scores = np.where(is_random, -np.inf, np.take_along_axis(hard_scores, rank, axis=1))
    result = MinedWindow(out_ids, out_scores, is_random, positive_scores, win_ids, win_scores,
                         stats)
    if is_random.any():
        _draw_random_slots(search, queries, keys, pkeys, copy_ids, result, seed, teacher)
    if max_negative_uses is not None:
        stats["max_negative_uses"] = _cap_uses(result, max_negative_uses)
    _sort_rows(result)
    stats["short_anchors"] = np.flatnonzero((result.ids < 0).any(axis=1))
    return result


class _PoolScores:
    """The pool's cosine scores: float32 estimates, made exact where they decide something.

    :meth:`NeighborSearch.kneighbors` with ``exact_distances=False`` returns
    the right pool (the band that decides it is exact) with estimates within
    ``distance_error`` elsewhere; a margin or a score limit, a copy (distance
    0) and the order of the window positions used only need exact scores
    near their threshold. At 20k pairs with ``relative_margin=0.05`` (a pool
    of 34) the float64 re-rank of the whole pool was 1.4 of 5.3 s.
    """

    def __init__(self, search, queries, found):
        self._search, self._queries, self.ids = search, queries, found.ids
        self.distances = found.distances.copy()
        self.scores = np.where(self.ids >= 0, 1.0 - self.distances, -np.inf)
        error = found.distance_error
        self.error = np.zeros(len(self.ids)) if error is None else error
        self.exact = (self.ids < 0) | (self.error == 0)[:, None]

    def refine(self, mask) -> None:
        """Exact distances (and scores, where still live) for the cells in ``mask``."""
        mask = mask & ~self.exact
        if not mask.any():
            return
        # In place of the other ids, -1: computed in small steps (no copy of
        # the query rows, ~2 MiB of float64 at a time).
        exact = self._search.pair_distances(self._queries, np.where(mask, self.ids, -1))
        rows, cols = np.nonzero(mask)
        exact = exact[rows, cols]
        self.distances[rows, cols] = exact
        live = np.isfinite(self.scores[rows, cols])
        self.scores[rows[live], cols[live]] = 1.0 - exact[live]
        self.exact[rows, cols] = True

    def refine_near(self, threshold) -> None:
        """Exact where a score's estimate is within its error of ``threshold`` (per row)."""
        threshold = np.broadcast_to(np.asarray(threshold, dtype=np.float64), self.error.shape)
        # Twice the error: room for the rounding of the rules' own arithmetic.
        self.refine(np.abs(self.scores - threshold[:, None]) <= 2 * self.error[:, None])

    def refine_top(self, n: int) -> None:
        """Exact for every live score that may be among the ``n`` highest of its row.

        A score more than twice the error under the ``n``-th highest
        estimate is under the ``n``-th highest exact score too.
        """
        live = np.isfinite(self.scores)
        if n <= 0 or not live.any():
            return
        width = self.scores.shape[1]
        nth = np.full(len(self.scores), -np.inf) if n > width else \
            -np.partition(-self.scores, n - 1, axis=1)[:, n - 1]
        nth = np.where(np.isfinite(nth), nth, -np.inf)
        self.refine(live & (self.scores >= (nth - 2 * self.error)[:, None]))


def _strike_out(scores, positive_scores, pos_ptr, stats, *, absolute_margin, relative_margin,
                max_score, min_score, refine_near=None):
    """ST's margin and score rules, counted the way ST counts them.

    ``refine_near(threshold)``, when given, is called before each rule
    compares ``scores`` with its threshold (a per-query array or a number),
    to make the scores near it exact (:meth:`_PoolScores.refine_near`).
    """
    refine_near = refine_near or (lambda threshold: None)
    n_candidates = scores.size
    if absolute_margin is not None or relative_margin is not None:
        # ST's choice with several positives: the hardest (lowest-scored) one.
        hardest = np.minimum.reduceat(positive_scores, pos_ptr[:-1])[:, None]
        if absolute_margin is not None:
            refine_near(hardest[:, 0] - absolute_margin)
            removed = scores + absolute_margin > hardest
            scores[removed] = -np.inf
            stats["absolute_margin"] = int(removed.sum())
            stats["absolute_margin_ratio"] = stats["absolute_margin"] / n_candidates
            n_candidates -= stats["absolute_margin"]
        if relative_margin is not None:
            threshold = hardest - np.abs(hardest) * relative_margin
            refine_near(threshold[:, 0])
            removed = scores > threshold
            scores[removed] = -np.inf
            stats["relative_margin"] = int(removed.sum())
            stats["relative_margin_ratio"] = stats["relative_margin"] / max(n_candidates, 1)
            n_candidates -= stats["relative_margin"]
    if max_score is not None:
        refine_near(max_score)
        removed = scores > max_score
        scores[removed] = -np.inf
        stats["max_score"] = int(removed.sum())
        stats["max_score_ratio"] = stats["max_score"] / max(n_candidates, 1)
    if min_score is not None:
        refine_near(min_score)
        removed = (scores < min_score) & np.isfinite(scores)  # live cells, as ST counts
        scores[removed] = -np.inf
        stats["min_score"] = int(removed.sum())
        stats["min_score_ratio"] = stats["min_score"] / max(n_candidates, 1)


def _draw_random_slots(search, queries, keys, pkeys, copy_ids, result, seed, teacher):
    """Fill the random slots: uniform over the corpus minus positives, copies, picks."""
    n_corpus = search.n_bank_
    if copy_ids is None:
        copy_ids = np.full(len(queries), -1, dtype=np.int64)
    no_labels = np.full(len(queries), -1, dtype=np.int64)
    for slot in range(result.ids.shape[1]):
        todo = np.flatnonzero(result.is_random[:, slot])
        if not todo.size:
            continue

        def not_positive(rows, cand, todo=todo):
            return ~is_positive(pkeys, todo[rows], cand, n_corpus) & \
                (cand != copy_ids[todo[rows]])

        draw = draw_random(search, queries[todo], keys[todo],
                           Exclusion(no_labels[todo], no_labels[todo], guard_random=False),
                           result.ids[todo], slot, seed, stream=_STREAM_RANDOM,
                           allowed_extra=not_positive)
        ids, dist = draw.ids, draw.distances
        result.ids[todo, slot] = ids
        result.scores[todo, slot] = 1.0 - dist if teacher is None else teacher(todo, ids)


def _cap_uses(result: MinedWindow, max_uses: int) -> int:
    """No corpus id serves more than ``max_uses`` queries (in query order).

    A capped pick moves to the next unused candidate of its query's window,
    else the slot stays empty. Returns the number of picks replaced.
    """
    top = max(int(result.ids.max()), int(result.window.max()), 0)
    uses = np.zeros(top + 1, dtype=np.int64)
    replaced = 0
    for row in range(result.ids.shape[0]):
        for slot in range(result.ids.shape[1]):
            pick = result.ids[row, slot]
            if pick < 0:
                continue
            if uses[pick] >= max_uses:
                replaced += 1
                result.ids[row, slot] = result.scores[row, slot] = -1
                result.scores[row, slot] = -np.inf
                for position, cand in enumerate(result.window[row]):
                    if cand >= 0 and uses[cand] < max_uses and cand not in result.ids[row]:
                        result.ids[row, slot] = pick = cand
                        result.scores[row, slot] = result.window_scores[row, position]
                        result.is_random[row, slot] = False
                        break
                else:
                    continue
            uses[pick] += 1
    return replaced


def _sort_rows(result: MinedWindow):
    order = np.argsort(-result.scores, axis=1, kind="stable")
    for name in ("ids", "scores", "is_random"):
        setattr(result, name, np.take_along_axis(getattr(result, name), order, axis=1))
