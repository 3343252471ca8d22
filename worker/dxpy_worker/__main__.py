"""Entry point: ``python -m dxpy_worker`` (requests on stdin, results on the original stdout),
or ``python -m dxpy_worker --zygote`` (a fork server; control socket on stdin)."""

import sys

if __name__ == "__main__":
    if sys.argv[1:] == ["--zygote"]:
        from dxpy_worker.zygote import main
    else:
        from dxpy_worker.channel import main
    sys.exit(main())
