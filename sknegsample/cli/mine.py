"""``sknegsample mine``: negatives for embedding files, as ids and optionally text records."""

from __future__ import annotations

import time

import numpy as np

from ._common import (
    CommandError,
    _output_path,
    _progress,
    check_outputs,
    load_pairs,
    read_texts,
)

# Rows mined per progress-bar step by `mine`.
_MINE_CHUNK = 4096


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
    from ..mining._sampler import HybridNegativeSampler
    from ..text._export import export_triplets
    from ..utils._device import check_device
    from ..utils._io import atomic_write

    check_device(args.device, name="--device")
    out = _output_path(args.output, ".npy", "-o/--output")
    texts = (args.point_text, args.counter_text)
    if args.triplets is not None and None in texts:
        raise CommandError("--triplets needs both --point-text and --counter-text.")
    if args.triplets is None and texts != (None, None):
        raise CommandError("--point-text and --counter-text are only used with "
                           "--triplets OUT.jsonl.")
    if args.triplets is None and (getattr(args, "st_format", None) or getattr(args, "scores",
                                                                              False)):
        raise CommandError("--format and --scores shape the --triplets OUT.jsonl records; "
                           "pass --triplets with --point-text and --counter-text.")
    triplets = (None if args.triplets is None
                else _output_path(args.triplets, ".jsonl", "--triplets"))
    check_outputs({"-o/--output": out, "--triplets": triplets},
                  {"the POINT input": args.point, "the COUNTER input": args.counter,
                   "--point-text": args.point_text, "--counter-text": args.counter_text})
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

    with atomic_write(out) as fh:
        np.save(fh, negatives)
    st_format = getattr(args, "st_format", None)
    scores = getattr(args, "scores", False)
    if triplets is not None and (st_format or scores):
        from ..text._records import st_records

        args.triplet_format = st_format or args.triplet_format
        records = st_records(negatives, point_text, counter_text,
                             output_format=args.triplet_format,
                             point=point if scores else None,
                             counter=counter if scores else None, path=triplets)
    elif triplets is not None:
        records = export_triplets(negatives, point_text, counter_text,
                                  output_format=args.triplet_format, path=triplets)
    if not args.quiet:
        print(f"mined {negatives.shape[1]} negative(s) for each of {n_pairs} pairs in "
              f"{seconds:.2f} s; bank ids -> {out}")
        if triplets is not None:
            print(f"{len(records)} {args.triplet_format} records -> {triplets}")
    return 0

