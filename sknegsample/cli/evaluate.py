"""``sknegsample evaluate``: retrieve-then-rerank metrics of a saved scorer."""

from __future__ import annotations

import time

from ._common import CommandError, _load_model, _print_json, _progress, format_metrics, load_pairs


def run_evaluate(args) -> int:
    """Evaluate a saved scorer on ``.npy`` pairs and print its metrics."""
    from ..rerank._scorer import BallTreePairScorer

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

