"""Loaders of the real data sets shipped in ``sknegsample/datasets/data``."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import numpy as np
from numpy.typing import DTypeLike
from sklearn.utils import Bunch

from ._generators import _check_float_dtype


def _data_file(name: str):
    """Return a Traversable for a shipped data file.

    ``importlib.resources`` finds the file inside an installed wheel or zip
    too, not only in a source checkout.
    """
    return resources.files("sknegsample.datasets") / "data" / name


def load_manpage_pairs(
    *, return_X_y: bool = False, dtype: DTypeLike = np.float32
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the manual-page summary / description pairs.

    1823 pairs from the Linux man-pages project and the OpenSSL manual
    (Debian 12). The point of a pair is the one-line summary of a manual
    page's NAME section, its counter is the opening of the page's
    DESCRIPTION, i.e. the text that explains the summary. Both sides are
    embedded with ``sentence-transformers/all-MiniLM-L6-v2`` (384 features,
    unit norm). See ``DESCR`` for provenance and licenses.

    =================   ==============================
    Pairs               1823
    Features per side   384
    Groups              12 (manual sections)
    Accuracy@1          0.72 (cosine, all counters)
    =================   ==============================

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(point, counter)`` instead of a Bunch.
    dtype : dtype, default=np.float32
        Floating-point dtype of the embeddings; they are stored as float16,
        so a wider dtype adds no precision.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object, with the following attributes.

        point : ndarray of shape (1823, 384)
            Embeddings of the summaries.
        counter : ndarray of shape (1823, 384)
            Embeddings of the descriptions; row ``i`` is the positive of
            ``point[i]``.
        point_text : ndarray of str objects of shape (1823,)
            The summaries.
        counter_text : ndarray of str objects of shape (1823,)
            The descriptions, at most 512 characters.
        groups : ndarray of str of shape (1823,)
            Manual section of each page (``"2"``, ``"3"``, ``"3ssl"``...),
            e.g. for :class:`sklearn.model_selection.GroupKFold`.
        page : ndarray of str objects of shape (1823,)
            Page of each pair, e.g. ``"printf(3)"``.
        model : str
            Name of the embedding model, to embed new texts alike.
        DESCR : str
            Full description of the data set.

    (point, counter) : tuple of ndarray of shape (1823, 384)
        Returned instead of the Bunch if ``return_X_y`` is True.

    See Also
    --------
    sknegsample.datasets.make_pairs : Synthetic pairs with near-duplicates.

    Examples
    --------
    >>> from sknegsample.datasets import load_manpage_pairs
    >>> data = load_manpage_pairs()
    >>> data.point.shape, data.counter.shape, data.point_text.shape
    ((1823, 384), (1823, 384), (1823,))
    >>> print(data.page[0], "|", data.point_text[0])
    getent(1) | getent - get entries from Name Service Switch libraries
    """
    _check_float_dtype(dtype)
    with _data_file("manpage_pairs.npz").open("rb") as fh, np.load(fh) as npz:
        point = npz["point"].astype(dtype)
        counter = npz["counter"].astype(dtype)
        groups = npz["groups"]
    if return_X_y:
        return point, counter

    with _data_file("manpage_pairs.json.gz").open("rb") as raw:
        texts = json.loads(gzip.decompress(raw.read()).decode("utf-8"))
    pairs = texts["pairs"]
    return Bunch(
        point=point,
        counter=counter,
        point_text=np.array([p["point"] for p in pairs], dtype=object),
        counter_text=np.array([p["counter"] for p in pairs], dtype=object),
        groups=groups,
        page=np.array([p["page"] for p in pairs], dtype=object),
        model=texts["metadata"]["model"],
        DESCR=_data_file("manpage_pairs.rst").read_text(encoding="utf-8"),
    )
