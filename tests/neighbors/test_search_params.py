"""search_params: every bad value is refused by name, before a native library sees it.

hnswlib and faiss do not check their arguments: ``M=0`` segfaulted hnswlib
and aborted faiss, ``M=-1`` hung faiss. Those cases run in a subprocess with
a timeout, so a regression fails the test instead of killing the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sknegsample.neighbors.backends._params import check_search_params, hnsw_params

ROOT = Path(__file__).resolve().parents[2]
HNSW = ["faiss_hnsw", "hnswlib"]
_LIBRARY = {"faiss_hnsw": "faiss", "hnswlib": "hnswlib"}

# (algorithm, search_params, exception, text the message must hold)
CASES = [
    ("hnswlib", {"M": 0}, "ValueError", "search_params['M'] for algorithm='hnswlib' must be "
                                        "an int in [2, 10000]; got 0."),
    ("faiss_hnsw", {"M": 0}, "ValueError", "search_params['M'] for algorithm='faiss_hnsw'"),
    ("faiss_hnsw", {"M": -1}, "ValueError", "search_params['M'] for algorithm='faiss_hnsw' "
                                            "must be an int in [2, 10000]; got -1."),
    ("hnswlib", {"M": -1}, "ValueError", "search_params['M']"),
    ("hnswlib", {"M": 1}, "ValueError", "search_params['M']"),
    ("faiss_hnsw", {"M": 10**9}, "ValueError", "search_params['M']"),
    ("hnswlib", {"ef_search": -1}, "ValueError", "search_params['ef_search'] for "
                                                 "algorithm='hnswlib' must be an int in [1, "),
    ("faiss_hnsw", {"ef_search": -1}, "ValueError", "search_params['ef_search']"),
    ("faiss_hnsw", {"ef_construction": 0}, "ValueError", "search_params['ef_construction']"),
    ("hnswlib", {"ef_construction": 2**31}, "ValueError", "search_params['ef_construction']"),
    ("faiss_hnsw", {"ef_search": 2**31 - 1}, "ValueError", "search_params['ef_search'] for "
                                                          "algorithm='faiss_hnsw' must be an "
                                                          "int in [1, 1000000]"),
    # The largest values the check lets through fit (a crash here would fail the
    # whole case list, naming this case).
    ("faiss_hnsw", {"M": 10_000, "ef_construction": 10**6, "ef_search": 10**6}, None, ""),
    ("hnswlib", {"M": 10_000, "ef_construction": 10**6, "ef_search": 10**6}, None, ""),
    ("hnswlib", {"M": "x"}, "TypeError", "search_params['M'] for algorithm='hnswlib' must be "
                                         "an int in [2, 10000]; got 'x' of type str."),
    ("faiss_hnsw", {"M": "x"}, "TypeError", "got 'x' of type str"),
    ("faiss_hnsw", {"M": 8.0}, "TypeError", "got 8.0 of type float"),
    ("hnswlib", {"ef_search": True}, "TypeError", "got True of type bool"),
    ("hnswlib", {"ef_search": None}, "TypeError", "got None of type NoneType"),
    ("hnswlib", {"foo": 1}, "ValueError", "search_params has unknown keys for "
                                          "algorithm='hnswlib': ['foo']; expected some of"),
    ("faiss_hnsw", {"efSearch": 8, 3: 1}, "ValueError", "unknown keys for "
                                                        "algorithm='faiss_hnsw': [3, 'efSearch']"),
    ("faiss_flat", {"M": 8}, "ValueError", "unknown keys for algorithm='faiss_flat': ['M']"),
    ("ball_tree", {"M": 8}, "ValueError", "unknown keys for algorithm='ball_tree': ['M']; "
                                          "it takes none"),
    ("kd_tree", {"ef_search": 8}, "ValueError", "unknown keys for algorithm='kd_tree'"),
    ("brute", {"M": 8}, "ValueError", "search_params must be empty for algorithm='brute'"),
]

# Fits every case of one library in a fresh interpreter; prints the case
# before trying it, so a crash names the case that crashed.
_SCRIPT = """
import json, sys
import numpy as np
from sknegsample import HybridNegativeSampler
X = np.random.RandomState(0).normal(size=(60, 4))
for number, (algorithm, params) in enumerate(json.loads(sys.argv[1])):
    params = {int(k) if k.isdigit() else k: v for k, v in params.items()}
    print("trying", number, flush=True)
    try:
        HybridNegativeSampler(algorithm=algorithm, search_params=params).fit(X, X + 0.1)
        print(json.dumps([number, None, None]), flush=True)
    except Exception as exc:
        print(json.dumps([number, type(exc).__name__, str(exc)]), flush=True)
"""


def _library_available(algorithm):
    name = _LIBRARY.get(algorithm)
    if name is None:
        return True
    try:
        __import__(name)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def outcomes():
    """Outcome of each case, fitted in one subprocess (timeout: a hang fails)."""
    todo = [(i, case) for i, case in enumerate(CASES) if _library_available(case[0])]
    # json keys are strings: the int key of one case is restored by the script.
    payload = json.dumps([[c[0], {str(k): v for k, v in c[1].items()}] for _, c in todo])
    try:
        result = subprocess.run([sys.executable, "-c", _SCRIPT, payload], capture_output=True,
                                text=True, timeout=300, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout
        pytest.fail(f"the fits hung; last lines: {(out or '').splitlines()[-2:]}")
    lines = result.stdout.splitlines()
    assert result.returncode == 0, (
        f"the process died (status {result.returncode}) at {lines[-1:]}: {result.stderr[-500:]}")
    done = {}
    for line in lines:
        if not line.startswith("trying"):
            number, error, message = json.loads(line)
            done[todo[number][0]] = (error, message)
    return done


@pytest.mark.parametrize("case", range(len(CASES)),
                         ids=[f"{a}-{p}" for a, p, *_ in CASES])
def test_bad_search_params_are_refused_by_name(outcomes, case):
    algorithm, params, error, text = CASES[case]
    if case not in outcomes:
        pytest.skip(f"{algorithm} is not installed")
    got_error, message = outcomes[case]
    assert got_error == error, f"{algorithm} {params}: {got_error}: {message}"
    assert text in (message or ""), message


@pytest.mark.parametrize("algorithm", HNSW)
def test_numpy_integers_and_bounds_are_accepted(algorithm):
    params = {"M": np.int64(2), "ef_construction": 1, "ef_search": 10**6}
    assert check_search_params(params, algorithm) == {"M": 2, "ef_construction": 1,
                                                      "ef_search": 10**6}
    assert hnsw_params({"M": 10_000}, algorithm)["M"] == 10_000


def test_cli_search_param_is_checked_the_same_way(tmp_path, capsys):
    pytest.importorskip("hnswlib")
    from sknegsample.cli import main

    X = np.random.RandomState(0).normal(size=(30, 4))
    np.save(tmp_path / "p.npy", X)
    np.save(tmp_path / "c.npy", X + 0.1)
    status = main(["mine", str(tmp_path / "p.npy"), str(tmp_path / "c.npy"), "-o",
                   str(tmp_path / "o.npy"), "--algorithm", "hnswlib", "--search-param", "M=0"])
    err = capsys.readouterr().err
    assert status == 2 and err.startswith("sknegsample: error: search_params['M']"), err
    assert not (tmp_path / "o.npy").exists()
