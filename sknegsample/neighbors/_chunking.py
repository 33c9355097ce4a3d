"""Rows per chunk of work: ``working_memory`` on the host, free memory on a GPU."""

from __future__ import annotations

import torch
from sklearn import get_config


def gpu_chunk_rows(row_bytes: int, n_rows: int, free_bytes: int) -> int:
    """Rows per brute-force chunk on a GPU: a quarter of its free memory.

    ``working_memory`` is sized for host RAM (1 GiB by default): on a GPU it
    would cut a 2M-row bank into 67-row score blocks, far too small to keep
    the device busy. The score block lives in device memory, so it is sized
    from what the device has free instead.
    """
    rows = int(free_bytes // 4 // max(row_bytes, 1))
    return max(1, min(rows, max(n_rows, 1)))


def _free_device_bytes(device: str) -> int:
    if str(device).startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    return 0


def chunk_rows(row_bytes: int, n_rows: int, working_memory=None) -> int:
    """Rows per chunk so that one chunk's scratch fits ``working_memory`` MiB.

    Follows scikit-learn's ``working_memory`` setting (``sklearn.set_config``)
    when ``working_memory`` is None; at least one row.
    """
    if working_memory is None:
        working_memory = get_config()["working_memory"]
    rows = int(working_memory * 2**20 // max(row_bytes, 1))
    return max(1, min(rows, max(n_rows, 1)))


def _effective_threads(n_jobs) -> int:
    from joblib import effective_n_jobs

    return max(1, effective_n_jobs(n_jobs))



# Cap on the rows of one brute-force score block on the CPU: 6552 queries x
# 40k x 384 took 1.37-1.39 s in 1024- or 2048-row chunks against 1.55 s in
# the 3276 rows that the default 1 GiB allows (addmm + topk).
_BRUTE_MAX_ROWS = 2048


def search_chunk_rows(algorithm: str, device: str, n_pool: int, n_features: int,
                      n_queries: int, n_fetch: int, working_memory=None) -> int:
    """Queries per chunk of a :class:`~sknegsample.neighbors.NeighborSearch` call.

    Brute force: one float32 score block row plus selection scratch per
    query against the ``n_pool`` candidates, at most 2048 rows on the CPU,
    and sized from the free device memory on a GPU. Other backends: the
    float64 re-rank of ``n_fetch`` candidates per query.
    """
    if algorithm == "brute":
        row_bytes = 8 * n_pool
        rows = chunk_rows(row_bytes, n_queries, working_memory)
        if device == "cpu":
            return min(rows, _BRUTE_MAX_ROWS)
        return max(rows, gpu_chunk_rows(row_bytes, n_queries, _free_device_bytes(device)))
    return chunk_rows(8 * n_fetch * n_features * 2, n_queries, working_memory)
