"""``sknegsample demo``: mine, train and evaluate on the bundled real pairs."""

from __future__ import annotations

import numpy as np

from .._version import __version__
from ._common import (
    CommandError,
    _output_path,
    _print_json,
    _progress,
    _save_model,
    _timed,
    _torch_threads,
    format_metrics,
    format_timings,
)


def run_demo(args) -> int:
    """Mine, train and evaluate on the bundled man-page pairs; print the table."""
    from sklearn.model_selection import train_test_split

    from ..datasets._loaders import load_manpage_pairs
    from ..mining._sampler import HybridNegativeSampler
    from ..rerank._scorer import BallTreePairScorer
    from ..utils._device import check_device

    check_device(args.device, name="--device")
    if not 0 < args.test_size < 1:
        raise CommandError(f"--test-size must be in (0, 1); got {args.test_size}.")
    if args.save is not None:
        # Before training: a bad path should not cost the whole run.
        _output_path(args.save, None, "--save")
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

