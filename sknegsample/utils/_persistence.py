"""Saving and loading fitted estimators: skops for safety, joblib for speed.

Two formats, one pair of functions:

* ``format="skops"`` (the default) writes a zip of JSON and ``.npy`` members
  that :func:`load` reads without unpickling anything. The only types it has
  to trust beyond skops' defaults are sknegsample's own, listed in
  :data:`TRUSTED_TYPES`. Use it for any file that crosses a trust boundary.
* ``format="joblib"`` writes what ``joblib.dump`` writes (compressed, so a
  damaged file fails its checksum instead of loading wrong numbers). Loading
  it runs pickle, which can execute arbitrary code: :func:`load` refuses it
  unless ``allow_pickle=True``. Only load pickles you wrote yourself.

Both write to a temporary file next to the target and rename it into place
(:func:`sknegsample.utils._io.atomic_write`): an interrupted save leaves the old
file, never a truncated one. Both estimators record the sknegsample version
in their state; loading under another version warns with
:class:`~sknegsample.exceptions.InconsistentVersionWarning`.

What a saved estimator holds: every fitted array and the search index in a
portable form. Torch tensors are stored as numpy arrays (a model fitted on a
GPU loads on a CPU-only machine, with a warning); brute-force, tree and faiss
flat indexes are rebuilt from the stored bank at load (deterministically, so
results are bit-identical); HNSW graphs are stored as their serialised bytes.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import warnings
import zipfile
import zlib
from pathlib import Path

import joblib
import numpy as np
import torch

from .. import _version
from ..exceptions import CorruptedModelError, InconsistentVersionWarning, UntrustedTypesError
from ._device import _loadable_device
from ._io import atomic_write
from ._legacy import LEGACY_TRUSTED_TYPES, legacy_module_aliases
from ._optional import _import_optional

__all__ = ["TRUSTED_TYPES", "load", "save"]

FORMATS = ("skops", "joblib")

#: Types a skops file of a sknegsample estimator holds beyond skops' own
#: defaults (numpy arrays, builtins, scikit-learn estimators). :func:`load`
#: trusts exactly these unless told otherwise; tests check that a freshly
#: saved sampler and scorer, for every search algorithm, need no other type.
#: A user's own preprocessor or custom head adds its types: pass them as
#: ``trusted`` after checking them with ``skops.io.get_untrusted_types``.
TRUSTED_TYPES = (
    "sknegsample.mining._anchors.AnchorIndex",
    "sknegsample.mining._sampler.HybridNegativeSampler",
    "sknegsample.neighbors._labels.LabelGroups",
    "sknegsample.neighbors._parts.BankParts",
    "sknegsample.neighbors._search.NeighborSearch",
    "sknegsample.neighbors._sharded.ShardedSearch",
    "sknegsample.neighbors.backends._faiss.FaissBackend",
    "sknegsample.neighbors.backends._hnswlib.HnswlibBackend",
    "sknegsample.neighbors.backends._ivf.IvfBackend",
    "sknegsample.neighbors.backends._torch_brute.TorchBruteBackend",
    "sknegsample.neighbors.backends._trees.TreeBackend",
    "sknegsample.rerank._scorer.BallTreePairScorer",
    "sknegsample.utils._mmap.FileRows",
)

_VERSION_KEY = "__sknegsample_version__"
# Leading bytes of each format: a zip archive (skops); a pickle (protocol >= 2)
# or one of joblib's compressors (zlib, gzip, bz2, xz, lzma).
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_PICKLE_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00")


class _VersionedState:
    """Record the sknegsample version in the pickled state; warn on a mismatch.

    The counterpart of what ``BaseEstimator`` does for scikit-learn's own
    estimators (it records ``_sklearn_version`` only for classes defined in
    sklearn). pickle, joblib and skops all go through these two methods.
    """

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance __dict__ itself.
        state = dict(super().__getstate__())
        state[_VERSION_KEY] = _version.__version__
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop(_VERSION_KEY, "unknown")
        if saved != _version.__version__:
            warnings.warn(
                InconsistentVersionWarning(
                    estimator_name=type(self).__name__,
                    current_version=_version.__version__,
                    original_version=saved,
                ),
                stacklevel=2,
            )
        super().__setstate__(state)


def restore_state_on_error(fit):
    """Decorate ``fit``-like methods: on an exception, put the old state back.

    scikit-learn estimators set ``n_features_in_`` while validating ``X``,
    before ``y`` or the parameters are checked, so a refit that fails on bad
    input would leave a fitted estimator inconsistent (expecting the new
    feature count, holding the old index). Fits replace attributes rather
    than mutate them, so a shallow copy of ``__dict__`` is the whole state.
    """

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return wrapper


def save(estimator, path, *, format="skops", compress=3):
    """Save a fitted (or unfitted) estimator to ``path``, atomically.

    Parameters
    ----------
    estimator : object
        Usually a :class:`HybridNegativeSampler` or :class:`BallTreePairScorer`
        (alone or inside a pipeline).
    path : str or path-like
        Destination; its directory must exist. The file is written under a
        temporary name in that directory and renamed into place when
        complete, so ``path`` always holds either its old content or the
        whole new file.
    format : {"skops", "joblib"}, default="skops"
        ``"skops"`` can be loaded safely from untrusted sources; ``"joblib"``
        is pickle (faster to load, but loading runs arbitrary code).
    compress : int in [0, 9], default=3
        zlib level (0: none). For joblib files compression also adds a
        checksum, so that damage is detected at load.

    Returns
    -------
    path : pathlib.Path
        Where the estimator was saved.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> from sknegsample import HybridNegativeSampler
    >>> from sknegsample.utils._persistence import load, save
    >>> rng = np.random.RandomState(0)
    >>> point = rng.normal(size=(20, 4))
    >>> sampler = HybridNegativeSampler(random_state=0).fit(point, point + 0.1)
    >>> path = save(sampler, pathlib.Path(tempfile.mkdtemp()) / "sampler.skops")
    >>> loaded = load(path)
    >>> bool((loaded.transform(point) == sampler.transform(point)).all())
    True
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {format!r}.")
    if isinstance(compress, bool) or not isinstance(compress, (int, np.integer)) \
            or not 0 <= compress <= 9:
        raise ValueError(f"compress must be an int in [0, 9]; got {compress!r}.")
    path = Path(os.fspath(path))
    with atomic_write(path, mode="wb") as fh:
        if format == "skops":
            sio = _import_skops()
            method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            sio.dump(estimator, fh, compression=method,
                     compresslevel=int(compress) if compress else None)
        else:
            joblib.dump(estimator, fh, compress=("zlib", int(compress)) if compress else 0)
    return path


def load(path, *, trusted=None, allow_pickle=False):
    """Load an estimator saved by :func:`save` (or ``joblib.dump``).

    The format is read from the file's first bytes, not from its name.

    Parameters
    ----------
    path : str or path-like
        The file.
    trusted : sequence of str or None, default=None
        skops files only: the types to trust beyond skops' defaults, as
        fully qualified names. None means :data:`TRUSTED_TYPES`
        (sknegsample's own). A file holding any other type is refused
        before anything in it is constructed.
    allow_pickle : bool, default=False
        Allow loading a joblib/pickle file. Unpickling runs arbitrary code:
        only allow it for files you wrote yourself or otherwise trust.

    Returns
    -------
    estimator : object
        The loaded estimator.

    Raises
    ------
    CorruptedModelError
        The file is empty, truncated, damaged or in neither format (a
        ``ValueError``; the message names the file).
    UntrustedTypesError
        A skops file holds types outside ``trusted`` (a ``ValueError``).
    ValueError
        A pickle file without ``allow_pickle=True``.
    """
    if trusted is not None and (isinstance(trusted, str) or not all(
            isinstance(name, str) for name in _iterable(trusted, "trusted"))):
        raise TypeError("trusted must be None or a sequence of fully qualified type names "
                        f"(str); got {trusted!r}.")
    path = Path(os.fspath(path))
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise CorruptedModelError(f"{str(path)!r} is empty: it holds no saved model.")
    if head.startswith(_ZIP_MAGIC):
        return _load_skops(path, trusted)
    if head.startswith(_PICKLE_MAGIC):
        if not allow_pickle:
            raise ValueError(
                f"{str(path)!r} is a joblib/pickle file, and loading one runs arbitrary "
                "code. Pass allow_pickle=True only if you wrote it yourself or trust its "
                "source; for files from untrusted sources use the skops format "
                "(save(..., format='skops'))."
            )
        if head.startswith(b"\x78"):
            _check_zlib_stream(path)
        legacy_module_aliases()
        return _guarded(path, "joblib", lambda: joblib.load(path))
    raise CorruptedModelError(
        f"{str(path)!r} is neither a skops (zip) nor a joblib/pickle file (it starts "
        f"with {head!r}); it is not a saved model or it is damaged."
    )


def _iterable(value, name):
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be None or a sequence of fully qualified type names "
                        f"(str); got {value!r}.") from None


def _check_zlib_stream(path, chunk=2**22):
    """Read a zlib-compressed joblib file through: complete, checksum intact.

    joblib stops reading once the pickle is complete, so a file missing the
    end of its zlib stream (the checksum) would still load. One streaming pass
    (constant memory) makes any truncation or damage an error.
    """
    decompressor = zlib.decompressobj()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                decompressor.decompress(block, chunk)
                # Output is discarded; cap what zlib buffers between reads.
                while decompressor.unconsumed_tail:
                    decompressor.decompress(decompressor.unconsumed_tail, chunk)
    except zlib.error as exc:
        raise CorruptedModelError(
            f"Could not load {str(path)!r} as a joblib file: its zlib stream is damaged "
            f"({exc})."
        ) from exc
    if not decompressor.eof:
        raise CorruptedModelError(
            f"Could not load {str(path)!r} as a joblib file: it is truncated (its zlib "
            "stream ends early)."
        )


def _load_skops(path, trusted):
    sio = _import_skops()
    # Files saved by the flat 0.1.0 layout name their types by the old module
    # paths: those are sknegsample's own types too.
    trusted = list(TRUSTED_TYPES + LEGACY_TRUSTED_TYPES if trusted is None else trusted)
    legacy_module_aliases()
    found = _guarded(path, "skops", lambda: sio.get_untrusted_types(file=path))
    untrusted = sorted(set(found) - set(trusted))
    if untrusted:
        raise UntrustedTypesError(
            f"{str(path)!r} holds types that are not trusted: {untrusted}. Check that "
            "you expect each of them, then pass them in trusted= (with "
            "sknegsample's own TRUSTED_TYPES) to load the file.",
            untrusted,
        )
    return _guarded(path, "skops", lambda: sio.load(path, trusted=trusted))


# Errors that say the bytes are damaged: zipfile, zlib, pickle, json (a
# ValueError subclass) and a stream that ends early. Anything else -- an
# AttributeError or TypeError from version skew, a bug in a __setstate__, a
# RuntimeError from torch -- is raised as it is: calling it "file damaged"
# would send the user after the wrong problem.
_CORRUPTION_ERRORS = (
    EOFError, pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, json.JSONDecodeError,
    UnicodeDecodeError,
)


def _guarded(path, fmt, read):
    try:
        return read()
    except _CORRUPTION_ERRORS as exc:
        raise CorruptedModelError(
            f"Could not load {str(path)!r} as a {fmt} file: {type(exc).__name__}: {exc}. "
            "The file is truncated, damaged or not a saved sknegsample model."
        ) from exc


def _import_skops():
    return _import_optional("skops.io", "skops", extra="persist", needed_by="format='skops'")


def head_state(net) -> dict:
    """A trained skorch net as plain data: weights as numpy arrays, history, device.

    For an estimator's ``__getstate__``: the result holds no torch object,
    so it loads on any device and a skops file needs to trust no torch or
    skorch type. The optimizer state is dropped (a loaded model predicts and
    can be refit, not resumed).
    """
    weights = {name: tensor.detach().cpu().numpy()
               for name, tensor in net.module_.state_dict().items()}
    history = [dict(row) for row in net.history]
    return {"weights": weights, "history": history, "device": str(net.device)}


def restore_head(net, state: dict):
    """Initialise the unfitted ``net`` and load :func:`head_state`'s ``state``.

    ``net`` must be built the way the saved one was (same module and module
    parameters). A CUDA device falls back to the CPU, with a warning, on a
    machine without one. The global torch random state is left alone.
    """
    from skorch.history import History

    net.set_params(device=_loadable_device(state["device"]))
    with torch.random.fork_rng(devices=[]):
        net.initialize()
    weights = {name: torch.from_numpy(np.array(value))
               for name, value in state["weights"].items()}
    net.module_.load_state_dict(weights)
    # Inference only, shared by concurrent calls: eval mode once, here.
    net.module_.eval()
    net.history_ = History(state["history"])
    return net
