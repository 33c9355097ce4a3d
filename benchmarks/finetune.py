"""Fine-tuning with mined negatives, and mining time against sentence-transformers.

Two measurements, one script::

    HF_HUB_OFFLINE=1 python benchmarks/finetune.py              # both (26 CPU-min, see below)
    HF_HUB_OFFLINE=1 python benchmarks/finetune.py --tiny       # CI smoke run (2.5 CPU-min)
    HF_HUB_OFFLINE=1 python benchmarks/finetune.py --only timing --pairs 20000

**timing**: ``sentence_transformers.util.mine_hard_negatives`` against
``sknegsample.text.mine_hard_negatives`` on the same embeddings
(``make_pairs(cluster_std=3, noise=4)``, 384 features), medians of ``--repeats`` calls each, in this
process, with the peak extra RSS of each call (``/proc/self/clear_refs``; nan off
Linux). Encoding is excluded for both: ST gets a real ``SentenceTransformer``
(the bundled all-MiniLM-L6-v2) whose ``encode_query``/``encode_document``
return the precomputed rows (a dictionary lookup, as a warm ``cache_folder``
would); sknegsample gets ``anchor_embeddings=``/``positive_embeddings=``. The
row agreement of the two outputs is printed too.

**finetune**: the bundled man-page pairs split by manual section (``groups``),
the bundled all-MiniLM-L6-v2 fine-tuned with MultipleNegativesRankingLoss for
``--epochs`` on the training sections under six negative sources: in-batch
only; + one random negative; + ST's miner (NV-Retriever's TopK-PercPos:
``relative_margin=0.05``); + sknegsample's miner with the same guard and
copies excluded; + sknegsample's hybrid (``random_rate=0.5``); +
``RemineCallback`` (the guard, refreshed twice per epoch with the model being
trained). Accuracy@1, MRR@10 and nDCG@10 of the held-out sections' anchors
against all their positives, for each ``--seeds``.

Cost: the default run (256 training pairs, 200 held out, 2 seeds, 6 variants
plus the timing at 20k pairs) took 26 CPU-minutes (user + sys): an estimated 13-15 min
on 2 unshared cores; 52 min wall-clock on 2 cores shared at load 8-10. The
earlier default of 600 training and 300 held-out pairs was stopped after its
first two runs at 5.4 min each under that load (about an hour in all).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _quiet(function, *args, **kwargs):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return function(*args, **kwargs)


def _bundled_model(max_seq_length=None):
    from sentence_transformers import SentenceTransformer

    from sknegsample.text._embedder import _default_model_path

    model = _quiet(SentenceTransformer, _default_model_path(), device="cpu")
    if max_seq_length:
        model.max_seq_length = max_seq_length
    return model


def _lookup_encoder(model, table):
    """``model`` encodes by dictionary lookup (encoding excluded from the timing)."""
    def encode(texts, **kwargs):
        return np.stack([table[t] for t in texts])

    model.encode_query = model.encode_document = encode
    return model


def timing(n_pairs, repeats, settings):
    import datasets
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.datasets import make_pairs
    from sknegsample.text import mine_hard_negatives

    point, counter = make_pairs(n_pairs, 384, cluster_std=3.0, noise=4.0, random_state=0)
    point /= np.linalg.norm(point, axis=1, keepdims=True)
    counter /= np.linalg.norm(counter, axis=1, keepdims=True)
    queries = [f"q{i}" for i in range(n_pairs)]
    docs = [f"d{i}" for i in range(n_pairs)]
    table = dict(zip(queries, point, strict=True)) | dict(zip(docs, counter, strict=True))
    model = _lookup_encoder(_bundled_model(), table)
    ds = datasets.Dataset.from_dict({"query": queries, "answer": docs})
    rows = []
    for name, kwargs in settings:
        kwargs = dict(kwargs, verbose=False, output_format="n-tuple")
        st_times, our_times, st_peaks, our_peaks = [], [], [], []
        for _ in range(repeats):
            start, base = time.perf_counter(), _reset_peak()
            theirs = _quiet(st_mine, ds, model, **kwargs)
            st_times.append(time.perf_counter() - start)
            st_peaks.append(_peak_since(base))
            start, base = time.perf_counter(), _reset_peak()
            ours = mine_hard_negatives(ds, anchor_embeddings=point, positive_embeddings=counter,
                                       **kwargs)
            our_times.append(time.perf_counter() - start)
            our_peaks.append(_peak_since(base))
        same = len(ours) == len(theirs) and np.mean(
            [a == b for a, b in zip(ours.to_list(), theirs.to_list(), strict=True)])
        st_median, our_median = statistics.median(st_times), statistics.median(our_times)
        rows.append((name, st_median, our_median, st_median / our_median, float(same),
                     max(st_peaks), max(our_peaks)))
    print(f"\nMining time, {n_pairs} pairs x 384 (make_pairs), encoding excluded, "
          f"median of {repeats}, torch threads={_threads()}; peak extra RSS during the call "
          f"(largest of the {repeats}), sknegsample working_memory={_working_memory()} MiB")
    print("| setting | ST s | sknegsample s | ratio | row agreement | ST peak MiB "
          "| sknegsample peak MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, st_s, our_s, ratio, agree, st_mib, our_mib in rows:
        print(f"| {name} | {st_s:.2f} | {our_s:.2f} | {ratio:.1f}x | {agree:.4f} "
              f"| {st_mib:.0f} | {our_mib:.0f} |")
    return rows


def _status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def _reset_peak():
    """Return freed heap to the OS, reset the peak RSS (Linux), return the RSS in KiB."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return None
    return _status_kib("VmRSS")


def _peak_since(base):
    """MiB by which the peak RSS rose above ``base`` (nan where /proc is missing)."""
    peak = _status_kib("VmHWM")
    return float("nan") if peak is None or base is None else (peak - base) / 1024


def _working_memory():
    import sklearn

    return sklearn.get_config()["working_memory"]


def _threads():
    import torch

    return torch.get_num_threads()


def _split(n_train, n_test, seed):
    from sknegsample.datasets import load_manpage_pairs

    data = load_manpage_pairs()
    sections = np.unique(data.groups)
    rng = np.random.RandomState(0)  # one split for every run
    rng.shuffle(sections)
    test_mask = np.isin(data.groups, sections[: len(sections) // 3])
    train = np.flatnonzero(~test_mask)
    test = np.flatnonzero(test_mask)
    train = np.random.RandomState(1).permutation(train)[:n_train]
    test = np.random.RandomState(2).permutation(test)[:n_test]
    texts = (data.point_text, data.counter_text)
    return ([(str(texts[0][i]), str(texts[1][i])) for i in train],
            [(str(texts[0][i]), str(texts[1][i])) for i in test])


def evaluate(model, test_pairs, batch_size=64):
    from sknegsample.metrics import accuracy_at_1, mrr_at_k, ndcg_at_k

    q = model.encode_query([a for a, _ in test_pairs], batch_size=batch_size,
                           normalize_embeddings=True, convert_to_numpy=True)
    d = model.encode_document([b for _, b in test_pairs], batch_size=batch_size,
                              normalize_embeddings=True, convert_to_numpy=True)
    ranked = np.argsort(-(q @ d.T), axis=1, kind="stable")[:, :10]
    truth = np.arange(len(test_pairs))
    return (accuracy_at_1(ranked, truth), mrr_at_k(ranked, truth, 10),
            ndcg_at_k(ranked, truth, 10))


def finetune(variant, train_pairs, test_pairs, *, seed, epochs, batch_size, max_seq_length,
             output_dir):
    import datasets
    import torch
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import mine_hard_negatives as st_mine

    from sknegsample.text import RemineCallback, mine_hard_negatives

    torch.manual_seed(seed)
    model = _bundled_model(max_seq_length)
    pairs = datasets.Dataset.from_dict({"anchor": [a for a, _ in train_pairs],
                                        "positive": [b for _, b in train_pairs]})
    guard = dict(relative_margin=0.05, num_negatives=1, batch_size=64, verbose=False)
    callbacks, mine_s = [], 0.0
    start = time.perf_counter()
    if variant == "in-batch":
        train = pairs
    elif variant == "+random":
        train = _quiet(mine_hard_negatives, pairs, model, num_negatives=1, random_rate=1.0,
                       random_state=seed, batch_size=64, verbose=False)
    elif variant == "+ST hard":
        train = _quiet(st_mine, pairs, model, **guard)
    elif variant == "+sk hard":
        train = _quiet(mine_hard_negatives, pairs, model, exclude_copies=True, **guard)
    elif variant == "+sk hybrid":
        train = _quiet(mine_hard_negatives, pairs, model, exclude_copies=True, random_rate=0.5,
                       random_state=seed, **guard)
    elif variant == "+RemineCallback":
        steps = max(1, -(-len(pairs) // batch_size))
        cb = RemineCallback(pairs, model, num_negatives=1, random_state=seed,
                            every_n_epochs=None, every_n_steps=max(1, steps // 2),
                            relative_margin=0.05, exclude_copies=True, batch_size=64)
        train, callbacks = cb.train_dataset, [cb]
    else:
        raise ValueError(f"unknown variant {variant!r}")
    mine_s = time.perf_counter() - start
    args = SentenceTransformerTrainingArguments(
        output_dir=output_dir, num_train_epochs=epochs, per_device_train_batch_size=batch_size,
        learning_rate=5e-5, warmup_ratio=0.1, save_strategy="no", report_to="none",
        logging_strategy="no", disable_tqdm=True, use_cpu=True, seed=seed)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                         loss=MultipleNegativesRankingLoss(model),
                                         callbacks=callbacks)
    start = time.perf_counter()
    _quiet(trainer.train)
    train_s = time.perf_counter() - start
    return (*evaluate(model, test_pairs), mine_s, train_s, len(train))


VARIANTS = ["in-batch", "+random", "+ST hard", "+sk hard", "+sk hybrid", "+RemineCallback"]


def run_finetune(n_train, n_test, seeds, epochs, batch_size, max_seq_length, variants):
    import tempfile

    train_pairs, test_pairs = _split(n_train, n_test, 0)
    base = evaluate(_bundled_model(max_seq_length), test_pairs)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            for seed in seeds:
                started = time.perf_counter()
                results[variant, seed] = finetune(
                    variant, train_pairs, test_pairs, seed=seed, epochs=epochs,
                    batch_size=batch_size, max_seq_length=max_seq_length, output_dir=tmp)
                print(f"  {variant} seed {seed}: {results[variant, seed][:3]} "
                      f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print(f"\nFine-tuning all-MiniLM-L6-v2 (max_seq_length={max_seq_length}), {len(train_pairs)} "
          f"training pairs, {len(test_pairs)} held-out pairs (other manual sections), "
          f"{epochs} epoch(s), batch {batch_size}, seeds {list(seeds)}; mean (min-max) over seeds")
    print("| negatives | accuracy@1 | MRR@10 | nDCG@10 | rows | mine s | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(f"| none (not fine-tuned) | {base[0]:.3f} | {base[1]:.3f} | {base[2]:.3f} | | | |")
    for variant in variants:
        runs = np.array([results[variant, s] for s in seeds])
        cells = [f"{runs[:, i].mean():.3f} ({runs[:, i].min():.3f}-{runs[:, i].max():.3f})"
                 for i in range(3)]
        print(f"| {variant} | {' | '.join(cells)} | {int(runs[0, 5])} | {runs[:, 3].mean():.1f} "
              f"| {runs[:, 4].mean():.0f} |")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="CI smoke run")
    parser.add_argument("--only", choices=["timing", "finetune"])
    parser.add_argument("--pairs", type=int, default=20000, help="timing: pairs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", type=int, default=256)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    args = parser.parse_args(argv)
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    if args.tiny:
        args.pairs, args.repeats, args.train, args.test = 500, 1, 32, 32
        args.seeds, args.batch_size, args.max_seq_length = [0], 16, 32
    settings = [("defaults (3 negatives)", {}),
                ("NV-Retriever: relative_margin=0.05", {"relative_margin": 0.05})]
    if args.only in (None, "timing"):
        timing(args.pairs, args.repeats, settings)
    if args.only in (None, "finetune"):
        run_finetune(args.train, args.test, args.seeds, args.epochs, args.batch_size,
                     args.max_seq_length, args.variants)


if __name__ == "__main__":
    main()
