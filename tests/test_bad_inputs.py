"""Bad input to every public entry point: a clear error, and no harm done.

One table drives each entry point (both estimators' methods, the helpers)
through the same kinds of bad input. Every case must raise a ``ValueError``
or ``TypeError`` whose message names the argument, and leave the fitted
estimator exactly as it was (same pickled state, same outputs). Every row
with a command-line equivalent (``mine`` for the sampler's fit, ``evaluate``
for the scorer's score and evaluate) runs through the command line too: exit
status 2, one error line naming the argument, no traceback, nothing written.
Hypothesis tests then fuzz shapes, dtypes, labels, indices, search
parameters and ``.npy`` files given to the command line.
"""

from __future__ import annotations

import re

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError
from skorch import NeuralNetClassifier

from sknegsample import HybridNegativeSampler, audit, bank_ids_to_pairs, decaying_random_rate
from sknegsample.neighbors.backends._params import check_search_params
from sknegsample.rerank import BallTreePairScorer
from sknegsample.rerank._head import PairHead
from sknegsample.utils import load, save
from sknegsample.utils._validation import check_indices

N_PAIRS, N_FEATURES = 24, 4


def _installed(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


_LIBRARIES = {"hnswlib": _installed("hnswlib"), "faiss_hnsw": _installed("faiss")}
_rng = np.random.RandomState(0)
POINT = _rng.normal(size=(N_PAIRS, N_FEATURES))
COUNTER = POINT + 0.2 * _rng.normal(size=(N_PAIRS, N_FEATURES))
HUGE = 10**12


def _with(array, value):
    out = np.array(array, dtype=np.float64)
    out[1, 2] = value
    return out


def _object_array(array):
    out = np.array(array, dtype=object)
    out[0, 0] = {"not": "a number"}
    return out


# Kinds of bad matrices, for an argument fitted with N_FEATURES columns.
# "wrong features" is left out for fit's X (any width fits); "mismatched" and
# "empty" apply to the second matrix of a pair (its rows must match X's).
def _bad_matrices(good, *, paired_second=False):
    cases = {
        "NaN": _with(good, np.nan),
        "inf": _with(good, np.inf),
        "empty": good[:0],
        "1-D": good[:, 0] if not paired_second else good[:5, 0],
        "3-D": good[None],
        "wrong features": good[:, :3],
        "sparse": sp.csr_matrix(good),
        "strings": np.full(good.shape, "word"),
        "object array": _object_array(good),
        "complex": good + 1j,
    }
    if paired_second:
        cases["mismatched pairs"] = good[:-3]
    return cases


# entry point -> (estimator kind, call(estimator, **kwargs), good kwargs)
ENTRY_POINTS = {
    "sampler.fit": ("sampler", lambda est, X, y: est.fit(X, y),
                    {"X": POINT, "y": COUNTER}),
    "sampler.fit_transform": ("sampler", lambda est, X, y: est.fit_transform(X, y),
                              {"X": POINT, "y": COUNTER}),
    "sampler.transform": ("sampler", lambda est, X, indices: est.transform(X, indices=indices),
                          {"X": POINT, "indices": np.arange(N_PAIRS)}),
    "scorer.fit": ("scorer", lambda est, X, y: est.fit(X, y), {"X": POINT, "y": COUNTER}),
    "scorer.score": ("scorer", lambda est, X, y, **kw: est.score(X, y, **kw),
                     {"X": POINT, "y": COUNTER}),
    "scorer.evaluate": ("scorer", lambda est, X, y, **kw: est.evaluate(X, y, **kw),
                        {"X": POINT, "y": COUNTER}),
    "scorer.predict": ("scorer", lambda est, X: est.predict(X), {"X": POINT}),
    "scorer.predict_proba": ("scorer", lambda est, X, candidates: est.predict_proba(
        X, candidates=candidates), {"X": POINT, "candidates": COUNTER}),
    "bank_ids_to_pairs": (None, lambda est, bank_ids, n_pairs: bank_ids_to_pairs(
        bank_ids, n_pairs), {"bank_ids": np.arange(6), "n_pairs": 3}),
    "decaying_random_rate": (None, lambda est, epoch: decaying_random_rate(epoch),
                             {"epoch": 3}),
    "audit": (None, lambda est, negatives, point, counter, **kw: audit(
        negatives, point, counter, **kw), {"negatives": np.tile([[1, 30]], (N_PAIRS, 1)),
                                          "point": POINT, "counter": COUNTER}),
}
_FIT_ENTRIES = {"sampler.fit", "sampler.fit_transform", "scorer.fit"}


def _table():
    """(entry point, case) -> (kwargs to replace, parameters to set, argument named)."""
    table = {}
    for entry, (kind, _, good) in ENTRY_POINTS.items():
        if kind is None:
            continue
        for arg in [a for a in good if a != "indices"]:
            second = arg in ("y", "candidates")
            for case, bad in _bad_matrices(good[arg], paired_second=second).items():
                if case == "wrong features" and entry in _FIT_ENTRIES and not second:
                    continue
                table[entry, f"{arg}: {case}"] = ({arg: bad}, {}, arg)
    for entry in ("sampler.fit", "sampler.fit_transform", "sampler.transform"):
        table[entry, "huge n_negatives"] = ({}, {"n_negatives": HUGE}, "n_negatives")
    table["scorer.fit", "huge n_negatives"] = (
        {}, {"sampler": HybridNegativeSampler(n_negatives=HUGE)}, "n_negatives")
    for entry in ("scorer.fit", "scorer.score", "scorer.evaluate", "scorer.predict",
                  "scorer.predict_proba"):
        for case, topk in (("negative topk", -3), ("zero topk", 0), ("float topk", 2.5)):
            table[entry, case] = ({}, {"topk": topk}, "topk")
    for case, indices in {
        "indices: negative": -np.ones(N_PAIRS, dtype=int),
        "indices: too large": np.arange(N_PAIRS) + 1,
        "indices: float": np.arange(N_PAIRS) * 1.0,
        "indices: 2-D": np.arange(N_PAIRS).reshape(4, -1),
        "indices: wrong length": np.arange(5),
        "indices: strings": np.array(["a"] * N_PAIRS),
    }.items():
        table["sampler.transform", case] = ({"indices": indices}, {}, "indices")
    table["sampler.transform", "indices: uint64 above 2**63"] = (
        {"indices": np.full(N_PAIRS, 2**63 + 5, dtype=np.uint64)}, {}, "indices")
    for case, labels in {"y: labels of str and int": ["a", 1],
                         "y: labels with None": [None, 1],
                         "y: labels of dict and int": [{}, 1]}.items():
        y = np.empty(N_PAIRS, dtype=object)
        y[:] = labels * (N_PAIRS // 2)
        for entry in ("sampler.fit", "sampler.fit_transform"):
            table[entry, case] = ({"y": y}, {}, "y")
    search_cases = {
        "search_params: unknown key": ("hnswlib", {"efSearch": 8}),
        "search_params: negative ef_search": ("hnswlib", {"ef_search": -1}),
        "search_params: M as a string": ("hnswlib", {"M": "x"}),
        "search_params: huge M": ("faiss_hnsw", {"M": 10**9}),
        "search_params: key on a tree": ("ball_tree", {"M": 8}),
        "search_params: key on brute force": ("brute", {"ef_search": 8}),
    }
    for case, (algorithm, params) in search_cases.items():
        if _LIBRARIES.get(algorithm, True):
            for entry in ("sampler.fit", "sampler.fit_transform"):
                table[entry, case] = ({}, {"algorithm": algorithm, "search_params": params},
                                      "search_params")
    for case, device in {"device: nonsense": "nonsense", "device: meta": "meta",
                         "device: cuda:99": "cuda:99"}.items():
        table["scorer.fit", case] = ({}, {"device": device}, "device")
    table["scorer.fit", "head__device: nonsense"] = (
        {}, {"head": NeuralNetClassifier(PairHead, device="gpu")}, "head__device")
    table["scorer.fit", "lr: diverges"] = ({}, {"lr": 1e30}, "lr")
    table["scorer.fit", "head__lr: diverges"] = (
        {}, {"head": NeuralNetClassifier(PairHead, criterion=torch.nn.CrossEntropyLoss,
                                         lr=1e30, train_split=None)}, "head__lr")
    for case, ids in {
        "bank_ids: out of range": np.array([0, 6]),
        "bank_ids: negative": np.array([-1]),
        "bank_ids: float": np.array([0.5]),
        "bank_ids: NaN": np.array([np.nan]),
        "bank_ids: strings": np.array(["a"]),
        "bank_ids: object array": np.array([{}], dtype=object),
    }.items():
        table["bank_ids_to_pairs", case] = ({"bank_ids": ids}, {}, "bank_ids")
    for case, n_pairs in {"n_pairs: zero": 0, "n_pairs: float": 2.5,
                          "n_pairs: string": "3", "n_pairs: negative": -3}.items():
        table["bank_ids_to_pairs", case] = ({"n_pairs": n_pairs}, {}, "n_pairs")
    for case, epoch in {"epoch: negative": -1, "epoch: float": 1.5, "epoch: string": "1",
                        "epoch: NaN": np.nan, "epoch: huge negative": -HUGE}.items():
        table["decaying_random_rate", case] = ({"epoch": epoch}, {}, "epoch")
    for entry in ("scorer.score", "scorer.evaluate"):
        for case, groups in {"anchor_groups: wrong length": np.arange(3),
                             "anchor_groups: 2-D": np.zeros((N_PAIRS, 2), dtype=int),
                             "anchor_groups: float": np.linspace(0, 1, N_PAIRS),
                             "anchor_groups: object": np.array([{}] * N_PAIRS)}.items():
            table[entry, case] = ({"anchor_groups": groups}, {}, "anchor_groups")
    for case, kwargs, name in (("n_bootstrap: negative", {"n_bootstrap": -1}, "n_bootstrap"),
                               ("n_bootstrap: float", {"n_bootstrap": 2.5}, "n_bootstrap"),
                               ("confidence: one", {"confidence": 1.0}, "confidence"),
                               ("confidence: string", {"confidence": "0.9"}, "confidence")):
        table["scorer.evaluate", case] = (kwargs, {}, name)
    audit_good = ENTRY_POINTS["audit"][2]
    for arg in ("point", "counter"):
        for case, bad in _bad_matrices(audit_good[arg], paired_second=arg == "counter").items():
            table["audit", f"{arg}: {case}"] = ({arg: bad}, {}, arg)
    for case, kwargs, name in (
        ("negatives: out of range", {"negatives": np.full((N_PAIRS, 1), 2 * N_PAIRS)},
         "negatives"),
        ("negatives: float", {"negatives": np.zeros((N_PAIRS, 1))}, "negatives"),
        ("negatives: 1-D", {"negatives": np.zeros(N_PAIRS, dtype=int)}, "negatives"),
        ("negatives: wrong rows", {"negatives": np.zeros((3, 1), dtype=int)}, "negatives"),
        ("is_random: wrong shape", {"is_random": np.zeros((N_PAIRS, 5), dtype=bool)},
         "is_random"),
        ("is_random: not bool", {"is_random": np.zeros((N_PAIRS, 2))}, "is_random"),
        ("metric: unknown", {"metric": "l1"}, "metric"),
        ("duplicate_threshold: negative", {"duplicate_threshold": -0.1},
         "duplicate_threshold"),
        ("duplicate_threshold: string", {"duplicate_threshold": "0.1"},
         "duplicate_threshold"),
        ("n_worst: negative", {"n_worst": -1}, "n_worst"),
    ):
        table["audit", case] = (kwargs, {}, name)
    return table


TABLE = _table()


@pytest.fixture(scope="module")
def fitted():
    sampler = HybridNegativeSampler(n_negatives=2, random_rate=0.5, random_state=0)
    sampler.fit(POINT, COUNTER)
    scorer = BallTreePairScorer(max_epochs=1, batch_size=32, topk=4, random_state=0)
    scorer.fit(POINT, COUNTER)
    return {"sampler": sampler, "scorer": scorer}


def _fingerprint(kind, est):
    """Pickled state and outputs: equal fingerprints mean nothing changed."""
    if kind == "sampler":
        outputs = (est.transform(POINT, indices=np.arange(N_PAIRS)), est.transform(POINT))
    else:
        outputs = (est.predict(POINT), est.predict_proba(POINT, COUNTER),
                   est.evaluate(POINT, COUNTER))
    return joblib.hash(est), joblib.hash(outputs)


@pytest.mark.parametrize("entry, case", sorted(TABLE), ids=[f"{e}-{c}" for e, c in
                                                              sorted(TABLE)])
def test_bad_input_is_refused_clearly_and_harmlessly(fitted, entry, case):
    kind, call, good = ENTRY_POINTS[entry]
    replace, params, argument = TABLE[entry, case]
    est = fitted.get(kind)
    before = _fingerprint(kind, est) if est is not None else None
    old_params = {key: est.get_params()[key] for key in params} if params else {}
    if params:
        est.set_params(**params)
    try:
        with pytest.raises((ValueError, TypeError)) as info:
            call(est, **{**good, **replace})
    finally:
        if params:
            est.set_params(**old_params)
    message = str(info.value)
    assert re.search(rf"\b{re.escape(argument)}\b", message), (
        f"{entry} with {case}: the message does not name {argument!r}: {message}")
    assert type(info.value).__module__.split(".")[0] in ("builtins", "sklearn",
                                                        "sknegsample"), message
    if est is not None:
        assert _fingerprint(kind, est) == before, f"{entry} changed after {case}"


def test_table_covers_every_entry_point():
    counts = {entry: sum(e == entry for e, _ in TABLE) for entry in ENTRY_POINTS}
    assert all(count >= 4 for count in counts.values()), counts


def test_sampler_methods_before_fit():
    sampler = HybridNegativeSampler()
    with pytest.raises(NotFittedError):
        sampler.transform(POINT)
    with pytest.raises(NotFittedError):
        sampler.transform(POINT, indices=np.arange(N_PAIRS))


@pytest.mark.parametrize("method", ["score", "evaluate", "predict", "predict_proba",
                                    "predict_proba with candidates"])
def test_scorer_methods_before_fit(method):
    scorer = BallTreePairScorer()
    calls = {
        "score": lambda: scorer.score(POINT, COUNTER),
        "evaluate": lambda: scorer.evaluate(POINT, COUNTER),
        "predict": lambda: scorer.predict(POINT),
        "predict_proba": lambda: scorer.predict_proba(POINT),
        "predict_proba with candidates": lambda: scorer.predict_proba(POINT, COUNTER),
    }
    with pytest.raises(NotFittedError):
        calls[method]()


def test_wrong_feature_count_message(fitted):
    with pytest.raises(ValueError, match="X has 3 features, but HybridNegativeSampler "
                                         "is expecting 4"):
        fitted["sampler"].transform(POINT[:, :3])
    with pytest.raises(ValueError, match="X has 5 features, but BallTreePairScorer "
                                         "is expecting 4"):
        fitted["scorer"].score(np.hstack([POINT, POINT[:, :1]]), COUNTER)


# -- persistence helpers ------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"format": "pickle"}, "format must be one of"),
    ({"compress": 11}, "compress must be an int"),
    ({"compress": 2.5}, "compress must be an int"),
])
def test_save_rejects_bad_arguments(tmp_path, fitted, kwargs, match):
    with pytest.raises(ValueError, match=match):
        save(fitted["sampler"], tmp_path / "model.skops", **kwargs)
    assert not list(tmp_path.iterdir())


def test_save_into_missing_directory(tmp_path, fitted):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(fitted["sampler"], tmp_path / "missing" / "model.skops")


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.skops")


# -- the command line ---------------------------------------------------------

cli = pytest.importorskip("sknegsample.cli")

# How the command line names each argument of the table.
_CLI_NAMES = {"X": r"\b(point|X)\b", "y": r"\b(counter|y)\b",
              "n_negatives": r"n_negatives|--n-negatives", "topk": r"\btopk\b|--topk",
              "search_params": r"search_params|--search-param"}
_CLI_COMMANDS = {"sampler.fit": "mine", "sampler.fit_transform": "mine",
                 "scorer.score": "evaluate", "scorer.evaluate": "evaluate"}


def _cli_table():
    """Rows of TABLE with a command-line equivalent: (command, case) -> row."""
    rows = {}
    for (entry, case), (replace, params, argument) in TABLE.items():
        command = _CLI_COMMANDS.get(entry)
        if command is None or argument not in _CLI_NAMES:
            continue
        options = []
        for key, value in params.items():
            if key in ("n_negatives", "topk", "algorithm"):
                options += [f"--{key.replace('_', '-')}", str(value)]
            elif key == "search_params":
                options += [a for k, v in value.items() for a in ("--search-param", f"{k}={v}")]
            else:
                break
        else:
            rows[command, case] = (replace, options, argument)
    return rows


CLI_TABLE = _cli_table()


@pytest.fixture(scope="module")
def saved_scorer(fitted, tmp_path_factory):
    pytest.importorskip("skops")
    path = tmp_path_factory.mktemp("model") / "scorer.skops"
    save(fitted["scorer"], path)
    return path


@pytest.mark.parametrize("command, case", sorted(CLI_TABLE),
                         ids=[f"{c}-{k}" for c, k in sorted(CLI_TABLE)])
def test_bad_input_through_the_cli(saved_scorer, tmp_path, capsys, command, case):
    replace, options, argument = CLI_TABLE[command, case]
    files = []
    for name, key, good in (("point.npy", "X", POINT), ("counter.npy", "y", COUNTER)):
        # Sparse and object inputs become pickled .npy files, which mine refuses.
        np.save(tmp_path / name, replace.get(key, good), allow_pickle=True)
        files.append(str(tmp_path / name))
    out = tmp_path / "out.npy"
    argv = (["mine", *files, "-o", str(out)] if command == "mine"
            else ["evaluate", str(saved_scorer), *files])
    try:
        status = cli.main([*argv, *options, "--quiet"])
    except SystemExit as exc:  # argparse's own errors (--topk 0): usage, then the error
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert "error:" in lines[-1], err
    if lines[-1].startswith("sknegsample: error:"):
        assert len(lines) == 1, err
    assert re.search(_CLI_NAMES[argument], lines[-1]), (
        f"{command} with {case}: the message does not name {argument}: {lines[-1]}")
    assert not out.exists()


def test_cli_table_covers_both_commands():
    commands = [command for command, _ in CLI_TABLE]
    assert commands.count("mine") >= 20 and commands.count("evaluate") >= 20, commands


def test_cli_mine_refuses_object_npy(tmp_path, capsys):
    # np.load(allow_pickle=False) must refuse a pickled object array.
    np.save(tmp_path / "point.npy", _object_array(POINT), allow_pickle=True)
    np.save(tmp_path / "counter.npy", COUNTER)
    status = cli.main(["mine", str(tmp_path / "point.npy"), str(tmp_path / "counter.npy"),
                       "-o", str(tmp_path / "n.npy"), "--quiet"])
    err = capsys.readouterr().err
    assert status == 2 and "point" in err, err


@pytest.mark.parametrize("content", [b"", b"garbage, not a model", b"PK\x03\x04trunc"])
def test_cli_evaluate_refuses_bad_model_file(tmp_path, capsys, content):
    model = tmp_path / "model.skops"
    model.write_bytes(content)
    np.save(tmp_path / "point.npy", POINT)
    np.save(tmp_path / "counter.npy", COUNTER)
    status = cli.main(["evaluate", str(model), str(tmp_path / "point.npy"),
                       str(tmp_path / "counter.npy")])
    err = capsys.readouterr().err
    assert status == 2, err
    assert "model.skops" in err, err


# -- fuzzing over shapes and dtypes --------------------------------------------

_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_,
           np.complex64, np.dtype("<U3"), np.dtype(object)]


@st.composite
def _arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 6), min_size=ndim, max_size=ndim)))
    if draw(st.booleans()) and ndim == 2:
        shape = (shape[0], N_FEATURES)
    if dtype.kind == "O":
        elements = st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.none(),
                             st.text(max_size=2))
        flat = draw(st.lists(elements, min_size=int(np.prod(shape)),
                             max_size=int(np.prod(shape))))
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(shape)
    return draw(hnp.arrays(dtype, shape))


def _check_outcome(run, argument, check_output):
    try:
        out = run()
    except (ValueError, TypeError) as exc:
        assert re.search(rf"\b{argument}\b", str(exc)), f"{type(exc).__name__}: {exc}"
        return
    check_output(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=_arrays())
def test_fuzz_sampler_transform(fitted, X):
    sampler = fitted["sampler"]

    def valid(out):
        assert out.dtype == np.int64 and out.shape == (len(X), 2)
        assert ((out >= 0) & (out < 2 * N_PAIRS)).all()

    _check_outcome(lambda: sampler.transform(X), "X", valid)


# Random X and y differ in scale at will: the scale-mismatch warning is right
# there, and is tested in tests/mining/test_contract.py.
@pytest.mark.filterwarnings("ignore::sknegsample.exceptions.GuardScaleWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=_arrays(), y=_arrays())
def test_fuzz_sampler_fit(X, y):
    sampler = HybridNegativeSampler(random_state=0)

    def valid(out):
        assert out.shape == (len(X), 1) and out.dtype == np.int64

    def run():
        return sampler.fit_transform(X, y)

    try:
        out = run()
    except (ValueError, TypeError) as exc:
        message = str(exc)
        assert re.search(r"\b(X|y|n_negatives)\b", message), f"{type(exc).__name__}: {message}"
        return
    valid(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=_arrays())
def test_fuzz_scorer_predict(fitted, X):
    scorer = fitted["scorer"]

    def valid(out):
        assert out.shape == (len(X),) and ((out >= 0) & (out < N_PAIRS)).all()

    _check_outcome(lambda: scorer.predict(X), "X", valid)


_INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
               np.uint64]


@settings(max_examples=80, deadline=None)
@given(indices=st.sampled_from(_INT_DTYPES).flatmap(
    lambda dtype: hnp.arrays(dtype, st.integers(0, 6))))
def test_fuzz_check_indices(indices):
    """In range: returned as int64. Out of range: the message shows a value given."""
    try:
        out = check_indices(indices, n_queries=len(indices), n_indexable=6)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith("indices must lie in [0, 6)"), message
        reported = int(re.search(r"got (-?\d+)\.$", message).group(1))
        assert reported in [int(v) for v in indices.tolist()], message
        assert not 0 <= reported < 6, message
        return
    assert out.dtype == np.int64 and out.tolist() == [int(v) for v in indices.tolist()]


_LABELS = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.none(),
                    st.floats(allow_nan=False, width=32), st.booleans())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels=st.lists(_LABELS, min_size=N_PAIRS, max_size=N_PAIRS))
def test_fuzz_label_vectors(labels):
    y = np.empty(N_PAIRS, dtype=object)
    y[:] = labels
    try:
        out = HybridNegativeSampler(random_state=0).fit_transform(POINT, y)
    except (ValueError, TypeError) as exc:
        # One label for all rows leaves no negative: then n_negatives is named.
        assert re.search(r"\b(y|n_negatives)\b", str(exc)), f"{type(exc).__name__}: {exc}"
        return
    assert out.shape == (N_PAIRS, 1)


_PARAM_KEYS = st.sampled_from(["M", "ef_construction", "ef_search", "efSearch", "m", 3])
_PARAM_VALUES = st.one_of(st.integers(-2**40, 2**40), st.integers(0, 64), st.text(max_size=3),
                          st.floats(), st.none(), st.booleans())


@settings(max_examples=200, deadline=None)
@given(algorithm=st.sampled_from(["brute", "ball_tree", "kd_tree", "faiss_flat",
                                  "faiss_hnsw", "hnswlib"]),
       params=st.dictionaries(_PARAM_KEYS, _PARAM_VALUES, max_size=3))
def test_fuzz_search_params(algorithm, params):
    """Refused naming search_params, or within the bounds the libraries handle.

    Only the check runs here: values it lets through are fitted, at their
    extremes, in a subprocess (tests/neighbors/test_search_params.py).
    """
    try:
        out = check_search_params(params, algorithm)
    except (ValueError, TypeError) as exc:
        assert str(exc).startswith("search_params"), f"{type(exc).__name__}: {exc}"
        return
    if algorithm in ("faiss_hnsw", "hnswlib"):
        assert set(out) == {"M", "ef_construction", "ef_search"}
        assert 2 <= out["M"] <= 10_000
        assert 1 <= out["ef_construction"] <= 10**6 and 1 <= out["ef_search"] <= 10**6
    else:
        assert out == {} and params == {}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=_arrays())
def test_fuzz_cli_mine_files(X):
    """Any array saved as point.npy: a result, or one error line naming point."""
    import contextlib
    import io
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        directory = Path(directory)
        np.save(directory / "point.npy", X, allow_pickle=True)
        np.save(directory / "counter.npy", X if X.ndim == 2 and X.dtype.kind == "f" else POINT,
                allow_pickle=True)
        out = directory / "out.npy"
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            status = cli.main(["mine", str(directory / "point.npy"),
                               str(directory / "counter.npy"), "-o", str(out), "--quiet",
                               "--random-state", "0"])
        lines = err.getvalue().strip().splitlines()
        if status == 0:
            assert np.load(out).shape == (len(X), 1)
            return
        assert status == 2 and len(lines) == 1, err.getvalue()
        # A single pair leaves no negative: then n_negatives is named.
        assert re.search(r"\b(point|counter|X|y|n_negatives)\b", lines[0]), lines[0]
        assert not out.exists()
