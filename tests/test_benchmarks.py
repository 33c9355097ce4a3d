"""Every asv suite imports and every benchmark runs once at its smallest grid point.

So that the suites in ``benchmarks/benchmarks`` cannot rot between asv runs.
"""

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_ROOT = Path(__file__).resolve().parents[1] / "benchmarks"
PREFIXES = ("time_", "peakmem_", "track_", "mem_")


def _suites():
    sys.path.insert(0, str(BENCH_ROOT))
    try:
        package = importlib.import_module("benchmarks")
        names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "common"]
        modules = [importlib.import_module(f"benchmarks.{name}") for name in names]
    finally:
        sys.path.remove(str(BENCH_ROOT))
    return [(module.__name__, cls) for module in modules
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__
            and any(n.startswith(PREFIXES) for n in dir(cls))]


def _smallest(params):
    return [min(values) if all(isinstance(v, (int, float)) for v in values) else values[0]
            for values in params]


SUITES = _suites()


def test_every_suite_is_found():
    names = {cls.__name__ for _, cls in SUITES}
    assert {"TreeSearch", "ExactSearch", "ApproximateSearch", "DiskSearch",
            "SamplerFitTransform"} <= names


@pytest.mark.parametrize("cls", [cls for _, cls in SUITES], ids=lambda c: c.__name__)
def test_suite_runs_at_its_smallest_parameters(cls):
    if any(name in str(cls.params) for name in ("faiss", "hnswlib")):
        pytest.importorskip("faiss")
        pytest.importorskip("hnswlib")
    point = _smallest(cls.params)
    # A subclass whose grid is that single point, so setup_cache builds
    # only its data.
    small = type(cls.__name__, (cls,), {"params": [[value] for value in point]})
    suite = small()
    args = [suite.setup_cache()] if hasattr(suite, "setup_cache") else []
    # One setup for all (asv runs it before each): no benchmark mutates it.
    if hasattr(suite, "setup"):
        suite.setup(*args, *point)
    for name in sorted(n for n in dir(suite) if n.startswith(PREFIXES)):
        result = getattr(suite, name)(*args, *point)
        if name.startswith("track_"):
            assert result is not None and result >= 0, name
    if hasattr(suite, "teardown"):
        suite.teardown(*args, *point)


@pytest.fixture
def bench_scripts(monkeypatch):
    """The scripts in benchmarks/, importable as top-level modules."""
    monkeypatch.syspath_prepend(str(BENCH_ROOT))


def test_compare_script_runs_on_the_users_own_files(bench_scripts, tmp_path, capsys):
    import compare_search
    import numpy as np

    from sknegsample.datasets import make_pairs

    point, counter = make_pairs(150, 16, random_state=0)
    np.save(tmp_path / "p.npy", point)
    np.save(tmp_path / "c.npy", counter)
    skip = [] if importlib.util.find_spec("faiss") else ["faiss_flat"]
    compare_search.main(["--point", str(tmp_path / "p.npy"), "--counter",
                         str(tmp_path / "c.npy"), "--repeat", "1", "--full", "--no-plot",
                         "--skip", *skip])
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()}
    # Every exact contender finds the sampler's hard negative (no ties here).
    for name in ("sampler", "sklearn_brute", "floor", "prototype", *({"faiss_flat"} - set(skip))):
        assert float(rows[name][3]) == 1.0, rows[name]
    with pytest.raises(SystemExit, match="go together"):
        compare_search.main(["--point", str(tmp_path / "p.npy"), "--no-plot"])


def test_docstring_pairs_are_summary_and_first_paragraph(bench_scripts, tmp_path):
    from docstring_pairs import _pairs_in

    source = tmp_path / "module.py"
    source.write_text('''
def documented():
    """Return the answer to a question nobody asked yet.

    The answer is computed from first principles, which takes a long time
    and is therefore cached after the first call to this function.

    Parameters
    ----------
    """


def undocumented():
    pass


def one_line():
    """Only a summary, long enough to count."""
''')
    assert list(_pairs_in(source)) == [(
        "Return the answer to a question nobody asked yet.",
        "The answer is computed from first principles, which takes a long time and is "
        "therefore cached after the first call to this function.",
    )]


def test_gpu_script_runs_or_says_why_not(bench_scripts, capsys):
    import gpu_search

    assert gpu_search.parse_size("200000x768") == (200_000, 768)
    assert gpu_search.main(["--sizes", "3000x16", "--check", "200", "--repeat", "1"]) == 0
    captured = capsys.readouterr()
    if torch_cuda_available():
        assert "agrees with the CPU on 1.0000" in captured.out
    else:
        assert "no CUDA device" in captured.err


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def test_finetune_benchmark_smoke_run(tmp_path):
    """``benchmarks/finetune.py --tiny``: both tables print (about 2 CPU-minutes).

    The full run is a benchmark (docs/benchmarks.md); this keeps its code
    paths (ST's miner, ours, the trainer with each negative source and the
    RemineCallback) from rotting between runs.
    """
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("datasets")
    env = dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg",
               PYTHONPATH=str(BENCH_ROOT.parent))
    done = subprocess.run([sys.executable, str(BENCH_ROOT / "finetune.py"), "--tiny"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "| defaults (3 negatives) |" in done.stdout
    assert "| +RemineCallback |" in done.stdout
