"""The ``sknegsample`` command line: ``demo``, ``mine``, ``evaluate`` and ``audit``.

One module per command (``demo``, ``mine``, ``evaluate``, ``audit``); the parser in
``_parser``; file loading, formatting and error reporting in ``_common``.
The top layer: may import everything.
"""

from __future__ import annotations

import sys

from ._common import PROG, CommandError
from ._parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv=None) -> int:
    """Run the command line; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments without the program name; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 on a user mistake (after one line on standard error),
        130 when interrupted.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (CommandError, ValueError, TypeError, OSError) as exc:
        # User mistakes (bad files, shapes, parameter values) end in one line;
        # anything else is a bug and keeps its traceback.
        message = str(exc).strip().splitlines()
        print(f"{PROG}: error: {message[0] if message else type(exc).__name__}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130

