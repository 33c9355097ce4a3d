"""Import an optional dependency, or say which extra installs it."""

from __future__ import annotations


def _import_optional(module: str, package: str):
    try:
        return __import__(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"algorithm needs the optional package {package!r}: "
            f"pip install 'sknegsample[ann]' (or pip install {package})."
        ) from exc

