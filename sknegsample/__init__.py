"""sknegsample: hard-negative mining and retrieve-then-rerank evaluation.

scikit-learn-native estimators over paired embeddings: ``point`` and
``counter`` matrices whose row ``i`` form a positive pair.
"""

from ._bank import bank_ids_to_pairs, decaying_random_rate
from ._callbacks import CurriculumRemining
from ._persistence import load, save
from ._sampler import HybridNegativeSampler
from ._scorer import BallTreePairScorer
from ._version import __version__

__all__ = [
    "BallTreePairScorer",
    "CurriculumRemining",
    "HybridNegativeSampler",
    "__version__",
    "bank_ids_to_pairs",
    "decaying_random_rate",
    "load",
    "save",
]
