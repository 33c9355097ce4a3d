"""Files saved by the flat 0.1 layout: their module names, mapped to today's.

Up to 0.1.0 every module sat at the package top (``sknegsample._sampler``,
``sknegsample._backends``, ...). pickle and skops record each object's type
by module path, so a file saved then names modules that no longer exist.
:func:`legacy_module_aliases` registers those names in ``sys.modules`` as
aliases of the modules that now hold the same classes, which is all either
unpickler needs. The targets are named as strings and imported on demand:
this module is in the lowest layer and must not import the layers above it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types

# Old module -> the modules its top-level names moved to (first wins).
_LEGACY_MODULES = {
    "sknegsample._backends": ("sknegsample.neighbors.backends",
                              "sknegsample.neighbors.backends._torch_brute"),
    "sknegsample._search": ("sknegsample.neighbors._search", "sknegsample.neighbors._labels",
                            "sknegsample.neighbors._distances",
                            "sknegsample.neighbors._chunking"),
    "sknegsample._select": ("sknegsample.neighbors._select",),
    "sknegsample._sampler": ("sknegsample.mining._sampler",),
    "sknegsample._mining": ("sknegsample.mining._picking",),
    "sknegsample._hashing": ("sknegsample.mining._hashing",),
    "sknegsample._bank": ("sknegsample.mining._bank", "sknegsample.mining._curriculum"),
    "sknegsample._preprocess": ("sknegsample.mining._preprocess",),
    "sknegsample._scorer": ("sknegsample.rerank._scorer", "sknegsample.rerank._pair_miner",
                            "sknegsample.rerank._columns"),
    "sknegsample._head": ("sknegsample.rerank._head",),
    "sknegsample._callbacks": ("sknegsample.rerank._callbacks",),
    "sknegsample._metrics": ("sknegsample.metrics._ranking",),
}

#: The types a 0.1.0 skops file of a sampler or scorer holds, by their old
#: names: trusted by default like :data:`~sknegsample.utils._persistence.TRUSTED_TYPES`.
LEGACY_TRUSTED_TYPES = (
    "sknegsample._backends.FaissBackend",
    "sknegsample._backends.HnswlibBackend",
    "sknegsample._backends.TorchBruteBackend",
    "sknegsample._backends.TreeBackend",
    "sknegsample._sampler.HybridNegativeSampler",
    "sknegsample._scorer.BallTreePairScorer",
    "sknegsample._search.LabelGroups",
    "sknegsample._search.NeighborSearch",
)

_LOCK = threading.Lock()


def legacy_module_aliases() -> None:
    """Make the old module names importable (idempotent, thread-safe)."""
    with _LOCK:
        for old, targets in _LEGACY_MODULES.items():
            if old in sys.modules:
                continue
            alias = types.ModuleType(old, f"Alias of {', '.join(targets)} for old saved files.")
            for target in reversed(targets):
                module = importlib.import_module(target)
                alias.__dict__.update({name: value for name, value in vars(module).items()
                                       if not name.startswith("__")})
            sys.modules[old] = alias
