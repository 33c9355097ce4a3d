"""Import an optional dependency, or say which extra installs it.

The one helper for every optional import below the command line: faiss and
hnswlib (the ``ann`` extra) and skops (``persist``).
"""

from __future__ import annotations

import importlib


def _import_optional(module: str, package: str, *, extra: str = "ann",
                     needed_by: str = "algorithm"):
    """Import ``module`` (dotted names too) or raise an ImportError naming the extra.

    Examples
    --------
    >>> from sknegsample.utils._optional import _import_optional
    >>> _import_optional("json", "json").__name__
    'json'
    >>> _import_optional("no_such_module", "no-such", extra="demo",  # doctest: +ELLIPSIS
    ...                  needed_by="this")
    Traceback (most recent call last):
    ...
    ImportError: this needs the optional package 'no-such': pip install ...
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{needed_by} needs the optional package {package!r}: "
            f"pip install 'sknegsample[{extra}]' (or pip install {package})."
        ) from exc
