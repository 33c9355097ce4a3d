"""``sknegsample evaluate``: retrieve-then-rerank metrics of a saved scorer, and run files."""

from __future__ import annotations

import time

from ._common import (
    CommandError,
    _load_model,
    _print_json,
    _progress,
    check_outputs,
    format_metrics,
    load_pairs,
)


def run_evaluate(args) -> int:
    """Evaluate a saved scorer on ``.npy`` pairs, print its metrics, write run files."""
    from ..evaluation import export_run
    from ..rerank._scorer import BallTreePairScorer

    outputs = {"--run": args.run, "--retrieval-run": args.retrieval_run, "--qrels": args.qrels}
    outputs = check_outputs(outputs, {"MODEL": args.model, "POINT": args.point,
                                      "COUNTER": args.counter})
    point, counter = load_pairs(args.point, args.counter)
    model = _load_model(args.model, allow_pickle=args.allow_pickle)
    if not isinstance(model, BallTreePairScorer):
        raise CommandError(f"{args.model!r} holds a {type(model).__name__}, not a "
                           "BallTreePairScorer.")
    if args.topk is not None:
        model.set_params(topk=args.topk)
    options = {"confidence": args.confidence, "n_bootstrap": args.n_bootstrap}
    start = time.perf_counter()
    with _progress(args.quiet, total=1, desc="evaluate", unit="run") as bar:
        if outputs:
            metrics = export_run(model, point, counter, run_path=args.run,
                                 retrieval_run_path=args.retrieval_run,
                                 qrels_path=args.qrels, **options)
        else:
            metrics = model.evaluate(point, counter, **options)
        bar.update()
    seconds = time.perf_counter() - start
    if args.json:
        # The intervals are tuples: JSON lists.
        _print_json({**metrics, "seconds": seconds})
        return 0
    print(format_metrics(metrics))
    print(format_gain(metrics, args.confidence))
    for flag, path in outputs.items():
        print(f"wrote {flag[2:].replace('-', ' ')} file {path}")
    print(f"evaluated in {seconds:.2f} s")
    return 0


def format_gain(metrics: dict, confidence: float = 0.95) -> str:
    """The head's gain with its bootstrap intervals, wins and losses, in two lines.

    Examples
    --------
    >>> from sknegsample.cli.evaluate import format_gain
    >>> print(format_gain({"gain@1": 0.05, "gain@1_ci": (0.01, 0.09), "wins": 30,
    ...                    "losses": 10, "n_queries": 400, "gain_mrr@k": 0.03,
    ...                    "gain_mrr@k_ci": (0.0, 0.06)}))
    head's gain in accuracy@1: +0.050, 95% CI [+0.010, +0.090] (30 wins, 10 losses of 400)
    head's gain in MRR:        +0.030, 95% CI [+0.000, +0.060]
    """
    level = f"{confidence:.0%} CI"
    low, high = metrics["gain@1_ci"]
    mrr_low, mrr_high = metrics["gain_mrr@k_ci"]
    return (f"head's gain in accuracy@1: {metrics['gain@1']:+.3f}, {level} [{low:+.3f}, "
            f"{high:+.3f}] ({metrics['wins']} wins, {metrics['losses']} losses of "
            f"{metrics['n_queries']})\n"
            f"head's gain in MRR:        {metrics['gain_mrr@k']:+.3f}, {level} "
            f"[{mrr_low:+.3f}, {mrr_high:+.3f}]")
