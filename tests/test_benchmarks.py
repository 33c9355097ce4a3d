"""Every asv suite imports and every benchmark runs once at its smallest grid point.

So that the suites in ``benchmarks/benchmarks`` cannot rot between asv runs.
"""

import importlib
import inspect
import pkgutil
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
    assert {"TreeSearch", "ExactSearch", "ApproximateSearch", "SamplerFitTransform"} <= names


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
