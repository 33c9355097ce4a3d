"""``mine_hard_negatives``: a drop-in for sentence-transformers' function of that name.

Same parameters, defaults, output columns, row order and negatives as
``sentence_transformers.util.mine_hard_negatives`` (checked against it by
``tests/text/test_mine_differential.py``), on sknegsample's exact search;
plus keyword-only extras ST lacks (precomputed embeddings, seeds, the hybrid
``random_rate``, a reuse cap, copies excluded, a memory bound, statistics
returned).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import time

import numpy as np

from ..utils._random import derive_seed
from ._mine_core import mine_window
from ._mine_format import OUTPUT_FORMATS, format_rows, print_statistics

logger = logging.getLogger(__name__)

# ST parameters that choose its engine, not the result: accepted, not needed here.
_ENGINE_ONLY = ("use_faiss", "use_multi_process")


def mine_hard_negatives(
    dataset, model=None, anchor_column_name=None, positive_column_name=None, corpus=None,
    cross_encoder=None, range_min=0, range_max=None, max_score=None, min_score=None,
    absolute_margin=None, relative_margin=None, num_negatives=3, sampling_strategy="top",
    query_prompt_name=None, query_prompt=None, corpus_prompt_name=None, corpus_prompt=None,
    include_positives=False, output_format="triplet", output_scores=False, batch_size=32,
    faiss_batch_size=16384, use_faiss=False, use_multi_process=False, verbose=True,
    cache_folder=None, as_triplets=None, margin=None, *, anchor_embeddings=None,
    positive_embeddings=None, corpus_embeddings=None, random_rate=0.0, random_state=None,
    max_negative_uses=None, exclude_copies=False, working_memory=None, algorithm="auto",
    device="cpu", return_statistics=False,
):
    """Add hard negatives to a dataset of (anchor, positive) pairs.

    A drop-in for :func:`sentence_transformers.util.mine_hard_negatives`:
    every positional and keyword parameter up to ``margin`` has ST's name,
    default and meaning, and with the same model and settings the output has
    the same columns, rows in the same order and (``sampling_strategy="top"``)
    the same negatives, ties aside. ``use_faiss``, ``use_multi_process`` and
    ``faiss_batch_size`` choose ST's engine and are accepted and ignored: the
    search here is always exact (no 2048 cap) and bounded by
    ``working_memory``. ``cache_folder`` reads and writes ST's own cache files.

    Read more in ``docs/training.rst``.

    Parameters
    ----------
    dataset : datasets.Dataset
        (anchor, positive) pairs; a repeated anchor has several positives.
    model : SentenceTransformer or None, default=None
        Encoder with ``encode_query``/``encode_document`` (or ``encode``).
        None: pass ``anchor_embeddings`` and ``positive_embeddings``.
    anchor_column_name, positive_column_name, corpus, cross_encoder, range_min, \
range_max, max_score, min_score, absolute_margin, relative_margin, num_negatives, \
sampling_strategy, query_prompt_name, query_prompt, corpus_prompt_name, \
corpus_prompt, include_positives, output_format, output_scores, batch_size, \
faiss_batch_size, use_faiss, use_multi_process, verbose, cache_folder, \
as_triplets, margin
        As in sentence-transformers. ``cross_encoder`` may be any object with
        ``predict(pairs)`` (pairs of texts, one score each); it rescores the
        whole candidate pool in one batched call. ``sampling_strategy="random"``
        draws from ST's window with sknegsample's seeded hashing instead of
        Python's ``random``.
    anchor_embeddings : array-like of shape (n_rows, n_features) or None
        One embedding per dataset row (its anchor), instead of a model.
    positive_embeddings : array-like of shape (n_rows, n_features) or None
        One embedding per dataset row (its positive).
    corpus_embeddings : array-like of shape (len(corpus), n_features) or None
        Embeddings of ``corpus``, when a corpus is given without a model.
    random_rate : float in [0, 1], default=0.0
        Chance that a negative slot is drawn uniformly from the corpus (never
        a positive or a copy) instead of from the hard window: the hybrid of
        :class:`~sknegsample.HybridNegativeSampler`. 0.0 matches ST.
    random_state : int, RandomState instance or None, default=None
        Seeds ``sampling_strategy="random"`` and ``random_rate``.
    max_negative_uses : int or None, default=None
        Cap on how many anchors may receive the same negative (in anchor
        order); a capped pick moves to the next unused candidate of the window.
    exclude_copies : bool, default=False
        Also strike out corpus rows at cosine distance 0 from the anchor (a
        different text with the same embedding). A corpus text equal to the
        anchor is always struck out, as in sentence-transformers.
    working_memory : int or None, default=None
        MiB of search scratch per chunk (scikit-learn's ``working_memory``
        when None).
    algorithm : str, default="auto"
        Search backend of :class:`~sknegsample.neighbors.NeighborSearch`.
    device : str, default="cpu"
        Torch device of the brute-force search.
    return_statistics : bool, default=False
        Also return a dict: skip counts per rule, ``short_anchors``, the
        ``negatives`` corpus ids per unique anchor, the ``corpus`` and
        ``queries`` texts, ``encode_seconds`` and ``mine_seconds``.

    Returns
    -------
    dataset : datasets.Dataset
        ST's layout for ``output_format`` and ``output_scores``.
    statistics : dict
        Only with ``return_statistics=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from datasets import Dataset
    >>> from sknegsample.text import mine_hard_negatives
    >>> pairs = Dataset.from_dict({"query": ["q0", "q1", "q2", "q3"],
    ...                            "answer": ["a0", "a1", "a2", "a3"]})
    >>> emb = np.eye(4) + 0.1
    >>> out, stats = mine_hard_negatives(
    ...     pairs, anchor_embeddings=emb, positive_embeddings=emb, num_negatives=2,
    ...     output_format="n-tuple", verbose=False, return_statistics=True)
    >>> out.column_names
    ['query', 'answer', 'negative_1', 'negative_2']
    >>> stats["negatives"].shape
    (4, 2)
    """
    started = time.perf_counter()
    from datasets import Dataset

    if len(dataset) == 0:
        raise ValueError("The dataset is empty. Please provide a non-empty dataset.")
    if faiss_batch_size <= 0:
        raise ValueError(f"faiss_batch_size must be a positive integer, got {faiss_batch_size}.")
    if not 0.0 <= random_rate <= 1.0:
        raise ValueError(f"random_rate must be in [0, 1]; got {random_rate!r}.")
    if max_negative_uses is not None and max_negative_uses < 1:
        raise ValueError(f"max_negative_uses must be None or >= 1; got {max_negative_uses!r}.")
    if sampling_strategy not in ("top", "random"):
        raise ValueError(f"sampling_strategy must be 'top' or 'random'; got {sampling_strategy!r}.")
    for name in _ENGINE_ONLY:
        if locals()[name]:
            logger.info("%s is accepted for compatibility and ignored: the search is exact.", name)
    columns = dataset.column_names
    if not anchor_column_name or anchor_column_name not in columns:
        anchor_column_name = columns[0]
    if not positive_column_name or positive_column_name not in columns:
        if len(columns) < 2:
            raise ValueError("Dataset must contain at least two columns to select the positive "
                             "column automatically.")
        positive_column_name = columns[1]
    output_format, output_scores, absolute_margin = _legacy_options(
        as_triplets, margin, output_format, output_scores, absolute_margin, include_positives,
        dict(range_min=range_min, range_max=range_max, max_score=max_score, min_score=min_score,
             absolute_margin=absolute_margin, relative_margin=relative_margin,
             sampling_strategy=sampling_strategy))
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"Invalid output_format: {output_format}. Must be one of 'triplet', "
                         "'n-tuple', 'labeled-pair', or 'labeled-list'.")

    # One arrow slice, not a Python loop over rows (0.5 s at 20k pairs).
    both = dataset.select_columns([anchor_column_name, positive_column_name])[:]
    raw_queries, raw_positives = list(both[anchor_column_name]), list(both[positive_column_name])
    counts = {}
    for query in raw_queries:
        counts[query] = counts.get(query, 0) + 1
    max_positives = max(counts.values())
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got num_negatives={num_negatives}.")
    if range_max is None:
        wide = (absolute_margin is not None or relative_margin is not None
                or max_score is not None or (cross_encoder is not None and min_score is not None))
        range_max = range_min + num_negatives * (10 if wide else 1) + max_positives
        if verbose:
            print(f"Setting range_max to {range_max} based on the provided parameters.")
    if range_min < 0:
        raise ValueError(f"range_min must be non-negative, got range_min={range_min}.")
    if range_min >= range_max:
        raise ValueError(f"range_min must be smaller than range_max, got range_min={range_min} "
                         f"and range_max={range_max}.")
    if num_negatives > range_max - range_min:
        raise ValueError(
            f"Cannot mine {num_negatives} negatives per query: only {range_max - range_min} "
            f"candidates remain after skipping the first range_min={range_min} of "
            f"range_max={range_max}. Consider decreasing num_negatives or range_min, or "
            "increasing range_max.")

    separate = corpus is not None
    corpus_texts = list(dict.fromkeys((list(corpus) if separate else []) + raw_positives))
    corpus_idx = {text: i for i, text in enumerate(corpus_texts)}
    queries = list(dict.fromkeys(raw_queries))
    queries_idx = {text: i for i, text in enumerate(queries)}
    if verbose and len(queries) != len(raw_queries):
        print(f"Found {len(queries)} unique queries out of {len(raw_queries)} total queries.")
    if verbose and max_positives > 1:
        print(f"Found an average of {np.mean(list(counts.values())):.3f} positives per query.")
    pos_lists = [[] for _ in queries]
    for query, positive in zip(raw_queries, raw_positives, strict=True):
        plist = pos_lists[queries_idx[query]]
        if corpus_idx[positive] not in plist:
            plist.append(corpus_idx[positive])
    pos_ptr = np.concatenate([[0], np.cumsum([len(p) for p in pos_lists])]).astype(np.int64)
    pos_ids = np.fromiter((i for p in pos_lists for i in p), dtype=np.int64, count=pos_ptr[-1])

    q_emb, c_emb = _embeddings(
        model, queries, corpus_texts, raw_queries, raw_positives, corpus if separate else None,
        anchor_embeddings, positive_embeddings, corpus_embeddings, batch_size=batch_size,
        query_prompt_name=query_prompt_name, query_prompt=query_prompt,
        corpus_prompt_name=corpus_prompt_name, corpus_prompt=corpus_prompt,
        cache_folder=cache_folder, verbose=verbose)
    encoded = time.perf_counter()
    _check_similarity(model)

    teacher = None
    if cross_encoder is not None and (absolute_margin is not None or relative_margin is not None
                                      or max_score is not None or min_score is not None):
        teacher = _make_teacher(cross_encoder, queries, corpus_texts, batch_size)
    # ST strikes out a corpus text equal to the query (unless it is the query's
    # own positive under include_positives); exclude_copies adds rows at
    # cosine distance 0 (a different text with the same embedding).
    positive_texts = {}
    for query, positive in zip(raw_queries, raw_positives, strict=True):
        positive_texts.setdefault(query, set()).add(positive)
    copy_ids = np.array([
        -1 if include_positives and q in positive_texts[q] else corpus_idx.get(q, -1)
        for q in queries], dtype=np.int64)
    seed = derive_seed(random_state)
    mined = mine_window(
        q_emb, c_emb, pos_ptr, pos_ids, range_min=range_min, range_max=range_max,
        max_positives=max_positives, num_negatives=num_negatives,
        sampling_strategy=sampling_strategy, absolute_margin=absolute_margin,
        relative_margin=relative_margin, max_score=max_score, min_score=min_score,
        include_positives=include_positives, copy_ids=copy_ids,
        exclude_copies=exclude_copies, teacher=teacher,
        random_rate=random_rate, max_negative_uses=max_negative_uses, seed=seed,
        algorithm=algorithm, device=device, working_memory=working_memory)
    if verbose:
        print("Negative candidates mined, preparing dataset...")
    data, neg_scores, diff_scores, possible = format_rows(
        output_format, queries=queries, corpus=corpus_texts, pos_ptr=pos_ptr, pos_ids=pos_ids,
        positive_scores=mined.positive_scores, ids=mined.ids, scores=mined.scores,
        output_scores=output_scores, anchor_column=anchor_column_name,
        positive_column=positive_column_name, n_rows=len(dataset))
    output = Dataset.from_dict(data)
    stats = dict(mined.stats)
    stats.update(negatives=mined.ids, negative_scores=mined.scores,
                 is_random=mined.is_random, queries=queries, corpus=corpus_texts,
                 n_missing=int(possible - len(output)), range_max=range_max,
                 encode_seconds=encoded - started, mine_seconds=time.perf_counter() - encoded)
    if verbose:
        print_statistics(mined.positive_scores, neg_scores, diff_scores, stats, dict(
            range_min=range_min, absolute_margin=absolute_margin, relative_margin=relative_margin,
            max_score=max_score, min_score=min_score, max_negative_uses=max_negative_uses),
            len(output), possible)
    return (output, stats) if return_statistics else output


def _legacy_options(as_triplets, margin, output_format, output_scores, absolute_margin,
                    include_positives, changed):
    """ST's deprecated spellings and the ``include_positives`` format override."""
    if as_triplets is not None:
        output_format = "triplet" if as_triplets else "n-tuple"
        logger.warning("The `as_triplets` parameter is deprecated. Use the `output_format` "
                       "parameter instead. Setting `output_format` to `%s`.", output_format)
    if include_positives:
        defaults = dict(range_min=0, range_max=None, max_score=None, min_score=None,
                        absolute_margin=None, relative_margin=None, sampling_strategy="top")
        if any(changed[k] != v for k, v in defaults.items()) or margin is not None:
            logger.warning("When using `include_positives=True`, updating `range_min`, "
                           "`range_max`, `max_score`, `min_score`, `absolute_margin`, "
                           "`relative_margin`, or `sampling_strategy` from the default values "
                           "may still discard the positive values.")
        if output_format != "n-tuple":
            logger.warning('When using `include_positives=True`, `output_format` will be set to '
                           '`"n-tuple"` to ensure that the ranking order is preserved.')
            output_format = "n-tuple"
    if output_format == "n-tuple-scores":
        output_format, output_scores = "n-tuple", True
    if margin is not None:
        absolute_margin = margin
        logger.warning("The `margin` parameter is deprecated. Setting `absolute_margin` to `%s`.",
                       margin)
    return output_format, output_scores, absolute_margin


def _check_similarity(model):
    name = getattr(model, "similarity_fn_name", None)
    if name not in (None, "cosine", "dot"):
        raise ValueError(f"model.similarity_fn_name must be 'cosine' or 'dot' (embeddings are "
                         f"normalised, so both are the cosine); got {name!r}.")


def _as_matrix(values, n_rows, name):
    array = np.asarray(values, dtype=np.float32 if np.asarray(values).dtype != np.float64
                       else np.float64)
    if array.ndim != 2 or array.shape[0] != n_rows:
        raise ValueError(f"{name} must have shape ({n_rows}, n_features); got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite; got NaN or infinity.")
    return array


def _embeddings(model, queries, corpus_texts, raw_queries, raw_positives, corpus, anchor_emb,
                positive_emb, corpus_emb, *, batch_size, query_prompt_name, query_prompt,
                corpus_prompt_name, corpus_prompt, cache_folder, verbose):
    """Unique-query and corpus embeddings, from the model or the given arrays."""
    if model is None:
        if anchor_emb is None or positive_emb is None:
            raise ValueError("Pass a model, or anchor_embeddings and positive_embeddings (one "
                             "row per dataset row); got neither.")
        anchor_emb = _as_matrix(anchor_emb, len(raw_queries), "anchor_embeddings")
        positive_emb = _as_matrix(positive_emb, len(raw_positives), "positive_embeddings")
        texts, rows = list(raw_positives), [positive_emb]
        if corpus is not None:
            if corpus_emb is None:
                raise ValueError("corpus was given without a model: pass corpus_embeddings "
                                 f"(one row per corpus text, {len(corpus)} rows).")
            corpus_emb = _as_matrix(corpus_emb, len(corpus), "corpus_embeddings")
            texts, rows = list(corpus) + texts, [corpus_emb, positive_emb]
        first = {}
        for i, text in enumerate(texts):
            first.setdefault(text, i)
        stacked = np.concatenate(rows)
        c = stacked[[first[t] for t in corpus_texts]]
        where = {}
        for i, text in enumerate(raw_queries):
            where.setdefault(text, i)
        return anchor_emb[[where[t] for t in queries]], c
    if anchor_emb is not None or positive_emb is not None or corpus_emb is not None:
        raise ValueError("Pass either a model or embeddings, not both.")
    q_cache = c_cache = None
    if cache_folder:
        os.makedirs(cache_folder, exist_ok=True)
        base = getattr(getattr(model, "model_card_data", None), "base_model", None) or ""
        q_cache = _cache_file(cache_folder, "query", (base, query_prompt, query_prompt_name,
                                                      queries))
        c_cache = _cache_file(cache_folder, "corpus", (base, corpus_prompt, corpus_prompt_name,
                                                       corpus_texts))
    c = _encode(model, corpus_texts, "encode_document", c_cache, batch_size,
                corpus_prompt_name, corpus_prompt, verbose)
    q = _encode(model, queries, "encode_query", q_cache, batch_size, query_prompt_name,
                query_prompt, verbose)
    return q, c


def _cache_file(folder, kind, key):
    """ST's cache file name, so a cache warmed by either function serves both."""
    digest = hashlib.sha256(repr(key).encode(), usedforsecurity=False).hexdigest()
    return os.path.join(folder, f"{kind}_embeddings_{digest}.npy")


def _encode(model, texts, method, cache, batch_size, prompt_name, prompt, verbose):
    if cache is not None and os.path.exists(cache):
        return np.load(cache)
    encode = getattr(model, method, None) or model.encode
    kwargs = dict(batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                  show_progress_bar=verbose, prompt_name=prompt_name, prompt=prompt)
    params = inspect.signature(encode).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    embeddings = np.asarray(encode(texts, **kwargs))
    if cache is not None:
        np.save(cache, embeddings)
    return embeddings


def _make_teacher(scorer, queries, corpus_texts, batch_size):
    """``teacher(query_rows, corpus_ids)``: one batched ``predict`` over all pairs."""
    params = inspect.signature(scorer.predict).parameters
    kwargs = {"batch_size": batch_size} if "batch_size" in params or any(
        p.kind == p.VAR_KEYWORD for p in params.values()) else {}

    def teacher(rows, ids):
        pairs = [(queries[r], corpus_texts[i])
                 for r, i in zip(rows.tolist(), ids.tolist(), strict=True)]
        scores = np.asarray(scorer.predict(pairs, **kwargs), dtype=np.float64).reshape(-1)
        if scores.shape[0] != len(pairs):
            raise ValueError(f"cross_encoder.predict must return one score per pair; got "
                             f"{scores.shape[0]} scores for {len(pairs)} pairs.")
        return scores

    return teacher
