"""`make bench` (``python -m bench``): every benchmark, one table, bench/results.md. See bench/suite.py."""

import sys

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
