"""File helpers shared by the command line and persistence.

:func:`atomic_write` is the one way this package writes a file a user asked
for: a reader (or a crashed run) never sees a half-written ``.npy`` or model,
only the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path, *, mode: str | None = None, encoding: str | None = None) -> Iterator:
    """Write ``path`` all at once: to a temporary file, then rename it into place.

    The temporary file lives in the directory of ``path``, so the final
    :func:`os.replace` stays on one file system and is atomic (POSIX and
    Windows). On an exception inside the ``with`` block the temporary file is
    deleted and ``path`` is left untouched.

    Parameters
    ----------
    path : str or path-like
        Destination. Its directory must exist.
    mode : {"wb", "w"} or None, default=None
        None yields the temporary *path* (a :class:`pathlib.Path`), for
        writers that open the file themselves (``np.save``, ``skops.io.dump``);
        ``"wb"`` or ``"w"`` yields an open file object instead.
    encoding : str or None, default=None
        Text encoding for ``mode="w"`` (``"utf-8"`` if None).

    Yields
    ------
    target : pathlib.Path or file object
        Where to write.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from sknegsample.utils._io import atomic_write
    >>> out = Path(tempfile.mkdtemp()) / "result.json"
    >>> with atomic_write(out, mode="w") as fh:
    ...     json.dump({"accuracy@1": 0.9}, fh)
    >>> out.read_text()
    '{"accuracy@1": 0.9}'
    >>> try:
    ...     with atomic_write(out, mode="w") as fh:
    ...         _ = fh.write("half a fi")
    ...         raise RuntimeError("interrupted")
    ... except RuntimeError:
    ...     pass
    >>> out.read_text()  # the old content survives a failed write
    '{"accuracy@1": 0.9}'
    >>> sorted(p.name for p in out.parent.iterdir())  # no temporary file left
    ['result.json']
    """
    if mode not in (None, "w", "wb"):
        raise ValueError(f"mode must be None, 'w' or 'wb'; got {mode!r}.")
    path = Path(os.fspath(path))
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: directory {str(directory)!r} "
                                "does not exist.")
    # The suffix is kept so that writers which append one (np.save adds
    # ".npy" to a name without it) write to the temporary name itself.
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp"
                                    + path.suffix)
    tmp = Path(tmp_name)
    try:
        if mode is None:
            os.close(fd)
            yield tmp
        else:
            text = mode == "w"
            with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None,
                           newline="" if text else None) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain
        # open() would have.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
