"""The re-ranking layer: :class:`BallTreePairScorer` and its pair head.

Owns the estimator (``_scorer``), the skorch-managed pair head module and
batched scoring (``_head``), the training pairs of one fit (``_pair_miner``),
column selection (``_columns``) and the curriculum callback
(``_callbacks``). May import ``mining``, ``neighbors``, ``metrics`` and
``utils``.
"""

from ._callbacks import CurriculumRemining
from ._scorer import BallTreePairScorer

__all__ = ["BallTreePairScorer", "CurriculumRemining"]
