"""Shared by the commands: file loading, output checks, formatting, error reporting.

Run ``sknegsample --help`` (or ``python -m sknegsample --help``). Results go
to standard output, progress bars, warnings and errors to standard error.

What is a user's mistake and what is a bug (see :data:`USER_ERRORS`): a
mistake in the arguments or the input files, or a file operation the system
refuses, ends with one line, ``sknegsample: error: <message>``, and exit
status 2, as argparse does for its own errors; anything else is a bug and
keeps its traceback. The loading layer here turns every way a file can be
unreadable (missing, a directory, no permission, empty, truncated, not
``.npy``, not UTF-8) into a :class:`CommandError` naming the file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PROG = "sknegsample"


class CommandError(Exception):
    """A user mistake the command line reports in one line (exit status 2)."""


#: Exceptions reported as one line with exit status 2. ``ValueError`` is a
#: bad value: sknegsample's validation, scikit-learn's parameter checks
#: (``InvalidParameterError``), numpy and a damaged model file
#: (``CorruptedModelError``) all raise one. ``OSError`` is the system
#: refusing a file operation (disk full, file-size limit, permissions, a
#: read-only file system); ``MemoryError`` an input too large for this
#: machine. A ``TypeError`` is *not* here: sknegsample raises it only for an
#: argument of the wrong Python type, which the command line cannot pass
#: (argparse types every option, :func:`load_npy` checks every file's
#: dtype), so from here it is a bug, and so is everything else (KeyError,
#: AttributeError, IndexError, RuntimeError, AssertionError...).
USER_ERRORS = (CommandError, ValueError, OSError, MemoryError)


def _input_file(path, name: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise CommandError(f"{name} file {str(path)!r} is a directory, not a file.")
    if not path.is_file():
        raise CommandError(f"{name} file {str(path)!r} does not exist.")
    return path


def _unreadable(name: str, path: Path, exc: OSError) -> CommandError:
    return CommandError(f"cannot read {name} file {str(path)!r}: {exc.strerror or exc}.")


def load_npy(path, name: str, *, boolean: bool = False) -> np.ndarray:
    """Memory-map a 2-D ``.npy`` array, with one-line errors for bad files.

    The array must hold real numbers, or booleans when ``boolean`` is True.
    """
    path = _input_file(path, name)
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except EOFError as exc:
        # np.load's error for a zero-byte file, or one cut inside the header.
        raise CommandError(f"{name} file {str(path)!r} is empty or truncated: not a whole "
                           f".npy array ({exc}).") from exc
    except ValueError as exc:
        raise CommandError(f"{name} file {str(path)!r} is not a .npy array of numbers "
                           f"({exc})") from exc
    except OSError as exc:
        raise _unreadable(name, path, exc) from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise CommandError(f"{name} file {str(path)!r} is a .npz archive; save each "
                           "matrix with np.save as its own .npy file.")
    if array.ndim != 2:
        raise CommandError(f"{name} file {str(path)!r} must hold a 2-D (n_pairs, "
                           f"n_features) matrix; got shape {array.shape}.")
    if boolean:
        if array.dtype != np.bool_:
            raise CommandError(f"{name} file {str(path)!r} must hold booleans; got dtype "
                               f"{array.dtype}.")
    elif not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype,
                                                                     np.complexfloating):
        raise CommandError(f"{name} file {str(path)!r} must hold real numbers; got dtype "
                           f"{array.dtype}.")
    return array


def load_pairs(point_path, counter_path):
    """Memory-map ``point`` and ``counter`` and check that they pair up."""
    point = load_npy(point_path, "point")
    counter = load_npy(counter_path, "counter")
    if point.shape != counter.shape:
        raise CommandError(f"point and counter must have the same shape (row i of counter "
                           f"is the positive of row i of point); got {point.shape} and "
                           f"{counter.shape}.")
    return point, counter


def read_texts(path, name: str) -> list[str]:
    """Read one text per line (``.txt``), or one JSON string per line (``.jsonl``).

    A ``.jsonl`` line may also be an object with a ``"text"`` key; JSON Lines
    are the way to store texts that contain line breaks.
    """
    path = _input_file(path, name)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError as exc:
        raise CommandError(f"{name} file {str(path)!r} is not UTF-8 text ({exc.reason} at "
                           f"byte {exc.start}).") from exc
    except OSError as exc:
        raise _unreadable(name, path, exc) from exc
    if path.suffix != ".jsonl":
        return lines
    texts = []
    for number, line in enumerate(lines, start=1):
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{name} file {str(path)!r}, line {number}: not JSON "
                               f"({exc.msg}).") from exc
        if isinstance(item, dict):
            item = item.get("text")
        if not isinstance(item, str):
            raise CommandError(f"{name} file {str(path)!r}, line {number}: expected a JSON "
                               'string or an object with a "text" string.')
        texts.append(item)
    return texts


def _output_path(path, suffix: str | None, flag: str) -> Path:
    """Check an output path before any work: its suffix, and a writable directory."""
    path = Path(path)
    if suffix is not None and path.suffix != suffix:
        raise CommandError(f"{flag} file {str(path)!r} must end in {suffix}.")
    if not path.parent.is_dir():
        raise CommandError(f"{flag}: output directory {str(path.parent)!r} does not exist.")
    if path.is_dir():
        raise CommandError(f"{flag} {str(path)!r} is a directory; give a file name.")
    # Checked now rather than after minutes of mining or training (os.access
    # also reports a read-only file system to root).
    if not os.access(path.parent, os.W_OK):
        raise CommandError(f"{flag}: cannot write to directory {str(path.parent)!r} "
                           "(read-only or no permission).")
    return path


def _same_file(a: Path, b: Path) -> bool:
    """One file under two names: the same path, a symbolic or a hard link."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they point
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_outputs(outputs: dict, inputs: dict) -> dict:
    """Refuse an output that is one of the command's inputs, or another output.

    Outputs are replaced whole (:func:`~sknegsample.utils._io.atomic_write`),
    so ``-o point.npy`` would swap the input embeddings for bank ids.

    Parameters
    ----------
    outputs, inputs : dict
        ``{flag or argument name: path or None}``; None entries are skipped.

    Returns
    -------
    dict
        ``{flag: Path}`` of the outputs given, each in a writable directory.
    """
    seen = [(name, Path(path)) for name, path in inputs.items() if path is not None]
    given = {}
    for flag, path in outputs.items():
        if path is None:
            continue
        path = given[flag] = _output_path(path, None, flag)
        for name, other in seen:
            if _same_file(path, other):
                raise CommandError(
                    f"{flag} {str(path)!r} is the same file as {name} {str(other)!r}: "
                    "writing it would destroy that file; choose another output path.")
        seen.append((flag, path))
    return given


def _progress(quiet: bool, **kwargs):
    from tqdm.auto import tqdm

    # delay: a bar only appears for work that takes more than a second.
    return tqdm(disable=quiet, delay=1.0, leave=False, file=sys.stderr, dynamic_ncols=True,
                **kwargs)


@contextmanager
def _timed(timings: dict, key: str):
    start = time.perf_counter()
    yield
    timings[key] = time.perf_counter() - start


def _load_model(path, allow_pickle=False):
    try:
        from ..utils._persistence import load
    except ImportError as exc:
        raise CommandError(f"cannot load {str(path)!r}: this installation has no model "
                           f"persistence ({exc}); pip install 'sknegsample[persist]'.") from exc
    return load(_input_file(path, "model"), allow_pickle=allow_pickle)


def _save_model(model, path):
    try:
        from ..utils._persistence import save
    except ImportError as exc:
        raise CommandError(f"cannot save to {str(path)!r}: this installation has no model "
                           f"persistence ({exc}); pip install 'sknegsample[persist]'.") from exc
    save(model, path)


def format_metrics(metrics: dict) -> str:
    """The retrieval-alone vs re-ranked table of :meth:`BallTreePairScorer.evaluate`.

    Examples
    --------
    >>> from sknegsample.cli._common import format_metrics
    >>> print(format_metrics({
    ...     "accuracy@1": 0.75, "recall@k": 0.9, "mrr@k": 0.8, "ndcg@10": 0.85,
    ...     "retrieval_accuracy@1": 0.5, "retrieval_mrr@k": 0.7,
    ...     "retrieval_ndcg@10": 0.75, "topk": 10, "n_queries": 4, "n_correct": 3}))
                       accuracy@1  recall@10  MRR@10  nDCG@10
    retrieval alone         0.500      0.900   0.700    0.750
    re-ranked by head       0.750      0.900   0.800    0.850
    head's gain            +0.250         --  +0.100   +0.100
    (4 queries; re-ranked top-1 correct for 3)
    """
    k = metrics["topk"]
    # The metric is nDCG@10 of the top-k list: with k < 10 the list holds k
    # ids and it equals nDCG@k, so that is the column's name.
    columns = ["accuracy@1", f"recall@{k}", f"MRR@{k}", f"nDCG@{min(k, 10)}"]
    retrieval = [metrics["retrieval_accuracy@1"], metrics["recall@k"],
                 metrics["retrieval_mrr@k"], metrics["retrieval_ndcg@10"]]
    reranked = [metrics["accuracy@1"], metrics["recall@k"], metrics["mrr@k"],
                metrics["ndcg@10"]]
    gain = [f"{b - a:+.3f}" for a, b in zip(retrieval, reranked, strict=True)]
    # Re-ranking reorders the retrieved list, so recall@k cannot change.
    gain[1] = "--"
    table = [
        ("", columns),
        ("retrieval alone", [f"{v:.3f}" for v in retrieval]),
        ("re-ranked by head", [f"{v:.3f}" for v in reranked]),
        ("head's gain", gain),
    ]
    label_width = max(len(label) for label, _ in table)
    widths = [max(len(c), 6) for c in columns]
    lines = [f"{label:<{label_width}}"
             + "".join(f"  {cell:>{w}}" for cell, w in zip(cells, widths, strict=True))
             for label, cells in table]
    lines.append(f"({metrics['n_queries']} queries; re-ranked top-1 correct for "
                 f"{metrics['n_correct']})")
    return "\n".join(lines)


def format_timings(timings: dict) -> str:
    """Seconds per step, and their total."""
    width = max(len(step) for step in [*timings, "total"])
    lines = [f"{step:<{width}}  {seconds:7.2f} s" for step, seconds in timings.items()]
    lines.append(f"{'total':<{width}}  {sum(timings.values()):7.2f} s")
    return "\n".join(lines)


@contextmanager
def _torch_threads(n_threads):
    """Run torch on ``n_threads`` threads (None: leave it), then restore the setting."""
    import torch

    previous = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=_json_default))
