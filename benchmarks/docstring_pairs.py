"""A larger real-embedding pair set for the benchmarks: Python docstrings.

The bundled man-page pairs are real but small (1823). This script builds
tens of thousands of real text pairs from the docstrings of the packages
installed beside sknegsample (numpy, scipy, scikit-learn, torch, ...; every
package folder of site-packages, in name order): the
*point* is a docstring's one-line summary, the *counter* its first paragraph
after it, embedded with all-MiniLM-L6-v2 (384 dims, unit norm) like the
man pages. Sources are read with :mod:`ast`, never imported.

Run from the repository root (needs the ``text`` extra; a few minutes on two
cores for 12k pairs, cached afterwards)::

    python benchmarks/docstring_pairs.py --n-pairs 12000
    python benchmarks/compare_search.py --dataset docstrings

The result is cached in ``benchmarks/.cache/docstring_pairs_<n>.npz``
(ignored by git); ``load_docstring_pairs`` returns ``(point, counter)``.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache"


def _pairs_in(path: Path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        doc = ast.get_docstring(node)
        if not doc:
            continue
        paragraphs = [" ".join(p.split()) for p in doc.split("\n\n")]
        if len(paragraphs) < 2:
            continue
        summary, body = paragraphs[0], paragraphs[1]
        # Skip section headers, parameter lists, examples and tiny bodies.
        if not (20 <= len(summary) <= 200 and 80 <= len(body) <= 600):
            continue
        if body.startswith((">>>", "..", "Parameters", "Returns", "Args:", "Arguments:",
                            "Example", ":param")) or "----" in body:
            continue
        yield summary, body


def collect_pairs(n_pairs: int):
    """Up to ``n_pairs`` distinct (summary, body) pairs, in a fixed order.

    Every package folder of the environment's site-packages, sorted by name.
    """
    site = Path(sysconfig.get_paths()["purelib"])
    seen_summary, seen_body, pairs = set(), set(), []
    for root in sorted(p for p in site.iterdir() if p.is_dir()):
        for path in sorted(root.rglob("*.py")):
            for summary, body in _pairs_in(path):
                # Distinct on both sides: inherited or copied docstrings would
                # be exact copies, which the miner skips anyway.
                if summary in seen_summary or body in seen_body:
                    continue
                seen_summary.add(summary)
                seen_body.add(body)
                pairs.append((summary, body))
                if len(pairs) >= n_pairs:
                    return pairs
    return pairs


def load_docstring_pairs(n_pairs: int = 12_000):
    """``(point, counter)`` float32 embeddings, built and cached on first use."""
    path = CACHE / f"docstring_pairs_{n_pairs}.npz"
    if not path.exists():
        build(n_pairs, path)
    data = np.load(path)
    return data["point"], data["counter"]


def build(n_pairs: int, path: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sknegsample.text import SentenceEmbedder

    pairs = collect_pairs(n_pairs)
    if len(pairs) < n_pairs:
        print(f"only {len(pairs)} pairs found in the installed packages", file=sys.stderr)
    embedder = SentenceEmbedder(batch_size=64).fit()
    point = embedder.transform([p for p, _ in pairs]).astype(np.float32)
    counter = embedder.transform([c for _, c in pairs]).astype(np.float32)
    CACHE.mkdir(exist_ok=True)
    np.savez(path, point=point, counter=counter)
    print(f"wrote {path}: {len(pairs)} pairs x {point.shape[1]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-pairs", type=int, default=12_000)
    args = parser.parse_args(argv)
    load_docstring_pairs(args.n_pairs)


if __name__ == "__main__":
    main()
