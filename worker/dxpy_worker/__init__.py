"""dx-py's worker: runs tests inside one Python interpreter on behalf of the Rust runner.

Modules: ``protocol`` (wire codec), ``channel`` (protocol fds, request loop, batch counts),
``capture`` (output capping and fd-level capture for the native engine), ``engine_pytest``
(one in-process pytest session), ``engine_native`` (plain functions, ``Test*`` classes and
unittest without pytest), ``zygote`` (fork server for warm starts), ``__main__`` (entry point:
``python -m dxpy_worker``, or ``--zygote``).
"""
