"""The layer map of docs/architecture.md: imports point down the layers only.

Every ``import`` / ``from ... import`` in the package (top-level or inside a
function) is read with ``ast``; a module may import its own subpackage and
the layers below it, never one above.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sknegsample"

# Lower number = lower layer. A layer may import layers with a smaller or equal rank.
LAYERS = {
    "_version": 0, "exceptions": 0,
    "utils": 1, "metrics": 1, "datasets": 1,
    "neighbors": 2,
    "mining": 3,
    "rerank": 4, "plotting": 4,
    "text": 5, "evaluation": 5,
    "cli": 6, "__main__": 6, "__init__": 6,
}


def _layer_of(parts):
    """The top-level component (subpackage or module) of a module path in sknegsample."""
    return parts[0] if parts else "__init__"


def _imports(path):
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1] if rel[-1] != "__init__" else rel[:-1]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - (node.level - 1)]) if node.level > 1 \
                    else list(package)
                target = base + (node.module.split(".") if node.module else [])
                if not node.module:
                    yield from ([*target, alias.name] for alias in node.names)
                    continue
                yield target
            elif node.module and node.module.split(".")[0] == "sknegsample":
                yield node.module.split(".")[1:]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sknegsample":
                    yield alias.name.split(".")[1:]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(path):
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    own = _layer_of(rel)
    assert own in LAYERS, f"{own!r} is not on the layer map: add it to docs/architecture.md"
    for target in _imports(path):
        other = _layer_of(target)
        if other == own:
            continue
        assert other in LAYERS, f"{path.name} imports unknown module {'.'.join(target)}"
        assert LAYERS[other] <= LAYERS[own], (
            f"sknegsample.{'.'.join(rel)} (layer {own}) imports sknegsample."
            f"{'.'.join(target)} (layer {other}), which is above it"
        )


def test_the_check_catches_an_upward_import(tmp_path, monkeypatch):
    bad = PACKAGE / "utils" / "_io.py"
    tree = list(_imports(bad))
    assert all(_layer_of(t) in ("utils", "_version", "exceptions") for t in tree)
    # A synthetic module in utils that imports mining must be flagged.
    fake = tmp_path / "sknegsample" / "utils" / "_bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from ..mining import HybridNegativeSampler\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "sknegsample")
    with pytest.raises(AssertionError, match="above it"):
        test_imports_point_down_the_layers(fake)


def test_package_top_stays_small():
    top = [p for p in PACKAGE.glob("*.py")]
    assert len(top) <= 8, sorted(p.name for p in top)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_450_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= 450, f"{path.relative_to(PACKAGE)} has {n} lines; split it by job"
