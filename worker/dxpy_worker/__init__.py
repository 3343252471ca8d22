"""dx-py's worker: runs tests inside one Python interpreter on behalf of the Rust runner.

Standard library only, Python 3.9 and up (it runs in the user's interpreter). Modules, one
job each:

- ``__main__``: the entry point, ``python -m dxpy_worker`` (a worker) or ``--zygote``.
- ``protocol``: the wire codec: frame layout, messages, encode/decode (see PROTOCOL.md).
- ``channel``: the protocol's fds, Hello and the choice of engine, the request loop, and the
  only writer of result frames (with each batch's Done counts).
- ``capture``: output capping, and the native engine's fd-level capture of a test phase.
- ``engine_pytest``: the pytest engine: one in-process pytest session serving many batches.
- ``fastpath``: the pytest engine's direct run protocol (pytest's own runtest hook
  implementations called without pluggy, when every implementation is builtin).
- ``builtin_hooks``: which hook implementations are pytest's own or dx-py's, for the pytest
  engine's shortcuts.
- ``warm_pytest``: the parts of a pytest session a zygote prepares once for every fork.
- ``engine_native``: the native engine: plain functions, ``Test*`` classes and unittest
  cases run without pytest, reported as pytest would.
- ``native_collect``: the native engine's collection: node IDs to importable test items.
- ``zygote``: the fork server for warm starts (a control socket; each fork becomes a worker).
"""
