"""Column selections of the scorer (retrieval and head views) and its ``y`` check."""

from __future__ import annotations

import numpy as np


def _check_counter_y(y, method, name="y"):
    """Reject a missing or 1-D ``y`` before generic validation blurs the reason."""
    expected = (f"BallTreePairScorer.{method} needs {name} = counter embeddings of shape "
                "(n_pairs, n_features), the positive of each row of X")
    if y is None:
        # Worded the way scikit-learn's check_requires_y_none expects.
        raise ValueError(f"{expected}: it requires y to be passed, but the target y is None.")
    ndim = y.ndim if hasattr(y, "ndim") else np.ndim(y)
    if ndim != 2:
        raise ValueError(
            f"{expected}; got an array with {ndim} dimension(s). Labels are not "
            "supported: pass the counter matrix."
        )


def _resolve_columns(columns, n_features, name) -> np.ndarray:
    """Column selection (None, slice, int indices or bool mask) as int indices."""
    all_columns = np.arange(n_features)
    if columns is None:
        return all_columns
    if isinstance(columns, slice):
        resolved = all_columns[columns]
    else:
        arr = np.asarray(columns)
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
        if arr.dtype == bool:
            if arr.shape[0] != n_features:
                raise ValueError(
                    f"{name} as a boolean mask must have one entry per feature "
                    f"({n_features}, after the preprocessor); got {arr.shape[0]}."
                )
            resolved = np.flatnonzero(arr)
        elif arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer column indices; got dtype {arr.dtype}.")
        else:
            if arr.size and (arr.min() < -n_features or arr.max() >= n_features):
                raise ValueError(
                    f"{name} must index the {n_features} feature(s) of X (after the "
                    f"preprocessor); got {arr.tolist()}."
                )
            resolved = all_columns[arr.astype(np.int64)]
    if resolved.size == 0:
        raise ValueError(
            f"{name} selects no column of the {n_features} feature(s); got {columns!r}.")
    return resolved.astype(np.int64)

