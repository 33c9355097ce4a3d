"""The ``sknegsample`` command line: ``demo``, ``mine`` and ``evaluate``.

Run ``sknegsample --help`` (or ``python -m sknegsample --help``). Results go
to standard output, progress bars and errors to standard error. A mistake in
the arguments or the input files ends with one line,
``sknegsample: error: <message>``, and exit status 2, as argparse does for
its own errors.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

PROG = "sknegsample"


class CommandError(Exception):
    """A user mistake the command line reports in one line (exit status 2)."""


def load_npy(path, name: str) -> np.ndarray:
    """Memory-map a 2-D ``.npy`` array, with one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{name} file {str(path)!r} does not exist.")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise CommandError(f"{name} file {str(path)!r} is not a .npy array of numbers "
                           f"({exc})") from exc
    if not isinstance(array, np.ndarray):
        array.close()
        raise CommandError(f"{name} file {str(path)!r} is a .npz archive; save each "
                           "matrix with np.save as its own .npy file.")
    if array.ndim != 2:
        raise CommandError(f"{name} file {str(path)!r} must hold a 2-D (n_pairs, "
                           f"n_features) matrix; got shape {array.shape}.")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype,
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
    path = Path(path)
    if not path.is_file():
        raise CommandError(f"{name} file {str(path)!r} does not exist.")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
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


def _output_path(path, suffix: str) -> Path:
    path = Path(path)
    if path.suffix != suffix:
        raise CommandError(f"output file {str(path)!r} must end in {suffix}.")
    if not path.parent.is_dir():
        raise CommandError(f"output directory {str(path.parent)!r} does not exist.")
    return path


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
    if not Path(path).is_file():
        raise CommandError(f"model file {str(path)!r} does not exist.")
    return load(path, allow_pickle=allow_pickle)


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
    columns = ["accuracy@1", f"recall@{k}", f"MRR@{k}", "nDCG@10"]
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
