"""Entry point: ``python -m dxpy_worker`` (requests on stdin, results on the original stdout)."""

import sys

from dxpy_worker.channel import main

if __name__ == "__main__":
    sys.exit(main())
