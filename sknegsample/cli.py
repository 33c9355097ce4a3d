"""The ``sknegsample`` command line: ``demo``, ``mine`` and ``evaluate``.

Run ``sknegsample --help`` (or ``python -m sknegsample --help``). Results go
to standard output, progress bars and errors to standard error. A mistake in
the arguments or the input files ends with one line,
``sknegsample: error: <message>``, and exit status 2, as argparse does for
its own errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ._version import __version__

PROG = "sknegsample"
# Rows mined per progress-bar step by `mine`.
_MINE_CHUNK = 4096


class CommandError(Exception):
    """A user mistake the command line reports in one line (exit status 2)."""


# --------------------------------------------------------------------------
# Input and output helpers
# --------------------------------------------------------------------------

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
        from ._persistence import load
    except ImportError as exc:
        raise CommandError(f"cannot load {str(path)!r}: this installation has no model "
                           f"persistence ({exc}); pip install 'sknegsample[persist]'.") from exc
    if not Path(path).is_file():
        raise CommandError(f"model file {str(path)!r} does not exist.")
    return load(path, allow_pickle=allow_pickle)


def _save_model(model, path):
    try:
        from ._persistence import save
    except ImportError as exc:
        raise CommandError(f"cannot save to {str(path)!r}: this installation has no model "
                           f"persistence ({exc}); pip install 'sknegsample[persist]'.") from exc
    save(model, path)


# --------------------------------------------------------------------------
# Report formatting
# --------------------------------------------------------------------------

def format_metrics(metrics: dict) -> str:
    """The retrieval-alone vs re-ranked table of :meth:`BallTreePairScorer.evaluate`.

    Examples
    --------
    >>> from sknegsample.cli import format_metrics
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


# --------------------------------------------------------------------------
# Subcommands
# --------------------------------------------------------------------------

def run_demo(args) -> int:
    """Mine, train and evaluate on the bundled man-page pairs; print the table."""
    from sklearn.model_selection import train_test_split

    from ._sampler import HybridNegativeSampler
    from ._scorer import BallTreePairScorer
    from .datasets import load_manpage_pairs

    if not 0 < args.test_size < 1:
        raise CommandError(f"--test-size must be in (0, 1); got {args.test_size}.")
    timings: dict[str, float] = {}
    steps = ["load data", "mine negatives", "train head", "evaluate"]
    with _progress(args.quiet, total=len(steps), desc="demo", unit="step") as bar, \
            _torch_threads(args.threads):
        bar.set_postfix_str(steps[0])
        with _timed(timings, "load data"):
            data = load_manpage_pairs()
            train, test = train_test_split(np.arange(len(data.point)),
                                           test_size=args.test_size,
                                           random_state=args.random_state)
        bar.update()

        sampler = HybridNegativeSampler(
            n_negatives=args.n_negatives, random_rate=args.random_rate,
            device=args.device, random_state=args.random_state,
        )
        bar.set_postfix_str(steps[1])
        with _timed(timings, "mine negatives"):
            # Mined once here to report what the head trains on; the scorer
            # mines again inside fit (cheap next to training).
            sampler.fit_transform(data.point[train], data.counter[train])
        bar.update()

        scorer = BallTreePairScorer(
            sampler=sampler, max_epochs=args.epochs, topk=args.topk, device=args.device,
            curriculum=True if args.curriculum else None, random_state=args.random_state,
        )
        bar.set_postfix_str(f"{steps[2]} ({args.epochs} epochs)")
        with _timed(timings, f"train head ({args.epochs} epochs)"):
            scorer.fit(data.point[train], data.counter[train])
        bar.update()

        bar.set_postfix_str(steps[3])
        with _timed(timings, f"evaluate ({len(test)} queries)"):
            metrics = scorer.evaluate(data.point[test], data.counter[test])
        bar.update()

    if args.save is not None:
        _save_model(scorer, args.save)

    n_random = int(sampler.negative_is_random_.sum())
    mining = {
        "n_anchors": int(len(train)),
        "n_negatives": int(args.n_negatives),
        "n_random": n_random,
        "n_hard": int(sampler.negative_is_random_.size - n_random),
        "n_skipped": sampler.n_skipped_,
        "n_likely_false_negatives": int(np.sum(sampler.negative_gap_ < 0)),
    }
    if args.json:
        _print_json({"dataset": "manpage_pairs", "n_train": int(len(train)),
                     "n_test": int(len(test)), "mining": mining, "metrics": metrics,
                     "seconds": timings})
        return 0
    print(f"sknegsample {__version__} demo: {len(data.point)} man-page summary -> "
          f"description pairs ({data.model}, {data.point.shape[1]}-d)")
    print(f"split {len(train)} train / {len(test)} test pairs; test queries retrieve "
          f"the top {args.topk} of {2 * len(test) - 1} test texts, the head re-ranks them")
    print(f"mined {mining['n_hard']} hard + {n_random} random negatives for "
          f"{len(train)} training anchors; {mining['n_likely_false_negatives']} of them "
          "are closer to their anchor than its positive (possible false negatives)")
    print()
    print(format_metrics(metrics))
    print()
    print(format_timings(timings))
    if args.save is not None:
        print(f"\nsaved the trained scorer to {args.save}")
    return 0


def _search_params(items) -> dict | None:
    if not items:
        return None
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--search-param must look like KEY=VALUE; got {item!r}.")
        try:
            params[key] = int(value)
        except ValueError as exc:
            raise CommandError(f"--search-param {key} must be an integer; got {value!r}.") \
                from exc
    return params


def run_mine(args) -> int:
    """Mine negatives for every pair of ``.npy`` files and write their bank ids."""
    from ._io import atomic_write
    from ._sampler import HybridNegativeSampler
    from ._text import export_triplets

    out = _output_path(args.output, ".npy")
    texts = (args.point_text, args.counter_text)
    if args.triplets is not None and None in texts:
        raise CommandError("--triplets needs both --point-text and --counter-text.")
    if args.triplets is None and texts != (None, None):
        raise CommandError("--point-text and --counter-text are only used with "
                           "--triplets OUT.jsonl.")
    triplets = None if args.triplets is None else _output_path(args.triplets, ".jsonl")
    point, counter = load_pairs(args.point, args.counter)
    point_text = counter_text = None
    if triplets is not None:
        point_text = read_texts(args.point_text, "point text")
        counter_text = read_texts(args.counter_text, "counter text")
        for name, values in (("point text", point_text), ("counter text", counter_text)):
            if len(values) != len(point):
                raise CommandError(f"{name} file must have one text per pair: got "
                                   f"{len(values)} texts for {len(point)} pairs.")

    sampler = HybridNegativeSampler(
        n_negatives=args.n_negatives, random_rate=args.random_rate,
        n_candidates=args.n_candidates, hard_selection=args.hard_selection,
        skip_nearest=args.skip_nearest, positive_margin=args.positive_margin,
        max_negative_uses=args.max_negative_uses, metric=args.metric,
        algorithm=args.algorithm, leaf_size=args.leaf_size,
        search_params=_search_params(args.search_param), device=args.device,
        random_state=args.random_state, n_jobs=args.n_jobs,
    )
    start = time.perf_counter()
    n_pairs = len(point)
    with _progress(args.quiet, total=n_pairs, desc="mine", unit="anchor") as bar:
        sampler.fit(point, counter)
        if args.max_negative_uses is not None:
            # The cap is shared by all anchors of one call: mine them at once.
            negatives = sampler.transform(point, indices=np.arange(n_pairs))
            bar.update(n_pairs)
        else:
            # An anchor's negatives depend only on the seed and its index, so
            # mining in chunks gives what one call would.
            parts = []
            for start_row in range(0, n_pairs, _MINE_CHUNK):
                rows = np.arange(start_row, min(start_row + _MINE_CHUNK, n_pairs))
                parts.append(sampler.transform(point[rows], indices=rows))
                bar.update(len(rows))
            negatives = np.concatenate(parts)
    seconds = time.perf_counter() - start

    with atomic_write(out) as tmp:
        np.save(tmp, negatives)
    if triplets is not None:
        records = export_triplets(negatives, point_text, counter_text,
                                  output_format=args.triplet_format, path=triplets)
    if not args.quiet:
        print(f"mined {negatives.shape[1]} negative(s) for each of {n_pairs} pairs in "
              f"{seconds:.2f} s; bank ids -> {out}")
        if triplets is not None:
            print(f"{len(records)} {args.triplet_format} records -> {triplets}")
    return 0


def run_evaluate(args) -> int:
    """Evaluate a saved scorer on ``.npy`` pairs and print its metrics."""
    from ._scorer import BallTreePairScorer

    point, counter = load_pairs(args.point, args.counter)
    model = _load_model(args.model, allow_pickle=args.allow_pickle)
    if not isinstance(model, BallTreePairScorer):
        raise CommandError(f"{args.model!r} holds a {type(model).__name__}, not a "
                           "BallTreePairScorer.")
    if args.topk is not None:
        model.set_params(topk=args.topk)
    start = time.perf_counter()
    with _progress(args.quiet, total=1, desc="evaluate", unit="run") as bar:
        metrics = model.evaluate(point, counter)
        bar.update()
    seconds = time.perf_counter() - start
    if args.json:
        _print_json({**metrics, "seconds": seconds})
    else:
        print(format_metrics(metrics))
        print(f"evaluated in {seconds:.2f} s")
    return 0


# --------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------

class _Formatter(argparse.HelpFormatter):
    """Show a default only where there is one worth reading."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text
                and not any(default is skip for skip in (None, False, argparse.SUPPRESS))):
            text += " (default: %(default)s)"
        return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1; got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0; got {value}")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1]; got {value}")
    return value


def _margin(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]; got {value}")
    return value


_positive_int.__name__ = "int >= 1"
_non_negative_int.__name__ = "int >= 0"
_rate.__name__ = "rate"
_margin.__name__ = "margin"


def build_parser() -> argparse.ArgumentParser:
    """The ``sknegsample`` argument parser (one subparser per command)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Hard-negative mining and retrieve-then-rerank evaluation over paired "
                    "embeddings.\n\nRow i of COUNTER is the positive of row i of POINT; "
                    "negatives are bank ids:\nid < n_pairs is point id, otherwise counter "
                    "id - n_pairs.",
        epilog="Run 'sknegsample COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true",
                        help="hide progress bars and status messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo", parents=[common], formatter_class=_Formatter,
        help="train and evaluate on the bundled man-page pairs; print the table",
        description="On the bundled real data (1823 man-page summary -> description pairs "
                    "embedded with all-MiniLM-L6-v2): split train/test, mine negatives, "
                    "train the pair head, and print retrieval alone vs re-ranked "
                    "accuracy@1, recall@k, MRR and nDCG with the time of each step.",
    )
    demo.add_argument("--epochs", type=_positive_int, default=10, metavar="N",
                      help="training epochs of the pair head")
    demo.add_argument("--n-negatives", type=_positive_int, default=4, metavar="N",
                      help="negatives mined per training anchor")
    demo.add_argument("--random-rate", type=_rate, default=0.5, metavar="RATE",
                      help="probability that a negative is random rather than hard")
    demo.add_argument("--curriculum", action="store_true",
                      help="re-mine every epoch with a decaying random rate, 0.8 - 0.02 * "
                           "epoch (then --random-rate only sets the rate reported as mined)")
    demo.add_argument("--topk", type=_positive_int, default=10, metavar="K",
                      help="candidates retrieved per query and re-ranked")
    demo.add_argument("--test-size", type=float, default=0.25, metavar="FRACTION",
                      help="fraction of the pairs held out for evaluation")
    demo.add_argument("--device", default="cpu", metavar="DEVICE",
                      help="torch device ('cuda' for a GPU)")
    demo.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                      help="torch threads; the pair head is small, and on a busy machine "
                           "one thread trains it several times faster than two")
    demo.add_argument("--random-state", type=int, default=0, metavar="SEED",
                      help="seed of split, mining and training")
    demo.add_argument("--save", metavar="PATH", help="also save the trained scorer there "
                      "(for 'sknegsample evaluate')")
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    demo.set_defaults(handler=run_demo)

    mine = commands.add_parser(
        "mine", parents=[common], formatter_class=_Formatter,
        help="mine negatives for .npy pairs; write bank ids (and text triplets)",
        description="Fit HybridNegativeSampler on POINT and COUNTER (.npy, memory-mapped) "
                    "and write the negatives of every pair to OUT.npy as int64 .npy "
                    "of shape (n_pairs, n_negatives). With text files, also write "
                    "(anchor, positive, negative) JSON Lines for sentence-transformers "
                    "training. Outputs are written atomically.",
        epilog="example: sknegsample mine point.npy counter.npy -o negatives.npy -n 4",
    )
    mine.add_argument("point", metavar="POINT", help="point (anchor) embeddings, .npy "
                      "of shape (n_pairs, n_features)")
    mine.add_argument("counter", metavar="COUNTER", help="counter (positive) embeddings, "
                      ".npy of the same shape")
    mine.add_argument("-o", "--output", required=True, metavar="OUT.npy",
                      help="where to write the bank ids")
    group = mine.add_argument_group("sampler options (see HybridNegativeSampler)")
    group.add_argument("-n", "--n-negatives", type=_positive_int, default=1, metavar="N",
                       help="negatives per anchor")
    group.add_argument("--random-rate", type=_rate, default=0.8, metavar="RATE",
                       help="probability that a negative is random rather than hard")
    group.add_argument("--n-candidates", type=_positive_int, default=None, metavar="N",
                       help="size of the hard-negative window (default: --n-negatives)")
    group.add_argument("--hard-selection", choices=["nearest", "uniform"], default="nearest",
                       help="take the window's nearest candidates or draw within it")
    group.add_argument("--skip-nearest", type=_non_negative_int, default=0, metavar="N",
                       help="allowed candidates skipped before the window")
    group.add_argument("--positive-margin", type=_margin, default=None, metavar="MARGIN",
                       help="false-negative guard: skip hard candidates nearly as close as "
                            "the positive (e.g. 0.95)")
    group.add_argument("--max-negative-uses", type=_positive_int, default=None, metavar="N",
                       help="cap on how many anchors may receive the same id")
    group.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean",
                       help="distance between embeddings")
    group.add_argument("--algorithm", default="auto", metavar="NAME",
                       choices=["auto", "brute", "ball_tree", "kd_tree", "faiss_flat",
                                "faiss_hnsw", "hnswlib"],
                       help="search backend: auto, brute, ball_tree, kd_tree, or with the "
                            "ann extra faiss_flat, faiss_hnsw, hnswlib")
    group.add_argument("--leaf-size", type=_positive_int, default=40, metavar="N",
                       help="leaf size of ball_tree / kd_tree")
    group.add_argument("--search-param", action="append", metavar="KEY=VALUE",
                       help="HNSW option (M, ef_construction, ef_search); repeatable")
    group.add_argument("--device", default="cpu", metavar="DEVICE",
                       help="torch device of brute-force search")
    group.add_argument("--random-state", type=int, default=None, metavar="SEED",
                       help="seed (default: a fresh one each run)")
    group.add_argument("--n-jobs", type=int, default=None, metavar="N",
                       help="threads for tree and HNSW searches")
    text = mine.add_argument_group("text triplets (optional)")
    text.add_argument("--point-text", metavar="FILE", help="text of each point: one per "
                      "line (.txt) or one JSON string per line (.jsonl)")
    text.add_argument("--counter-text", metavar="FILE", help="text of each counter, same "
                      "formats")
    text.add_argument("--triplets", metavar="OUT.jsonl", help="write (anchor, positive, "
                      "negative) records there")
    text.add_argument("--triplet-format", choices=["triplet", "n-tuple"], default="triplet",
                      help="one record per negative, or one per anchor with negative_1..n")
    mine.set_defaults(handler=run_mine)

    evaluate = commands.add_parser(
        "evaluate", parents=[common], formatter_class=_Formatter,
        help="evaluate a saved BallTreePairScorer on .npy pairs",
        description="Load a BallTreePairScorer saved with sknegsample.save (or "
                    "'sknegsample demo --save') and print its retrieve-then-rerank "
                    "metrics on POINT and COUNTER: each point retrieves the top-k of "
                    "the evaluated texts, the head re-ranks them.",
    )
    evaluate.add_argument("model", metavar="MODEL", help="saved scorer")
    evaluate.add_argument("point", metavar="POINT", help="point embeddings, .npy")
    evaluate.add_argument("counter", metavar="COUNTER", help="counter embeddings, .npy")
    evaluate.add_argument("--topk", type=_positive_int, default=None, metavar="K",
                          help="candidates per query (default: the scorer's own)")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    evaluate.add_argument("--allow-pickle", action="store_true",
                          help="also load joblib/pickle files; unpickling runs arbitrary "
                               "code, so only for files you wrote yourself")
    evaluate.set_defaults(handler=run_evaluate)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 on a user mistake (after one line on standard error),
        130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (CommandError, ValueError, TypeError, OSError) as exc:
        # User mistakes (bad files, shapes, parameter values) end in one line;
        # anything else is a bug and keeps its traceback.
        message = str(exc).strip().splitlines()
        print(f"{PROG}: error: {message[0] if message else type(exc).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
