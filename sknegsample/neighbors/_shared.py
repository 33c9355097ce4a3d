"""When a query block is the bank's own rows: the symmetric path of brute force.

Mining every training anchor queries the bank with its own rows; the torch
brute force then scores each pair of those rows once
(:meth:`~sknegsample.neighbors.backends.TorchBruteBackend.bank_row_candidates`).
This module decides when the queries qualify and how large its blocks are.
"""

from __future__ import annotations

import numpy as np

# Queries per block when the queries are bank rows (bank_row_candidates):
# four blocks, so that most of the symmetric pairs are scored once (one block
# would score them all twice), but at least 1024 rows: each block costs a
# fixed ~1 ms of selection and merging besides its GEMM. Measured on 2k / 5k
# real pairs x 384, ms: 45 / 290 at 256 rows, 41 / 233 at 512, 38 / 213 at
# 1024, 39 / 212 at 1250.
_MIN_SHARED_BLOCK = 1024


def shared_block_rows(chunk: int, n_queries: int) -> int:
    """Query rows per block of the symmetric path (at most ``chunk``)."""
    return min(chunk, max(_MIN_SHARED_BLOCK, -(-n_queries // 4)))


def shared_rows(search, queries, query_labels, query_classes,
                bank_rows) -> tuple[int, int] | None:
    """``(start, stop)`` when ``queries`` are those pool rows of ``search``, with their labels.

    None when the backend has no symmetric path, or the rows, their labels
    or their classes differ from the bank's.
    """
    if bank_rows is None or not search.backend_.shares_bank_rows:
        return None
    start, stop, step = bank_rows.indices(search.n_bank_)
    pool_start, pool_stop = search.pool_range()
    if step != 1 or stop - start != queries.shape[0] or stop <= start or \
            start < pool_start or stop > pool_stop:
        return None
    groups = search.groups_
    if groups is not None and not (
            np.array_equal(query_labels, groups.labels[start:stop])
            and (groups.extra_ptr is None or np.array_equal(
                query_classes, np.arange(start, stop)))):
        return None
    return (start, stop) if np.array_equal(queries, search.bank_[start:stop]) else None
