"""Saving and loading: fresh-process round trips, skops trust, versions, damage.

Round trips run the loading side in a fresh interpreter (one per estimator,
covering every search algorithm), so nothing cached in this process can
make a broken file look good.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import warnings
import zipfile

import joblib
import numpy as np
import pytest
import sklearn.exceptions
import torch

import sknegsample._version
from sknegsample import HybridNegativeSampler
from sknegsample.exceptions import (
    CorruptedModelError,
    InconsistentVersionWarning,
    UntrustedTypesError,
)
from sknegsample.rerank import BallTreePairScorer
from sknegsample.utils import load, save
from sknegsample.utils._persistence import TRUSTED_TYPES

sio = pytest.importorskip("skops.io")


def _available(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


ALGORITHMS = ["brute", "ball_tree", "kd_tree"]
ALGORITHMS += ["faiss_flat", "faiss_hnsw", "faiss_ivf"] if _available("faiss") else []
ALGORITHMS += ["hnswlib"] if _available("hnswlib") else []

_rng = np.random.RandomState(0)
POINT = _rng.normal(size=(60, 6))
COUNTER = POINT + 0.3 * _rng.normal(size=(60, 6))
QUERIES = POINT[:20] + 0.05


def _sampler(algorithm):
    return HybridNegativeSampler(algorithm=algorithm, n_negatives=3, random_rate=0.3,
                                 random_state=0)


def _scorer(algorithm):
    return BallTreePairScorer(sampler=_sampler(algorithm), max_epochs=2, batch_size=64,
                              topk=5, random_state=0)


def sampler_outputs(est):
    """Everything the round trip compares, as arrays (computed on both sides)."""
    return {
        "transform_indices": est.transform(POINT, indices=np.arange(len(POINT))),
        "transform_new": est.transform(QUERIES),
        "negative_distances_": est.negative_distances_,
        "negative_is_random_": est.negative_is_random_,
    }


def scorer_outputs(est):
    metrics = est.evaluate(POINT[40:], COUNTER[40:])
    return {
        "predict": est.predict(QUERIES),
        "predict_proba": est.predict_proba(QUERIES),
        "predict_proba_candidates": est.predict_proba(QUERIES, COUNTER[:20]),
        "score": np.array([est.score(POINT[40:], COUNTER[40:])]),
        # Flattened: some metrics are (low, high) intervals.
        "evaluate": np.hstack([np.ravel(metrics[key]) for key in sorted(metrics)]).astype(float),
    }


_CHILD = textwrap.dedent("""
    import sys, warnings
    import joblib, numpy as np
    warnings.simplefilter("error")
    sys.path.insert(0, {tests!r})
    from sknegsample.utils import load
    import test_persistence as t
    outputs = getattr(t, {function!r})
    results = {{}}
    for name in {names!r}:
        for fmt, est in (("joblib", joblib.load({directory!r} + "/" + name + ".joblib")),
                         ("skops", load({directory!r} + "/" + name + ".skops"))):
            for key, value in outputs(est).items():
                results[f"{{name}}|{{fmt}}|{{key}}"] = value
    np.savez({directory!r} + "/child.npz", **results)
""")


def _fresh_process_round_trip(tmp_path, make, fit, outputs, function):
    expected = {}
    for algorithm in ALGORITHMS:
        est = fit(make(algorithm))
        joblib.dump(est, tmp_path / f"{algorithm}.joblib")
        save(est, tmp_path / f"{algorithm}.skops")
        for key, value in outputs(est).items():
            expected[algorithm, key] = value
    script = _CHILD.format(tests=os.path.dirname(__file__), function=function,
                           names=ALGORITHMS, directory=str(tmp_path))
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    with np.load(tmp_path / "child.npz") as child:
        got = dict(child)
    checks = 0
    for (algorithm, key), value in expected.items():
        for fmt in ("joblib", "skops"):
            loaded = got[f"{algorithm}|{fmt}|{key}"]
            assert loaded.dtype == value.dtype and loaded.shape == value.shape
            assert loaded.tobytes() == value.tobytes(), f"{algorithm} {fmt} {key} differs"
            checks += 1
    return checks


def test_sampler_round_trip_in_fresh_process(tmp_path):
    checks = _fresh_process_round_trip(
        tmp_path, _sampler, lambda est: (est.fit_transform(POINT, COUNTER), est)[1],
        sampler_outputs, "sampler_outputs")
    assert checks == len(ALGORITHMS) * 4 * 2


def test_scorer_round_trip_in_fresh_process(tmp_path):
    checks = _fresh_process_round_trip(
        tmp_path, _scorer, lambda est: est.fit(POINT[:40], COUNTER[:40]),
        scorer_outputs, "scorer_outputs")
    assert checks == len(ALGORITHMS) * 5 * 2


def test_in_memory_round_trip_keeps_global_torch_state():
    scorer = _scorer("brute").fit(POINT[:40], COUNTER[:40])
    state = torch.get_rng_state()
    loaded = pickle.loads(pickle.dumps(scorer))
    assert torch.equal(state, torch.get_rng_state())
    np.testing.assert_array_equal(loaded.predict(QUERIES), scorer.predict(QUERIES))
    assert len(loaded.head_.history) == 2


# -- skops: what a user must trust ---------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_skops_needs_only_sknegsample_types(tmp_path, algorithm):
    found = set()
    for est in (_sampler(algorithm).fit(POINT, COUNTER),
                _scorer(algorithm).fit(POINT[:40], COUNTER[:40])):
        path = save(est, tmp_path / "model.skops")
        found |= set(sio.get_untrusted_types(file=path))
    assert found <= set(TRUSTED_TYPES), sorted(found - set(TRUSTED_TYPES))
    assert all(name.startswith("sknegsample.") for name in TRUSTED_TYPES)


def test_trusted_types_has_no_stale_entry(tmp_path):
    found = set()
    for algorithm in ALGORITHMS:
        for est in (_sampler(algorithm).fit(POINT, COUNTER),
                    _scorer(algorithm).fit(POINT[:40], COUNTER[:40])):
            found |= set(sio.get_untrusted_types(data=sio.dumps(est)))
    # A bank on disk (memmaps) is a ShardedSearch over FileRows parts.
    for name, array in (("point", POINT), ("counter", COUNTER)):
        np.save(tmp_path / f"{name}.npy", array)
    on_disk = _sampler("brute").fit(*(np.load(tmp_path / f"{name}.npy", mmap_mode="r")
                                      for name in ("point", "counter")))
    found |= set(sio.get_untrusted_types(data=sio.dumps(on_disk)))
    if set(ALGORITHMS) >= {"faiss_flat", "hnswlib"}:
        assert found == set(TRUSTED_TYPES)


def _tamper(path, class_name, module, new_class):
    """Rewrite one object's type in a skops file's schema, as an attacker could."""
    with zipfile.ZipFile(path) as src:
        members = {name: src.read(name) for name in src.namelist()}
    schema = json.loads(members["schema.json"])

    def visit(node):
        if isinstance(node, dict):
            if node.get("__class__") == class_name:
                node["__class__"], node["__module__"] = new_class, module
                return True
            return any(visit(value) for value in node.values())
        if isinstance(node, list):
            return any(visit(value) for value in node)
        return False

    assert visit(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)


def test_tampered_skops_file_with_unexpected_type_is_refused(tmp_path):
    path = save(_sampler("brute").fit(POINT, COUNTER), tmp_path / "model.skops")
    # Swap the label-group object for a class that runs a command when built.
    _tamper(path, "LabelGroups", "subprocess", "Popen")
    with pytest.raises(UntrustedTypesError, match=r"subprocess\.Popen") as info:
        load(path)
    assert info.value.types == ["subprocess.Popen"]
    assert str(path) in str(info.value)
    # skops' own check refuses it too, with our list.
    with pytest.raises(Exception, match="Untrusted types"):
        sio.load(path, trusted=list(TRUSTED_TYPES))


def test_trusted_argument_replaces_the_default(tmp_path):
    path = save(_sampler("brute").fit(POINT, COUNTER), tmp_path / "model.skops")
    with pytest.raises(UntrustedTypesError, match="NeighborSearch"):
        load(path, trusted=[])


@pytest.mark.parametrize("trusted", [True, 1, "sknegsample.x.Y", [1], ["ok", None], b"types"])
def test_trusted_must_be_a_sequence_of_type_names(saved_files, trusted):
    with pytest.raises(TypeError, match=r"^trusted must be None or a sequence of fully "
                                        r"qualified type names \(str\); got "):
        load(saved_files["skops"], trusted=trusted)


def test_pickle_files_need_allow_pickle(tmp_path):
    path = save(_sampler("brute").fit(POINT, COUNTER), tmp_path / "m.joblib",
                format="joblib")
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load(path)
    assert isinstance(load(path, allow_pickle=True), HybridNegativeSampler)


# -- versions -------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_other_version_warns(tmp_path, monkeypatch, fmt):
    path = save(_sampler("brute").fit(POINT, COUNTER), tmp_path / "m", format=fmt)
    monkeypatch.setattr(sknegsample._version, "__version__", "99.0")
    with pytest.warns(InconsistentVersionWarning, match="saved with sknegsample 0") as rec:
        loaded = load(path, allow_pickle=True)
    warning = rec[0].message
    assert isinstance(warning, sklearn.exceptions.InconsistentVersionWarning)
    assert warning.current_version == "99.0"
    assert warning.original_version != "99.0"
    assert loaded.transform(QUERIES).shape == (20, 3)


def test_same_version_is_silent_and_recorded(tmp_path):
    sampler = _sampler("brute").fit(POINT, COUNTER)
    assert sampler.__getstate__()["__sknegsample_version__"] == sknegsample.__version__
    assert "__sknegsample_version__" not in vars(sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = pickle.loads(pickle.dumps(sampler))
    assert "__sknegsample_version__" not in vars(loaded)


def test_state_without_version_warns_unknown():
    sampler = _sampler("brute").fit(POINT, COUNTER)
    state = sampler.__getstate__()
    del state["__sknegsample_version__"]
    fresh = HybridNegativeSampler.__new__(HybridNegativeSampler)
    with pytest.warns(InconsistentVersionWarning, match="sknegsample unknown"):
        fresh.__setstate__(state)


# -- damaged files ----------------------------------------------------------------

@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("saved")
    sampler = _sampler("brute").fit(POINT, COUNTER)
    return {fmt: save(sampler, directory / f"good.{fmt}", format=fmt)
            for fmt in ("skops", "joblib")}


def _damaged(tmp_path, good, how):
    data = good.read_bytes()
    if how == "empty":
        data = b""
    elif how.startswith("truncated"):
        data = data[: int(len(data) * float(how.split()[1]))]
    elif how == "last byte missing":
        data = data[:-1]
    elif how.startswith("flipped"):
        pos = int(len(data) * float(how.split()[1]))
        data = data[:pos] + bytes([data[pos] ^ 0xFF]) + data[pos + 1:]
    elif how == "garbage":
        data = np.random.RandomState(0).bytes(5000)
    path = tmp_path / f"damaged-{how.replace(' ', '-')}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
@pytest.mark.parametrize("error", [AttributeError("no attribute 'bank_'"),
                                   TypeError("unexpected keyword"), KeyError("head_"),
                                   RuntimeError("size mismatch for layers.0.weight")])
def test_errors_in_setstate_are_not_called_damage(saved_files, monkeypatch, fmt, error):
    """Version skew or a __setstate__ bug propagates as itself, not as a damaged file."""

    def broken(self, state):
        raise error

    monkeypatch.setattr(HybridNegativeSampler, "__setstate__", broken)
    with pytest.raises(type(error)) as info:
        load(saved_files[fmt], allow_pickle=True)
    assert type(info.value) is type(error)


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
@pytest.mark.parametrize("how", ["empty", "truncated 0.01", "truncated 0.5",
                                 "truncated 0.9", "last byte missing", "flipped 0.3",
                                 "flipped 0.6", "garbage"])
def test_damaged_file_raises_an_error_naming_it(tmp_path, saved_files, fmt, how):
    path = _damaged(tmp_path, saved_files[fmt], how)
    with pytest.raises(CorruptedModelError) as info:
        load(path, allow_pickle=True)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


# -- CUDA-trained models on a CPU-only machine -------------------------------------

@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only side")
@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_cuda_saved_scorer_loads_on_cpu(tmp_path, fmt):
    scorer = _scorer("brute").fit(POINT[:40], COUNTER[:40])
    expected = scorer_outputs(scorer)
    # What a GPU-trained scorer records; its weights are saved as numpy arrays
    # whatever the device, so only the recorded device differs.
    scorer.set_params(device="cuda")
    scorer.head_.device = "cuda"
    scorer.sampler_.set_params(device="cuda")
    for search in (scorer.sampler_.search_, scorer._counter_search):
        search.device = search.backend_.device = "cuda"
    path = save(scorer, tmp_path / "gpu-scorer", format=fmt)
    with pytest.warns(UserWarning, match="CUDA is not available"):
        loaded = load(path, allow_pickle=True)
    assert str(loaded.head_.device) == "cpu"
    for key, value in scorer_outputs(loaded).items():
        np.testing.assert_array_equal(value, expected[key])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_trained_scorer_predicts_in_cpu_only_process(tmp_path):
    scorer = BallTreePairScorer(sampler=HybridNegativeSampler(device="cuda"), device="cuda",
                                max_epochs=2, topk=5, random_state=0)
    scorer.fit(POINT[:40], COUNTER[:40])
    save(scorer, tmp_path / "gpu.skops")
    np.save(tmp_path / "proba.npy", scorer.predict_proba(QUERIES))
    script = textwrap.dedent(f"""
        import warnings, numpy as np, torch
        from sknegsample.utils import load
        assert not torch.cuda.is_available()
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            scorer = load({str(tmp_path / "gpu.skops")!r})
        proba = scorer.predict_proba({QUERIES.tolist()!r})
        np.testing.assert_allclose(proba, np.load({str(tmp_path / "proba.npy")!r}),
                                   rtol=1e-4, atol=1e-6)
        print(scorer.predict({QUERIES.tolist()!r}).tolist())
    """)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300,
                         capture_output=True, text=True)
    assert json.loads(out.stdout) == scorer.predict(QUERIES).tolist()


# -- no half-written files ----------------------------------------------------------

_SLOW_SAVE = textwrap.dedent("""
    import sys, numpy as np
    from sknegsample import HybridNegativeSampler
    from sknegsample.utils import save
    rng = np.random.RandomState(1)
    point = rng.normal(size=(100_000, 32)).astype(np.float32)
    sampler = HybridNegativeSampler(algorithm="brute").fit(point, point + 0.1)
    print("saving", flush=True)
    # joblib streams through zlib, so the temporary file grows steadily.
    save(sampler, sys.argv[1], format="joblib", compress=9)
    print("saved", flush=True)
""")


def test_killed_save_leaves_the_previous_file(tmp_path):
    target = tmp_path / "model.joblib"
    good = _sampler("brute").fit(POINT, COUNTER)
    save(good, target, format="joblib")
    good_bytes = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SAVE, str(target)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "saving"
        deadline = time.monotonic() + 120
        # Kill it once the temporary file holds part of the new model.
        while time.monotonic() < deadline:
            partial = [p for p in tmp_path.iterdir() if p.name != target.name]
            if partial and partial[0].stat().st_size > 65_536:
                break
            assert proc.poll() is None, "the save finished before it could be killed"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert target.read_bytes() == good_bytes
    loaded = load(target, allow_pickle=True)
    np.testing.assert_array_equal(loaded.transform(QUERIES), good.transform(QUERIES))
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert leftovers and all(n.startswith(".model.joblib.") and ".tmp" in n
                             for n in leftovers), leftovers


def test_failed_save_leaves_no_file(tmp_path):
    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    target = tmp_path / "model.joblib"
    with pytest.raises(RuntimeError):
        save(Unsaveable(), target, format="joblib")
    assert list(tmp_path.iterdir()) == []
