"""sknegsample: hard-negative mining and retrieve-then-rerank evaluation.

scikit-learn-native estimators over paired embeddings: ``point`` and
``counter`` matrices whose row ``i`` form a positive pair.

The package is layered (``docs/architecture.md``); each layer imports only
the ones below it::

    cli            command-line front door
    text           sentence-transformers interop
    evaluation     scorers compared with intervals, run files, the audit of negatives
    rerank         BallTreePairScorer, the pair head, its training pairs
    mining         HybridNegativeSampler, picking, hashing, bank ids
    neighbors      exact k-NN with exclusions and its backends
    metrics, utils ranking metrics; validation, file I/O, persistence
"""

from ._version import __version__
from .evaluation import audit, compare_scorers
from .mining import HybridNegativeSampler, bank_ids_to_pairs, decaying_random_rate
from .rerank import BallTreePairScorer, CurriculumRemining
from .utils import load, save

__all__ = [
    "BallTreePairScorer",
    "CurriculumRemining",
    "HybridNegativeSampler",
    "__version__",
    "audit",
    "bank_ids_to_pairs",
    "compare_scorers",
    "decaying_random_rate",
    "load",
    "save",
]
