"""Input validation shared by the estimators.

Every message names the argument, what was expected and what was received,
the way scikit-learn's parameter validation does.
"""

from __future__ import annotations

import contextlib
import numbers
import re

import numpy as np
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._mmap import is_file_backed, validate_file_backed_pairs

# float32 is kept as it is (half the memory, and what the GEMM runs in);
# every other numeric dtype, float16 and integers included, becomes float64.
FLOAT_DTYPES = (np.float64, np.float32)


def check_embeddings(array, *, input_name: str) -> np.ndarray:
    """Validate one 2-D embedding matrix without an estimator.

    Parameters
    ----------
    array : array-like of shape (n_rows, n_features)
        The matrix to check.
    input_name : str
        Name of the argument, used in error messages.

    Returns
    -------
    array : ndarray of shape (n_rows, n_features)
        float32 or float64, finite, at least one row and one column.
    """
    _reject_non_2d(array, input_name)
    with naming(input_name):
        return check_array(
            array,
            dtype=FLOAT_DTYPES,
            ensure_all_finite=True,
            input_name=input_name,
        )


def validate_queries(estimator, X, *, input_name: str = "X") -> np.ndarray:
    """``validate_data(estimator, X, reset=False)`` for a fitted estimator's queries.

    Adds the 2-D check and the argument name to every message.
    """
    _reject_non_2d(X, input_name)
    with naming(input_name):
        return validate_data(estimator, X=X, reset=False, dtype=FLOAT_DTYPES)


@contextlib.contextmanager
def naming(input_name: str):
    """Prefix the argument name to a validation error that does not mention it.

    Some of scikit-learn's and numpy's messages ("Found array with 0
    sample(s)", "could not convert string to float", "Complex data not
    supported") do not say which argument they are about. Inside it numpy's
    overflow and invalid-value warnings are off: scikit-learn's finiteness
    check sums the array, and ``inf + -inf`` (or a float16 sum past 65504)
    warned before its own clear "contains infinity" error.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            yield
    except (ValueError, TypeError) as exc:
        if re.search(rf"\b{re.escape(input_name)}\b", str(exc)):
            raise
        kind = ValueError if isinstance(exc, ValueError) else TypeError
        raise kind(f"{input_name} is invalid: {exc}") from exc


def _ndim(array) -> int | None:
    """Number of dimensions, or None for ragged input (check_array explains)."""
    ndim = getattr(array, "ndim", None)
    if isinstance(ndim, int):
        return ndim
    try:
        # np.asarray rather than np.ndim: array-likes may refuse numpy's
        # array functions but still convert.
        return np.asarray(array).ndim
    except (ValueError, TypeError):
        return None


def _reject_non_2d(array, input_name: str) -> None:
    """Raise a clear error for 1-D / 3-D input before sklearn's generic one."""
    ndim = _ndim(array)
    if ndim is not None and ndim != 2:
        raise ValueError(
            f"{input_name} must be a 2-D array of shape (n_samples, n_features); "
            f"got an array with {ndim} dimension(s) and shape {np.shape(np.asarray(array))}. "
            "Reshape your data with array.reshape(1, -1) if it is a single embedding."
        )


def validate_pairs(estimator, X, y, *, reset: bool = True, keep_on_disk: bool = False):
    """Validate ``fit``'s point matrix ``X`` and its ``y``.

    ``y`` may be a counter matrix of the same shape as ``X`` (paired mode),
    a 1-D label vector (label mode: rows sharing a label are never each
    other's negatives), or None (every row is its own group). With
    ``keep_on_disk``, memory-mapped matrices come back as file-backed rows
    (for a search that streams its bank); otherwise they are read in.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples, n_features), ndarray of shape (n_samples,) or None
    """
    if keep_on_disk and is_file_backed(X):
        # A bank on disk stays there: checked in blocks, never loaded (_mmap).
        return validate_file_backed_pairs(estimator, X, y, reset=reset)
    _reject_non_2d(X, "X")
    if y is None:
        with naming("X"):
            X = validate_data(estimator, X=X, reset=reset, dtype=FLOAT_DTYPES)
        return X, None
    y_ndim = _ndim(y)
    if y_ndim == 2:
        with naming("X"):
            X = validate_data(estimator, X=X, reset=reset, dtype=FLOAT_DTYPES)
        y = check_embeddings(y, input_name="y")
        if y.shape != X.shape:
            raise ValueError(
                "y (the counter embeddings) must have the same shape as X (the "
                f"point embeddings): expected {X.shape}, got {y.shape}. Row i of y "
                "is the positive of row i of X."
            )
        return X, y
    if y_ndim == 1:
        with naming("X"):
            X = validate_data(estimator, X=X, reset=reset, dtype=FLOAT_DTYPES)
        with naming("y"):
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                "y as a 1-D label vector must have one label per row of X: "
                f"expected {X.shape[0]} labels, got {y.shape[0]}."
            )
        _check_comparable_labels(y)
        return X, y
    raise ValueError(
        "y must be a 2-D counter matrix of the same shape as X, a 1-D label vector "
        f"or None; got an array with {y_ndim} dimensions."
    )


def _check_comparable_labels(y: np.ndarray) -> None:
    """Labels are grouped by sorting: an object array must hold one comparable kind.

    Without this, ``np.unique`` inside the search fails with "'<' not
    supported between instances of 'int' and 'str'", naming nothing.
    """
    if y.dtype != object:
        return
    try:
        np.unique(y)
    except TypeError:
        kinds = sorted({type(label).__name__ for label in y})
        raise ValueError(
            "y as a 1-D label vector must hold labels of one comparable kind (all numbers "
            f"or all strings); got labels of types {kinds}."
        ) from None


def check_indices(indices, *, n_queries: int, n_indexable: int, name: str = "indices"):
    """Validate anchor positions passed alongside queries.

    Parameters
    ----------
    indices : array-like of int of shape (n_queries,) or None
        Position of each query row among the fitted anchors.
    n_queries : int
        Number of query rows the indices must match.
    n_indexable : int
        Indices must lie in ``[0, n_indexable)``.
    name : str, default="indices"
        Argument name used in messages.

    Returns
    -------
    indices : ndarray of int64 of shape (n_queries,) or None
    """
    if indices is None:
        return None
    arr = np.asarray(indices)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of anchor positions; got shape {arr.shape}."
        )
    if arr.shape[0] != n_queries:
        raise ValueError(
            f"{name} must have one entry per query row: expected {n_queries}, "
            f"got {arr.shape[0]}."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            raise TypeError(
                f"{name} must hold integers; got dtype {arr.dtype}. Cast whole "
                f"numbers explicitly with {name}.astype(int)."
            )
        raise TypeError(f"{name} must hold integers; got dtype {arr.dtype}.")
    # The range is checked in the input's own dtype: a uint64 above 2**63
    # cast to int64 first would be reported as a negative number.
    outside = (arr < 0) | (arr >= n_indexable)
    if outside.any():
        raise ValueError(
            f"{name} must lie in [0, {n_indexable}) (the fitted anchors); "
            f"got {arr[outside][0].item()}."
        )
    return arr.astype(np.int64, copy=False)


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Check an integer argument that is not a constructor parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value}.")
    return int(value)
