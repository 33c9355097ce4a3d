"""The mining layer: :class:`HybridNegativeSampler` and what it is made of.

Owns the estimator (``_sampler``), the pure picking functions (hard picks in
a window, random draws, the hub cap: ``_picking``), counter-based hashing
that makes every draw depend only on the seed and the anchor (``_hashing``),
bank-id helpers (``_bank``), the curriculum schedule (``_curriculum``) and
the two-sided preprocessor (``_preprocess``). May import ``neighbors`` and
``utils``.
"""

from ._bank import bank_ids_to_pairs
from ._curriculum import decaying_random_rate
from ._sampler import HybridNegativeSampler

__all__ = ["HybridNegativeSampler", "bank_ids_to_pairs", "decaying_random_rate"]
