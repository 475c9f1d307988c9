"""``python -m bench``: the entry point; the parser and the commands live in :mod:`bench.cli`."""

import sys

from bench.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
