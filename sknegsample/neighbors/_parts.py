"""A bank made of parts: the rows of several matrices, stacked without copying them.

The sampler's bank is ``np.vstack([point, counter])``; for a bank on disk
that copy is exactly what must not happen. :class:`BankParts` keeps the
parts as they are (arrays in memory, :class:`~sknegsample.utils._mmap.FileRows`
on disk) and reads any range or any set of rows on demand, in the metric's
space: rows are converted to the dtype an in-memory fit would have
(float16 becomes float64, as ``check_array`` does) and normalised for
cosine, row by row, so a row read here equals the same row of an in-memory
fit bit for bit.
"""

from __future__ import annotations

import numpy as np

from ..utils._mmap import FileRows, is_file_backed
from ._distances import check_float32_range, normalize_rows


def working_dtype(dtypes) -> np.dtype:
    """The dtype an in-memory fit gives rows of these dtypes (float32 or float64)."""
    kept = [np.dtype(np.float64) if np.dtype(d) not in (np.float32, np.float64) else np.dtype(d)
            for d in dtypes]
    return np.result_type(*kept)


def prepare_rows(rows: np.ndarray, metric: str, dtype, input_name: str,
                 scale: float | None = None) -> np.ndarray:
    """Rows in the search's space: ``dtype``, normalised for cosine, range-checked.

    Queries are checked against the search's ``scale``; bank rows (``None``)
    only for float64 overflow: each shard checks its scaled float32 range.
    """
    rows = np.asarray(rows, dtype=dtype)
    if metric == "cosine":
        return normalize_rows(rows, input_name)
    check_float32_range(rows, input_name, scale)
    return rows


class BankParts:
    """The rows of ``parts`` stacked, in the metric's space, read on demand.

    Parameters
    ----------
    parts : list of ndarray or file-backed memmap
        2-D, the same number of columns.
    metric : {"euclidean", "cosine"}
        Rows are normalised when read for cosine.
    input_name : str
        Named in validation messages.

    Examples
    --------
    >>> import numpy as np
    >>> from sknegsample.neighbors._parts import BankParts
    >>> bank = BankParts([np.ones((2, 3), np.float32), np.zeros((1, 3), np.float32)],
    ...                  "euclidean")
    >>> bank.shape, bank.rows(1, 3).tolist()
    ((3, 3), [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    >>> bank[np.array([2, 0])].tolist()
    [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """

    def __init__(self, parts, metric: str = "euclidean", input_name: str = "X"):
        self.parts = [FileRows.from_memmap(p) if is_file_backed(p) else p for p in parts]
        self.metric = metric
        self.input_name = input_name
        self.bounds = np.cumsum([0] + [len(p) for p in self.parts])

    @property
    def dtype(self) -> np.dtype:
        return working_dtype(p.dtype for p in self.parts)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.bounds[-1]), int(self.parts[0].shape[1])

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def on_disk(self) -> bool:
        return any(isinstance(p, FileRows) for p in self.parts)

    @property
    def nbytes(self) -> int:
        """Bytes of the rows once read (working dtype)."""
        return self.shape[0] * self.shape[1] * self.dtype.itemsize

    def _raw(self, index: int, start: int, stop: int) -> np.ndarray:
        part = self.parts[index]
        return part.read(start, stop) if isinstance(part, FileRows) else part[start:stop]

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` prepared (a view of an in-memory part when nothing changes)."""
        pieces = []
        for index in range(len(self.parts)):
            lo, hi = self.bounds[index], self.bounds[index + 1]
            if hi > start and lo < stop:
                pieces.append(self._raw(index, max(start, lo) - lo, min(stop, hi) - lo))
        raw = pieces[0] if len(pieces) == 1 else np.concatenate(pieces) if pieces else \
            np.empty((0, self.shape[1]), self.dtype)
        return prepare_rows(raw, self.metric, self.dtype, self.input_name)

    def __getitem__(self, ids) -> np.ndarray:
        """Rows by bank id (an int array), prepared; a slice reads a range."""
        if isinstance(ids, slice):
            start, stop, step = ids.indices(len(self))
            if step == 1:
                return self.rows(start, stop)
            ids = np.arange(start, stop, step)
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.shape[1]), dtype=self.dtype)
        part_of = np.searchsorted(self.bounds, ids, side="right") - 1
        for index in np.unique(part_of):
            mine = np.flatnonzero(part_of == index)
            local = ids[mine] - self.bounds[index]
            part = self.parts[index]
            out[mine] = part.take(local) if isinstance(part, FileRows) else part[local]
        return prepare_rows(out, self.metric, self.dtype, self.input_name)

    def blocks(self, max_rows: int, start: int = 0, stop: int | None = None):
        """``(lo, hi)`` of consecutive blocks of rows ``start:stop``, ``max_rows`` at most."""
        stop = len(self) if stop is None else stop
        return [(lo, min(lo + max_rows, stop)) for lo in range(start, stop, max(1, max_rows))]
