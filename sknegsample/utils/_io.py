"""File helpers shared by the command line and persistence.

:func:`atomic_write` is the one way this package writes a file a user asked
for: a reader (or a crashed run) never sees a half-written ``.npy`` or model,
only the old file or the complete new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Read once: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path, *, mode: str = "wb", encoding: str | None = None) -> Iterator:
    """Write ``path`` all at once: to a temporary file, then rename it into place.

    The temporary file lives in the directory of ``path``, so the final
    :func:`os.replace` stays on one file system and is atomic (POSIX and
    Windows). Before the rename the file is flushed, checked and
    :func:`os.fsync`-ed, and the directory is synced after it, so a crash
    or a power cut leaves ``path`` either as it was or whole. On an
    exception inside the ``with`` block, or any write, flush or sync error,
    the temporary file is deleted, ``path`` is left untouched and the error
    is raised.

    The check catches writers that lose bytes without an error: ``np.save``
    writes large arrays through a C ``FILE*`` whose final flush error
    numpy drops, so over a file-size limit or on a full disk it once left a
    truncated ``.npy`` and returned normally. The file must hold every byte
    up to the position the writer reached, or an :class:`OSError` is raised.

    A process killed outright (SIGKILL, SIGXFSZ's default action) cannot
    clean up: it leaves its temporary file, named ``.<name>.<random>.tmp``,
    beside ``path``, and ``path`` itself as it was.

    Parameters
    ----------
    path : str or path-like
        Destination. Its directory must exist.
    mode : {"wb", "w"}, default="wb"
        Binary or text. Writers that take a file object write to it
        (``np.save(fh, array)``, ``skops.io.dump(obj, fh)``).
    encoding : str or None, default=None
        Text encoding for ``mode="w"`` (``"utf-8"`` if None).

    Yields
    ------
    fh : file object
        Open on the temporary file.

    Raises
    ------
    OSError
        A write, flush or sync failed (disk full, file-size limit, read-only
        file system, permissions), or the file came out shorter than written.

    Examples
    --------
    >>> import json, tempfile
    >>> import numpy as np
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
    >>> with atomic_write(out.with_name("ids.npy")) as fh:
    ...     np.save(fh, np.arange(3))
    >>> np.load(out.with_name("ids.npy"))
    array([0, 1, 2])
    >>> sorted(p.name for p in out.parent.iterdir())  # no temporary file left
    ['ids.npy', 'result.json']
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}.")
    path = Path(os.fspath(path))
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: directory {str(directory)!r} "
                                "does not exist.")
    tmp = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        text = mode == "w"
        # close() flushes again and raises a late write error too.
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None,
                       newline="" if text else None) as fh:
            yield fh
            fh.flush()
            _check_complete(fh.fileno(), path)
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain
        # open() would have.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        if isinstance(exc, OSError) and str(path) not in str(exc):
            # "[Errno 27] File too large" alone does not say which file.
            if exc.errno is None:
                # numpy's tofile: "8000 requested and 2032 written", no errno.
                raise OSError(f"cannot write {str(path)!r}: {exc} (a short write: disk "
                              "full or a file-size limit?)") from exc
            raise OSError(exc.errno, f"cannot write {str(path)!r}: {exc.strerror}") from exc
        raise
    _fsync_directory(directory)


def _check_complete(fd: int, path: Path) -> None:
    """Raise if the file holds fewer bytes than the writer's position says it wrote."""
    position = os.lseek(fd, 0, os.SEEK_CUR)
    size = os.fstat(fd).st_size
    if size < position:
        raise OSError(
            errno.EIO,
            f"cannot write {str(path)!r}: {position} bytes were written but the file holds "
            f"{size} (a write failed without reporting it: disk full or a file-size limit?)",
        )


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened or synced."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows opens no directories
        return
    try:
        os.fsync(dir_fd)
    except OSError as exc:  # pragma: no cover - depends on the file system
        # Some file systems cannot sync a directory; the data itself is synced.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(dir_fd)
