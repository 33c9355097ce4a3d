"""The ``sknegsample`` command line: ``demo``, ``mine``, ``evaluate`` and ``audit``.

One module per command (``demo``, ``mine``, ``evaluate``, ``audit``); the
parser in ``_parser``; file loading, output checks, formatting and the line
between a user's mistake and a bug (``USER_ERRORS``) in ``_common``. The top
layer: may import everything.
"""

from __future__ import annotations

import sys
import warnings

from ._common import PROG, USER_ERRORS
from ._parser import build_parser

__all__ = ["build_parser", "main"]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _show_warning(message, category, filename, lineno, file=None, line=None):
    # Python's own format is "path:line: Category: message" plus the source
    # line: noise in a terminal. The filters (-W, PYTHONWARNINGS) still apply.
    print(f"{PROG}: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success; 2 on a user mistake or a refused file operation (after
        one ``sknegsample: error:`` line on standard error); 130 when
        interrupted. A bug raises, with its traceback (exit status 1).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except USER_ERRORS as exc:
            message = _one_line(exc) or type(exc).__name__
            if isinstance(exc, MemoryError):
                message = f"out of memory: {message}"
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted", file=sys.stderr)
            return 130
