"""Torch brute force: one float32 GEMM per score block, exclusions before selection.

The default backend, on the CPU (torch's MKL GEMM) and on CUDA. It scores a
block of queries against the whole bank, sets excluded pairs to ``inf`` and
selects with the two-stage top-k of :mod:`sknegsample.neighbors._select`;
bank rows queried against the bank share their symmetric block
(:meth:`TorchBruteBackend.bank_row_candidates`).
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

    def _score(self, out: torch.Tensor, queries: torch.Tensor, first: int, last: int) -> None:
        """``out = |b|^2 - 2 q.b`` for bank rows ``first:last``; ``out`` contiguous.

        torch's GEMM only writes in place into a contiguous block: into a
        strided view it computes elsewhere and copies (2048 x 40k x 384: 135
        against 188 GFLOP/s). numpy's OpenBLAS GEMM is faster on small blocks
        here (160-180 against 130-140 GFLOP/s below 2048 x 4k) but its
        threads spin after each call and take the 2 cores from torch's
        selection: mixing the two ran 1.1-5x slower than torch alone.
        """
        torch.addmm(self._sq_norms[first:last], queries, self._bank[first:last].T,
                    alpha=-2.0, out=out)

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

    def _score_columns(self, queries, first, last, scratch, offset=0):
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
                self._score(block, queries, lo, hi)
                blocks.append((lo, block))
        return blocks, offset

    def candidates(self, queries32, queries_exact, k, exclude_rows=None, exclude_cols=None,
                   scratch=None, window: DistanceWindow | None = None):
        q = _tensor(queries32, self.device)
        q_sq = (q * q).sum(dim=1, keepdim=True)
        blocks, _ = self._score_columns(q, 0, self._bank.shape[0], scratch)
        bounds = None if window is None else _block_bounds(window, q_sq)
        values, ids = _smallest_in_blocks(blocks, k, exclude_rows, exclude_cols, bounds)
        if window is not None:
            window.n_below = bounds[2].cpu().numpy().astype(np.int64)
        return _candidates_to_numpy(ids, values + q_sq)

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


def _smallest_in_blocks(blocks, k, exclude_rows=None, exclude_cols=None, bounds=None):
    """The ``k`` smallest scores of each row across ``[(first id, block)]``, with ids.

    Excluded ``(row, bank id)`` pairs are set to ``inf`` first. With
    ``bounds`` (see :func:`_block_bounds`) only scores inside them count:
    see :func:`_select_in_window`.
    """
    if exclude_rows is not None and len(exclude_rows):
        for lo, block in blocks:
            inside = (exclude_cols >= lo) & (exclude_cols < lo + block.shape[1])
            _exclude(block, exclude_rows[inside], exclude_cols[inside] - lo)
    if bounds is None:
        return _select(blocks, k)
    return _select_in_window(blocks, k, *bounds)


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


# Scores selected beyond k, so that a row's floor can strike out that many
# without a pass over its block: masking a block (compare, count, fill)
# costs about its GEMM, a selection 32 wider a fraction of that.
_FLOOR_SLACK = 32
# Rows of a block probed first, and the share of them with more than
# _FLOOR_SLACK scores under their floor above which the whole block is masked
# before one selection instead. Real text pairs under positive_margin=0.95
# (12k docstrings x 384): median 20 scores under the floor, but 44% of rows
# over 32 and 12% over 1024 (up to half the bank).
_PROBE_ROWS = 64
_MASK_FIRST_SHARE = 0.25


def _select_in_window(blocks, k, low, high, n_below):
    """The ``k`` smallest scores inside ``[low, high]`` per row; counts those below.

    Scores below a row's floor are all smaller than any score above it, so
    the ``k + _FLOOR_SLACK`` smallest of a row hold every score below the
    floor whenever they hold one above it: then the count below is exact
    and the ``k`` smallest above the floor are among them. Rows whose
    selection is all (or all but fewer than ``k``) below the floor are
    masked and selected again, from their rows of the blocks still in
    memory; when a probe of the first rows says most rows would be, the
    whole block is masked first. The ceiling needs no pass: the smallest
    scores above the floor that exceed it are dropped after the selection.
    """
    if low is None:
        values, ids = _select(blocks, k)
    elif _mostly_deep(blocks, k, low):
        for _, block in blocks:
            _mask_outside(block, low, None, n_below)
        values, ids = _select(blocks, k)
    else:
        values, ids = _select(blocks, k + _FLOOR_SLACK)
        redo = _deep_rows(values, k, low)
        below = values < low
        n_below += below.sum(dim=1)
        values = values.masked_fill(below, math.inf)
        if len(redo):
            rows = [(lo, block[redo]) for lo, block in blocks]  # copies of those rows
            counts = torch.zeros(len(redo), dtype=n_below.dtype, device=n_below.device)
            for _, block in rows:
                _mask_outside(block, low[redo], None, counts)
            values[redo], ids[redo] = _select(rows, k + _FLOOR_SLACK)
            n_below[redo] = counts
        values, pos = torch.topk(values, k, dim=1, largest=False, sorted=False)
        ids = torch.gather(ids, 1, pos)
    if high is not None:
        outside = values > high
        values = values.masked_fill(outside, math.inf)
        ids = ids.masked_fill(outside, -1)
    return values, ids


def _deep_rows(values, k, low):
    """Rows whose wide selection may not reach ``k`` scores above their floor."""
    counted = torch.isfinite(values)
    above = (counted & (values >= low)).sum(dim=1)
    return torch.nonzero((above < k) & counted.all(dim=1))[:, 0]


def _mostly_deep(blocks, k, low) -> bool:
    """Whether most rows of the blocks have more than ``_FLOOR_SLACK`` under their floor."""
    n_rows = blocks[0][1].shape[0]
    if n_rows <= 2 * _PROBE_ROWS:
        return False
    values, _ = _select([(lo, block[:_PROBE_ROWS]) for lo, block in blocks], k + _FLOOR_SLACK)
    return len(_deep_rows(values, k, low[:_PROBE_ROWS])) > _MASK_FIRST_SHARE * _PROBE_ROWS


# Rows masked at a time: the boolean scratch of the comparison stays small
# (256 x 40k = 10 MB) next to the working_memory-sized score block.
_MASK_ROWS = 256
# numpy's pass over 32 rows at a time stays in cache (1.16x the GEMM against
# 1.37x at 256 rows, same block as below).
_NUMPY_MASK_ROWS = 32


def _block_bounds(window: DistanceWindow, q_sq: torch.Tensor):
    """Score thresholds ``(low, high, n_below)`` for a window, in block units.

    A block holds ``|b|^2 - 2 q.b``, the estimate less ``|q|^2``. Each row's
    thresholds are rounded outwards to float32 (one ulp), so a masked score
    is certainly outside the window the search asked for.
    """
    norms = q_sq[:, 0].cpu().numpy().astype(np.float64)
    low = np.nextafter((window.lower - norms).astype(np.float32), np.float32(-np.inf))
    high = np.nextafter((window.upper - norms).astype(np.float32), np.float32(np.inf))
    device = q_sq.device
    n_below = torch.zeros(len(norms), dtype=torch.int64, device=device)
    return (torch.from_numpy(low).to(device)[:, None] if np.isfinite(low).any() else None,
            torch.from_numpy(high).to(device)[:, None] if np.isfinite(high).any() else None,
            n_below)


def _mask_outside(block: torch.Tensor, low, high, n_below) -> None:
    """Set scores below ``low`` or above ``high`` to ``inf``; count those below."""
    if block.device.type == "cpu":
        _mask_outside_numpy(block.numpy(), None if low is None else low.numpy(),
                            None if high is None else high.numpy(), n_below.numpy())
        return
    for r0 in range(0, block.shape[0], _MASK_ROWS):
        rows = block[r0:r0 + _MASK_ROWS]
        if low is not None:
            below = rows < low[r0:r0 + _MASK_ROWS]
            n_below[r0:r0 + _MASK_ROWS] += below.sum(dim=1)
            rows.masked_fill_(below, math.inf)
        if high is not None:
            rows.masked_fill_(rows > high[r0:r0 + _MASK_ROWS], math.inf)


def _mask_outside_numpy(block, low, high, n_below) -> None:
    """:func:`_mask_outside` on the CPU, through numpy views of the same memory.

    torch's compare, bool sum and masked fill took 2.2x the block's GEMM
    (1024 x 24000 x 384, 2 busy cores); numpy's ``less``, ``count_nonzero``
    and ``copyto(where=)`` into one reused mask 1.2x.
    """
    step = _NUMPY_MASK_ROWS
    mask = np.empty((min(step, block.shape[0]), block.shape[1]), dtype=bool)
    for r0 in range(0, block.shape[0], step):
        rows = block[r0:r0 + step]
        m = mask[:len(rows)]
        if low is not None:
            np.less(rows, low[r0:r0 + step], out=m)
            n_below[r0:r0 + step] += np.count_nonzero(m, axis=1)
            np.copyto(rows, np.float32(np.inf), where=m)
        if high is not None:
            np.greater(rows, high[r0:r0 + step], out=m)
            np.copyto(rows, np.float32(np.inf), where=m)


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


def _exclude(scores: torch.Tensor, rows: np.ndarray, cols: np.ndarray) -> None:
    """Set the excluded ``(row, col)`` pairs of a score block to ``inf``."""
    if len(rows):
        device = scores.device
        scores[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = math.inf


def _candidates_to_numpy(ids: torch.Tensor, estimate: torch.Tensor):
    """Host arrays of candidate ids (int64) and squared-distance estimates (float64)."""
    estimate = estimate.cpu().numpy().astype(np.float64)
    ids = ids.cpu().numpy().astype(np.int64)
    # Excluded columns only surface when a row has fewer than k allowed.
    ids[~np.isfinite(estimate)] = -1
    return ids, estimate

