"""Embedding matrices that stay on disk: read by explicit reads, never through a mapping.

``np.load(path, mmap_mode="r")`` gives a :class:`numpy.memmap`: nothing is
read until a row is touched, but every page touched through the mapping then
counts in the process's resident memory (``RssFile``) for as long as the
mapping lives, which is as long as the caller holds the array. Searching a
bank through its mapping would therefore end with the whole bank resident.
:class:`FileRows` records where the rows are (file, byte offset, dtype,
shape) and reads them with ``np.fromfile`` (contiguous rows, no mapping) or
through a short-lived mapping that is closed after each batch of scattered
rows (gathers), so what is resident is bounded by the batch, not the file.
It pickles as those four fields, which is what a Dask task ships.

Measured here (2M x 128 float16 bank, ``benchmarks/out_of_core.py``): reading
it in 64 MiB shards with ``np.fromfile`` left the resident set where it was;
the same loop over slices of the caller's memmap grew it by the file's size.
"""

from __future__ import annotations

import mmap
import os

import numpy as np
from sklearn import get_config
from sklearn.utils.validation import _check_feature_names, _check_n_features

#: dtypes a bank on disk may have; float16 is read as float64, as
#: ``check_array`` converts it (so results equal an in-memory fit's).
FILE_DTYPES = (np.float16, np.float32, np.float64)

# Scattered rows read per short-lived mapping: at most this many pages
# become resident at once (16 MiB of 4 KiB pages).
_GATHER_ROWS = 4096

# Share of sklearn's working_memory read at once while scanning a whole
# file (validation, max, min).
_SCAN_SHARE = 4


def is_file_backed(array) -> bool:
    """Whether ``array`` is a C-contiguous 2-D float memmap of a file (see :class:`FileRows`)."""
    if isinstance(array, FileRows):
        return True
    return (isinstance(array, np.memmap) and array.ndim == 2 and array.flags.c_contiguous
            and array.dtype in FILE_DTYPES and getattr(array, "filename", None) is not None
            and getattr(array, "_mmap", None) is not None and array.size > 0)


class FileRows:
    """The rows of a 2-D array stored in a file, read on demand; array-like.

    Indexing (a slice, an int, an int array) reads those rows and returns
    them as an ndarray in ``dtype``: the dtype validation would give them
    (float16 becomes float64, as ``check_array`` converts it). ``shape``,
    ``ndim``, ``size``, ``max()`` and ``min()`` are there too (the last two
    read the file in blocks), so code written for an in-memory matrix that
    reads it in row blocks works on the file unchanged.

    Parameters
    ----------
    path : str
        The file.
    offset : int
        Byte offset of element ``[0, 0]`` (a ``.npy`` file's header length).
    file_dtype : numpy dtype
        float16, float32 or float64, as stored.
    shape : tuple of int
        ``(n_rows, n_features)``, rows stored contiguously (C order).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sknegsample.utils._mmap import FileRows
    >>> path = os.path.join(tempfile.mkdtemp(), "bank.npy")
    >>> np.save(path, np.arange(12, dtype=np.float16).reshape(4, 3))
    >>> rows = FileRows.from_memmap(np.load(path, mmap_mode="r"))
    >>> rows.shape, rows.dtype.name, rows[1:3].tolist()
    ((4, 3), 'float64', [[3.0, 4.0, 5.0], [6.0, 7.0, 8.0]])
    >>> rows[np.array([3, 0])].tolist(), float(rows.max())
    ([[9.0, 10.0, 11.0], [0.0, 1.0, 2.0]], 11.0)
    """

    def __init__(self, path: str, offset: int, file_dtype, shape: tuple[int, int]):
        self.path = os.fspath(path)
        self.offset = int(offset)
        # A name, not a dtype object: skops files then trust no numpy type.
        self.file_dtype_name = np.dtype(file_dtype).name
        self.shape = (int(shape[0]), int(shape[1]))

    @classmethod
    def from_memmap(cls, array: np.memmap) -> FileRows:
        """Where a memmap's rows lie in its file, slices of a larger memmap included.

        ``memmap.offset`` is the offset the file was opened at and slices
        inherit it unchanged; the data's own position is found from its
        address inside the mapping, which starts at that offset rounded
        down to the allocation granularity.
        """
        if isinstance(array, FileRows):
            return array
        mapping = np.frombuffer(array._mmap, dtype=np.uint8)
        start = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
        offset = start + (array.ctypes.data - mapping.ctypes.data)
        return cls(array.filename, offset, array.dtype, array.shape)

    @property
    def file_dtype(self) -> np.dtype:
        return np.dtype(self.file_dtype_name)

    @property
    def dtype(self) -> np.dtype:
        """The dtype rows are returned in (validation's: float16 becomes float64)."""
        return np.dtype(np.float64) if self.file_dtype == np.float16 else self.file_dtype

    @property
    def ndim(self) -> int:
        return 2

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            rows = self.read(start, stop) if step == 1 else \
                self.take(np.arange(start, stop, step))
        elif isinstance(key, (int, np.integer)):
            rows = self.read(int(key), int(key) + 1)[0]
        elif isinstance(key, tuple):
            raise TypeError("FileRows is indexed by rows only (a slice, an int or an int "
                            f"array); got a tuple {key!r}.")
        else:
            rows = self.take(np.asarray(key))
        return rows.astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None):
        # The whole file in memory: only for code that needs it all at once.
        out = np.concatenate([block for _, block in self.blocks()]).astype(self.dtype)
        return out if dtype is None else out.astype(dtype, copy=False)

    def max(self):
        return max(block.max() for _, block in self.blocks()).astype(self.dtype)

    def min(self):
        return min(block.min() for _, block in self.blocks()).astype(self.dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` in the stored dtype, read without mapping the file."""
        n_features = self.shape[1]
        start, stop = max(0, start), min(stop, self.shape[0])
        count = max(0, stop - start) * n_features
        out = np.fromfile(self.path, dtype=self.file_dtype, count=count,
                          offset=self.offset + start * n_features * self.file_dtype.itemsize)
        if out.size != count:
            raise OSError(f"{self.path} ended before row {stop}: it holds fewer rows than "
                          f"the {self.shape[0]} recorded when the bank was fitted.")
        return out.reshape(-1, n_features)

    def take(self, ids: np.ndarray) -> np.ndarray:
        """Rows ``ids`` (any order, repeats allowed) in the stored dtype."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.shape[1]), dtype=self.file_dtype)
        for first in range(0, len(ids), _GATHER_ROWS):
            batch = slice(first, first + _GATHER_ROWS)
            # A mapping per batch, closed when `view` goes: the pages it
            # touched leave the resident set with it.
            view = np.memmap(self.path, dtype=self.file_dtype, mode="r", offset=self.offset,
                             shape=self.shape)
            out[batch] = view[ids[batch]]
            del view
        return out

    def blocks(self, max_bytes: int | None = None):
        """``(start, rows)`` blocks in order (stored dtype), a quarter of working_memory each."""
        if max_bytes is None:
            max_bytes = int(get_config()["working_memory"] * 2**20 // _SCAN_SHARE)
        step = max(1, max_bytes // (self.shape[1] * self.file_dtype.itemsize))
        for start in range(0, self.shape[0], step):
            yield start, self.read(start, start + step)

    def __repr__(self) -> str:
        return (f"FileRows({self.path!r}, offset={self.offset}, "
                f"file_dtype={self.file_dtype.name}, shape={self.shape})")


def check_file_rows(array, input_name: str) -> FileRows:
    """Validate a bank on disk block by block: float dtype, 2-D, finite, non-empty."""
    rows = FileRows.from_memmap(array)
    if rows.shape[0] < 1 or rows.shape[1] < 1:
        raise ValueError(f"{input_name} must have at least one row and one column; got shape "
                         f"{rows.shape}.")
    for start, block in rows.blocks():
        finite = np.isfinite(block)
        if not finite.all():
            row = start + int(np.flatnonzero(~finite.all(axis=1))[0])
            raise ValueError(f"{input_name} contains NaN or infinity (row {row} of the file "
                             f"{rows.path}); every value must be finite.")
    return rows


def validate_file_backed_pairs(estimator, X, y, *, reset: bool = True):
    """``validate_pairs`` for memmaps on disk: checked in blocks, returned as :class:`FileRows`.

    ``X`` is a file-backed memmap (:func:`is_file_backed`); ``y`` a memmap
    of the same shape, an in-memory counter matrix, a 1-D label vector or
    None. Sets ``n_features_in_`` like ``validate_data``. Memmaps come back
    as :class:`FileRows`, which read the file without mapping it.
    """
    from ._validation import check_embeddings, naming

    _check_n_features(estimator, X, reset=reset)
    _check_feature_names(estimator, X, reset=reset)
    X = check_file_rows(X, "X")
    if y is None:
        return X, None
    if is_file_backed(y) or np.ndim(y) == 2:
        if is_file_backed(y):
            y = check_file_rows(y, "y")
        else:
            y = check_embeddings(y, input_name="y")
        if tuple(y.shape) != tuple(X.shape):
            raise ValueError(
                "y (the counter embeddings) must have the same shape as X (the point "
                f"embeddings): expected {tuple(X.shape)}, got {tuple(y.shape)}. Row i of y "
                "is the positive of row i of X."
            )
        return X, y
    from sklearn.utils import check_array

    with naming("y"):
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(
            "y as a 1-D label vector must have one label per row of X: expected "
            f"{X.shape[0]} labels, got an array of shape {y.shape}."
        )
    return X, y
