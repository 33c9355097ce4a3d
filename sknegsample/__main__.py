"""``python -m sknegsample``: the same command line as ``sknegsample``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
