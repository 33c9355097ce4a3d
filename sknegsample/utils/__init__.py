"""Utilities every layer may use: input validation, file I/O, persistence.

Owns: embedding and index validation (``_validation``), atomic file writes
(``_io``), saving and loading fitted estimators with their versioned state
(``_persistence``), torch device helpers (``_device``), integer seeds drawn
from a ``random_state`` (``_random``) and the optional-import helper
(``_optional``). Imports nothing from the rest of sknegsample except
``exceptions`` and ``_version``.
"""

from ._persistence import load, save

__all__ = ["load", "save"]
