"""Warnings and errors of sknegsample: persistence, and guards that may not mean what was meant."""

from __future__ import annotations

from sklearn.exceptions import InconsistentVersionWarning as _SklearnVersionWarning

__all__ = ["CorruptedModelError", "GuardScaleWarning", "InconsistentVersionWarning",
           "UntrustedTypesError"]


class InconsistentVersionWarning(_SklearnVersionWarning):
    """An estimator saved under one sknegsample version is loaded under another.

    Like scikit-learn's warning of the same name (and a subclass of it, so a
    filter on scikit-learn's class also catches this one): the estimator
    loads, but its fitted state may not mean the same thing under this
    version. Refit it, or load it under the version that saved it.

    Parameters
    ----------
    estimator_name : str
        Class name of the loaded estimator.
    current_version : str
        The sknegsample version doing the loading.
    original_version : str
        The version recorded in the file (``"unknown"`` when none was).

    Examples
    --------
    >>> from sknegsample.exceptions import InconsistentVersionWarning
    >>> print(InconsistentVersionWarning(estimator_name="HybridNegativeSampler",
    ...       current_version="0.2.0", original_version="0.1.0"))  # doctest: +ELLIPSIS
    Trying to load HybridNegativeSampler saved with sknegsample 0.1.0 under ...
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        super().__init__(
            estimator_name=estimator_name,
            current_sklearn_version=current_version,
            original_sklearn_version=original_version,
        )
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        return (
            f"Trying to load {self.estimator_name} saved with sknegsample "
            f"{self.original_version} under sknegsample {self.current_version}. This "
            "might lead to breaking code or invalid results: refit it, or load it "
            f"under sknegsample {self.original_version}."
        )


class CorruptedModelError(ValueError):
    """A saved-model file is truncated, damaged or not a saved model at all.

    The message names the file; the underlying error is chained as
    ``__cause__``. Nothing is returned from a file that raised it.
    """


class UntrustedTypesError(ValueError):
    """A skops file holds types that are not trusted.

    Attributes
    ----------
    types : list of str
        The fully qualified names of the untrusted types found in the file.
    """

    def __init__(self, message, types):
        super().__init__(message)
        self.types = list(types)


class GuardScaleWarning(UserWarning):
    """A guard or the data's scale probably does not mean what was intended.

    Raised by :class:`~sknegsample.HybridNegativeSampler` at fit when
    ``positive_margin`` (a distance ratio under ``metric="euclidean"``) meets
    unit-norm embeddings, where the similarity rule of ``metric="cosine"`` is
    almost always what is meant; when the points and counters differ in scale
    by more than 10x (a Pipeline step transformed the points only); and when
    ``skip_nearest`` leaves anchors without hard candidates.
    """
