"""Torch brute force: one float32 GEMM per score block, exclusions before selection.

The default backend, on the CPU (torch's MKL GEMM) and on CUDA. It scores a
block of queries against the whole bank, sets excluded pairs to ``inf`` and
selects with the two-stage top-k of :mod:`sknegsample.neighbors._select`;
bank rows queried against the bank share their symmetric block
(:meth:`TorchBruteBackend.bank_row_candidates`). A guard's floor is written
into the block and selected on without a masking pass
(:func:`_select_above_floor`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ...utils._device import _loadable_device, _tensor
from .._select import merge_smallest, smallest_per_column, smallest_per_row
from ._base import DistanceWindow, SearchBackend

# Output widths that keep MKL's GEMM fast (see TorchBruteBackend._score_columns).
_ALIGN = 8


# Blocks inside a scratch buffer start on 64-byte boundaries (16 floats); the
# scratch has room for the rounding of a few blocks.
_ALIGN_FLOATS = 16


_SLACK = 4 * _ALIGN_FLOATS


class TorchBruteBackend(SearchBackend):
    """Exact brute force: GEMM score blocks, then a two-stage top-k selection.

    Each block holds ``|b|^2 - 2 q.b`` for a chunk of queries against the
    bank (``|q|^2`` is the same along a row: it is added to the few values
    kept, for the estimate); excluded pairs are set to ``inf`` before the
    ``k`` smallest are chosen (:mod:`sknegsample.neighbors._select`).

    The GEMM is torch's (``torch.addmm``: MKL on the CPU, cuBLAS on a GPU),
    written in place into 64-byte aligned, contiguous blocks (see
    :meth:`_score` and :func:`_aligned_empty` for the measured reasons);
    numpy's OpenBLAS GEMM was tried and rejected because its spinning
    threads starve torch's selection on shared cores.
    """

    # Squared-distance estimates carry float32 rounding (see _search).
    estimate = "float32"
    shares_bank_rows = True
    masks_window = True

    def __init__(self, device: str = "cpu"):
        self.device = device

    def fit(self, bank32: np.ndarray, bank_exact: np.ndarray) -> TorchBruteBackend:
        self._bank = _tensor(bank32, self.device)
        self._sq_norms = (self._bank * self._bank).sum(dim=1)
        return self

    def __getstate__(self):
        # The tensors are rebuilt from the bank by restore().
        return {"device": self.device}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.device = _loadable_device(self.device)

    def restore(self, bank32: np.ndarray, bank_exact: np.ndarray) -> None:
        # Idempotent: a shallow copy of the search shares an intact backend.
        if not hasattr(self, "_bank"):
            self.fit(bank32, bank_exact)

    def scratch(self, n_rows: int):
        """Flat float32 buffer for the score blocks of one search call (rows x bank).

        A fresh 0.5 GB block per chunk costs its page faults every time;
        reusing one made the 20k x 40k x 384 search 7-10% faster here
        (benchmarks/compare_search.py). On the CPU it is numpy-owned, so
        ``tracemalloc`` accounts for it (tests/test_search.py checks the
        peak against ``working_memory``).
        """
        n_bank = self._bank.shape[0]
        if self.device == "cpu":
            return torch.from_numpy(_aligned_empty(n_rows * n_bank + _SLACK))
        return torch.empty(n_rows * n_bank + _SLACK, dtype=torch.float32, device=self.device)

    def _score(self, out: torch.Tensor, queries: torch.Tensor, first: int, last: int,
               floor=None) -> None:
        """``out = |b|^2 - 2 q.b`` for bank rows ``first:last``; ``out`` contiguous.

        With a per-row ``floor`` (block units), ``out = floor - |b|^2 + 2 q.b``
        instead: the floor less the score, negative inside the window and
        ``>= 0`` under the floor (see :func:`_select_above_floor`). It costs
        nothing more: ``addmm`` fills ``out`` with its bias before the GEMM
        either way, here a per-row one.

        torch's GEMM only writes in place into a contiguous block: into a
        strided view it computes elsewhere and copies (2048 x 40k x 384: 135
        against 188 GFLOP/s). numpy's OpenBLAS GEMM is faster on small blocks
        here (160-180 against 130-140 GFLOP/s below 2048 x 4k) but its
        threads spin after each call and take the 2 cores from torch's
        selection: mixing the two ran 1.1-5x slower than torch alone.
        """
        bank = self._bank[first:last]
        if floor is None:
            torch.addmm(self._sq_norms[first:last], queries, bank.T, alpha=-2.0, out=out)
            return
        torch.sub(floor, self._sq_norms[first:last], out=out)
        out.addmm_(queries, bank.T, alpha=2.0)

    def _block(self, scratch, n_rows: int, width: int, offset: int = 0) -> torch.Tensor:
        """A contiguous ``(n_rows, width)`` score block at ``offset`` in ``scratch``.

        A new block when ``scratch`` is None or too small.
        """
        size = n_rows * width
        if scratch is not None and scratch.numel() >= offset + size:
            return scratch.view(-1)[offset:offset + size].view(n_rows, width)
        if self.device == "cpu":
            return torch.from_numpy(_aligned_empty(size)).view(n_rows, width)
        return torch.empty((n_rows, width), device=self.device)

    def _score_columns(self, queries, first, last, scratch, offset=0, floor=None):
        """Score ``queries`` against bank rows ``first:last``: ``[(first id, block)]``.

        The blocks are a width that is a multiple of 8 and a tail of fewer
        than 8 columns: MKL's GEMM slows down when the rows of its output are
        not 32-byte aligned (512 x W x 384: 172 GFLOP/s at W=3646, 184-190
        at 3640, 3648 or 3656; 128 against 177 at 9999 and 10000).
        Returns the blocks and the scratch offset after them.
        """
        width = last - first
        aligned = width - width % _ALIGN
        blocks = []
        for lo, hi in ((first, first + aligned), (first + aligned, last)):
            if hi > lo:
                block = self._block(scratch, len(queries), hi - lo, offset)
                # The next block starts 64-byte aligned too (see _aligned_empty).
                offset += -(-block.numel() // _ALIGN_FLOATS) * _ALIGN_FLOATS
                self._score(block, queries, lo, hi, floor)
                blocks.append((lo, block))
        return blocks, offset

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None,
                   scratch=None, window: DistanceWindow | None = None):
        q = _tensor(queries32, self.device)
        q_sq = (q * q).sum(dim=1, keepdim=True)
        floor = None if window is None else self._block_floor(window, q_sq)
        blocks, _ = self._score_columns(q, 0, self._bank.shape[0], scratch, floor=floor)
        if floor is None:
            values, ids = _smallest_in_blocks(blocks, k, exclude_rows, exclude_cols)
            estimate = values + q_sq
        else:
            values, ids, n_below = _select_above_floor(blocks, k, exclude_rows, exclude_cols)
            window.n_below = n_below.cpu().numpy().astype(np.int64)
            # In float64: floor, block value and |q|^2 are float32 numbers.
            estimate = (floor.double() - values.double()) + q_sq.double()
        ids, estimate = _candidates_to_numpy(ids, estimate)
        if window is not None:
            if floor is None:
                window.n_below = np.zeros(len(estimate), dtype=np.int64)
            # The ceiling needs no pass over the block: the smallest scores
            # inside the floor that exceed it are dropped here.
            above = estimate > np.asarray(window.upper, dtype=np.float64)[:, None]
            estimate[above], ids[above] = np.inf, -1
        return ids, estimate

    def window(self, lower, upper, error, query_norms, max_norm):
        """The window, its floor clipped, and the error of the windowed estimates.

        A floor is written into the score block (:meth:`_score`), so an
        estimate there is ``|q|^2 + floor - (floor - |b|^2 + 2 q.b)``: the
        float32 sum of ``d + 2`` terms whose magnitudes add up to
        ``(|q| + |b|)^2 + |floor|``, where the plain estimate's add up to
        ``(|q| + |b|)^2`` (see :func:`~sknegsample.neighbors._exact.estimate_error_factor`).
        The error bound grows by that ratio, with 20% more for the window's own
        widening and rounding. The floor is first clipped to ``+-1.1 (|q| +
        max |b|)^2``: no squared distance reaches that far, and it keeps the
        ratio at most 3.3. On unit-norm rows the ratio stays near 1.2.
        """
        reach = (query_norms + max_norm) ** 2
        lower = np.clip(lower, -_FLOOR_REACH * reach, _FLOOR_REACH * reach)
        error = error * (1.2 + np.abs(lower - query_norms**2) / np.maximum(reach, _TINY))
        return DistanceWindow(lower - error, upper + error), error

    def _block_floor(self, window: DistanceWindow, q_sq: torch.Tensor):
        """The window's floor in block units (``lower - |q|^2``), or None without one.

        Rounded down to float32 (one ulp), so that a score under it is
        certainly under the floor the search asked for.
        """
        lower = np.asarray(window.lower, dtype=np.float64)
        if not (lower > 0).any():
            return None
        norms = q_sq[:, 0].cpu().numpy().astype(np.float64)
        low = np.nextafter((lower - norms).astype(np.float32), np.float32(-np.inf))
        return torch.from_numpy(low).to(self.device)[:, None]

    def bank_row_candidates(self, start, stop, k, exclude_rows=None, exclude_cols=None,
                            scratch=None, block_rows=None):
        """Candidates of bank rows ``start:stop`` as queries, as :meth:`candidates`.

        Mining every training anchor queries the bank with its own rows, and
        the distances among those rows form a symmetric block: each pair is
        computed once, for the earlier row's query, and the later row takes
        its candidates from that block's columns. The GEMM then does a
        quarter less work for paired data (anchors are half the bank) and
        half less when every bank row is an anchor. Exclusions must be
        symmetric (a query never receives a row of its own label group, and
        the row never receives it), which label groups are.

        ``exclude_rows`` (query positions, non-decreasing, as
        :meth:`~sknegsample.neighbors.LabelGroups.members` returns them) and
        ``exclude_cols`` (bank ids) list the excluded pairs. ``block_rows``
        queries are scored at a time, in ``scratch`` when it is large enough.
        """
        n_bank, n_queries = self._bank.shape[0], stop - start
        block_rows = block_rows or n_queries
        best = torch.full((n_queries, k), math.inf, device=self.device)
        best_ids = torch.full((n_queries, k), -1, dtype=torch.int64, device=self.device)
        for first in range(start, stop, block_rows):
            last = min(first + block_rows, stop)
            rows = self._bank[first:last]
            # Columns from this block's first anchor on, and those before the
            # anchors: the pairs with earlier anchors were scored when those
            # anchors were the queries.
            blocks, used = self._score_columns(rows, first, n_bank, scratch)
            blocks += self._score_columns(rows, 0, start, scratch, used)[0]
            in_block = None
            if exclude_rows is not None:
                lo, hi = np.searchsorted(exclude_rows, [first - start, last - start])
                in_block = (exclude_rows[lo:hi] - (first - start), exclude_cols[lo:hi])
            values, ids = _smallest_in_blocks(blocks, k, *(in_block or (None, None)))
            row_norms = self._sq_norms[first:last, None]
            mine = slice(first - start, last - start)
            best[mine], best_ids[mine] = merge_smallest(best[mine], best_ids[mine],
                                                        values + row_norms, ids)
            for lo, block in blocks:
                # The later anchors' columns: add this block's row norms so
                # that they hold full squared distances, comparable down a
                # column, and give each later anchor its nearest rows here.
                col_lo, col_hi = max(lo, last), min(lo + block.shape[1], stop)
                if col_hi <= col_lo:
                    continue
                later = block[:, col_lo - lo:col_hi - lo]
                later += row_norms
                values, nearest = smallest_per_column(later, k)
                ids = torch.where(nearest >= 0, nearest + first, -1)
                theirs = slice(col_lo - start, col_hi - start)
                best[theirs], best_ids[theirs] = merge_smallest(
                    best[theirs], best_ids[theirs], values, ids)
        return _candidates_to_numpy(best_ids, best)


def _smallest_in_blocks(blocks, k, exclude_rows=None, exclude_cols=None):
    """The ``k`` smallest scores of each row across ``[(first id, block)]``, with ids.

    Excluded ``(row, bank id)`` pairs are set to ``inf`` first.
    """
    _exclude_in_blocks(blocks, exclude_rows, exclude_cols, math.inf)
    return _select(blocks, k)


def _select(blocks, k):
    values = ids = None
    for lo, block in blocks:
        block_values, cols = smallest_per_row(block, k)
        block_ids = torch.where(cols >= 0, cols + lo, -1)
        if values is None:
            values, ids = block_values, block_ids
        else:
            values, ids = merge_smallest(values, ids, block_values, block_ids)
    return values, ids


# A floor is clipped this far beyond the largest possible squared distance
# (see TorchBruteBackend.window).
_FLOOR_REACH = 1.1
_TINY = np.finfo(np.float64).tiny


def _select_above_floor(blocks, k, exclude_rows=None, exclude_cols=None):
    """The ``k`` smallest scores above each row's floor, with ids, and the count below.

    The blocks hold ``floor - score`` (:meth:`TorchBruteBackend._score`):
    negative inside the window, ``>= 0`` under the floor. Read as int32, the
    bits of negative floats order the other way round and sit below those
    of every non-negative float, so the ``k`` smallest int32 values are the
    ``k`` negatives nearest zero, i.e. the ``k`` smallest scores above the
    floor, and a selection on the raw block needs no masking pass. Excluded
    pairs become ``-inf`` (after every score inside the window, before those
    under it, and not counted). Masking each block before selecting (the
    previous way: compare, count and masked fill) made positive_margin=0.95
    1.72x plain mining on 12k docstrings x 384; with the floor in the block
    and a count alone, 1.21x (benchmarks/option_costs.py). Returns values
    (``-inf`` with id -1 where a row has fewer than ``k``), ids, and the
    count under the floor per row.
    """
    _exclude_in_blocks(blocks, exclude_rows, exclude_cols, -math.inf)
    n_below = None
    for _, block in blocks:
        below = _count_at_least_zero(block)
        n_below = below if n_below is None else n_below + below
    values, ids = _select([(lo, block.view(torch.int32)) for lo, block in blocks], k)
    values = values.view(torch.float32)
    outside = ~(values < 0) | torch.isinf(values) | (ids < 0)
    # -inf: the estimate floor - value + |q|^2 is then +inf, as for a missing id.
    return values.masked_fill(outside, -math.inf), ids.masked_fill(outside, -1), n_below


# numpy compares and counts 32 rows at a time, in cache (a 24000-wide block:
# 13 ms per 1024 rows against 31 for compare, count and masked fill).
_COUNT_ROWS = 32


def _count_at_least_zero(block: torch.Tensor) -> torch.Tensor:
    """Per row, how many entries of ``block`` are ``>= 0`` (under the floor)."""
    if block.device.type != "cpu":
        return (block >= 0).sum(dim=1)
    values = block.numpy()
    counts = np.zeros(len(values), dtype=np.int64)
    mask = np.empty((min(_COUNT_ROWS, len(values)), values.shape[1]), dtype=bool)
    for r0 in range(0, len(values), _COUNT_ROWS):
        rows = values[r0:r0 + _COUNT_ROWS]
        m = mask[:len(rows)]
        np.greater_equal(rows, 0, out=m)
        # Bytes summed as uint8 into int32: numpy's count_nonzero(axis=)
        # casts to intp first (1.25x slower).
        counts[r0:r0 + _COUNT_ROWS] = np.add.reduce(m.view(np.uint8), axis=1, dtype=np.int32)
    return torch.from_numpy(counts)


def _aligned_empty(size: int) -> np.ndarray:
    """An uninitialised float32 array of ``size`` whose data is 64-byte aligned.

    numpy aligns large arrays to 16 bytes only, and MKL's GEMM writes 30%
    slower into such a block: 1250 x 8744 x 384 ran at 130 GFLOP/s into
    ``np.empty`` (address 16 mod 64) against 178-181 into a 64-byte aligned
    block. numpy-owned all the same, so tracemalloc still sees it.
    """
    raw = np.empty(4 * size + 64, dtype=np.uint8)
    shift = -raw.ctypes.data % 64
    return raw[shift:shift + 4 * size].view(np.float32)


def _exclude_in_blocks(blocks, exclude_rows, exclude_cols, value: float) -> None:
    """Set the excluded ``(row, bank id)`` pairs of ``[(first id, block)]`` to ``value``."""
    if exclude_rows is None or not len(exclude_rows):
        return
    for lo, block in blocks:
        inside = (exclude_cols >= lo) & (exclude_cols < lo + block.shape[1])
        if inside.any():
            device = block.device
            block[torch.from_numpy(exclude_rows[inside]).to(device),
                  torch.from_numpy(exclude_cols[inside] - lo).to(device)] = value


def _candidates_to_numpy(ids: torch.Tensor, estimate: torch.Tensor):
    """Host arrays of candidate ids (int64) and squared-distance estimates (float64)."""
    estimate = estimate.cpu().numpy().astype(np.float64)
    ids = ids.cpu().numpy().astype(np.int64)
    # Excluded columns only surface when a row has fewer than k allowed.
    ids[~np.isfinite(estimate)] = -1
    return ids, estimate

