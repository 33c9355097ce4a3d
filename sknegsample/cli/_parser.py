"""The argument parser: one subparser per command, argument types that explain themselves."""

from __future__ import annotations

import argparse

from .._version import __version__
from ._common import PROG
from .audit import run_audit
from .demo import run_demo
from .evaluate import run_evaluate
from .mine import run_mine


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


_positive_int.__name__ = "int >= 1"


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an int >= 0; got {value}")
    return value


_non_negative_int.__name__ = "int >= 0"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1]; got {value}")
    return value


_rate.__name__ = "rate"


def _margin(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1]; got {value}")
    return value


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
                                "faiss_hnsw", "faiss_ivf", "hnswlib"],
                       help="search backend: auto, brute, ball_tree, kd_tree, or with the "
                            "ann extra faiss_flat, faiss_hnsw, faiss_ivf, hnswlib")
    group.add_argument("--leaf-size", type=_positive_int, default=40, metavar="N",
                       help="leaf size of ball_tree / kd_tree")
    group.add_argument("--search-param", action="append", metavar="KEY=VALUE",
                       help="HNSW option (M, ef_construction, ef_search) or IVF option "
                            "(nlist, nprobe); repeatable")
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
    text.add_argument("--format", dest="st_format", default=None,
                      choices=["triplet", "n-tuple", "labeled-pair", "labeled-list"],
                      help="sentence-transformers' mine_hard_negatives layout of the records "
                           "(overrides --triplet-format)")
    text.add_argument("--scores", action="store_true",
                      help="add the cosine scores (ST's output_scores=True layout)")
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
    evaluate.add_argument("--n-bootstrap", type=_positive_int, default=1000, metavar="N",
                          help="bootstrap replicates of the gains' intervals")
    evaluate.add_argument("--confidence", type=_margin, default=0.95, metavar="LEVEL",
                          help="coverage of the gains' intervals, in (0, 1)")
    runs = evaluate.add_argument_group("TREC run files (for ranx, trec_eval, BEIR)")
    runs.add_argument("--run", metavar="PATH", help="write the re-ranked lists there")
    runs.add_argument("--retrieval-run", metavar="PATH",
                      help="write the retrieval order there")
    runs.add_argument("--qrels", metavar="PATH", help="write each query's relevant counters")
    evaluate.set_defaults(handler=run_evaluate)

    audit = commands.add_parser(
        "audit", parents=[common], formatter_class=_Formatter,
        help="audit mined negatives: false negatives, near-duplicates, reuse",
        description="Audit the negatives in NEGATIVES (bank ids, as 'sknegsample mine' "
                    "writes them) for the pairs POINT and COUNTER: each negative's gap to "
                    "its anchor's positive, the share closer than the positive (likely false "
                    "negatives), near-duplicate clusters in the bank, reuse concentration "
                    "and anchors short of negatives.",
        epilog="example: sknegsample audit point.npy counter.npy negatives.npy --plot a.png",
    )
    audit.add_argument("point", metavar="POINT", help="point embeddings, .npy")
    audit.add_argument("counter", metavar="COUNTER", help="counter embeddings, .npy")
    audit.add_argument("negatives", metavar="NEGATIVES",
                       help="bank ids, int .npy of shape (n_pairs, n_negatives)")
    audit.add_argument("--is-random", metavar="FILE",
                       help="bool .npy of the same shape: which negatives are random draws")
    audit.add_argument("--metric", choices=["euclidean", "cosine"], default="euclidean",
                       help="distance the negatives were mined with")
    audit.add_argument("--duplicate-threshold", type=float, default=None, metavar="D",
                       help="distance at or under which bank items are near-duplicates "
                            "(default: half the median positive distance)")
    audit.add_argument("--worst", type=_non_negative_int, default=5, metavar="N",
                       help="likely false negatives listed")
    audit.add_argument("--plot", metavar="PATH.png", help="also draw the audit there")
    audit.add_argument("--json", action="store_true", help="print the report as JSON")
    audit.set_defaults(handler=run_audit)
    return parser

