"""``sknegsample audit``: how trustworthy mined negatives are, before training on them."""

from __future__ import annotations

from pathlib import Path

from ._common import CommandError, _print_json, _progress, check_outputs, load_npy, load_pairs


def run_audit(args) -> int:
    """Audit the negatives in a ``.npy`` of bank ids; print a summary, draw a PNG."""
    from ..evaluation import audit

    inputs = {"POINT": args.point, "COUNTER": args.counter, "NEGATIVES": args.negatives}
    if args.is_random is not None:
        inputs["--is-random"] = args.is_random
    outputs = check_outputs({"--plot": args.plot}, inputs)
    if args.plot is not None and Path(args.plot).suffix.lower() != ".png":
        raise CommandError(f"--plot file {args.plot!r} must end in .png.")
    point, counter = load_pairs(args.point, args.counter)
    negatives = load_npy(args.negatives, "negatives")
    is_random = (None if args.is_random is None
                 else load_npy(args.is_random, "--is-random", boolean=True))
    with _progress(args.quiet, total=1, desc="audit", unit="run") as bar:
        report = audit(negatives, point, counter, is_random=is_random, metric=args.metric,
                       duplicate_threshold=args.duplicate_threshold, n_worst=args.worst)
        bar.update()
    if "--plot" in outputs:
        _save_plot(report, outputs["--plot"])
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(report.summary())
    for case in report.worst:
        print(f"    anchor {case['anchor']}: {case['side']} {case['index']} "
              f"({case['kind']}), gap {case['gap']:+.3f}")
    if "--plot" in outputs:
        print(f"wrote {outputs['--plot']}")
    return 0


def _save_plot(report, path):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise CommandError("--plot needs matplotlib: pip install 'sknegsample[plot]'.") \
            from exc
    from ..utils._io import atomic_write

    # A bare Figure: no pyplot, so no backend is chosen or changed for the process.
    figure = Figure(figsize=(13.0, 3.8), layout="constrained")
    report.plot(axes=figure.subplots(1, 3))
    with atomic_write(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110)
