"""One preprocessing transformer fitted on both sides of the pairs.

In a :class:`~sklearn.pipeline.Pipeline` the steps before the last transform
``X`` only, so ``PCA(64)`` in front of the sampler would shrink the points and
leave the counters as they were. Both estimators therefore take a
``preprocessor`` parameter, in the spirit of ``TransformedTargetRegressor``'s
``transformer``: it is cloned, fitted on the stacked points and counters, and
applied to both sides at fit time and to every query afterwards.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ..utils._validation import check_embeddings


def fit_preprocessor(preprocessor, X: np.ndarray, y: np.ndarray | None):
    """Fit a clone of ``preprocessor`` on both sides and transform them.

    Parameters
    ----------
    preprocessor : transformer or None
        Fitted on ``np.vstack([X, y])`` when ``y`` is a counter matrix, on
        ``X`` alone otherwise. None returns the inputs unchanged.
    X : ndarray of shape (n_pairs, n_features)
    y : ndarray of shape (n_pairs, n_features) or None
        Counter matrix; labels and None are passed as None.

    Returns
    -------
    fitted : transformer or None
    X_out : ndarray of shape (n_pairs, n_features_out)
    y_out : ndarray of shape (n_pairs, n_features_out) or None
    """
    if preprocessor is None:
        return None, X, y
    fitted = clone(preprocessor)
    both = X if y is None else np.vstack([X, y])
    fitted.fit(both)
    out = _checked_output(fitted, both)
    if y is None:
        return fitted, out, None
    return fitted, out[: len(X)], out[len(X):]


def apply_preprocessor(fitted, X: np.ndarray) -> np.ndarray:
    """Transform queries with the fitted preprocessor (identity when None)."""
    if fitted is None:
        return X
    return _checked_output(fitted, X)


def _checked_output(fitted, X: np.ndarray) -> np.ndarray:
    out = fitted.transform(X)
    if hasattr(out, "toarray"):
        out = out.toarray()
    return check_embeddings(out, input_name=f"the output of preprocessor {type(fitted).__name__}")
